"""Every service's gRPC surface, as reflection shows it from the running server, is proto/'s."""

import asyncio
import importlib
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from missiva_platform.config import ServiceSettings

SERVICES = ["identity", "consent", "campaign", "delivery", "billing"]
PROTO = Path(__file__).resolve().parents[2] / "proto" / "missiva"


def declared_methods(full_name: str) -> set[str]:
    """Method names of a service as generated from proto/ (the source of truth)."""
    package = full_name.rsplit(".", 1)[0]  # missiva.consent.v1
    pkg = package.split(".")[1]
    module = importlib.import_module(f"{package}.{pkg}_service_pb2")
    service = module.DESCRIPTOR.services_by_name[full_name.rsplit(".", 1)[1]]
    return {m.name for m in service.methods}


@pytest.mark.parametrize("svc", SERVICES)
async def test_reflection_of_the_running_service_matches_its_proto(svc, make_database, nats_url):
    entry = importlib.import_module(f"missiva_{svc}.__main__")
    settings_cls = next(
        v
        for k, v in vars(importlib.import_module(f"missiva_{svc}.config")).items()
        if k.endswith("Settings") and isinstance(v, type) and issubclass(v, ServiceSettings)
    )
    probe = entry.build(settings_cls(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url))
    url = make_database(probe.migration_sets, svc)
    app = entry.build(settings_cls(database_url=url, nats_url=nats_url, grpc_port=0, http_port=0))
    await app.start()
    try:
        await asyncio.to_thread(check_surface, svc, app.grpc_port)
    finally:
        await app.stop()


def check_surface(svc: str, port: int) -> None:
    """Blocking reflection client (on a thread: the server runs on the test's event loop)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
        reflection_db = ProtoReflectionDescriptorDatabase(channel)
        served = set(reflection_db.get_services())
        own = f"missiva.{svc}.v1.{svc.capitalize()}Service"
        assert served == {
            own,
            "missiva.privacy.v1.PrivacyService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        }
        pool = DescriptorPool(reflection_db)
        for full_name in (own, "missiva.privacy.v1.PrivacyService"):
            reflected = {m.name for m in pool.FindServiceByName(full_name).methods}
            assert reflected == declared_methods(full_name)
            assert (PROTO / full_name.split(".")[1] / "v1").is_dir()
        check_oversized_request_is_refused(channel, own)


def check_oversized_request_is_refused(channel: grpc.Channel, service: str) -> None:
    """A request past the configured maximum is RESOURCE_EXHAUSTED before any handler runs."""
    method = sorted(declared_methods(service))[0]
    call = channel.unary_unary(f"/{service}/{method}")  # raw bytes: no serializer
    limit = ServiceSettings(database_url="postgresql://x@h/x").grpc_max_receive_bytes
    too_big = b"\x0a" + b"\xff\xff\xff\x01" + b"x" * (limit + 16)  # field 1, one long string
    with pytest.raises(grpc.RpcError) as caught:
        call(too_big, timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, caught.value.details()
