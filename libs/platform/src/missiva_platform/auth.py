"""Who is calling: token verification against identity's JWKS and per-method access rules.

Identity signs access tokens as JWTs with Ed25519 (EdDSA; JWS ``alg`` "Ed25519", the
fully-specified name of RFC 9864). Every service verifies them locally against identity's JWKS,
cached, and takes the tenant only from the verified token.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from missiva_platform.errors import PermissionDenied, Unauthenticated

ISSUER = "missiva-identity"
AUDIENCE = "missiva"
ALGORITHM = "Ed25519"
_LEEWAY_SECONDS = 30
MAX_REFRESH_BACKOFF = 60.0  # seconds between attempts while the JWKS cannot be fetched
# The longest access-token lifetime identity allows (ACCESS_TOKEN_TTL_SECONDS): a revoked
# session is remembered this long, after which none of its tokens can verify anyway.
ACCESS_TOKEN_MAX_SECONDS = 3600

log = logging.getLogger(__name__)


class CallerKind(enum.StrEnum):
    USER = "user"
    SERVICE = "service"
    API_KEY = "api_key"


@dataclass(frozen=True)
class Principal:
    """The verified caller: the tenant comes only from here."""

    kind: CallerKind
    subject: str  # user id, service name, or API key id
    tenant_id: str  # empty for services acting platform-wide
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    mfa: bool = False
    token_id: str = ""
    expires_at: float = 0.0
    email_verified: bool = False  # the user's address is proven theirs (users only)
    session_id: str = ""  # identity's session (``sid``), users only
    auth_time: float = 0.0  # when the user last proved who they are (``auth_time``)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or "*" in self.scopes


class Access(enum.Enum):
    """Who may call a method."""

    ANONYMOUS = "anonymous"  # no token needed (sign-up, login, public token links)
    AUTHENTICATED = "authenticated"  # any verified user, API key or service
    USER = "user"  # a person or an API key acting for an account
    PERSON = "person"  # only a signed-in person (no API key, no service)
    SERVICE = "service"  # only another Missiva service


# The roles of an account's members (identity writes them into user tokens; a primary admin
# is also an admin). Rules name the roles that may call; API keys and services carry none and
# are gated by scopes alone.
ADMIN_ROLES = ("primary_admin", "admin")
MEMBER_ROLES = (*ADMIN_ROLES, "member")
ALL_ROLES = (*MEMBER_ROLES, "billing")


@dataclass(frozen=True)
class MethodRule:
    access: Access = Access.AUTHENTICATED
    scopes: frozenset[str] = frozenset()  # all required (user tokens carry "*")
    roles: frozenset[str] = frozenset()  # any one suffices; asked of users only
    services: frozenset[str] = frozenset()  # allowlist of calling services (SERVICE access)


def rule(
    access: Access = Access.AUTHENTICATED,
    *,
    scopes: tuple[str, ...] = (),
    roles: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
) -> MethodRule:
    return MethodRule(access, frozenset(scopes), frozenset(roles), frozenset(services))


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "missiva_principal", default=None
)


def current_principal() -> Principal:
    """The verified caller of the RPC being served; Unauthenticated when there is none."""
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("this call needs a verified caller")
    return principal


def current_principal_or_none() -> Principal | None:
    return _current.get()


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


def reset_principal(token: contextvars.Token[Principal | None]) -> None:
    _current.reset(token)


def current_tenant() -> str:
    """The tenant of the verified caller: the only source of a tenant id."""
    principal = current_principal()
    if not principal.tenant_id:
        raise PermissionDenied("this call needs a caller acting for an account")
    return principal.tenant_id


class JwksSource:
    """Fetches the JWKS document (``{"keys": [...]}``)."""

    async def fetch(self) -> Mapping[str, Any]:
        raise NotImplementedError


class StaticJwks(JwksSource):
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    async def fetch(self) -> Mapping[str, Any]:
        return self.document


class CallableJwks(JwksSource):
    """A JWKS fetched by an async callable (e.g. identity's ``GetJwks`` RPC)."""

    def __init__(self, fetch: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
        self._fetch = fetch

    async def fetch(self) -> Mapping[str, Any]:
        return await self._fetch()


class TokenVerifier:
    """Verifies access tokens against a cached JWKS.

    The key set is refreshed after ``cache_seconds``, and at most every ``min_refresh_seconds``
    when a token names an unknown key id (a fresh key after rotation). Verified tokens are
    memoised until they expire, since each Ed25519 check costs ~0.2 ms of CPU.

    User and API-key tokens are for the whole platform (``aud`` "missiva"); a service token
    also names the one service it is for (``svc_aud``), and only the verifier of that service
    (``audience``) accepts it. A verifier without ``audience`` accepts no service token.
    """

    def __init__(
        self,
        source: JwksSource,
        *,
        audience: str | None = None,
        cache_seconds: float = 300.0,
        min_refresh_seconds: float = 5.0,
        fetch_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.audience = audience
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self.fetch_timeout = fetch_timeout
        self.clock = clock
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")
        self._next_attempt = float("-inf")  # no fetch before this, whatever asks
        self._failures = 0
        self._refresh: asyncio.Task[None] | None = None  # the one fetch everybody waits on
        self._memo: dict[bytes, Principal] = {}
        self._revoked: dict[str, float] = {}  # session id → when its last token has expired

    async def _key_set(self, want_kid: str | None) -> KeySet:
        """The key set to verify with, refreshed as needed without making callers queue.

        A stale set keeps serving while one background fetch renews it; only a caller with
        no usable key (none fetched yet, or a token naming an unknown key id) waits, and
        then for the one fetch in flight. A failed fetch is not retried before a back-off
        (``min_refresh_seconds`` doubling to ``MAX_REFRESH_BACKOFF``), so an unreachable
        identity service costs one attempt per back-off, not one per call.
        """
        now = self.clock()
        unknown = want_kid is not None and want_kid not in self._kids
        if self._keys is None or unknown:
            if self._refresh is not None or now >= self._next_attempt:
                await asyncio.shield(self._start_refresh())
        elif now - self._fetched_at > self.cache_seconds and now >= self._next_attempt:
            self._start_refresh()
        if self._keys is None:
            raise Unauthenticated("signing keys are not available yet")
        return self._keys

    async def refreshed(self) -> None:
        """Return once the key-set fetch in flight, if any, has finished."""
        if self._refresh is not None:
            await asyncio.shield(self._refresh)

    def _start_refresh(self) -> asyncio.Task[None]:
        if self._refresh is None:
            self._refresh = asyncio.create_task(self._fetch(), name="jwks-refresh")
        return self._refresh

    async def _fetch(self) -> None:
        try:
            document = await asyncio.wait_for(self.source.fetch(), self.fetch_timeout)
            keys = KeySet.import_key_set(dict(document))  # type: ignore[arg-type]
        except Exception as exc:  # unreachable, slow or nonsense: keep what we have
            self._failures += 1
            backoff = min(MAX_REFRESH_BACKOFF, self.min_refresh_seconds * 2 ** (self._failures - 1))
            self._next_attempt = self.clock() + backoff
            log.warning("signing keys could not be fetched (%s); next try in %.0fs", exc, backoff)
        else:
            self._keys = keys
            self._kids = frozenset(str(k.get("kid", "")) for k in document.get("keys", []))
            self._fetched_at = self.clock()
            self._next_attempt = self._fetched_at + self.min_refresh_seconds
            self._failures = 0
            self._memo.clear()  # a retired key must stop verifying at once
        finally:
            self._refresh = None

    def revoke_sessions(self, session_ids: Iterable[str], *, revoked_at: float) -> None:
        """Refuse from now on the access tokens of these sessions (identity ended them).

        Remembered for one access-token lifetime (and the leeway) after ``revoked_at``: no
        token of the session issued before then is still valid after that.
        """
        forget_after = revoked_at + ACCESS_TOKEN_MAX_SECONDS + _LEEWAY_SECONDS
        now = self.clock()
        for session_id in session_ids:
            if session_id and forget_after > now:
                self._revoked[session_id] = forget_after
        if len(self._revoked) > 10_000:
            self._revoked = {k: t for k, t in self._revoked.items() if t > now}

    def _session_ended(self, principal: Principal, now: float) -> bool:
        until = self._revoked.get(principal.session_id) if principal.session_id else None
        return until is not None and until > now

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; ``Unauthenticated`` for anything else."""
        digest = hashlib.sha256(token.encode()).digest()
        now = self.clock()
        kid = _peek_kid(token)
        keys = await self._key_set(kid)
        memo = self._memo.get(digest)
        if memo is not None and memo.expires_at > now and kid in self._kids:
            if self._session_ended(memo, now):
                raise Unauthenticated("the session has ended; sign in again")
            return memo
        if kid is None or kid not in self._kids:
            raise Unauthenticated("token signed by an unknown key")
        try:
            decoded = jwt.decode(token, keys, algorithms=[ALGORITHM])
            registry = jwt.JWTClaimsRegistry(
                now=int(now),
                leeway=_LEEWAY_SECONDS,
                iss={"essential": True, "value": ISSUER},
                aud={"essential": True, "value": AUDIENCE},
                exp={"essential": True},
                sub={"essential": True},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise Unauthenticated("invalid or expired token") from exc
        principal = principal_from_claims(decoded.claims)
        if self._session_ended(principal, now):
            raise Unauthenticated("the session has ended; sign in again")
        if principal.kind is CallerKind.SERVICE:
            meant_for = decoded.claims.get("svc_aud")
            if not self.audience or meant_for != self.audience:
                raise Unauthenticated("this service token is for another service")
        if len(self._memo) > 50_000:
            self._memo.clear()
        self._memo[digest] = principal
        return principal


def _peek_kid(token: str) -> str | None:
    import base64
    import json

    try:
        header_b64 = token.split(".", 1)[0]
        padded = header_b64 + "=" * (-len(header_b64) % 4)
        header = json.loads(base64.urlsafe_b64decode(padded))
        kid = header.get("kid")
        return str(kid) if kid else None
    except (ValueError, IndexError):
        raise Unauthenticated("malformed token") from None


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    try:
        kind = CallerKind(claims.get("typ", "user"))
    except ValueError:
        raise Unauthenticated("unknown caller type") from None
    scope = claims.get("scope", "")
    return Principal(
        kind=kind,
        subject=str(claims["sub"]),
        tenant_id=str(claims.get("tid", "")),
        roles=frozenset(claims.get("roles", [])),
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(scope),
        mfa=bool(claims.get("mfa", False)),
        token_id=str(claims.get("jti", "")),
        expires_at=float(claims["exp"]),
        email_verified=claims.get("email_verified") is True,
        session_id=str(claims.get("sid", "")),
        auth_time=float(claims.get("auth_time", 0) or 0),
    )


def authorize(rule_: MethodRule, principal: Principal | None, method: str) -> None:
    """Apply a method's rule; raise Unauthenticated / PermissionDenied."""
    if rule_.access is Access.ANONYMOUS:
        return
    if principal is None:
        raise Unauthenticated("this call needs an access token (authorization: Bearer …)")
    if rule_.access is Access.SERVICE:
        if principal.kind is not CallerKind.SERVICE:
            raise PermissionDenied(f"{method} is only for Missiva services")
        if rule_.services and principal.subject not in rule_.services:
            raise PermissionDenied(f"service {principal.subject} may not call {method}")
    if rule_.access is Access.USER and principal.kind is CallerKind.SERVICE:
        raise PermissionDenied(f"{method} is for account users and API keys")
    if rule_.access is Access.PERSON and principal.kind is not CallerKind.USER:
        raise PermissionDenied(f"{method} is only for a signed-in person, not API keys or services")
    missing = [s for s in rule_.scopes if not principal.has_scope(s)]
    if missing:
        raise PermissionDenied(f"the token lacks scope {', '.join(sorted(missing))}")
    if principal.kind is CallerKind.USER and rule_.roles and not (rule_.roles & principal.roles):
        raise PermissionDenied(f"{method} needs one of the roles {', '.join(sorted(rule_.roles))}")


class AccessRulesError(ValueError):
    """A service's access rules do not match its gRPC descriptor (raised before it starts)."""


def check_rules(
    full_name: str,
    rules: Mapping[str, MethodRule],
    *,
    complete: bool = True,
    methods: Iterable[str] | None = None,
) -> None:
    """Refuse a rule table that leaves a method of ``full_name`` without a rule, names a
    method the service does not have, or lets API keys or services in without a scope.

    ``full_name`` is looked up in the default protobuf descriptor pool (the generated module
    of the service must be imported), unless ``methods`` names them (a generic handler with
    no descriptor). Raises ``AccessRulesError`` with one line naming every offending method.
    """
    from google.protobuf import descriptor_pool

    if methods is None:
        try:
            descriptor = descriptor_pool.Default().FindServiceByName(full_name)
        except KeyError:
            raise AccessRulesError(
                f"{full_name}: no such gRPC service is loaded (import its generated module)"
            ) from None
        known = {m.name for m in descriptor.methods}
    else:
        known = set(methods)
    problems = []
    missing = sorted(known - set(rules)) if complete else []
    if missing:
        problems.append(f"no access rule for {', '.join(missing)}")
    unknown = sorted(set(rules) - known)
    if unknown:
        problems.append(f"rules for methods that do not exist: {', '.join(unknown)}")
    unscoped = sorted(
        name
        for name, r in rules.items()
        if r.access in (Access.AUTHENTICATED, Access.USER) and not r.scopes
    )
    if unscoped:
        problems.append(
            f"rules open to API keys or services without a scope: {', '.join(unscoped)}"
        )
    if problems:
        raise AccessRulesError(f"{full_name}: {'; '.join(problems)}")


@dataclass
class AccessPolicy:
    """Per-method rules for one server; methods not listed get ``default``."""

    rules: dict[str, MethodRule] = field(default_factory=dict)
    default: MethodRule = field(default_factory=MethodRule)

    def for_method(self, method: str) -> MethodRule:
        if method.startswith(("/grpc.health.v1.", "/grpc.reflection.")):
            return MethodRule(Access.ANONYMOUS)
        return self.rules.get(method, self.default)
