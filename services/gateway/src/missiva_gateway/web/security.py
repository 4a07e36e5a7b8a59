"""What every web page carries: a per-request CSP nonce and the security headers, the CSRF
double-submit cookie and its check, and the rate limits of the public endpoints.

**Content-Security-Policy.** ``default-src 'none'``; scripts and styles only from our origin
*and* carrying the request's nonce (``'strict-dynamic'`` is not needed: the one script, HTMX,
creates no others); images from our origin or ``data:``; forms and fetches to our origin;
frames only our own sandboxed message views; nothing may frame a page. Email HTML (template
previews, the mailbox) is served by ``frame.py`` under its own, stricter policy.

**Referrer-Policy: no-referrer** on every page: many carry a token in their address (email
verification, password reset, the public links), and a page that carries none loses nothing.

**CSRF.** A random token in a ``SameSite=Strict`` httpOnly cookie, repeated in every form as
``csrf_token`` (HTMX sends it as ``X-CSRF-Token``); an unsafe request whose two copies are
missing or differ is refused with a 403 page before its handler runs. The session cookie's
``SameSite=Lax`` already stops cross-site POSTs in current browsers; the token covers the rest
(older browsers, same-site subdomains).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
from collections import deque
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "missiva_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def page_policy(nonce: str) -> str:
    """The CSP of an application page."""
    return (
        "default-src 'none'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data:; connect-src 'self'; frame-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


BASE_HEADERS = {
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-robots-tag": "noindex, nofollow",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


def is_https(scope: Scope, trusted: Any) -> bool:
    """Whether the browser reached us over https: the connection's scheme, or the
    ``X-Forwarded-Proto`` of a trusted proxy (``TRUSTED_PROXIES``)."""
    if scope.get("scheme") == "https":
        return True
    peer = scope.get("client")
    if not peer or not trusted or not any(_in(peer[0], network) for network in trusted):
        return False
    for key, value in scope.get("headers", ()):
        if key == b"x-forwarded-proto":
            return bool(value.decode("latin-1").split(",")[-1].strip().lower() == "https")
    return False


def _in(address: str, network: Any) -> bool:
    try:
        return ipaddress.ip_address(address) in network
    except ValueError:
        return False


class WebHeaders(ASGIMiddleware):
    """Per request: a CSP nonce (``scope["state"]["csp_nonce"]``), the CSRF token (the
    cookie's, or a new one set on the answer), the security headers, and any cookie a handler
    queued in ``scope["state"]["set_cookies"]``. A handler that set its own CSP (the framed
    message views) keeps it."""

    def __init__(self, trusted: Any = ()) -> None:
        self.trusted = trusted

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        state = scope.setdefault("state", {})
        nonce = secrets.token_urlsafe(18)
        state["csp_nonce"] = nonce
        state["https"] = is_https(scope, self.trusted)
        cookie = _cookie(scope, CSRF_COOKIE)
        fresh = not (cookie and 20 <= len(cookie) <= 100)
        state["csrf_token"] = secrets.token_urlsafe(32) if fresh else cookie
        state.setdefault("set_cookies", [])
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                if "content-security-policy" not in headers:
                    headers["content-security-policy"] = page_policy(nonce)
                    headers["x-frame-options"] = "DENY"
                for name, value in BASE_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
                # Server time to the first byte, for ``make bench`` and browsers' tools.
                headers["server-timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
                cookies: list[Cookie] = list(state.get("set_cookies", ()))
                if fresh:
                    cookies.append(
                        Cookie(
                            key=CSRF_COOKIE,
                            value=state["csrf_token"],
                            httponly=True,
                            secure=state["https"],
                            samesite="strict",
                            path="/",
                        )
                    )
                for item in cookies:
                    headers.add("set-cookie", item.to_header(header=""))
            await send(message)

        await next_app(scope, receive, send_with_headers)


def _cookie(scope: Scope, name: str) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return ""


class CsrfRefused(HTTPException):
    """A form arrived without its CSRF token, or with another one."""

    status_code = 403
    detail = "csrf"


async def csrf_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse an unsafe request whose form (or header) token differs from the cookie's."""
    if connection.scope.get("method") not in UNSAFE:
        return
    expected = _cookie(connection.scope, CSRF_COOKIE)
    given = connection.headers.get(CSRF_HEADER, "")
    if not given and isinstance(connection, Request):
        content_type = connection.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await connection.form()
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else ""
    if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfRefused()


class RateLimited(HTTPException):
    """Too many requests from one client to one public endpoint."""

    status_code = 429
    detail = "rate"

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"retry-after": str(retry_after)})
        self.retry_after = retry_after


class RateLimiter:
    """Sliding-window limits per (bucket, client address), in this process's memory.

    Identity throttles sign-ins and resets by account and address itself; this stops one
    client from hammering the public pages of one gateway replica (each replica counts its
    own, so N replicas allow N times the rate).
    """

    LIMITS = {  # bucket → (requests, seconds)
        "auth": (20, 60.0),  # login, sign-up, reset, verify: POSTs
        "public": (120, 60.0),  # every public GET
    }
    MAX_KEYS = 50_000

    def __init__(self, limits: dict[str, tuple[int, float]] | None = None) -> None:
        self.limits = dict(limits or self.LIMITS)
        self._hits: dict[tuple[str, str], deque[float]] = {}

    def check(self, bucket: str, client: str) -> None:
        """Count one request; raise ``RateLimited`` past the bucket's limit."""
        count, window = self.limits[bucket]
        now = time.monotonic()
        key = (bucket, client)
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.MAX_KEYS:
                self._forget(now)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= count:
            raise RateLimited(int(hits[0] + window - now) + 1)
        hits.append(now)

    def _forget(self, now: float) -> None:
        longest = max(window for _, window in self.limits.values())
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - longest]:
            del self._hits[key]
        if len(self._hits) >= self.MAX_KEYS:
            self._hits.clear()
