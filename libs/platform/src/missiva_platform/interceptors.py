"""The server-side pipeline every RPC passes through, in one place.

For each call: extract the W3C trace context from metadata and open a server span; verify the
bearer token and apply the method's access rule (the principal lands in a context variable);
run the handler; map typed domain errors to a ``google.rpc.Status`` (anything unexpected is
logged and becomes INTERNAL with no detail); record count and latency by method and code.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc_status import rpc_status
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from missiva_platform import metrics
from missiva_platform.auth import (
    AccessPolicy,
    TokenVerifier,
    authorize,
    reset_principal,
    set_principal,
)
from missiva_platform.errors import INTERNAL_MESSAGE, DomainError, Unauthenticated, to_status
from missiva_platform.validation import check_text

log = logging.getLogger(__name__)
tracer = trace.get_tracer("missiva.grpc")


def _rpc_metrics() -> tuple[Any, Any]:
    return (
        metrics.counter("grpc_server_handled_total", "RPCs handled", ("method", "code")),
        metrics.histogram("grpc_server_handling_seconds", "RPC latency", ("method",)),
    )


_SEVERAL_AUTHORIZATIONS = " several-authorization"  # a key no real metadata can have


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            key = key.lower()
            if key == "authorization" and key in found:
                found[_SEVERAL_AUTHORIZATIONS] = "1"  # which one wins would be a guess
            found[key] = value
    return found


class KitServerInterceptor(grpc.aio.ServerInterceptor):
    """Tracing, authentication, authorisation, error mapping and metrics for every RPC."""

    def __init__(self, verifier: TokenVerifier | None, policy: AccessPolicy) -> None:
        self.verifier = verifier
        self.policy = policy
        self.handled, self.latency = _rpc_metrics()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary, check_request=True),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream, check_request=True),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, handler.stream_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(method, handler.stream_stream),
            handler.request_deserializer,
            handler.response_serializer,
        )

    async def _authenticate(self, method: str, meta: dict[str, str]) -> Any:
        rule = self.policy.for_method(method)
        principal = None
        auth = meta.get("authorization", "")
        if meta.get(_SEVERAL_AUTHORIZATIONS):
            raise Unauthenticated("send one authorization metadata entry, not several")
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
            if self.verifier is None:
                raise Unauthenticated("this server does not accept tokens")
            principal = await self.verifier.verify(token.strip())
        authorize(rule, principal, method)
        return principal

    @contextlib.asynccontextmanager
    async def _call(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        """One RPC: span, principal, error mapping and metrics around the handler."""
        meta = _metadata(context)
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        with tracer.start_as_current_span(
            method.lstrip("/"),
            context=propagate.extract(meta),
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.method": method},
        ) as span:
            token = None
            try:
                token = set_principal(await self._authenticate(method, meta))
                yield
            except DomainError as exc:
                code = exc.code
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                await context.abort_with_status(rpc_status.to_status(to_status(exc)))
            except Exception as exc:
                code = _code_of(exc, context)
                if code is grpc.StatusCode.UNKNOWN:
                    code = grpc.StatusCode.INTERNAL
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR))
                    log.exception("unhandled error in %s", method)
                    await context.abort(code, INTERNAL_MESSAGE)
                raise
            finally:
                if token is not None:
                    reset_principal(token)
                self.handled.labels(method, code.name).inc()
                self.latency.labels(method).observe(time.perf_counter() - started)

    # A request message's text is checked here, once for every service: a control character
    # (NUL included) is INVALID_ARGUMENT naming the field, never a database error. Client
    # streams (bulk imports) are exempt: they check and report row by row, so one bad row
    # does not refuse the rows around it.
    def _wrap_unary(
        self, method: str, behavior: Callable[..., Any], *, check_request: bool = False
    ) -> Callable[..., Any]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with self._call(method, context):
                if check_request:
                    check_text(request)
                return await behavior(request, context)

        return wrapper

    def _wrap_stream(
        self, method: str, behavior: Callable[..., Any], *, check_request: bool = False
    ) -> Callable[..., Any]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async with self._call(method, context):
                if check_request:
                    check_text(request)
                async for item in behavior(request, context):
                    yield item

        return wrapper


def _code_of(exc: BaseException, context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    # context.abort() raises an exception after setting the code; keep that code.
    code = context.code() if hasattr(context, "code") else None
    if isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK:
        return code
    return grpc.StatusCode.UNKNOWN
