"""What every endpoint shares: the call context, documented errors, paging and idempotency.

``Ctx`` (the ``ctx`` dependency of every handler) carries the authenticated caller and
calls a service with the caller's token. A service's error is translated through the
gateway's one table (``errors.problem_of``) and its field names are renamed to the API's
(``contact.email`` → ``email``, ``page_token`` → ``cursor``), so a problem names the field
the client sent.

Idempotency: every POST that creates or sends reads ``Idempotency-Key`` and passes it as
the RPC's ``idempotency_key`` (the service stores the first answer for 24 hours and replays
it; the same key with another body is a 409). Without the header a fresh key is used, so
the call is applied once, as sent. POSTs whose RPC has no key are idempotent by nature
(adding tags or list members twice changes nothing) and say so in their description.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import grpc
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, QueryParameter

from missiva_gateway.api.auth import Caller, TokenCache
from missiva_gateway.api.problems import PROBLEM_JSON, ApiError, FieldViolation, ProblemDetails
from missiva_gateway.backends import Backends
from missiva_gateway.errors import problem_of

MAX_IDEMPOTENCY_KEY = 128
_KEY_CHARS = re.compile(r"[\x21-\x7e]{1,128}")

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        max_length=MAX_IDEMPOTENCY_KEY,
        description=(
            "Retry key (1-128 printable ASCII characters). A retry with the same key gets the"
            " first answer and is never applied twice (kept 24 hours); the same key with"
            " another request is 409."
        ),
    ),
]
Limit = Annotated[
    int, QueryParameter(ge=1, le=200, description="Results per page (1-200, default 50).")
]
PageCursor = Annotated[
    str | None,
    QueryParameter(
        max_length=2048,
        description="`next_cursor` of the previous page; absent for the first page.",
    ),
]
InTrash = Annotated[
    bool,
    QueryParameter(
        description="List the trash instead: items restorable until `restorable_until`."
    ),
]


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=ProblemDetails,
        description=description,
        media_type=PROBLEM_JSON,
        generate_examples=False,
    )


PROBLEMS: dict[int, ResponseSpec] = {
    400: _problem("Bad input: `errors` names each field at fault."),
    401: _problem("No API key, or an unknown, revoked or expired one."),
    403: _problem("The key lacks the scope this operation needs."),
    404: _problem("No such resource in this account (another account's ids included)."),
    409: _problem("The resource's state forbids it, or an idempotency key was reused."),
    413: _problem("The request body is over the endpoint's limit."),
    415: _problem("The body's content type is not one the endpoint reads."),
    429: _problem("Rate limit reached; retry after `Retry-After` seconds."),
    500: _problem("A bug on our side; quote the request id."),
    501: _problem("Not available yet."),
    503: _problem("A backend service is unavailable; retry shortly."),
    504: _problem("A backend service did not answer in time; retry shortly."),
}


class Stubs:
    """gRPC stubs of the backends, made once per channel."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self._made: dict[str, tuple[Any, Any]] = {}

    def __call__(self, name: str) -> Any:
        channel = self.backends.channel(name)
        made = self._made.get(name)
        if made is None or made[0] is not channel:
            made = (channel, _stub_class(name)(channel))
            self._made[name] = made
        return made[1]


def _stub_class(name: str) -> Any:
    from missiva.billing.v1 import billing_service_pb2_grpc
    from missiva.campaign.v1 import campaign_service_pb2_grpc
    from missiva.consent.v1 import consent_service_pb2_grpc
    from missiva.delivery.v1 import delivery_service_pb2_grpc
    from missiva.identity.v1 import identity_service_pb2_grpc

    return {
        "identity": identity_service_pb2_grpc.IdentityServiceStub,
        "consent": consent_service_pb2_grpc.ConsentServiceStub,
        "campaign": campaign_service_pb2_grpc.CampaignServiceStub,
        "delivery": delivery_service_pb2_grpc.DeliveryServiceStub,
        "billing": billing_service_pb2_grpc.BillingServiceStub,
    }[name]


# Service field names → API names, applied to every problem (longest prefix first).
COMMON_FIELDS: dict[str, str] = {
    "page_token": "cursor",
    "page_size": "limit",
    "idempotency_key": "Idempotency-Key",
}


@dataclass
class Ctx:
    """One request's caller and the way to the services."""

    caller: Caller
    stubs: Stubs
    cache: TokenCache
    timeout: float
    import_timeout: float = 600.0

    def stub(self, name: str) -> Any:
        return self.stubs(name)

    async def call(
        self,
        service: str,
        method: str,
        request: Any,
        *,
        fields: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> Any:
        """``service.method(request)`` with the caller's token; errors as problems."""
        rpc = getattr(self.stubs(service), method)
        try:
            return await rpc(
                request, metadata=self.caller.metadata, timeout=deadline or self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise self.problem(exc, fields) from None

    def problem(self, exc: grpc.RpcError, fields: Mapping[str, str] | None = None) -> ApiError:
        """A service's error as an API problem, its field names the API's."""
        problem = problem_of(exc)
        if problem.code == "UNAUTHENTICATED":
            self.cache.forget(self.caller.limit_key.removeprefix("key:"))
        renames = {**COMMON_FIELDS, **(fields or {})}
        errors = [FieldViolation(rename(f.field, renames), f.description) for f in problem.fields]
        detail = problem.message
        for old, new in sorted(renames.items(), key=lambda kv: -len(kv[0])):
            if old.endswith("."):
                detail = detail.replace(old, new)
            else:
                detail = re.sub(rf"\b{re.escape(old)}\b", new, detail)
        headers = {"retry-after": "1"} if problem.status in (429, 503) else {}
        return ApiError(problem.status, detail, code=problem.code, errors=errors, headers=headers)

    def idempotency(self, key: str | None) -> str:
        """The ``Idempotency-Key`` header checked, or a fresh key when it is absent."""
        if key is None:
            return uuid.uuid4().hex
        if not _KEY_CHARS.fullmatch(key):
            raise ApiError.field(
                "Idempotency-Key", "must be 1-128 printable ASCII characters without spaces"
            )
        return key


CtxDep = NamedDependency[Ctx]


def rename(field: str, renames: Mapping[str, str]) -> str:
    """``contact.email`` with ``{"contact.": ""}`` → ``email``."""
    for old, new in sorted(renames.items(), key=lambda kv: -len(kv[0])):
        if old.endswith("."):
            if field.startswith(old):
                return new + field[len(old) :]
        elif field == old or field.startswith(old + "."):
            return new + field[len(old) :]
    return field


def page(limit: int, cursor: str | None) -> dict[str, Any]:
    """The paging fields of a List request."""
    return {"page_size": limit, "page_token": cursor or ""}


def next_cursor(reply: Any) -> str | None:
    """A reply's next page token as the API's cursor (None on the last page)."""
    return reply.next_page_token or None
