"""Client channels spread calls over every replica a target resolves to."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from missiva_platform import channels


class CountingHealth(health_pb2_grpc.HealthServicer):
    def __init__(self) -> None:
        self.calls = 0

    async def Check(self, request, context):
        self.calls += 1
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


async def _replica() -> tuple[grpc.aio.Server, CountingHealth, int]:
    server = grpc.aio.server(options=list(channels.SERVER_OPTIONS))
    servicer = CountingHealth()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, servicer, port


@pytest.mark.asyncio
async def test_calls_are_spread_round_robin_over_every_address_of_the_target() -> None:
    replicas = [await _replica() for _ in range(3)]
    try:
        target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for _, _, port in replicas)
        async with channels.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(60):
                await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        counts = [servicer.calls for _, servicer, _ in replicas]
        assert sum(counts) == 60
        assert min(counts) >= 15, counts  # round robin: about 20 each, never one replica
        # A plain channel (pick_first) pins every call to one replica: what this avoids.
        async with grpc.aio.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(30):
                await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        pinned = [
            servicer.calls - before
            for (_, servicer, _), before in zip(replicas, counts, strict=True)
        ]
        assert sorted(pinned) == [0, 0, 30]
    finally:
        for server, _, _ in replicas:
            await server.stop(None)


@pytest.mark.asyncio
async def test_a_replica_that_goes_away_leaves_the_others_serving() -> None:
    replicas = [await _replica() for _ in range(2)]
    target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for _, _, port in replicas)
    try:
        async with channels.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(10):
                await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
            await replicas[0][0].stop(None)
            survivor = replicas[1][1].calls
            for _ in range(10):
                await stub.Check(health_pb2.HealthCheckRequest(), timeout=5, wait_for_ready=True)
            assert replicas[1][1].calls == survivor + 10
    finally:
        for server, _, _ in replicas:
            await server.stop(None)
