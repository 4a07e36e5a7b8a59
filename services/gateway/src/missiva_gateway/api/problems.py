"""RFC 9457 problem details: the one error shape of the REST API, and the request id.

Every error under ``/api/v1`` is ``application/problem+json``::

    {"type": "/api/v1/problems#invalid-argument", "title": "Invalid argument", "status": 400,
     "detail": "email: not an email address", "code": "INVALID_ARGUMENT",
     "request_id": "…", "errors": [{"field": "email", "description": "not an email address"}]}

A backend's gRPC status goes through the gateway's single mapping table
(``missiva_gateway.errors.problem_of``: status code, safe message, field violations from
``google.rpc.BadRequest`` / ``PreconditionFailure``); request validation, authentication,
rate limits and body limits are turned into the same shape here. Server errors carry a fixed
text, never a backend's or a traceback's.

``add_request_id`` gives every response of the gateway an ``X-Request-Id`` header: the client's
own when it sent a sane one (letters, digits, ``._-``, 8-64 characters), a fresh one
otherwise. Problem bodies repeat it, and it is logged with server errors.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any

import grpc
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.types import ExceptionHandlersMap, Message, Scope

from missiva_gateway.errors import SERVER_MESSAGES, problem_of, route_template

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
PROBLEM_JSON = "application/problem+json"
REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

# The problem types (``type`` is ``/api/v1/problems#<slug>``), by the code names the
# gateway uses; documented in the OpenAPI description.
PROBLEM_TYPES: dict[str, str] = {
    "INVALID_ARGUMENT": "The request names a field that is wrong; see `errors`.",
    "UNAUTHENTICATED": "No API key, or one that is unknown, revoked or expired.",
    "PERMISSION_DENIED": "The key lacks the scope the operation needs.",
    "NOT_FOUND": "No such resource in this account.",
    "CONFLICT": "The resource's state does not allow the operation, or it exists already.",
    "ALREADY_EXISTS": "The resource exists already.",
    "ABORTED": "A concurrent change won; retry.",
    "FAILED_PRECONDITION": "The resource's state does not allow the operation; see `errors`.",
    "PAYLOAD_TOO_LARGE": "The request body is larger than the endpoint accepts.",
    "UNSUPPORTED_MEDIA_TYPE": "The body's content type is not one the endpoint reads.",
    "RESOURCE_EXHAUSTED": "Rate limit or quota reached; see `Retry-After`.",
    "METHOD_NOT_ALLOWED": "The path exists, the method does not.",
    "INTERNAL": "A bug on our side; quote the request id.",
    "UNIMPLEMENTED": "The operation is not available yet.",
    "UNAVAILABLE": "A backend service is down for a moment; retry.",
    "DEADLINE_EXCEEDED": "A backend service did not answer in time; retry.",
}

_HTTP_CODES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _doc(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class FieldViolation(msgspec.Struct, frozen=True):
    """One thing wrong with one field of the request (or a failed precondition's subject)."""

    field: Annotated[str, _doc("The field at fault, e.g. `email` or `contact.attributes`.")]
    description: Annotated[str, _doc("What is wrong with it, for a person to read.")]


class ProblemDetails(msgspec.Struct, frozen=True, kw_only=True):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    type: Annotated[
        str, _doc("URI reference naming the kind of problem: `/api/v1/problems#<code>`.")
    ]
    title: Annotated[str, _doc("Short summary of the kind of problem (the HTTP reason).")]
    status: Annotated[int, _doc("The HTTP status code, repeated.")]
    detail: Annotated[str, _doc("What went wrong in this request, for a person to read.")]
    code: Annotated[
        str, _doc("Machine-readable code, e.g. `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`.")
    ]
    request_id: Annotated[str, _doc("The request id, as in the `X-Request-Id` header.")]
    errors: Annotated[
        list[FieldViolation], _doc("Field violations; empty when the problem is not a field's.")
    ] = msgspec.field(default_factory=list)


class ApiError(Exception):
    """A problem the API raises itself (auth, rate limit, body limit, bad header)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        errors: list[FieldViolation] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or _HTTP_CODES.get(status) or _name(status)
        self.errors = errors or []
        self.headers = dict(headers or {})

    @classmethod
    def field(cls, field: str, description: str, status: int = 400) -> ApiError:
        """A 400 naming one field."""
        return cls(status, f"{field}: {description}", errors=[FieldViolation(field, description)])


def request_id_of(request: Request[Any, Any, Any]) -> str:
    """This request's id (the one its ``X-Request-Id`` response header carries)."""
    return ensure_request_id(request.scope)


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str,
    errors: list[FieldViolation] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[ProblemDetails]:
    """A problem-details response."""
    body = ProblemDetails(
        type=f"/api/v1/problems#{code.lower().replace('_', '-')}",
        title=_phrase(status),
        status=status,
        detail=detail,
        code=code,
        request_id=request_id_of(request),
        errors=errors or [],
    )
    all_headers = {"cache-control": "no-store", **(headers or {})}
    all_headers.update(getattr(request.state, "rate_limit_headers", None) or {})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=all_headers)


