"""Who is calling the REST API: an API key exchanged at identity for a short-lived token.

``Authorization: Bearer <API key>`` is exchanged once at identity (``ExchangeApiKey``) for an
access token, which is cached until shortly before it expires (``refresh_margin``) and
forwarded to the services on every call: they verify it and enforce its scopes and tenant,
so the gateway holds no rule of its own. The cache is keyed by a SHA-256 of the key (the
key itself is neither kept nor logged), bounded (least recently used out first), and a key
that many requests present at once is exchanged once.

Other ways in (the web app's session cookie with CSRF) plug in through ``Authenticators``:
each is tried in order on a request and either returns a ``Caller`` or ``None`` (not mine);
the API-key one is the last.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from litestar import Request

from missiva_gateway.api.problems import ApiError
from missiva_gateway.backends import Backends

KEY_PREFIX = "mk_"
MAX_KEY_LENGTH = 512
_BEARER_CHALLENGE = {"www-authenticate": 'Bearer realm="missiva"'}


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the token to forward and the key its rate limit counts."""

    access_token: str
    limit_key: str  # e.g. "key:<sha256>"; never the secret itself

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata carrying the caller's token to a service."""
        return (("authorization", f"Bearer {self.access_token}"),)


Authenticator = Callable[[Request[Any, Any, Any]], Awaitable[Caller | None]]


def key_hash(secret: str) -> str:
    """The cache and rate-limit key of an API key (hex SHA-256: a key is 256 random bits)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def bearer_secret(request: Request[Any, Any, Any]) -> str | None:
    """The API key in ``Authorization: Bearer``, or None when the header is absent."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise ApiError(401, "Authorization must be 'Bearer <API key>'", headers=_BEARER_CHALLENGE)
    if len(value) > MAX_KEY_LENGTH or not value.startswith(KEY_PREFIX):
        raise ApiError(401, "that is not a Missiva API key", headers=_BEARER_CHALLENGE)
    return value


@dataclass
class _Cached:
    token: str
    refresh_at: float  # monotonic


class TokenCache:
    """API key hash → access token, refreshed ``refresh_margin`` seconds before expiry."""

    def __init__(
        self,
        exchange: Callable[[str], Awaitable[tuple[str, float]]],
        *,
        refresh_margin: float = 60.0,
        max_entries: int = 10_000,
    ) -> None:
        self._exchange = exchange  # secret → (token, seconds it stays valid)
        self.refresh_margin = refresh_margin
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Cached] = OrderedDict()
        self._pending: dict[str, asyncio.Future[str]] = {}
        self.exchanges = 0  # how many times identity was asked (for tests and metrics)

    def __len__(self) -> int:
        return len(self._entries)

    def forget(self, hashed: str) -> None:
        """Drop a key's token (e.g. after a service refused it)."""
        self._entries.pop(hashed, None)

    async def token(self, secret: str, hashed: str) -> str:
        """A valid token for the key, from the cache or from one exchange at identity."""
        found = self._entries.get(hashed)
        if found is not None and time.monotonic() < found.refresh_at:
            self._entries.move_to_end(hashed)
            return found.token
        pending = self._pending.get(hashed)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[hashed] = future
        try:
            self.exchanges += 1
            token, lifetime = await self._exchange(secret)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            self._pending.pop(hashed, None)
        # A token living less than twice the margin is still used for half its life.
        margin = min(self.refresh_margin, lifetime / 2)
        self._entries[hashed] = _Cached(token, time.monotonic() + lifetime - margin)
        self._entries.move_to_end(hashed)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        future.set_result(token)
        return token


def identity_exchange(backends: Backends) -> Callable[[str], Awaitable[tuple[str, float]]]:
    """``ExchangeApiKey`` at identity: (token, seconds until it expires)."""

    async def exchange(secret: str) -> tuple[str, float]:
        from missiva.identity.v1 import identity_service_pb2

        try:
            reply = await backends.identity().ExchangeApiKey(
                identity_service_pb2.ExchangeApiKeyRequest(secret=secret),
                timeout=backends.call_timeout,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
                raise ApiError(
                    401, "the API key is unknown, revoked or expired", headers=_BEARER_CHALLENGE
                ) from None
            raise
        lifetime = reply.expires_at.seconds + reply.expires_at.nanos / 1e9 - time.time()
        return reply.access_token, max(lifetime, 0.0)

    return exchange


class Authenticators:
    """The ways a request may authenticate, tried in order; API keys are the last."""

    def __init__(self, cache: TokenCache) -> None:
        self.cache = cache
        self._others: list[Authenticator] = []

    def add(self, authenticator: Authenticator) -> None:
        """Try ``authenticator`` before API keys (the web session's hook): it returns a
        ``Caller``, ``None`` when the request is not its kind, or raises ``ApiError``."""
        self._others.append(authenticator)

    async def caller(self, request: Request[Any, Any, Any], admit: Callable[[str], None]) -> Caller:
        """The caller of ``request``, or a 401 problem. ``admit(limit_key)`` is called before
        any work for the caller (the rate limit: it raises when the bucket is empty), so a
        flood of bad keys is limited too and never reaches identity."""
        for authenticator in self._others:
            found = await authenticator(request)
            if found is not None:
                admit(found.limit_key)
                return found
        secret = bearer_secret(request)
        if secret is None:
            raise ApiError(401, "send 'Authorization: Bearer <API key>'", headers=_BEARER_CHALLENGE)
        hashed = key_hash(secret)
        limit_key = f"key:{hashed}"
        admit(limit_key)
        token = await self.cache.token(secret, hashed)
        return Caller(token, limit_key)
