"""The server pipeline, exercised over a real gRPC connection with generic handlers."""

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry import propagate, trace

from missiva_platform import metrics
from missiva_platform.auth import Access, AccessPolicy, TokenVerifier, current_tenant, rule
from missiva_platform.errors import InvalidArgument, NotFound
from missiva_platform.interceptors import KitServerInterceptor
from missiva_platform.testing.tokens import TestIssuer

SERVICE = "test.v1.Echo"


def _ident(x: bytes) -> bytes:
    return x


async def whoami(request: bytes, context) -> bytes:
    return current_tenant().encode()


async def invalid(request: bytes, context) -> bytes:
    raise InvalidArgument.field("email", "must contain one @")


async def missing(request: bytes, context) -> bytes:
    raise NotFound("contact 42 not found")


async def crash(request: bytes, context) -> bytes:
    raise RuntimeError("secret internal detail: password=hunter2")


async def stream_tenant(request: bytes, context):
    for _ in range(3):
        yield current_tenant().encode()


async def public(request: bytes, context) -> bytes:
    return b"hello"


@pytest.fixture
def spans(span_exporter):
    return span_exporter


@pytest.fixture
async def server(spans):
    issuer = TestIssuer()
    policy = AccessPolicy(rules={f"/{SERVICE}/Public": rule(Access.ANONYMOUS)})
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(fn, _ident, _ident)
        for name, fn in {
            "WhoAmI": whoami,
            "Invalid": invalid,
            "Missing": missing,
            "Crash": crash,
            "Public": public,
        }.items()
    }
    handlers["Stream"] = grpc.unary_stream_rpc_method_handler(stream_tenant, _ident, _ident)
    srv = grpc.aio.server(
        interceptors=[KitServerInterceptor(TokenVerifier(issuer.source()), policy)]
    )
    srv.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield channel, issuer
    await channel.close()
    await srv.stop(None)


def call(channel, method):
    return channel.unary_unary(f"/{SERVICE}/{method}", _ident, _ident)


def bearer(token):
    return (("authorization", f"Bearer {token}"),)


async def test_the_tenant_comes_from_the_verified_token(server):
    channel, issuer = server
    reply = await call(channel, "WhoAmI")(
        b"", metadata=bearer(issuer.token(tenant_id="acme")), timeout=5
    )
    assert reply == b"acme"


async def test_streaming_calls_see_the_principal_too(server):
    channel, issuer = server
    stream = channel.unary_stream(f"/{SERVICE}/Stream", _ident, _ident)
    items = [i async for i in stream(b"", metadata=bearer(issuer.token(tenant_id="t9")), timeout=5)]
    assert items == [b"t9"] * 3


async def test_a_call_without_a_token_is_unauthenticated_unless_anonymous(server):
    channel, _ = server
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(channel, "WhoAmI")(b"", timeout=5)
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert await call(channel, "Public")(b"", timeout=5) == b"hello"


async def test_a_malformed_authorization_header_is_refused(server):
    channel, _ = server
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(channel, "Public")(b"", metadata=(("authorization", "Basic abc"),), timeout=5)
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_invalid_argument_names_the_field_in_bad_request_details(server):
    channel, issuer = server
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(channel, "Invalid")(b"", metadata=bearer(issuer.token()), timeout=5)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(err.value)
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert bad.field_violations[0].field == "email"


async def test_domain_errors_map_to_their_status_code(server):
    channel, issuer = server
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(channel, "Missing")(b"", metadata=bearer(issuer.token()), timeout=5)
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "contact 42 not found"


async def test_an_unexpected_error_is_internal_and_reveals_nothing(server):
    channel, issuer = server
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(channel, "Crash")(b"", metadata=bearer(issuer.token()), timeout=5)
    assert err.value.code() is grpc.StatusCode.INTERNAL
    assert "hunter2" not in (err.value.details() or "")


async def test_rpc_metrics_count_calls_by_method_and_code(server):
    channel, issuer = server
    counter = metrics.counter("grpc_server_handled_total", "RPCs handled", ("method", "code"))
    before = counter.labels(f"/{SERVICE}/Missing", "NOT_FOUND")._value.get()
    with pytest.raises(grpc.aio.AioRpcError):
        await call(channel, "Missing")(b"", metadata=bearer(issuer.token()), timeout=5)
    assert counter.labels(f"/{SERVICE}/Missing", "NOT_FOUND")._value.get() == before + 1


async def test_the_server_span_continues_the_callers_trace(server, spans):
    channel, _ = server
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("client") as client_span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        await call(channel, "Public")(b"", metadata=tuple(carrier.items()), timeout=5)
    trace_id = client_span.get_span_context().trace_id
    server_spans = [s for s in spans.get_finished_spans() if s.name == f"{SERVICE}/Public"]
    assert server_spans
    assert server_spans[-1].context.trace_id == trace_id
