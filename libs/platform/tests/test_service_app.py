"""The shared runtime: health that follows its dependencies, privacy contract, shutdown."""

import asyncio
import subprocess
import sys

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from missiva.common.v1 import types_pb2
from missiva.privacy.v1 import privacy_service_pb2, privacy_service_pb2_grpc
from missiva_platform.auth import Access, CallerKind, rule
from missiva_platform.config import ServiceSettings
from missiva_platform.db import kit_migrations
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.processes import PostgresServer
from missiva_platform.privacy import DataSection, Erasure, Person, add_privacy_service
from missiva_platform.service import ServiceApp
from missiva_platform.testing.tokens import TestIssuer

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class RememberingPrivacy:
    def __init__(self) -> None:
        self.seen: list[Person] = []

    async def export(self, person: Person) -> list[DataSection]:
        self.seen.append(person)
        return [DataSection("profile", "what we hold", b'{"name": "Ada"}')]

    async def erase(self, person: Person) -> Erasure:
        self.seen.append(person)
        return Erasure(erased={"profile": 1})


def settings(url: str, nats_url: str, **overrides) -> ServiceSettings:
    return ServiceSettings(
        database_url=url,
        nats_url=nats_url,
        grpc_port=0,
        http_port=0,
        health_interval_seconds=0.2,
        shutdown_grace_seconds=2,
        **overrides,
    )


async def wait_status(stub, want, timeout=15.0, service=""):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        if reply.status == want:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"health stayed {reply.status}, wanted {want}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def running(make_database, nats_url):
    issuer = TestIssuer()
    url = make_database([kit_migrations()], "service_app")
    app = ServiceApp("testsvc", settings(url, nats_url), jwks=issuer.source())
    privacy = RememberingPrivacy()
    add_privacy_service(app, privacy)
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    yield app, channel, issuer, privacy
    await channel.close()
    await app.stop()


async def test_a_started_service_is_serving_and_exposes_metrics_and_readiness(running):
    app, channel, _, _ = running
    stub = health_pb2_grpc.HealthStub(channel)
    await wait_status(stub, SERVING)
    await wait_status(stub, SERVING, service="missiva.privacy.v1.PrivacyService")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        body = (await http.get("/metrics")).text
    assert "missiva_testsvc_" in body
    assert 'missiva_testsvc_db_pool_connections{state="open"}' in body


async def test_privacy_contract_answers_services_with_the_tenant_of_their_token(running):
    _, channel, issuer, privacy = running
    stub = privacy_service_pb2_grpc.PrivacyServiceStub(channel)
    token = issuer.token(
        kind=CallerKind.SERVICE, subject="consent", tenant_id="acme", audience="testsvc"
    )
    reply = await stub.ExportPersonData(
        privacy_service_pb2.ExportPersonDataRequest(
            request_id="r1", person=types_pb2.PersonRef(person_key="pk1")
        ),
        metadata=(("authorization", f"Bearer {token}"),),
        timeout=5,
    )
    assert reply.service == "testsvc"
    assert reply.sections[0].name == "profile"
    assert privacy.seen[-1].tenant_id == "acme"
    assert privacy.seen[-1].person_key == "pk1"


