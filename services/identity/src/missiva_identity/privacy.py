"""Identity's part of the privacy contract: export and erase what it holds on an account user."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from missiva.common.v1 import types_pb2
from missiva_identity import store
from missiva_identity.config import IdentitySettings
from missiva_identity.retention import erase_account
from missiva_platform.privacy import DataSection, Erasure, Person, Retained


def _json(value: Any) -> bytes:
    def default(item: Any) -> Any:
        if isinstance(item, datetime):
            return item.isoformat()
        if isinstance(item, bytes | memoryview):
            return None
        return str(item)

    return json.dumps(value, default=default, indent=2, sort_keys=True).encode()


class IdentityPrivacy:
    """Everything identity holds on a person, keyed by person key (or user id)."""

    def __init__(self, settings: IdentitySettings, pool_of: Any) -> None:
        self.settings = settings
        self.pool_of = pool_of

    async def _users(self, conn: Any, person: Person) -> list[store.User]:
        """The person's user records. A request scoped to an account (``tenant_id``) is about
        one of that account's contacts: the account is the controller of its contacts, not of
        Missiva's user records, so it finds none here, even when the contact happens to be a
        member of the account (a contact's erasure must never delete a member, let alone the
        account). Our users ask about themselves platform-wide (``all_accounts``)."""
        if not person.all_accounts:
            return []
        users = (
            await store.users_by_person_key(conn, person.person_key) if person.person_key else []
        )
        if person.user_id and not any(u.id == person.user_id for u in users):
            found = await store.user_by_id(conn, person.user_id)
            if found is not None:
                users.append(found)
        return users

    async def export(self, person: Person) -> list[DataSection]:
        async with self.pool_of().connection() as conn:
            return await self.export_in(conn, person)

    async def erase(self, person: Person) -> Erasure:
        async with self.pool_of().connection() as conn, conn.transaction():
            return await self.erase_in(conn, person)

    async def export_in(self, conn: Any, person: Person) -> list[DataSection]:
        """The export, read on ``conn`` (the caller's transaction)."""
        users = await self._users(conn, person)
        if not users:
            return []
        profiles, acceptances, sessions, audit, keys = [], [], [], [], []
        for user in users:
            profiles.append(
                {
                    "user_id": user.id,
                    "account_id": user.account_id,
                    "account_name": user.account_name,
                    "email": user.email,
                    "email_verified_at": user.email_verified_at,
                    "display_name": user.display_name,
                    "locale": user.locale,
                    "time_zone": user.time_zone,
                    "role": user.role,
                    "status": user.status,
                    "two_factor_enabled": user.mfa_enabled,
                    "created_at": user.created_at,
                    "last_login_at": user.last_login_at,
                }
            )
            acceptances += await store.acceptances_of(conn, user.id)
            sessions += await _rows(
                conn,
                "SELECT id::text, created_at, last_used_at, expires_at, revoked_at,"
                " user_agent, ip_pseudonym, mfa FROM sessions WHERE user_id = %s"
                " ORDER BY created_at",
                user.id,
            )
            audit += await _rows(
                conn,
                "SELECT occurred_at, action, target, outcome, ip_pseudonym, user_agent,"
                " details FROM audit_events WHERE actor_user_id = %s ORDER BY occurred_at",
                user.id,
            )
            keys += await _rows(
                conn,
                "SELECT id::text, name, prefix, scopes, created_at, last_used_at,"
                " expires_at, revoked_at FROM api_keys WHERE created_by_user_id = %s",
                user.id,
            )
        return [
            DataSection("profile", "your user profile in each account", _json(profiles)),
            DataSection("legal_acceptances", "terms and policies you accepted", _json(acceptances)),
            DataSection(
                "sessions", "your sign-in sessions (IP addresses pseudonymised)", _json(sessions)
            ),
            DataSection("security_log", "security events you caused", _json(audit)),
            DataSection("api_keys", "API keys you created (never their secrets)", _json(keys)),
        ]

    async def erase_in(self, conn: Any, person: Person) -> Erasure:
        """The erasure, written on ``conn`` (the caller's transaction)."""
        erasure = Erasure()
        users = await self._users(conn, person)
        for user in users:
            others = await _rows(
                conn,
                "SELECT id::text, role FROM users WHERE account_id = %s AND id <> %s"
                " AND status = 'active' ORDER BY (role = 'admin') DESC, created_at",
                user.account_id,
                user.id,
            )
            if not others:
                # The last member: the account goes with them (AccountErased tells everyone).
                await erase_account(conn, user.account_id)
                erasure.erased["accounts"] = erasure.erased.get("accounts", 0) + 1
            else:
                if user.role == "primary_admin":
                    await conn.execute(
                        "UPDATE users SET role = 'primary_admin' WHERE id = %s",
                        (others[0]["id"],),
                    )
                await conn.execute("DELETE FROM users WHERE id = %s", (user.id,))
            erasure.erased["users"] = erasure.erased.get("users", 0) + 1
            # The security log keeps what the user did, without the user agent.
            await conn.execute(
                "UPDATE audit_events SET user_agent = '' WHERE actor_user_id = %s", (user.id,)
            )
        if users:
            erasure.retained.append(
                Retained(
                    category="security_audit_log",
                    reason="security events (pseudonymised IP, no address) are kept to "
                    "investigate abuse and breaches",
                    legal_basis=types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST,
                    until=_now_plus(self.settings.audit_retention_days),
                )
            )
        return erasure


def _now_plus(days: int) -> datetime:
    from datetime import UTC

    return datetime.now(UTC) + timedelta(days=days)


async def _rows(conn: Any, query: str, *params: Any) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return list(await cur.fetchall())
