"""Credits for a send, held at billing before any recipient is handed to delivery.

Billing's ``ReserveCredits`` is open to the campaign *service* only (``Access.SERVICE``,
scope ``credits:write``, a token whose audience is billing and whose tenant is the account).
``IdentityTokens`` gets that token from identity by client credentials
(``IssueServiceToken``), one per account, reused until shortly before it expires. Tests
pass their own ``token_for`` (a TestIssuer-signed token that billing's static JWKS trusts).

A refusal for lack of credits comes back as ``Shortfall`` with the credits missing (billing's
FAILED_PRECONDITION names them in a ``CREDITS_INSUFFICIENT`` precondition violation).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from missiva.billing.v1 import billing_service_pb2 as billing_pb
from missiva.billing.v1 import billing_service_pb2_grpc as billing_grpc
from missiva.identity.v1 import identity_service_pb2 as identity_pb
from missiva.identity.v1 import identity_service_pb2_grpc as identity_grpc
from missiva_campaign import SERVICE_NAME
from missiva_platform.errors import Unavailable
from missiva_platform.secrets import load_service_credentials

TokenFor = Callable[[str], Awaitable[str]]
SCOPE = "credits:write"
RESERVATION_TTL_SECONDS = 7 * 24 * 3600  # billing's own limit applies


@dataclass(frozen=True)
class Reservation:
    reservation_id: str


@dataclass(frozen=True)
class Shortfall:
    missing: int
    message: str


class IdentityTokens:
    """Service tokens for billing (or ``audience`` with ``scopes``) from identity (client
    credentials), cached per account."""

    def __init__(
        self,
        identity_target: str,
        credentials_file: str,
        *,
        audience: str = "billing",
        scopes: tuple[str, ...] = (SCOPE,),
    ) -> None:
        self._target = identity_target
        self._audience = audience
        self._scopes = list(scopes)
        # The kit's credentials file (the chart mounts campaign's own entry), read at start.
        credentials = load_service_credentials(credentials_file)
        if SERVICE_NAME not in credentials:
            raise ValueError(f"{credentials_file} holds no credentials for {SERVICE_NAME}")
        self._credential = credentials[SERVICE_NAME]
        self._cache: dict[str, tuple[str, float]] = {}

    async def __call__(self, tenant: str) -> str:
        cached = self._cache.get(tenant)
        if cached and cached[1] > time.time() + 30:
            return cached[0]
        async with grpc.aio.insecure_channel(self._target) as channel:
            reply = await identity_grpc.IdentityServiceStub(channel).IssueServiceToken(
                identity_pb.IssueServiceTokenRequest(
                    client_id=self._credential.client_id,
                    client_secret=self._credential.client_secret,
                    audience=self._audience,
                    scopes=self._scopes,
                    tenant_id=tenant,
                ),
                timeout=5,
            )
        self._cache[tenant] = (reply.access_token, reply.expires_at.ToSeconds())
        return reply.access_token


def _missing(err: grpc.aio.AioRpcError) -> int | None:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            for violation in failure.violations:
                if violation.type == "CREDITS_INSUFFICIENT":
                    found = re.match(r"(\d+)", violation.description)
                    return int(found.group(1)) if found else None
    return None


class BillingCredits:
    """Reserves credits at billing over gRPC."""

    def __init__(self, billing_target: str, token_for: TokenFor) -> None:
        self._target = billing_target
        self._token_for = token_for

    async def reserve(
        self, tenant: str, amount: int, reference: str, key: str
    ) -> Reservation | Shortfall:
        token = await self._token_for(tenant)
        request = billing_pb.ReserveCreditsRequest(
            amount=amount,
            reference=reference,
            ttl=duration_pb2.Duration(seconds=RESERVATION_TTL_SECONDS),
            idempotency_key=key,
        )
        try:
            async with grpc.aio.insecure_channel(self._target) as channel:
                reply = await billing_grpc.BillingServiceStub(channel).ReserveCredits(
                    request, metadata=(("authorization", f"Bearer {token}"),), timeout=10
                )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
                missing = _missing(err)
                if missing is not None:
                    return Shortfall(missing, err.details() or "not enough credits")
            raise Unavailable(
                f"billing could not reserve the credits ({err.code().name}); try again"
            ) from None
        return Reservation(reply.reservation_id)
