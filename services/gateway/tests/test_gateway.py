"""The gateway against real gRPC backends (grpc.aio servers on loopback).

The backends run on an event loop of their own in a background thread: Litestar's
``TestClient`` runs the app (lifespan and requests) on its portal's loop, and the grpc.aio
channels the app opens at start-up belong to that loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from litestar.testing import TestClient
from prometheus_client import generate_latest

from missiva.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from missiva_gateway.app import create_app
from missiva_gateway.config import BACKENDS, GatewaySettings
from missiva_gateway.errors import GRPC_TO_HTTP, http_status_for
from missiva_platform import metrics
from missiva_platform.config import ConfigError, load_settings
from missiva_platform.devstack.ports import free_port

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SECRET_TEXT = "stack trace at /srv/identity/keys.py line 42 password=hunter2"


class BackgroundLoop:
    """An asyncio loop on a daemon thread, for servers that must outlive a blocking call."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class FakeIdentity(identity_service_pb2_grpc.IdentityServiceServicer):
    """``GetJwks`` answers with keys, or fails the way ``fail`` says (None: UNIMPLEMENTED)."""

    def __init__(self) -> None:
        self.jwks_json: str | None = None
        self.fail: Callable[[Any], Coroutine[Any, Any, None]] | None = None

    async def GetJwks(self, request: Any, context: Any) -> Any:
        if self.fail is not None:
            await self.fail(context)
        if self.jwks_json is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")
        return identity_service_pb2.GetJwksResponse(jwks_json=self.jwks_json)


@dataclass
class Backend:
    name: str
    port: int
    server: grpc.aio.Server
    health: health.aio.HealthServicer


@dataclass
class Fleet:
    """Five real gRPC backends with the standard health service (and a fake identity)."""

    loop: BackgroundLoop
    backends: dict[str, Backend] = field(default_factory=dict)
    identity: FakeIdentity = field(default_factory=FakeIdentity)

    def set_health(self, name: str, status: Any) -> None:
        self.loop.run(self.backends[name].health.set("", status))

    def settings(self, **overrides: Any) -> GatewaySettings:
        targets = {f"{n}_target": f"127.0.0.1:{b.port}" for n, b in self.backends.items()}
        return GatewaySettings(**{"readiness_timeout_seconds": 0.5, **targets, **overrides})


async def _start_backend(name: str, identity: FakeIdentity) -> Backend:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if name == "identity":
        identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(identity, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await servicer.set("", SERVING)
    return Backend(name, port, server, servicer)


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    loop = BackgroundLoop()
    fleet = Fleet(loop)
    try:
        for name in BACKENDS:
            fleet.backends[name] = loop.run(_start_backend(name, fleet.identity))
        yield fleet
    finally:
        for backend in fleet.backends.values():
            loop.run(backend.server.stop(None))
        loop.close()


@pytest.fixture
def client(fleet: Fleet) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(fleet.settings())) as test_client:
        yield test_client


# --------------------------------------------------------------------------- probes


def test_healthz_answers_while_the_process_runs(client: TestClient[Any]) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_every_backend_is_serving(client: TestClient[Any]) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert body["not_ready"] == []
    assert body["backends"] == dict.fromkeys(BACKENDS, "SERVING")


def test_readyz_is_503_naming_a_backend_that_is_not_serving(
    fleet: Fleet, client: TestClient[Any]
) -> None:
    fleet.set_health("campaign", NOT_SERVING)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["not_ready"] == ["campaign"]
    assert body["backends"]["campaign"] == "NOT_SERVING"
    assert body["backends"]["identity"] == "SERVING"

    fleet.set_health("campaign", SERVING)
    assert client.get("/readyz").status_code == 200


def test_readyz_names_a_backend_that_is_down_within_the_deadline(fleet: Fleet) -> None:
    settings = fleet.settings(billing_target=f"127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as test_client:
        response = test_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["not_ready"] == ["billing"]
    assert body["backends"]["billing"] in ("UNAVAILABLE", "DEADLINE_EXCEEDED")


def test_metrics_count_requests_by_route_and_status(client: TestClient[Any]) -> None:
    client.get("/healthz")
    client.get("/healthz")
    # Metrics are served on METRICS_PORT (the kit's side server), never on the public port.
    assert client.get("/metrics").status_code == 404
    text = generate_latest(metrics.registry()).decode()
    assert 'missiva_gateway_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert (
        'missiva_gateway_http_request_duration_seconds_bucket{le="0.005",method="GET",'
        'route="/healthz"}' in text
    )


# --------------------------------------------------------------------------- JWKS


def test_jwks_is_served_as_identity_publishes_it(fleet: Fleet, client: TestClient[Any]) -> None:
    keys = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc", "kid": "k1", "use": "sig"}]}
    fleet.identity.jwks_json = json.dumps(keys)
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == keys


def test_jwks_is_503_with_a_readable_body_while_identity_does_not_publish_keys(
    client: TestClient[Any],
) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "UNAVAILABLE"
    assert "signing keys" in error["message"]
    assert error["fields"] == []


