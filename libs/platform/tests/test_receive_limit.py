"""A service accepts requests up to its configured size, and refuses bigger ones before parsing."""

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from missiva_platform.config import ConfigError, ServiceSettings
from missiva_platform.db import kit_migrations
from missiva_platform.service import ServiceApp


async def test_a_request_past_grpc_max_receive_bytes_is_resource_exhausted(make_database, nats_url):
    limit = 64 * 1024
    app = ServiceApp(
        "limitsvc",
        ServiceSettings(
            database_url=make_database([kit_migrations()], "limit"),
            nats_url=nats_url,
            grpc_port=0,
            http_port=0,
            grpc_max_receive_bytes=limit,
        ),
    )
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            small = health_pb2.HealthCheckRequest(service="x" * (limit - 1024))
            with pytest.raises(grpc.aio.AioRpcError) as answered:
                await stub.Check(small, timeout=5)
            assert answered.value.code() == grpc.StatusCode.NOT_FOUND  # an unknown name
            big = health_pb2.HealthCheckRequest(service="x" * (limit + 1024))
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Check(big, timeout=5)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await app.stop()


def test_the_limit_is_bounded_and_a_bad_value_names_its_variable():
    for bad in (1024, 128 * 1024 * 1024):
        settings = ServiceSettings(database_url="postgresql://u@h/d", grpc_max_receive_bytes=bad)
        with pytest.raises(ConfigError, match="GRPC_MAX_RECEIVE_BYTES"):
            settings.validate()
