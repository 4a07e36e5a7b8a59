"""The one place where failures become HTTP responses.

Every error body has the same shape, ``{"error": {"code", "message", "fields": [...]}}``,
whether it came from a backend's gRPC status, from request validation or from a bug. The
public pages (``public.py``) show the same ``problem_of`` mapping as HTML instead.

gRPC → HTTP (``GRPC_TO_HTTP``):

====================  ====  ===========================================================
INVALID_ARGUMENT      400   with ``fields`` from ``google.rpc.BadRequest`` violations
OUT_OF_RANGE          400
UNAUTHENTICATED       401
PERMISSION_DENIED     403
NOT_FOUND             404
ALREADY_EXISTS        409
ABORTED               409   a concurrency conflict; the client may retry
FAILED_PRECONDITION   409   see below; ``fields`` from ``google.rpc.PreconditionFailure``
RESOURCE_EXHAUSTED    429
UNIMPLEMENTED         501
UNAVAILABLE           503
DEADLINE_EXCEEDED     504
anything else         500   generic message, never the backend's text
====================  ====  ===========================================================

FAILED_PRECONDITION is 409, not 412: HTTP reserves 412 for failed conditional request
headers (``If-Match``...), while our precondition failures are about the state of the
resource ("email not verified"), which is what 409 Conflict describes.

Messages: a client error (4xx) carries the backend's message, which our services write for
the caller; a server error (5xx) carries a fixed message, so gRPC transport text (addresses,
connection errors) and internals never reach a browser.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import grpc
import msgspec
from google.rpc import error_details_pb2, status_pb2
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

log = logging.getLogger(__name__)

_DETAILS_KEY = "grpc-status-details-bin"

GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

# Fixed texts for server-side failures (the backend's own text may hold internals).
SERVER_MESSAGES: dict[int, str] = {
    500: "internal error",
    501: "this operation is not available yet",
    503: "a backend service is unavailable; try again shortly",
    504: "a backend service did not answer in time; try again shortly",
}

# The code names of HTTP-level errors, in the same vocabulary as gRPC-derived ones.
_HTTP_CODES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "CONFLICT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class FieldProblem(msgspec.Struct, frozen=True):
    """One thing wrong with one field (or the subject of a failed precondition)."""

    field: str
    description: str


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    message: str
    fields: list[FieldProblem] = msgspec.field(default_factory=list)


class ErrorBody(msgspec.Struct, frozen=True):
    """The body of every error response."""

    error: ErrorDetail


def error_response(
    status: int, code: str, message: str, fields: list[FieldProblem] | None = None
) -> Response[ErrorBody]:
    """A JSON error response in the gateway's one error shape."""
    body = ErrorBody(ErrorDetail(code=code, message=message, fields=fields or []))
    return Response(
        body,
        status_code=status,
        media_type=MediaType.JSON,
        headers={"cache-control": "no-store"},
    )


def http_status_for(code: grpc.StatusCode) -> int:
    """The HTTP status for a gRPC status code (500 for anything not in the table)."""
    return GRPC_TO_HTTP.get(code, 500)


def rich_status(error: grpc.RpcError) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` a backend attached to ``error``, if any."""
    trailing = getattr(error, "trailing_metadata", None)
    metadata = trailing() if callable(trailing) else None
    for key, value in metadata or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except Exception:  # a malformed trailer must not turn a 4xx into a crash
                return None
    return None


def field_problems(status: status_pb2.Status | None) -> list[FieldProblem]:
    """Field violations and precondition failures carried in a rich status."""
    problems: list[FieldProblem] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            problems += [FieldProblem(v.field, v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            problems += [FieldProblem(v.subject, v.description) for v in failure.violations]
    return problems


def precondition_types(error: grpc.RpcError) -> set[str]:
    """The ``type`` of each precondition failure a backend attached (a stable reason code,
    e.g. identity's ``ACCOUNT_DELETION_REQUESTED``), for a page that explains it its own way."""
    types: set[str] = set()
    status = rich_status(error)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            types.update(v.type for v in failure.violations if v.type)
    return types


class Problem(msgspec.Struct, frozen=True):
    """A backend failure as the gateway shows it: HTTP status, code name, safe message."""

    status: int
    code: str
    message: str
    fields: list[FieldProblem] = msgspec.field(default_factory=list)


def problem_of(error: grpc.RpcError) -> Problem:
    """Translate a backend's gRPC error through the one mapping table (JSON and HTML alike)."""
    code_of = getattr(error, "code", None)
    code = code_of() if callable(code_of) else grpc.StatusCode.UNKNOWN
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    status = http_status_for(code)
    if status >= 500:
        # Server-side: log what happened, show only a fixed text.
        log.warning("backend call failed", extra={"grpc_code": code.name, "http_status": status})
        name = code.name if status != 500 else "INTERNAL"
        return Problem(status, name, SERVER_MESSAGES.get(status, "internal error"))
    details_of = getattr(error, "details", None)
    message = details_of() if callable(details_of) else None
    return Problem(
        status,
        code.name,
        str(message or HTTPStatus(status).phrase.lower()),
        field_problems(rich_status(error)),
    )


def grpc_error_response(error: grpc.RpcError) -> Response[ErrorBody]:
    """Translate a backend's gRPC error into the gateway's HTTP error response."""
    problem = problem_of(error)
    return error_response(problem.status, problem.code, problem.message, problem.fields)


def _on_grpc_error(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    assert isinstance(exc, grpc.RpcError)
    return grpc_error_response(exc)


def _on_http_error(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status) or _http_code_name(status)
    if status >= 500:
        return error_response(status, code, str(exc.detail or SERVER_MESSAGES.get(status, "")))
    fields: list[FieldProblem] = []
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        for item in exc.extra:
            if isinstance(item, dict):
                fields.append(FieldProblem(str(item.get("key", "")), str(item.get("message", ""))))
    return error_response(status, code, str(exc.detail), fields)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    # A bug in the gateway: the trace goes to the log, the client gets a fixed text.
    # The route template, never the raw path: public pages carry signed tokens in it.
    log.error("unhandled error", exc_info=exc, extra={"route": route_template(request)})
    return error_response(500, "INTERNAL", SERVER_MESSAGES[500])


def route_template(request: Request[Any, Any, Any]) -> str:
    """The matched route's template (``/unsubscribe/{token}``), safe to log and to label."""
    return str(request.scope.get("path_template") or "unmatched")


def _http_code_name(status: int) -> str:
    try:
        return HTTPStatus(status).name
    except ValueError:
        return "UNKNOWN"


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    grpc.RpcError: _on_grpc_error,
    HTTPException: _on_http_error,
    Exception: _on_unexpected,
}
