"""The signed-in session: identity's tokens in one httpOnly cookie.

The cookie holds the access token (10 minutes), the rotating refresh token, their expiry
times, the session id and the user's language. It is ``httpOnly`` and ``SameSite=Lax``,
and ``Secure`` (named ``__Host-missiva_session``) whenever the browser reached us over
https. The embedded platform (``make run``) is plain http on 127.0.0.1, where a ``Secure``
cookie would not be sent back by every browser: there the cookie is not ``Secure``, which
is acceptable only because nothing leaves the machine; production is always https.

An access token close to its end is exchanged for a new pair (``RefreshSession``) before
the request goes on. Identity ends the session when a refresh token is used twice, so
concurrent requests of one browser (a page and its HTMX polls) must not each rotate: one
rotation per refresh token runs at a time, and its result is remembered for a minute so a
request that arrives with the old cookie gets the new pair too.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import grpc
from litestar import Request
from litestar.datastructures import Cookie

from missiva.identity.v1 import identity_service_pb2 as ipb
from missiva_gateway.backends import Backends

COOKIE = "missiva_session"
SECURE_COOKIE = "__Host-missiva_session"
REFRESH_AHEAD_SECONDS = 60.0
REMEMBER_ROTATION_SECONDS = 60.0


@dataclass(frozen=True)
class Session:
    """Identity's tokens of one browser's session."""

    access_token: str
    access_expires: float
    refresh_token: str
    refresh_expires: float
    session_id: str
    locale: str = ""

    def encode(self) -> str:
        raw = json.dumps(
            [
                self.access_token,
                self.access_expires,
                self.refresh_token,
                self.refresh_expires,
                self.session_id,
                self.locale,
            ],
            separators=(",", ":"),
        ).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Session | None:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            items = json.loads(raw)
            a, ae, r, re_, sid, locale = items
            return cls(str(a), float(ae), str(r), float(re_), str(sid), str(locale)[:16])
        except (ValueError, TypeError, binascii.Error):
            return None

    @classmethod
    def of(cls, tokens: Any, locale: str = "") -> Session:
        """From identity's ``SessionTokens``."""
        return cls(
            access_token=tokens.access_token,
            access_expires=tokens.access_token_expires_at.ToSeconds(),
            refresh_token=tokens.refresh_token,
            refresh_expires=tokens.refresh_token_expires_at.ToSeconds(),
            session_id=tokens.session_id,
            locale=locale,
        )

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata carrying the access token."""
        return (("authorization", f"Bearer {self.access_token}"),)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Reads, refreshes, writes and ends sessions."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self._locks: dict[str, asyncio.Lock] = {}
        self._rotated: dict[str, tuple[float, Session | None]] = {}

    @staticmethod
    def read(request: Request[Any, Any, Any]) -> Session | None:
        value = request.cookies.get(SECURE_COOKIE) or request.cookies.get(COOKIE) or ""
        session = Session.decode(value) if value and len(value) < 8192 else None
        if session is None or session.refresh_expires < time.time():
            return None
        return session

    @staticmethod
    def write(request: Request[Any, Any, Any], session: Session | None) -> None:
        """Queue the cookie (a new session, or its removal when ``None``) on the answer."""
        secure = bool(request.scope.get("state", {}).get("https"))
        name = SECURE_COOKIE if secure else COOKIE
        cookies = request.scope["state"].setdefault("set_cookies", [])
        if session is None:
            for key in (COOKIE, SECURE_COOKIE):
                if key in request.cookies:
                    cookies.append(
                        Cookie(
                            key=key,
                            value="",
                            max_age=0,
                            path="/",
                            httponly=True,
                            secure=key == SECURE_COOKIE,
                            samesite="lax",
                        )
                    )
            return
        cookies.append(
            Cookie(
                key=name,
                value=session.encode(),
                max_age=max(0, int(session.refresh_expires - time.time())),
                path="/",
                httponly=True,
                secure=secure,
                samesite="lax",
            )
        )

    async def current(self, request: Request[Any, Any, Any], client: Any) -> Session | None:
        """The request's session, rotated first when its access token is about to end."""
        session = self.read(request)
        if session is None:
            return None
        if session.access_expires - time.time() > REFRESH_AHEAD_SECONDS:
            return session
        fresh = await self.rotate(session, client)
        self.write(request, fresh)
        return fresh

    async def rotate(self, session: Session, client: Any) -> Session | None:
        """The next token pair (None when identity ended the session)."""
        key = _digest(session.refresh_token)
        now = time.monotonic()
        for old, (at, _) in list(self._rotated.items()):
            if now - at > REMEMBER_ROTATION_SECONDS:
                del self._rotated[old]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._rotated:
                return self._rotated[key][1]
            try:
                reply = await self.backends.identity().RefreshSession(
                    ipb.RefreshSessionRequest(refresh_token=session.refresh_token, client=client),
                    timeout=self.backends.call_timeout,
                )
                fresh: Session | None = Session.of(reply.tokens, session.locale)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (
                    grpc.StatusCode.UNAUTHENTICATED,
                    grpc.StatusCode.PERMISSION_DENIED,
                    grpc.StatusCode.NOT_FOUND,
                    grpc.StatusCode.INVALID_ARGUMENT,
                ):
                    raise
                fresh = None
            self._rotated[key] = (time.monotonic(), fresh)
        self._locks.pop(key, None)
        return fresh

    async def end(self, request: Request[Any, Any, Any]) -> None:
        """Log out: identity revokes the session; the cookie goes."""
        session = self.read(request)
        if session is not None:
            try:
                await self.backends.identity().Logout(
                    ipb.LogoutRequest(refresh_token=session.refresh_token),
                    timeout=self.backends.call_timeout,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND):
                    raise
        self.write(request, None)