@pytest.mark.parametrize(
    ("caller", "code"),
    [
        ({"kind": CallerKind.USER, "subject": "user-1"}, grpc.StatusCode.PERMISSION_DENIED),
        (
            {"kind": CallerKind.SERVICE, "subject": "billing", "audience": "testsvc"},
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        (None, grpc.StatusCode.UNAUTHENTICATED),
    ],
)
async def test_privacy_contract_refuses_users_other_services_and_anonymous_callers(
    running, caller, code
):
    _, channel, issuer, privacy = running
    stub = privacy_service_pb2_grpc.PrivacyServiceStub(channel)
    metadata = () if caller is None else (("authorization", f"Bearer {issuer.token(**caller)}"),)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ErasePersonData(
            privacy_service_pb2.ErasePersonDataRequest(
                request_id="r2", person=types_pb2.PersonRef(person_key="pk1")
            ),
            metadata=metadata,
            timeout=5,
        )
    assert err.value.code() is code
    assert privacy.seen == []


async def test_privacy_contract_refuses_a_request_without_a_person(running):
    _, channel, issuer, _ = running
    stub = privacy_service_pb2_grpc.PrivacyServiceStub(channel)
    token = issuer.token(kind=CallerKind.SERVICE, subject="consent", audience="testsvc")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ErasePersonData(
            privacy_service_pb2.ErasePersonDataRequest(request_id="r3"),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=5,
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "person" in err.value.details()


async def test_health_follows_postgresql_down_and_back_without_a_restart(nats_url, tmp_path):
    pg = PostgresServer(tmp_path / "pg", free_port(), durable=False)
    pg.start()
    try:
        url = pg.create_database("healthcheck")
        from missiva_platform.db import migrate

        await migrate(url, [kit_migrations()])
        app = ServiceApp("healthsvc", settings(url, nats_url))
        await app.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            await wait_status(stub, SERVING)
            await asyncio.to_thread(pg.stop)
            await wait_status(stub, NOT_SERVING)
            await wait_status(stub, SERVING, service="liveness")  # alive, just not ready
            async with httpx.AsyncClient() as http:
                ready = await http.get(f"http://127.0.0.1:{app.http_port}/readyz")
            assert ready.status_code == 503
            await asyncio.to_thread(pg.start)
            await wait_status(stub, SERVING, timeout=30)
        finally:
            await channel.close()
            await app.stop()
    finally:
        pg.stop()


async def test_shutdown_reports_not_serving_and_closes_the_port(make_database, nats_url):
    url = make_database([kit_migrations()], "shutdown")
    app = ServiceApp("stopsvc", settings(url, nats_url))
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    stub = health_pb2_grpc.HealthStub(channel)
    await wait_status(stub, SERVING)
    await app.stop()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
    assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    await channel.close()
    assert app.pool is not None
    assert app.pool.closed


async def test_a_service_refuses_to_start_while_migrations_are_pending(database_factory, nats_url):
    from missiva_platform.db import MigrationError

    app = ServiceApp("pendingsvc", settings(database_factory.empty("pending"), nats_url))
    with pytest.raises(MigrationError, match="pending"):
        await app.start()


def test_a_malformed_database_url_stops_a_service_with_one_line_naming_it():
    result = subprocess.run(
        [sys.executable, "-m", "missiva_consent", "serve"],
        env={"DATABASE_URL": "postgresql://localhost:notaport/consent", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "DATABASE_URL" in lines[0]


async def test_an_rpc_that_writes_an_event_and_its_consumer_share_one_trace_id(
    make_database, nats_url, span_exporter
):
    from google.protobuf import wrappers_pb2
    from opentelemetry import propagate, trace

    from missiva_platform.auth import current_tenant
    from missiva_platform.bus import ConsumerSpec, StreamSpec
    from missiva_platform.events import envelope, unpack
    from missiva_platform.outbox import add_event

    issuer = TestIssuer()
    url = make_database([kit_migrations()], "traced")
    app = ServiceApp("tracesvc", settings(url, nats_url), jwks=issuer.source())
    handled: asyncio.Queue = asyncio.Queue()

    async def create_thing(request: bytes, context) -> bytes:
        assert app.pool is not None
        async with app.pool.connection() as conn, conn.transaction():
            event = envelope(
                wrappers_pb2.StringValue(value=request.decode()),
                subject="tracesvc.thing.created",
                tenant_id=current_tenant(),
                producer="tracesvc",
            )
            await add_event(conn, event)
        return b"ok"

    async def on_thing_created(conn, event, msg) -> None:
        await handled.put(
            (
                unpack(event, wrappers_pb2.StringValue).value,
                event.tenant_id,
                trace.get_current_span().get_span_context().trace_id,
            )
        )

    def add_things(servicer, server) -> None:
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "test.v1.Things",
                    {
                        "Create": grpc.unary_unary_rpc_method_handler(
                            create_thing, lambda b: b, lambda b: b
                        )
                    },
                )
            ]
        )

    things_rules = {"Create": rule(Access.AUTHENTICATED, scopes=("things:write",))}
    app.add_service(add_things, None, "test.v1.Things", things_rules, methods=("Create",))
    app.add_streams(StreamSpec("TRACESVC", ["tracesvc.>"]))
    app.add_consumer(
        ConsumerSpec(
            "TRACESVC",
            "tracesvc-things",
            filter_subject="tracesvc.thing.created",
            service="tracesvc",
        ),
        on_thing_created,
    )
    await app.start()
    try:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
        create = channel.unary_unary("/test.v1.Things/Create", lambda b: b, lambda b: b)
        with trace.get_tracer("test").start_as_current_span("client") as client_span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            token = issuer.token(tenant_id="acme", scopes=("things:write",))
            metadata = (("authorization", f"Bearer {token}"), *carrier.items())
            assert await create(b"thing-1", metadata=metadata, timeout=5) == b"ok"
        value, tenant, consumer_trace = await asyncio.wait_for(handled.get(), timeout=20)
        await channel.close()
    finally:
        await app.stop()
    assert (value, tenant) == ("thing-1", "acme")
    assert consumer_trace == client_span.get_span_context().trace_id
    names = {
        s.name for s in span_exporter.get_finished_spans() if s.context.trace_id == consumer_trace
    }
    assert "test.v1.Things/Create" in names  # the server span joined the caller's trace
