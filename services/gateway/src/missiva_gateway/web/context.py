"""What every web handler shares (``Web``, one per app) and what a signed-in page needs
(``signed_in``: the session, its account and the caller's gRPC metadata)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import grpc
from litestar import Request

from missiva.identity.v1 import identity_service_pb2 as ipb
from missiva_gateway.backends import Backends
from missiva_gateway.client import client_context
from missiva_gateway.config import GatewaySettings
from missiva_gateway.web.frames import Frames
from missiva_gateway.web.i18n import negotiate
from missiva_gateway.web.problems import SignInRequired
from missiva_gateway.web.security import RateLimiter
from missiva_gateway.web.session import Session, Sessions

ACCOUNT_CACHE_SECONDS = 30.0
ADMIN_ROLES = (ipb.MEMBER_ROLE_PRIMARY_ADMIN, ipb.MEMBER_ROLE_ADMIN)


@dataclass
class Caller:
    """A signed-in request: its session, account and what its pages show of the user."""

    session: Session
    account: Any  # identity's GetAccountResponse

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return self.session.metadata

    @property
    def is_admin(self) -> bool:
        return self.account.role in ADMIN_ROLES


class Web:
    """The web app's parts: backends, settings, sessions, limits, framed HTML, imports."""

    def __init__(self, settings: GatewaySettings, backends: Backends) -> None:
        from missiva_gateway.web.imports import Imports

        self.settings = settings
        self.backends = backends
        self.sessions = Sessions(backends)
        self.limits = RateLimiter(
            {
                "auth": (settings.web_auth_requests_per_minute, 60.0),
                "public": (settings.web_public_requests_per_minute, 60.0),
            }
        )
        self.frames = Frames()
        self.imports = Imports()
        self._accounts: dict[str, tuple[float, Any]] = {}

    @property
    def timeout(self) -> float:
        return self.backends.call_timeout

    @property
    def embedded(self) -> bool:
        return bool(self.settings.smtp_sink_dir)

    def client(self, request: Request[Any, Any, Any]) -> Any:
        return client_context(request.scope, request.headers, self.settings.trusted_proxy_networks)

    def client_ip(self, request: Request[Any, Any, Any]) -> str:
        return str(self.client(request).ip_address or "unknown")

    def limit(self, request: Request[Any, Any, Any], bucket: str) -> None:
        self.limits.check(bucket, self.client_ip(request))

    def prepare(self, request: Request[Any, Any, Any], preferred: str = "") -> None:
        """Language and mode of a page, before anything renders."""
        state = request.scope.setdefault("state", {})
        state["lang"] = negotiate(preferred, request.headers.get("accept-language", ""))
        state["embedded"] = self.embedded

    async def account_of(self, session: Session) -> Any:
        """Identity's GetAccount for the session, remembered for a few seconds."""
        now = time.monotonic()
        cached = self._accounts.get(session.session_id)
        if cached and now - cached[0] < ACCOUNT_CACHE_SECONDS:
            return cached[1]
        reply = await self.backends.identity().GetAccount(
            ipb.GetAccountRequest(), metadata=session.metadata, timeout=self.timeout
        )
        if len(self._accounts) > 10_000:
            self._accounts.clear()
        self._accounts[session.session_id] = (now, reply)
        return reply

    def forget(self, session_id: str) -> None:
        self._accounts.pop(session_id, None)

    async def signed_in(self, request: Request[Any, Any, Any]) -> Caller:
        """The signed-in caller, or ``SignInRequired`` (the sign-in page)."""
        self.prepare(request)
        session = await self.sessions.current(request, self.client(request))
        if session is None:
            raise SignInRequired()
        try:
            account = await self.account_of(session)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                self.sessions.write(request, None)
                raise SignInRequired() from None
            raise
        self.prepare(request, account.profile.locale or session.locale)
        request.scope["state"]["user"] = {
            "name": account.profile.display_name or account.profile.email,
            "account": account.account.name,
            "admin": account.role in ADMIN_ROLES,
        }
        return Caller(session, account)

    async def gather(self, *calls: Any) -> list[Any]:
        """Several backend calls at once; the first failure is raised."""
        return list(await asyncio.gather(*calls))
