"""What identity's RPCs share: its dependencies, who the caller is, and how a sign-in ends.

``IdentityCore`` holds the settings, secrets, signing keys, password hashing and throttle;
it turns a proven user into a session (refresh + access token), answers a second factor,
and resolves the signed-in caller of a user RPC to their live session.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import uuid_utils
from google.protobuf import timestamp_pb2
from psycopg_pool import AsyncConnectionPool

from missiva.common.v1 import types_pb2
from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_identity import mail, store
from missiva_identity.challenge import HttpChallengeVerifier
from missiva_identity.config import IdentitySettings
from missiva_identity.domain import (
    canonical_recovery_code,
    new_token,
    token_roles,
    totp_matching_step,
)
from missiva_identity.keys import SigningKeys
from missiva_identity.passwords import BreachedPasswords, PasswordHashing
from missiva_identity.throttle import LoginThrottle
from missiva_identity.vault import IdentityVault
from missiva_platform.auth import CallerKind, current_principal, current_principal_or_none
from missiva_platform.errors import FailedPrecondition, PermissionDenied, Unauthenticated

CHALLENGE_TTL = timedelta(minutes=5)
CHALLENGE_MAX_ATTEMPTS = 5
SIGN_IN_AGAIN = "the session has ended; sign in again"


GATEWAY = "gateway"  # the service identity of the web gateway, the only one that relays clients


def _from_gateway() -> bool:
    principal = current_principal_or_none()
    return (
        principal is not None
        and principal.kind is CallerKind.SERVICE
        and principal.subject == GATEWAY
    )


def new_id() -> str:
    return str(uuid_utils.uuid7())


def timestamp(moment: datetime | float | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    if isinstance(moment, datetime):
        stamp.FromDatetime(moment.astimezone(UTC))
    else:
        stamp.FromSeconds(int(moment))
    return stamp


@dataclass(frozen=True)
class Client:
    """What we know of the client: its IP (used only to pseudonymise) and user agent."""

    ip: str = ""
    user_agent: str = ""
    ip_pseudonym: str = ""


@dataclass(frozen=True)
class Caller:
    """A signed-in user calling a user RPC, with their live session."""

    user: store.User
    session: dict[str, Any]
    client: Client

    @property
    def session_id(self) -> str:
        return str(self.session["id"])


@dataclass
class SignInOutcome:
    """How a proven sign-in continues: tokens, or a challenge still to answer."""

    tokens: pb.SessionTokens | None = None
    mfa_required: pb.MfaChallenge | None = None
    legal_acceptance_required: pb.LegalAcceptanceChallenge | None = None

    def fields(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


def _peer_ip(peer: str) -> str:
    # "ipv4:127.0.0.1:5000" or "ipv6:[::1]:5000"
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    return ""


@dataclass
class IdentityCore:
    settings: IdentitySettings
    vault: IdentityVault
    pool_of: Callable[[], AsyncConnectionPool | None]
    keys: SigningKeys = field(init=False)
    hashing: PasswordHashing = field(init=False)
    breached: BreachedPasswords = field(init=False)
    throttle: LoginThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.keys = SigningKeys(self.settings, self.vault, self.pool_of)
        self.hashing = PasswordHashing(self.settings)
        self.breached = BreachedPasswords(self.settings)
        verifier = None
        if self.settings.challenge_verify_url:
            verifier = HttpChallengeVerifier(
                self.settings.challenge_verify_url, self.vault.challenge_secret
            )
        self.throttle = LoginThrottle(self.settings, verifier)

    @property
    def pool(self) -> AsyncConnectionPool:
        pool = self.pool_of()
        if pool is None:
            raise RuntimeError("the service is not started")
        return pool

    # -- the client ----------------------------------------------------------------------

    def client(
        self, given: types_pb2.ClientContext | None, context: grpc.aio.ServicerContext
    ) -> Client:
        """The gateway's view of the client, else what gRPC shows of the peer.

        A client address in the request (``ClientContext``) or in ``x-forwarded-for`` is
        believed only from the gateway's service token: anyone else could name any address,
        and so spread failed sign-ins over invented addresses or pin them on someone else's.
        """
        meta = {k.lower(): v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        ip = agent = ""
        if _from_gateway():
            if given is not None:
                ip, agent = given.ip_address, given.user_agent
            ip = ip or meta.get("x-forwarded-for", "").split(",")[0].strip()
        ip = ip or _peer_ip(context.peer() or "")
        agent = (agent or meta.get("user-agent", ""))[:512]
        return Client(ip=ip, user_agent=agent, ip_pseudonym=self.vault.ip_pseudonym(ip))

    # -- the caller ----------------------------------------------------------------------

    async def caller(self, conn: Any, context: grpc.aio.ServicerContext) -> Caller:
        """The signed-in user of a user RPC and their session (which must still be live)."""
        principal = current_principal()
        if principal.kind is not CallerKind.USER:
            raise PermissionDenied("this call is for signed-in users, not API keys or services")
        sid = principal.session_id  # the kit verified the token (and its sid) once
        user = await store.user_by_id(conn, principal.subject)
        sess = await store.session(conn, sid) if sid else None
        if (
            user is None
            or sess is None
            or not sess["live"]
            or sess["user_id"] != user.id
            or user.account_id != principal.tenant_id
        ):
            raise Unauthenticated(SIGN_IN_AGAIN)
        self.check_can_sign_in(user)
        return Caller(user, sess, self.client(None, context))

    def require_recent_auth(self, caller: Caller, now: datetime) -> None:
        window = timedelta(seconds=self.settings.reauth_window_seconds)
        if now - caller.session["auth_time"] > window:
            raise FailedPrecondition(
                "re-authenticate first: this change needs a recent password or code",
                [
                    (
                        "REAUTHENTICATION_REQUIRED",
                        "session",
                        "call Reauthenticate with your password or a TOTP code",
                    )
                ],
            )

    @staticmethod
    def check_can_sign_in(user: store.User) -> None:
        """Raise for a removed member or a disabled account (only after a proven credential)."""
        if user.account_status == "deletion_requested":
            raise FailedPrecondition(
                "this account is scheduled for deletion; restore it with the emailed link",
                [("ACCOUNT_DELETION_REQUESTED", "account", "use the restore link")],
            )
        if user.account_status == "suspended":
            raise PermissionDenied("this account is suspended")
        if user.status != "active":
            raise PermissionDenied("your access to this account was removed")

    # -- tokens --------------------------------------------------------------------------

    async def user_access_token(
        self, user: store.User, session_id: str, auth_time: datetime, mfa: bool
    ) -> tuple[str, int]:
        return await self.keys.sign(
            {
                "sub": user.id,
                "tid": user.account_id,
                "typ": str(CallerKind.USER),
                "roles": token_roles(user.role),
                "scope": "*",
                "mfa": mfa,
                "sid": session_id,
                "auth_time": int(auth_time.timestamp()),
                "email_verified": user.verified,
            },
            self.settings.access_token_ttl_seconds,
        )

    async def open_session(
        self, conn: Any, user: store.User, *, mfa: bool, remember_me: bool, client: Client
    ) -> pb.SessionTokens:
        ttl = (
            self.settings.remember_me_ttl_seconds
            if remember_me
            else self.settings.refresh_token_ttl_seconds
        )
        session_id = new_id()
        row = await store.create_session(
            conn,
            session_id=session_id,
            user_id=user.id,
            account_id=user.account_id,
            ttl=timedelta(seconds=ttl),
            remember_me=remember_me,
            mfa=mfa,
            user_agent=client.user_agent,
            ip_pseudonym=client.ip_pseudonym,
        )
        refresh = new_token("mrt")
        await store.add_refresh_token(conn, self.vault.token_hash(refresh), session_id)
        await store.record_login(conn, user.id)
        access, expires = await self.user_access_token(user, session_id, row["auth_time"], mfa)
        return pb.SessionTokens(
            access_token=access,
            access_token_expires_at=timestamp(expires),
            refresh_token=refresh,
            refresh_token_expires_at=timestamp(row["expires_at"]),
            session_id=session_id,
        )

    # -- finishing a sign-in -------------------------------------------------------------

    async def after_first_factor(
        self, conn: Any, user: store.User, *, remember_me: bool, client: Client, method: str
    ) -> SignInOutcome:
        """A proven password (or OIDC sign-in): ask for a second factor, or carry on."""
        self.check_can_sign_in(user)
        if user.mfa_enabled:
            token = new_token("mch")
            expires = await store.create_challenge(
                conn,
                self.vault.token_hash(token),
                user_id=user.id,
                kind="mfa",
                mfa=False,
                remember_me=remember_me,
                ttl=CHALLENGE_TTL,
            )
            return SignInOutcome(
                mfa_required=pb.MfaChallenge(
                    challenge_token=token,
                    methods=[pb.MFA_METHOD_TOTP, pb.MFA_METHOD_RECOVERY_CODE],
                    expires_at=timestamp(expires),
                )
            )
        return await self.finish_sign_in(
            conn, user, mfa=False, remember_me=remember_me, client=client, method=method
        )

    async def finish_sign_in(
        self,
        conn: Any,
        user: store.User,
        *,
        mfa: bool,
        remember_me: bool,
        client: Client,
        method: str,
    ) -> SignInOutcome:
        """Every factor proven: ask for pending legal acceptances, or open the session."""
        pending = await store.pending_documents(conn, user.id)
        if pending:
            token = new_token("mlc")
            expires = await store.create_challenge(
                conn,
                self.vault.token_hash(token),
                user_id=user.id,
                kind="legal",
                mfa=mfa,
                remember_me=remember_me,
                ttl=CHALLENGE_TTL * 6,
            )
            return SignInOutcome(
                legal_acceptance_required=pb.LegalAcceptanceChallenge(
                    challenge_token=token,
                    documents=[pb.PendingDocument(**doc) for doc in pending],
                    expires_at=timestamp(expires),
                )
            )
        tokens = await self.open_session(
            conn, user, mfa=mfa, remember_me=remember_me, client=client
        )
        await store.audit(
            conn,
            store.AuditEntry(
                "login.succeeded",
                account_id=user.account_id,
                actor_user_id=user.id,
                target=user.id,
                ip_pseudonym=client.ip_pseudonym,
                user_agent=client.user_agent,
                details={"method": method, "mfa": str(mfa).lower()},
            ),
        )
        return SignInOutcome(tokens=tokens)

    async def second_factor_ok(self, conn: Any, user: store.User, kind: str, code: str) -> bool:
        """Check a TOTP code (each time step works once) or spend a recovery code."""
        if kind == "recovery_code":
            code_hash = self.vault.token_hash(canonical_recovery_code(code))
            return await store.spend_recovery_code(conn, user.id, code_hash)
        if not user.mfa_enabled or user.totp_secret is None:
            return False
        secret = self.totp_secret(user.id, user.totp_secret)
        step = totp_matching_step(secret, code, time.time())
        return step is not None and await store.use_totp_step(conn, user.id, step)

    def totp_secret(self, user_id: str, blob: bytes) -> str:
        return self.vault.field_cipher.decrypt(blob, f"totp:{user_id}").decode()

    def seal_totp_secret(self, user_id: str, secret: str) -> bytes:
        return self.vault.field_cipher.encrypt(secret, f"totp:{user_id}")

    # -- notices -------------------------------------------------------------------------

    async def notify(
        self, conn: Any, user: store.User, template: str, variables: dict[str, str] | None = None
    ) -> None:
        """A security notice to the user's own address (SYSTEM email)."""
        await mail.send_email(
            conn,
            template=template,
            to=user.email,
            name=user.display_name,
            locale=user.locale,
            person_key=user.person_key,
            tenant_id=user.account_id,
            variables={"display_name": user.display_name, **(variables or {})},
        )

    async def record_legal(
        self,
        conn: Any,
        user: store.User,
        acceptances: list[Any],
        client: Client,
    ) -> None:
        accepted_at = await store.record_acceptances(
            conn,
            user.id,
            acceptances,
            ip_pseudonym=client.ip_pseudonym,
            user_agent=client.user_agent,
        )
        await mail.publish(
            conn,
            mail.legal_accepted(
                user_id=user.id,
                account_id=user.account_id,
                person_key=user.person_key,
                accepted=acceptances,
                accepted_at=accepted_at,
                ip_pseudonym=client.ip_pseudonym,
                user_agent=client.user_agent,
            ),
        )