def _on_api_error(request: Request[Any, Any, Any], exc: Exception) -> Response[ProblemDetails]:
    assert isinstance(exc, ApiError)
    return problem_response(request, exc.status, exc.code, exc.detail, exc.errors, exc.headers)


def _on_grpc_error(request: Request[Any, Any, Any], exc: Exception) -> Response[ProblemDetails]:
    assert isinstance(exc, grpc.RpcError)
    problem = problem_of(exc)  # the gateway's one gRPC → HTTP table
    errors = [FieldViolation(f.field, f.description) for f in problem.fields]
    headers = {"retry-after": "1"} if problem.status in (429, 503) else {}
    if problem.status >= 500:
        log.warning(
            "api backend failure",
            extra={"request_id": request_id_of(request), "route": route_template(request)},
        )
    return problem_response(request, problem.status, problem.code, problem.message, errors, headers)


def _on_http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[ProblemDetails]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status) or _name(status)
    if status >= 500:
        return problem_response(request, status, code, SERVER_MESSAGES.get(status, "error"))
    errors: list[FieldViolation] = []
    detail = str(exc.detail)
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        for item in exc.extra:
            if isinstance(item, dict):
                errors.append(_violation(item))
        if errors:
            detail = "; ".join(f"{e.field}: {e.description}" for e in errors)
    if isinstance(exc, NotFoundException) and not request.scope.get("path_template"):
        detail = "no such endpoint"
    if status == 413:
        detail = "the request body is over this endpoint's limit"
    headers = dict(exc.headers or {})
    return problem_response(request, status, code, detail, errors, headers)


def _violation(item: dict[str, Any]) -> FieldViolation:
    """A field violation from Litestar's validation extra (msgspec's ``at `$.a.b```)."""
    message = str(item.get("message", "invalid"))
    key = str(item.get("key") or "")
    found = re.search(r" - at `\$\.?([^`]*)`", message)
    if found:
        message = message[: found.start()]
        path = found.group(1)
        key = path if key in ("", "body", "data") or not path else f"{key}.{path}"
    missing = re.search(r"(?:missing required|contains unknown) field `([^`]+)`", message)
    if missing:
        key = f"{key}.{missing.group(1)}" if key not in ("", "body", "data") else missing.group(1)
    source = str(item.get("source") or "")
    if not key:
        key = source or "body"
    return FieldViolation(re.sub(r"\[(\d+)\]", r".\1", key), message)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ProblemDetails]:
    log.error(
        "api unhandled error",
        exc_info=exc,
        extra={"request_id": request_id_of(request), "route": route_template(request)},
    )
    return problem_response(request, 500, "INTERNAL", SERVER_MESSAGES[500])


API_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiError: _on_api_error,
    grpc.RpcError: _on_grpc_error,
    HTTPException: _on_http_error,
    Exception: _on_unexpected,
}


def for_api_paths(handlers: ExceptionHandlersMap) -> ExceptionHandlersMap:
    """The app-level handlers, answering in problem details for paths under ``/api/``.

    Errors raised before a route is matched (404 for an unknown path, 405) only reach the
    app's handlers; this keeps their shape the API's for API paths and the pages' otherwise.
    """
    wrapped: dict[Any, Any] = dict(handlers)
    for kind, api_handler in API_EXCEPTION_HANDLERS.items():
        other = handlers.get(kind) or handlers.get(Exception)

        def dispatch(
            request: Request[Any, Any, Any],
            exc: Exception,
            _api: Any = api_handler,
            _other: Any = other,
        ) -> Response[Any]:
            if request.scope.get("path", "").startswith(API_PREFIX) or _other is None:
                return _api(request, exc)  # type: ignore[no-any-return]
            return _other(request, exc)  # type: ignore[no-any-return]

        wrapped[kind] = dispatch
    return wrapped


def ensure_request_id(scope: Scope) -> str:
    """This request's id: made (once) from a sane ``X-Request-Id`` or anew, kept in its state."""
    state = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    found = state.get("request_id")
    if found:
        return str(found)
    given = ""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            break
    request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
    state["request_id"] = request_id
    return request_id


async def add_request_id(message: Message, scope: Scope) -> None:
    """``before_send`` hook: an ``X-Request-Id`` on every HTTP response of the gateway (also
    those no route matched, which no route middleware sees)."""
    if message["type"] == "http.response.start":
        request_id = ensure_request_id(scope)
        headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
        headers.append((b"x-request-id", request_id.encode()))
        message["headers"] = headers


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _name(status: int) -> str:
    try:
        return HTTPStatus(status).name
    except ValueError:
        return "UNKNOWN"
