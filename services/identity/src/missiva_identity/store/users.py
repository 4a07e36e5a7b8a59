"""Accounts and their users: sign-up rows, verification, passwords, profiles, deletion and restore.
Every function takes the caller's transaction; nothing here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from missiva_identity.store._sql import Conn, fetch_all, fetch_one


@dataclass(frozen=True)
class User:
    id: str
    account_id: str
    email: str
    person_key: str
    display_name: str
    locale: str
    time_zone: str
    role: str
    status: str
    password_hash: str | None
    email_verified_at: datetime | None
    totp_secret: bytes | None
    totp_enabled_at: datetime | None
    totp_last_step: int
    totp_pending_secret: bytes | None
    totp_pending_expires_at: datetime | None
    created_at: datetime
    last_login_at: datetime | None
    removed_at: datetime | None
    restorable_until: datetime | None
    account_status: str
    account_name: str

    @property
    def verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def mfa_enabled(self) -> bool:
        return self.totp_enabled_at is not None and self.totp_secret is not None


USER_SELECT = """
SELECT u.id::text, u.account_id::text, u.email, u.person_key, u.display_name, u.locale,
       u.time_zone, u.role, u.status, u.password_hash, u.email_verified_at, u.totp_secret,
       u.totp_enabled_at, u.totp_last_step, u.totp_pending_secret, u.totp_pending_expires_at,
       u.created_at, u.last_login_at, u.removed_at, u.restorable_until,
       a.status AS account_status, a.name AS account_name
FROM users u JOIN accounts a ON a.id = u.account_id
"""


def user_from_row(row: dict[str, Any] | None) -> User | None:
    if row is None:
        return None
    for column in ("totp_secret", "totp_pending_secret"):
        if row[column] is not None:
            row[column] = bytes(row[column])
    return User(**row)


async def user_by_email(conn: Conn, normalised_email: str) -> User | None:
    return user_from_row(
        await fetch_one(conn, USER_SELECT + " WHERE u.email_normalised = %s", (normalised_email,))
    )


async def user_by_id(conn: Conn, user_id: str, *, lock: bool = False) -> User | None:
    query = USER_SELECT + " WHERE u.id = %s" + (" FOR UPDATE OF u" if lock else "")
    return user_from_row(await fetch_one(conn, query, (user_id,)))


async def user_in_account(conn: Conn, account_id: str, user_id: str) -> User | None:
    try:
        uuid.UUID(user_id)
    except ValueError:
        return None
    return user_from_row(
        await fetch_one(
            conn, USER_SELECT + " WHERE u.id = %s AND u.account_id = %s", (user_id, account_id)
        )
    )


async def users_by_person_key(conn: Conn, person_key: str) -> list[User]:
    rows = await fetch_all(conn, USER_SELECT + " WHERE u.person_key = %s", (person_key,))
    return [u for u in (user_from_row(r) for r in rows) if u is not None]


async def create_account(conn: Conn, account_id: str, name: str) -> None:
    await conn.execute(
        "INSERT INTO accounts (id, name, status) VALUES (%s, %s, 'pending_verification')",
        (account_id, name),
    )


@dataclass(frozen=True)
class NewUser:
    id: str
    account_id: str
    email: str
    email_normalised: str
    person_key: str
    display_name: str
    locale: str
    role: str
    password_hash: str | None
    age_confirmed: bool = False
    marketing_opt_in: bool = False
    verified: bool = False
    oidc_subject: str | None = None


async def create_user(conn: Conn, user: NewUser) -> None:
    await conn.execute(
        "INSERT INTO users (id, account_id, email, email_normalised, person_key, display_name,"
        " locale, role, password_hash, password_changed_at, age_confirmed, marketing_opt_in,"
        " email_verified_at, oidc_subject) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
        " CASE WHEN %s::text IS NULL THEN NULL ELSE now() END, %s, %s,"
        " CASE WHEN %s::boolean THEN now() END, %s)",
        (
            user.id,
            user.account_id,
            user.email,
            user.email_normalised,
            user.person_key,
            user.display_name,
            user.locale,
            user.role,
            user.password_hash,
            user.password_hash,
            user.age_confirmed,
            user.marketing_opt_in,
            user.verified,
            user.oidc_subject,
        ),
    )


async def email_taken(conn: Conn, normalised_email: str) -> bool:
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM users WHERE email_normalised = %s)", (normalised_email,)
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def mark_verified(conn: Conn, user_id: str) -> bool:
    """Set the user verified; their account becomes active. False if already verified."""
    cur = await conn.execute(
        "UPDATE users SET email_verified_at = now() WHERE id = %s AND email_verified_at IS NULL"
        " RETURNING account_id",
        (user_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return False
    await conn.execute(
        "UPDATE accounts SET status = 'active' WHERE id = %s AND status = 'pending_verification'",
        (row[0],),
    )
    return True


async def set_password(conn: Conn, user_id: str, password_hash: str) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = %s, password_changed_at = now() WHERE id = %s",
        (password_hash, user_id),
    )


async def record_login(conn: Conn, user_id: str) -> None:
    await conn.execute(
        "UPDATE users SET last_login_at = now() WHERE id = %s",
        (user_id,),
    )
    # Signing in answers an inactivity notice.
    await conn.execute(
        "UPDATE accounts SET inactivity_notice_at = NULL"
        " WHERE id = (SELECT account_id FROM users WHERE id = %s)",
        (user_id,),
    )


async def update_profile(conn: Conn, user_id: str, values: dict[str, str]) -> None:
    allowed = {"display_name", "locale", "time_zone"}
    assert set(values) <= allowed
    for column, value in values.items():
        await conn.execute(
            psycopg.sql.SQL("UPDATE users SET {} = %s WHERE id = %s").format(
                psycopg.sql.Identifier(column)
            ),
            (value, user_id),
        )


async def change_email(
    conn: Conn, user_id: str, email: str, normalised: str, person_key: str
) -> None:
    await conn.execute(
        "UPDATE users SET email = %s, email_normalised = %s, person_key = %s,"
        " email_verified_at = now() WHERE id = %s",
        (email, normalised, person_key, user_id),
    )


async def account(conn: Conn, account_id: str) -> dict[str, Any] | None:
    return await fetch_one(
        conn,
        "SELECT id::text, name, status, data_region, created_at, deletion_requested_at,"
        " purge_after FROM accounts WHERE id = %s",
        (account_id,),
    )


async def request_account_deletion(
    conn: Conn, account_id: str, reason: str, window: timedelta
) -> None:
    await conn.execute(
        "UPDATE accounts SET status = 'deletion_requested', deletion_requested_at = now(),"
        " purge_after = now() + %s, deletion_reason = %s WHERE id = %s",
        (window, reason, account_id),
    )


async def restore_account(conn: Conn, account_id: str) -> bool:
    """Back to active (or pending verification); False unless deleted and still restorable."""
    cur = await conn.execute(
        "UPDATE accounts a SET status = CASE WHEN EXISTS (SELECT 1 FROM users u"
        "   WHERE u.account_id = a.id AND u.role = 'primary_admin'"
        "   AND u.email_verified_at IS NOT NULL) THEN 'active' ELSE 'pending_verification' END,"
        " deletion_requested_at = NULL, purge_after = NULL, deletion_reason = NULL,"
        " inactivity_notice_at = NULL"
        " WHERE id = %s AND status = 'deletion_requested' AND purge_after > now()",
        (account_id,),
    )
    return cur.rowcount > 0
