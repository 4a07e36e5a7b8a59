"""The public referral link ``GET /r/{code}``: log the visit at billing, go to sign-up.

Billing's ``RecordReferralClick`` gets the code, the ``Referer`` (billing keeps it without
query or fragment) and the visitor's address and user agent (billing keeps only a salted hash
of the /24 or /64 network). It is open to the gateway's service token only: the gateway gets
one from identity (``IssueServiceToken``, audience billing, no account, no scope) with its
own client credential (``SERVICE_CREDENTIALS_FILE``, its ``gateway`` entry; ``missiva up``
writes it), cached until shortly before it expires.

The answer is a ``303`` to the sign-up page (``SIGNUP_URL``, default ``/signup``) with
``?ref=<code>`` when the code is one of ours, without it otherwise; the sign-up page carries
the code, and the new account's first sign-in calls billing's ``RedeemReferralCode``
(``web/referral_signup.py``). No cookie is ever set, the answer
is ``no-store`` and ``no-referrer``. If billing or identity cannot be reached the visitor is
sent on all the same (with the code: the link is probably good), the click unlogged and a
warning logged. A malformed code is a readable 404.

These two settings are read here, not in ``config.py``, to keep the feature in one module.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import urllib.parse
from typing import Any

import grpc
import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath

from missiva.billing.v1 import billing_service_pb2 as billing_pb
from missiva.billing.v1 import billing_service_pb2_grpc as billing_grpc
from missiva.identity.v1 import identity_service_pb2 as identity_pb
from missiva_gateway.backends import Backends
from missiva_gateway.client import client_context
from missiva_gateway.config import GatewaySettings
from missiva_platform.config import load_settings
from missiva_platform.secrets import ServiceCredential, load_service_credentials

log = logging.getLogger(__name__)

SERVICE = "gateway"
_CODE = re.compile(r"^[A-Za-z0-9]{4,32}$")
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
MAX_REFERRER = 2048


class ReferralSettings(msgspec.Struct, frozen=True, kw_only=True):
    """``SERVICE_CREDENTIALS_FILE``: the gateway's client credential (unset: clicks are not
    logged); ``SIGNUP_URL``: where visitors go."""

    service_credentials_file: str | None = None
    signup_url: str = "/signup"


class GatewayTokens:
    """The gateway's service token for one backend (billing by default), from identity,
    reused until near expiry."""

    def __init__(self, audience: str = "billing") -> None:
        self.audience = audience
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()
        self._credential: ServiceCredential | None = None
        self._read = False

    def forget(self) -> None:
        self._token = None

    def credential(self, settings: ReferralSettings) -> ServiceCredential | None:
        if not self._read:
            found = None
            if settings.service_credentials_file:
                found = load_service_credentials(settings.service_credentials_file).get(SERVICE)
            if found is None:
                log.warning(
                    "referrals: no gateway credential (SERVICE_CREDENTIALS_FILE): "
                    "clicks are not logged"
                )
            self._credential, self._read = found, True
        return self._credential

    async def token(self, backends: Backends, settings: ReferralSettings) -> str | None:
        credential = self.credential(settings)
        if credential is None:
            return None
        async with self._lock:
            if self._token and self._token[1] > time.time() + 30:
                return self._token[0]
            reply = await backends.identity().IssueServiceToken(
                identity_pb.IssueServiceTokenRequest(
                    client_id=credential.client_id,
                    client_secret=credential.client_secret,
                    audience=self.audience,
                ),
                timeout=backends.call_timeout,
            )
            self._token = (reply.access_token, float(reply.expires_at.ToSeconds()))
            return reply.access_token


class ReferralController(Controller):
    include_in_schema = False
    tokens = GatewayTokens()
    _settings: ReferralSettings | None = None

    @classmethod
    def settings(cls) -> ReferralSettings:
        if cls._settings is None:
            cls._settings = load_settings(ReferralSettings)
        return cls._settings

    @get("/r/{code:str}")
    async def referral(
        self,
        code: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        if not _CODE.fullmatch(code):
            return Response(
                "This is not a referral link.\n",
                status_code=404,
                media_type=MediaType.TEXT,
                headers=_HEADERS,
            )
        own = self.settings()
        known = True  # when billing cannot say, the link is most likely good
        try:
            token = await self.tokens.token(backends, own)
            if token is not None:
                reply = await billing_grpc.BillingServiceStub(
                    backends.channel("billing")
                ).RecordReferralClick(
                    billing_pb.RecordReferralClickRequest(
                        code=code,
                        referrer=str(request.headers.get("referer", ""))[:MAX_REFERRER],
                        client=client_context(
                            request.scope, request.headers, settings.trusted_proxy_networks
                        ),
                    ),
                    metadata=(("authorization", f"Bearer {token}"),),
                    timeout=backends.call_timeout,
                )
                known = reply.known
        except grpc.RpcError as exc:
            status = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None
            if status is grpc.StatusCode.UNAUTHENTICATED:
                self.tokens.forget()  # a stale token (keys rotated): a new one next time
            log.warning(
                "referrals: the click was not logged (%s)",
                status.name if status else type(exc).__name__,
            )
        target = own.signup_url
        if known:
            separator = "&" if "?" in target else "?"
            target = f"{target}{separator}{urllib.parse.urlencode({'ref': code.upper()})}"
        return Response("", status_code=303, headers={**_HEADERS, "Location": target})
