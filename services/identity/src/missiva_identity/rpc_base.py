"""What identity's RPC groups share: dependencies, messages, validation helpers.

The servicer (``servicer.py``) is put together from the RPC groups in ``rpc_*.py``; each is
thin: validate, call domain/store, raise typed errors. The account and user of an
authenticated call come from its verified token only.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_identity import mail, store
from missiva_identity.core import (
    Caller,
    Client,
    IdentityCore,
    SignInOutcome,
    timestamp,
)
from missiva_identity.domain import (
    ACCOUNT_STATUS,
    ADMIN_ROLES,
    ROLE_NAMES,
    ROLE_VALUES,
    new_token,
)
from missiva_identity.oidc import OidcProvider
from missiva_identity.throttle import keys_for
from missiva_platform.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

LOGIN_FAILED = "email or password is incorrect"
CHALLENGE_EXPIRED = "the sign-in attempt expired or was already used; sign in again"
REFRESH_INVALID = "the refresh token is not valid; sign in again"
TOKEN_INVALID = "is invalid, expired or already used"  # noqa: S105 - a message
API_KEY_INVALID = "invalid API key"
VERIFY_TTL = timedelta(hours=24)
RESET_TTL = timedelta(hours=1)
EMAIL_CHANGE_TTL = timedelta(hours=24)
TOTP_ENROL_TTL = timedelta(minutes=10)
EMAILS_PER_HOUR = 3
INVITATION_TTL = timedelta(days=7)
OIDC_TTL = timedelta(minutes=10)
RESTORE_WINDOW = timedelta(days=30)


def audit_entry(action: str, caller: Caller | None = None, **fields: Any) -> store.AuditEntry:
    if caller is not None:
        fields.setdefault("account_id", caller.user.account_id)
        fields.setdefault("actor_user_id", caller.user.id)
        fields.setdefault("ip_pseudonym", caller.client.ip_pseudonym)
        fields.setdefault("user_agent", caller.client.user_agent)
    return store.AuditEntry(action, **fields)


class ClientFields(TypedDict):
    ip_pseudonym: str
    user_agent: str


def client_fields(client: Client) -> ClientFields:
    return {"ip_pseudonym": client.ip_pseudonym, "user_agent": client.user_agent}


def required(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument.field(field, "is required")
    if len(value) > 4096:
        raise InvalidArgument.field(field, "is too long")
    return value


def profile_pb(user: store.User) -> pb.Profile:
    return pb.Profile(
        user_id=user.id,
        email=user.email,
        email_verified=user.verified,
        display_name=user.display_name,
        locale=user.locale,
        time_zone=user.time_zone,
        mfa_enabled=user.mfa_enabled,
        created_at=timestamp(user.created_at),
    )


def account_pb(row: dict[str, Any]) -> pb.Account:
    return pb.Account(
        account_id=row["id"],
        name=row["name"],
        status=ACCOUNT_STATUS[row["status"]],
        created_at=timestamp(row["created_at"]),
        deletion_requested_at=timestamp(row["deletion_requested_at"]),
        purge_after=timestamp(row["purge_after"]),
        data_region=row["data_region"],
    )


def api_key_pb(row: dict[str, Any]) -> pb.ApiKey:
    return pb.ApiKey(
        api_key_id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=list(row["scopes"]),
        created_by_user_id=row["created_by_user_id"] or "",
        created_at=timestamp(row["created_at"]),
        last_used_at=timestamp(row["last_used_at"]),
        expires_at=timestamp(row["expires_at"]),
        revoked_at=timestamp(row["revoked_at"]),
    )


def outcome_pb(response_type: Any, outcome: SignInOutcome) -> Any:
    return response_type(**outcome.fields())


def assignable_role(field: str, role: int) -> str:
    name = ROLE_NAMES.get(role)  # type: ignore[call-overload]
    if name is None:
        raise InvalidArgument.field(field, "is required (admin, member or billing)")
    if name == "primary_admin":
        raise InvalidArgument.field(field, "use TransferPrimaryAdmin to change the primary admin")
    return name


def member_pb(user: store.User) -> pb.Member:
    return pb.Member(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=ROLE_VALUES[user.role],
        status=pb.MEMBER_STATUS_ACTIVE if user.status == "active" else pb.MEMBER_STATUS_REMOVED,
        joined_at=timestamp(user.created_at),
        removed_at=timestamp(user.removed_at),
        restorable_until=timestamp(user.restorable_until),
    )


def valid_id(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument.field(field, "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument.field(field, "is not a valid id") from None


class RpcBase:
    """State and steps every RPC group uses."""

    def __init__(self, app: ServiceApp, core: IdentityCore) -> None:
        self.app = app
        self.core = core
        self.settings = core.settings
        self.vault = core.vault
        self.oidc = OidcProvider(core.settings, core.vault.oidc_client_secret)

    async def _send_verification(
        self,
        conn: Any,
        user_id: str,
        account_id: str,
        address: str,
        name: str,
        locale: str,
        person_key: str,
    ) -> None:
        await store.void_email_tokens(conn, user_id, "verify_email")
        token = new_token("mev")
        await store.create_email_token(
            conn,
            self.vault.token_hash(token),
            "verify_email",
            user_id=user_id,
            account_id=account_id,
            ttl=VERIFY_TTL,
        )
        await mail.send_email(
            conn,
            template="verify_email",
            to=address,
            name=name,
            locale=locale,
            person_key=person_key,
            tenant_id=account_id,
            variables={
                "display_name": name,
                "verification_url": mail.link(
                    self.settings.public_base_url, "/verify-email", token
                ),
                "expires_in_hours": "24",
            },
        )

    async def _refuse_breached(self, field: str, password: str) -> None:
        if await self.core.breached.is_breached(password):
            raise InvalidArgument.field(
                field, "is a common or breached password (found in known leaks); choose another"
            )

    async def _check_password(self, conn: Any, caller: Caller, password: str) -> bool:
        """Verify the signed-in user's password again, throttled like a sign-in."""
        keys = keys_for(caller.user.person_key, caller.client.ip_pseudonym)
        await self.core.throttle.admit(
            conn, keys, anti_bot_token="", remote_ip=caller.client.ip, cap_only=True
        )
        ok = await self.core.hashing.verify(caller.user.password_hash, password)
        await self.core.throttle.record(conn, keys, succeeded=ok)
        if not ok:
            await store.audit(
                conn,
                audit_entry(
                    "reauthentication.failed", caller, outcome="failure", target=caller.user.id
                ),
            )
        return ok

    async def _admin(self, conn: Any, context: Any, *, primary: bool = False) -> Caller:
        """The caller, who must still be an admin (or the primary admin) of their account.

        The token's roles may be up to one access-token lifetime old; the database is not.
        """
        caller = await self.core.caller(conn, context)
        allowed = ("primary_admin",) if primary else ADMIN_ROLES
        if caller.user.role not in allowed:
            raise PermissionDenied(f"this needs the role {' or '.join(allowed)}")
        return caller

    async def _member_of(self, conn: Any, tenant: str, user_id: str) -> store.User:
        member = await store.user_in_account(conn, tenant, valid_id("user_id", user_id))
        if member is None:
            raise NotFound("member not found")
        return member

    def _oidc(self) -> OidcProvider:
        if not self.oidc.configured:
            raise FailedPrecondition("OpenID Connect sign-in is not configured")
        return self.oidc
