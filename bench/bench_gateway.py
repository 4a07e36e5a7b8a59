"""Gateway: contacts created per second through the REST API beside the same through gRPC,
and what the gateway adds to one call (median).

The five services run in this process on embedded PostgreSQL and NATS (the REST API tests'
``platform_testkit``), the gateway on a loopback port under uvicorn on the same event loop,
clients in the same loop too, so both paths share one core's worth of Python:

- (a) ``CreateContact`` over gRPC with the API key's exchanged token, 16 in flight;
- (b) ``POST /api/v1/contacts`` with the API key (the gateway exchanges it once, then
  forwards the cached token), 16 in flight, over HTTP/1.1 keep-alive (a minimal client:
  httpx's own per-request cost would dominate);
- (a) and (b) alternate in four rounds, each after the outbox relay has published the events
  of the round before;
- (c) one call at a time over gRPC (baseline) and (d) over REST, in pairs (a REST call right
  after a gRPC one, so load from elsewhere hits both): the median of the pairs' differences
  is the gateway's own cost per call (auth cache, rate limit, JSON ↔ protobuf, HTTP).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import Result
from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import campaign_service_pb2_grpc
from missiva.identity.v1 import identity_service_pb2 as ipb
from missiva.identity.v1 import identity_service_pb2_grpc
from missiva_platform import channels
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.processes import NatsServer, PostgresServer
from missiva_platform.testing.plugin import DatabaseFactory

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services/gateway/tests/api"))
from platform_testkit import running_platform

THROUGHPUT = 2000
ROUNDS = 4
SEQUENTIAL = 400
IN_FLIGHT = 16


class RawHttp:
    """A minimal HTTP/1.1 keep-alive client (one connection per worker): httpx's own
    per-request cost and pool locking would dominate what is measured here."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await reader.readexactly(length)
        self.idle.append((reader, writer))
        return int(status_line.split()[1]), payload


async def _pool(n: int, in_flight: int, one: Any) -> float:
    """Seconds to run ``one(i)`` for i < n with ``in_flight`` at a time."""
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return time.perf_counter() - started


async def _empty(platform: Any, query: str) -> bool:
    rows = await platform.sql("campaign", query)
    return bool(rows[0][0] == 0)


async def _timed_ms(call: Any) -> float:
    started = time.perf_counter()
    await call
    return (time.perf_counter() - started) * 1000


async def _measure(pg: PostgresServer, nats_url: str, folder: Path) -> list[Result]:
    factory = DatabaseFactory(pg)
    async with running_platform(
        factory.migrated, nats_url, "smtp://127.0.0.1:1", folder / "secrets", "bench"
    ) as platform:
        account = await platform.account(scopes=("contacts:read", "contacts:write"))
        ident = identity_service_pb2_grpc.IdentityServiceStub(
            channels.insecure_channel(platform.target("identity"))
        )
        token = (
            await ident.ExchangeApiKey(ipb.ExchangeApiKeyRequest(secret=account.key))
        ).access_token
        md = (("authorization", f"Bearer {token}"),)
        stub = campaign_service_pb2_grpc.CampaignServiceStub(
            channels.insecure_channel(platform.target("campaign"))
        )
        run = uuid.uuid4().hex[:6]

        async def grpc_create(i: int, tag: str = "g") -> None:
            await stub.CreateContact(
                pb.CreateContactRequest(
                    contact=pb.Contact(email=f"{tag}{i}-{run}@example.org", first_name="Ada"),
                    idempotency_key=f"{tag}{i}-{run}",
                ),
                metadata=md,
                timeout=30,
            )

        async with platform.served(api_rate_per_second=1e9, api_rate_burst=10**9) as base:
            host, port = base.removeprefix("http://").split(":")
            client = RawHttp(host, int(port))
            if True:

                async def rest_create(i: int, tag: str = "r") -> None:
                    status, body = await client.post(
                        "/api/v1/contacts",
                        {**account.auth, "idempotency-key": f"{tag}{i}-{run}"},
                        json.dumps(
                            {"email": f"{tag}{i}-{run}@example.org", "first_name": "Ada"}
                        ).encode(),
                    )
                    if status != 201:
                        raise RuntimeError(body.decode())

                await grpc_create(-1)  # warm both paths (channels, the key's exchange)
                await rest_create(-1)

                async def settle() -> None:
                    # Each create queues an event: let the relay publish the last phase's
                    # before the next, so neither path pays for the other's backlog.
                    await platform.until(
                        lambda: _empty(platform, "SELECT count(*) FROM kit_outbox"), 120
                    )

                grpc_s = rest_s = 0.0
                for phase in range(ROUNDS):  # alternating, so drift hits both alike
                    await settle()
                    grpc_s += await _pool(
                        THROUGHPUT // ROUNDS, IN_FLIGHT, lambda i, p=phase: grpc_create(i, f"g{p}-")
                    )
                    await settle()
                    rest_s += await _pool(
                        THROUGHPUT // ROUNDS, IN_FLIGHT, lambda i, p=phase: rest_create(i, f"r{p}-")
                    )
                await settle()
                grpc_times, rest_times = [], []
                for i in range(SEQUENTIAL):  # paired: each REST call right after a gRPC one
                    grpc_times.append(await _timed_ms(grpc_create(i, "gs")))
                    rest_times.append(await _timed_ms(rest_create(i, "rs")))
                grpc_ms = statistics.median(grpc_times)
                rest_ms = statistics.median(rest_times)
                overhead = statistics.median(
                    r - g for r, g in zip(rest_times, grpc_times, strict=False)
                )
    a = "(a) CreateContact over gRPC"
    c = "(c) one gRPC CreateContact at a time"
    return [
        Result(
            a, THROUGHPUT / grpc_s, "contacts/s", note=f"{THROUGHPUT} calls, {IN_FLIGHT} in flight"
        ),
        Result(
            "(b) POST /api/v1/contacts",
            THROUGHPUT / rest_s,
            "contacts/s",
            a,
            THROUGHPUT / grpc_s,
            note=f"{THROUGHPUT} requests, {IN_FLIGHT} in flight; gateway, services and clients"
            " share one process",
        ),
        Result(c, grpc_ms, "ms", higher_is_better=False, note=f"median of {SEQUENTIAL}"),
        Result(
            "(d) one REST create at a time",
            rest_ms,
            "ms",
            c,
            grpc_ms,
            higher_is_better=False,
            note=f"median of {SEQUENTIAL}, each right after a gRPC call; the gateway's overhead,"
            f" median of the pairs' differences: {overhead:.2f} ms (goal ≤ 2 ms)",
        ),
    ]


def run() -> list[Result]:
    """Start throwaway PostgreSQL and NATS, measure, stop them."""
    with tempfile.TemporaryDirectory(prefix="missiva-bench-") as name:
        folder = Path(name)
        pg = PostgresServer(folder / "pg", free_port(), durable=False)
        nats_server = NatsServer(folder / "nats", free_port())
        pg.start()
        nats_server.start()
        try:
            return asyncio.run(_measure(pg, nats_server.url, folder))
        finally:
            nats_server.stop()
            pg.stop()