def test_jwks_is_503_without_transport_details_when_identity_is_down(fleet: Fleet) -> None:
    settings = fleet.settings(identity_target=f"127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as test_client:
        response = test_client.get("/.well-known/jwks.json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "UNAVAILABLE"
    assert "127.0.0.1" not in response.text
    assert "connect" not in response.text.lower()


# --------------------------------------------------------------------------- error mapping


def _packed(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _bad_request() -> status_pb2.Status:
    violations = [
        error_details_pb2.BadRequest.FieldViolation(field="email", description="is not valid"),
        error_details_pb2.BadRequest.FieldViolation(field="name", description="is too long"),
    ]
    return status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message="the request has invalid fields",
        details=[_packed(error_details_pb2.BadRequest(field_violations=violations))],
    )


def _precondition_failed() -> status_pb2.Status:
    violation = error_details_pb2.PreconditionFailure.Violation(
        type="EMAIL", subject="email", description="must be verified first"
    )
    return status_pb2.Status(
        code=code_pb2.FAILED_PRECONDITION,
        message="email not verified",
        details=[_packed(error_details_pb2.PreconditionFailure(violations=[violation]))],
    )


# (gRPC code, rich status or None, HTTP status, error code, message shown, fields)
MAPPING = [
    (grpc.StatusCode.INVALID_ARGUMENT, _bad_request(), 400, "INVALID_ARGUMENT",
     "the request has invalid fields",
     [{"field": "email", "description": "is not valid"},
      {"field": "name", "description": "is too long"}]),
    (grpc.StatusCode.NOT_FOUND, None, 404, "NOT_FOUND", "no such key set", []),
    (grpc.StatusCode.UNAUTHENTICATED, None, 401, "UNAUTHENTICATED", "token expired", []),
    (grpc.StatusCode.PERMISSION_DENIED, None, 403, "PERMISSION_DENIED", "not yours", []),
    (grpc.StatusCode.ALREADY_EXISTS, None, 409, "ALREADY_EXISTS", "already there", []),
    (grpc.StatusCode.FAILED_PRECONDITION, _precondition_failed(), 409, "FAILED_PRECONDITION",
     "email not verified", [{"field": "email", "description": "must be verified first"}]),
    (grpc.StatusCode.ABORTED, None, 409, "ABORTED", "changed meanwhile; retry", []),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, None, 429, "RESOURCE_EXHAUSTED", "slow down", []),
    (grpc.StatusCode.UNAVAILABLE, None, 503, "UNAVAILABLE", None, []),
    (grpc.StatusCode.DEADLINE_EXCEEDED, None, 504, "DEADLINE_EXCEEDED", None, []),
    (grpc.StatusCode.INTERNAL, None, 500, "INTERNAL", "internal error", []),
    (grpc.StatusCode.UNKNOWN, None, 500, "INTERNAL", "internal error", []),
    (grpc.StatusCode.DATA_LOSS, None, 500, "INTERNAL", "internal error", []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "rich", "http", "error_code", "message", "fields"),
    MAPPING,
    ids=[row[0].name for row in MAPPING],
)
def test_backend_errors_map_to_http_in_one_readable_shape(
    fleet: Fleet,
    client: TestClient[Any],
    code: grpc.StatusCode,
    rich: status_pb2.Status | None,
    http: int,
    error_code: str,
    message: str | None,
    fields: list[dict[str, str]],
) -> None:
    async def fail(context: Any) -> None:
        if rich is not None:
            await context.abort_with_status(rpc_status.to_status(rich))
        # Server-side codes carry text that must never reach the client.
        text = SECRET_TEXT if http >= 500 else message
        await context.abort(code, text)

    fleet.identity.fail = fail
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == http
    error = response.json()["error"]
    assert error["code"] == error_code
    if message is not None:
        assert error["message"] == message
    assert error["fields"] == fields
    assert "hunter2" not in response.text
    assert "/srv/identity" not in response.text


def test_the_mapping_table_covers_the_documented_codes() -> None:
    assert http_status_for(grpc.StatusCode.INVALID_ARGUMENT) == 400
    assert http_status_for(grpc.StatusCode.NOT_FOUND) == 404
    assert http_status_for(grpc.StatusCode.UNAUTHENTICATED) == 401
    assert http_status_for(grpc.StatusCode.PERMISSION_DENIED) == 403
    assert http_status_for(grpc.StatusCode.ALREADY_EXISTS) == 409
    assert http_status_for(grpc.StatusCode.FAILED_PRECONDITION) == 409
    assert http_status_for(grpc.StatusCode.RESOURCE_EXHAUSTED) == 429
    assert http_status_for(grpc.StatusCode.UNAVAILABLE) == 503
    for code in grpc.StatusCode:
        if code not in GRPC_TO_HTTP:
            assert http_status_for(code) == 500


def test_unknown_routes_get_the_same_error_shape(client: TestClient[Any]) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "NOT_FOUND", "message": "Not Found", "fields": []}}


# --------------------------------------------------------------------------- settings


def test_settings_default_to_the_embedded_platform_ports() -> None:
    settings = load_settings(GatewaySettings, {})
    assert (settings.bind_host, settings.http_port) == ("127.0.0.1", 8080)
    assert settings.targets["identity"] == "127.0.0.1:50051"
    assert settings.targets["billing"] == "127.0.0.1:50055"
    assert settings.smtp_sink_dir is None


def test_settings_read_targets_and_ports_from_the_environment() -> None:
    env = {"HTTP_PORT": "9000", "CONSENT_TARGET": "consent.missiva.svc:50051",
           "SMTP_SINK_DIR": "/data/mail"}  # fmt: skip
    settings = load_settings(GatewaySettings, env)
    assert settings.http_port == 9000
    assert settings.targets["consent"] == "consent.missiva.svc:50051"
    assert settings.smtp_sink_dir == "/data/mail"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"IDENTITY_TARGET": "no-port"}, "IDENTITY_TARGET"),
        ({"BILLING_TARGET": "host:99999"}, "BILLING_TARGET"),
        ({"HTTP_PORT": "eighty"}, "HTTP_PORT"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_a_bad_setting_is_one_error_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(GatewaySettings, env)
    assert raised.value.variable == variable
    assert "\n" not in str(raised.value)
