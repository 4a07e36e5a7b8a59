"""Identity's SQL, in one place. Every function takes the connection of the caller's
transaction; nothing here commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from missiva_identity import revocations
from missiva_identity.domain import Acceptance, AttemptCounts

Conn = psycopg.AsyncConnection[Any]


async def _one(conn: Conn, query: str, params: Any = None) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def _all(conn: Conn, query: str, params: Any = None) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def db_now(conn: Conn) -> datetime:
    cur = await conn.execute("SELECT now()")
    row = await cur.fetchone()
    assert row is not None
    return row[0]


# -- accounts and users ------------------------------------------------------------------


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


_USER = """
SELECT u.id::text, u.account_id::text, u.email, u.person_key, u.display_name, u.locale,
       u.time_zone, u.role, u.status, u.password_hash, u.email_verified_at, u.totp_secret,
       u.totp_enabled_at, u.totp_last_step, u.totp_pending_secret, u.totp_pending_expires_at,
       u.created_at, u.last_login_at, u.removed_at, u.restorable_until,
       a.status AS account_status, a.name AS account_name
FROM users u JOIN accounts a ON a.id = u.account_id
"""


def _user(row: dict[str, Any] | None) -> User | None:
    if row is None:
        return None
    for column in ("totp_secret", "totp_pending_secret"):
        if row[column] is not None:
            row[column] = bytes(row[column])
    return User(**row)


async def user_by_email(conn: Conn, normalised_email: str) -> User | None:
    return _user(await _one(conn, _USER + " WHERE u.email_normalised = %s", (normalised_email,)))


async def user_by_id(conn: Conn, user_id: str, *, lock: bool = False) -> User | None:
    query = _USER + " WHERE u.id = %s" + (" FOR UPDATE OF u" if lock else "")
    return _user(await _one(conn, query, (user_id,)))


async def user_in_account(conn: Conn, account_id: str, user_id: str) -> User | None:
    try:
        uuid.UUID(user_id)
    except ValueError:
        return None
    return _user(
        await _one(conn, _USER + " WHERE u.id = %s AND u.account_id = %s", (user_id, account_id))
    )


async def users_by_person_key(conn: Conn, person_key: str) -> list[User]:
    rows = await _all(conn, _USER + " WHERE u.person_key = %s", (person_key,))
    return [u for u in (_user(r) for r in rows) if u is not None]


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
    return await _one(
        conn,
        "SELECT id::text, name, status, data_region, created_at, deletion_requested_at,"
        " purge_after FROM accounts WHERE id = %s",
        (account_id,),
    )


# -- legal documents ---------------------------------------------------------------------


async def record_acceptances(
    conn: Conn,
    user_id: str,
    acceptances: Sequence[Acceptance],
    *,
    ip_pseudonym: str,
    user_agent: str,
) -> datetime:
    now = await db_now(conn)
    for item in acceptances:
        await conn.execute(
            "INSERT INTO legal_acceptances (user_id, document_id, version, checkbox_text,"
            " accepted_at, ip_pseudonym, user_agent) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                user_id,
                item.document_id,
                item.version,
                item.checkbox_text,
                now,
                ip_pseudonym,
                user_agent,
            ),
        )
    return now


async def save_document(conn: Conn, doc: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO legal_documents (document_id, version, kind, title, url, checkbox_text,"
        " summary_of_changes, material, effective_at) VALUES (%(document_id)s, %(version)s,"
        " %(kind)s, %(title)s, %(url)s, %(checkbox_text)s, %(summary_of_changes)s,"
        " %(material)s, %(effective_at)s) ON CONFLICT (document_id, version) DO UPDATE SET"
        " kind = EXCLUDED.kind, title = EXCLUDED.title, url = EXCLUDED.url,"
        " checkbox_text = EXCLUDED.checkbox_text,"
        " summary_of_changes = EXCLUDED.summary_of_changes, material = EXCLUDED.material,"
        " effective_at = EXCLUDED.effective_at",
        doc,
    )


async def current_versions(conn: Conn, document_ids: Sequence[str]) -> dict[str, str]:
    """The version in force of each known document (the latest effective one)."""
    rows = await _all(
        conn,
        "SELECT DISTINCT ON (document_id) document_id, version FROM legal_documents"
        " WHERE document_id = ANY(%s) AND effective_at <= now()"
        " ORDER BY document_id, effective_at DESC, received_at DESC",
        (list(document_ids),),
    )
    return {r["document_id"]: r["version"] for r in rows}


async def pending_documents(conn: Conn, user_id: str) -> list[dict[str, Any]]:
    """Materially changed documents in force that the user has not accepted since."""
    return await _all(
        conn,
        """
        SELECT d.document_id, d.version, d.title, d.url, d.checkbox_text, d.summary_of_changes
        FROM (SELECT DISTINCT ON (document_id) * FROM legal_documents
              WHERE material AND effective_at <= now()
              ORDER BY document_id, effective_at DESC, received_at DESC) d
        WHERE EXISTS (SELECT 1 FROM legal_acceptances a
                      WHERE a.user_id = %(user)s AND a.document_id = d.document_id)
          AND NOT EXISTS (SELECT 1 FROM legal_acceptances a
                          WHERE a.user_id = %(user)s AND a.document_id = d.document_id
                            AND (a.version = d.version OR a.accepted_at >= d.effective_at))
        ORDER BY d.document_id
        """,
        {"user": user_id},
    )


async def acceptances_of(conn: Conn, user_id: str) -> list[dict[str, Any]]:
    return await _all(
        conn,
        "SELECT document_id, version, checkbox_text, accepted_at, ip_pseudonym, user_agent"
        " FROM legal_acceptances WHERE user_id = %s ORDER BY accepted_at, id",
        (user_id,),
    )


# -- single-use email tokens -------------------------------------------------------------


async def create_email_token(
    conn: Conn,
    token_hash: bytes,
    purpose: str,
    *,
    user_id: str | None,
    account_id: str | None,
    ttl: timedelta,
    new_email: str | None = None,
) -> datetime:
    cur = await conn.execute(
        "INSERT INTO email_tokens (token_hash, purpose, user_id, account_id, new_email,"
        " expires_at) VALUES (%s, %s, %s, %s, %s, now() + %s) RETURNING expires_at",
        (token_hash, purpose, user_id, account_id, new_email, ttl),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def spend_email_token(conn: Conn, token_hash: bytes, purpose: str) -> dict[str, Any] | None:
    """Mark a live token used and return it; None if unknown, expired or already used."""
    return await _one(
        conn,
        "UPDATE email_tokens SET used_at = now() WHERE token_hash = %s AND purpose = %s"
        " AND used_at IS NULL AND expires_at > now()"
        " RETURNING user_id::text, account_id::text, new_email",
        (token_hash, purpose),
    )


async def void_email_tokens(conn: Conn, user_id: str, purpose: str) -> None:
    await conn.execute(
        "UPDATE email_tokens SET used_at = now() WHERE user_id = %s AND purpose = %s"
        " AND used_at IS NULL",
        (user_id, purpose),
    )


async def recent_email_tokens(conn: Conn, user_id: str, purpose: str, within: timedelta) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM email_tokens WHERE user_id = %s AND purpose = %s"
        " AND created_at > now() - %s",
        (user_id, purpose, within),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


# -- throttling --------------------------------------------------------------------------


async def lock_key(conn: Conn, key: str) -> None:
    """Serialise attempts on one throttle key for the rest of the transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 7))", (key,))


async def attempt_counts(conn: Conn, key: str, *, reset_on_success: bool) -> AttemptCounts:
    row = await _one(
        conn,
        """
        WITH recent AS (
            SELECT succeeded, occurred_at FROM login_attempts
            WHERE throttle_key = %(key)s AND occurred_at > now() - interval '1 hour'
        ), since AS (
            SELECT CASE WHEN %(reset)s THEN coalesce(max(occurred_at), '-infinity')
                        ELSE '-infinity' END AS t
            FROM recent WHERE succeeded
        )
        SELECT count(*) FILTER (WHERE NOT succeeded) AS hour,
               count(*) FILTER (WHERE NOT succeeded AND occurred_at > (SELECT t FROM since))
                   AS consecutive,
               max(occurred_at) FILTER (WHERE NOT succeeded) AS last_failure
        FROM recent
        """,
        {"key": key, "reset": reset_on_success},
    )
    assert row is not None
    return AttemptCounts(int(row["hour"]), int(row["consecutive"]), row["last_failure"])


async def record_attempt(conn: Conn, keys: Sequence[str], succeeded: bool) -> None:
    for key in keys:
        await conn.execute(
            "INSERT INTO login_attempts (throttle_key, succeeded) VALUES (%s, %s)",
            (key, succeeded),
        )


# -- sessions ----------------------------------------------------------------------------


async def create_session(
    conn: Conn,
    *,
    session_id: str,
    user_id: str,
    account_id: str,
    ttl: timedelta,
    remember_me: bool,
    mfa: bool,
    user_agent: str,
    ip_pseudonym: str,
) -> dict[str, Any]:
    row = await _one(
        conn,
        "INSERT INTO sessions (id, user_id, account_id, expires_at, remember_me, mfa,"
        " user_agent, ip_pseudonym) VALUES (%s, %s, %s, now() + %s, %s, %s, %s, %s)"
        " RETURNING id::text, expires_at, auth_time, mfa",
        (session_id, user_id, account_id, ttl, remember_me, mfa, user_agent, ip_pseudonym),
    )
    assert row is not None
    return row


async def session(conn: Conn, session_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    return await _one(
        conn,
        "SELECT id::text, user_id::text, account_id::text, created_at, last_used_at, expires_at,"
        " auth_time, remember_me, mfa, user_agent, ip_pseudonym, revoked_at,"
        " (revoked_at IS NULL AND expires_at > now()) AS live FROM sessions WHERE id = %s"
        + (" FOR UPDATE" if lock else ""),
        (session_id,),
    )


async def add_refresh_token(conn: Conn, token_hash: bytes, session_id: str) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id) VALUES (%s, %s)",
        (token_hash, session_id),
    )


async def refresh_token(conn: Conn, token_hash: bytes) -> dict[str, Any] | None:
    """The token and its session, locked (two refreshes of one token serialise here)."""
    return await _one(
        conn,
        "SELECT r.session_id::text, r.rotated_at FROM refresh_tokens r"
        " WHERE r.token_hash = %s FOR UPDATE",
        (token_hash,),
    )


async def rotate_refresh_token(conn: Conn, token_hash: bytes) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = %s", (token_hash,)
    )


async def touch_session(conn: Conn, session_id: str, user_agent: str, ip_pseudonym: str) -> None:
    await conn.execute(
        "UPDATE sessions SET last_used_at = now(), user_agent = %s, ip_pseudonym = %s"
        " WHERE id = %s",
        (user_agent, ip_pseudonym, session_id),
    )


async def revoke_session(conn: Conn, session_id: str, reason: str) -> bool:
    return await _revoke(conn, "id = %s", (session_id,), reason) > 0


async def revoke_user_sessions(
    conn: Conn, user_id: str, reason: str, *, keep: str | None = None
) -> int:
    return await _revoke(
        conn, "user_id = %s AND (%s::uuid IS NULL OR id <> %s::uuid)", (user_id, keep, keep), reason
    )


async def revoke_account_sessions(conn: Conn, account_id: str, reason: str) -> int:
    return await _revoke(conn, "account_id = %s", (account_id,), reason)


async def _revoke(conn: Conn, where: str, params: tuple[Any, ...], reason: str) -> int:
    """End the live sessions matching ``where`` and announce them (every service's verifier
    refuses their access tokens from then on), in the caller's transaction."""
    cur = await conn.execute(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = %s"
        f" WHERE revoked_at IS NULL AND {where} RETURNING id::text, account_id::text",
        (reason, *params),
    )
    rows = [(str(r[0]), str(r[1])) for r in await cur.fetchall()]
    await revocations.announce(conn, rows, reason)
    return len(rows)


async def mark_reauthenticated(conn: Conn, session_id: str) -> datetime:
    cur = await conn.execute(
        "UPDATE sessions SET auth_time = now() WHERE id = %s RETURNING auth_time", (session_id,)
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def list_sessions(
    conn: Conn, user_id: str, limit: int, after: tuple[datetime, str] | None
) -> list[dict[str, Any]]:
    return await _all(
        conn,
        "SELECT id::text, created_at, last_used_at, expires_at, user_agent, ip_pseudonym, mfa"
        " FROM sessions WHERE user_id = %(user)s AND revoked_at IS NULL AND expires_at > now()"
        " AND (%(after_t)s::timestamptz IS NULL"
        "      OR (last_used_at, id) < (%(after_t)s, %(after_id)s::uuid))"
        " ORDER BY last_used_at DESC, id DESC LIMIT %(limit)s",
        {
            "user": user_id,
            "after_t": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )


# -- login challenges (MFA, legal acceptance) --------------------------------------------


async def create_challenge(
    conn: Conn,
    token_hash: bytes,
    *,
    user_id: str,
    kind: str,
    mfa: bool,
    remember_me: bool,
    ttl: timedelta,
) -> datetime:
    cur = await conn.execute(
        "INSERT INTO login_challenges (token_hash, user_id, kind, mfa, remember_me, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, now() + %s) RETURNING expires_at",
        (token_hash, user_id, kind, mfa, remember_me, ttl),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def live_challenge(conn: Conn, token_hash: bytes, kind: str) -> dict[str, Any] | None:
    return await _one(
        conn,
        "SELECT user_id::text, mfa, remember_me, attempts FROM login_challenges"
        " WHERE token_hash = %s AND kind = %s AND used_at IS NULL AND expires_at > now()"
        " FOR UPDATE",
        (token_hash, kind),
    )


async def spend_challenge(conn: Conn, token_hash: bytes) -> None:
    await conn.execute(
        "UPDATE login_challenges SET used_at = now() WHERE token_hash = %s", (token_hash,)
    )


async def count_challenge_failure(conn: Conn, token_hash: bytes, max_attempts: int) -> None:
    await conn.execute(
        "UPDATE login_challenges SET attempts = attempts + 1,"
        " used_at = CASE WHEN attempts + 1 >= %s THEN now() END WHERE token_hash = %s",
        (max_attempts, token_hash),
    )


# -- TOTP --------------------------------------------------------------------------------


async def set_pending_totp(conn: Conn, user_id: str, blob: bytes, ttl: timedelta) -> datetime:
    cur = await conn.execute(
        "UPDATE users SET totp_pending_secret = %s, totp_pending_expires_at = now() + %s"
        " WHERE id = %s RETURNING totp_pending_expires_at",
        (blob, ttl, user_id),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def enable_totp(conn: Conn, user_id: str, step: int) -> None:
    await conn.execute(
        "UPDATE users SET totp_secret = totp_pending_secret, totp_enabled_at = now(),"
        " totp_last_step = %s, totp_pending_secret = NULL, totp_pending_expires_at = NULL"
        " WHERE id = %s",
        (step, user_id),
    )


async def use_totp_step(conn: Conn, user_id: str, step: int) -> bool:
    """Record a used time step; False when it (or a later one) was already used."""
    cur = await conn.execute(
        "UPDATE users SET totp_last_step = %s WHERE id = %s AND totp_last_step < %s",
        (step, user_id, step),
    )
    return cur.rowcount > 0


async def disable_totp(conn: Conn, user_id: str) -> None:
    await conn.execute(
        "UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = 0,"
        " totp_pending_secret = NULL, totp_pending_expires_at = NULL WHERE id = %s",
        (user_id,),
    )
    await conn.execute("DELETE FROM recovery_codes WHERE user_id = %s", (user_id,))


async def replace_recovery_codes(conn: Conn, user_id: str, hashes: Sequence[bytes]) -> None:
    await conn.execute("DELETE FROM recovery_codes WHERE user_id = %s", (user_id,))
    for code_hash in hashes:
        await conn.execute(
            "INSERT INTO recovery_codes (code_hash, user_id) VALUES (%s, %s)",
            (code_hash, user_id),
        )


async def spend_recovery_code(conn: Conn, user_id: str, code_hash: bytes) -> bool:
    cur = await conn.execute(
        "UPDATE recovery_codes SET used_at = now() WHERE code_hash = %s AND user_id = %s"
        " AND used_at IS NULL",
        (code_hash, user_id),
    )
    return cur.rowcount > 0


# -- API keys ----------------------------------------------------------------------------

_API_KEY = (
    "SELECT id::text, account_id::text, name, prefix, scopes, created_by_user_id::text,"
    " created_at, last_used_at, expires_at, revoked_at FROM api_keys"
)


async def create_api_key(
    conn: Conn,
    *,
    key_id: str,
    account_id: str,
    name: str,
    prefix: str,
    secret_hash: bytes,
    scopes: Sequence[str],
    created_by: str | None,
    expires_at: datetime | None,
) -> dict[str, Any]:
    await conn.execute(
        "INSERT INTO api_keys (id, account_id, name, prefix, secret_hash, scopes,"
        " created_by_user_id, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (key_id, account_id, name, prefix, secret_hash, list(scopes), created_by, expires_at),
    )
    row = await _one(conn, _API_KEY + " WHERE id = %s", (key_id,))
    assert row is not None
    return row


async def api_key_by_secret(conn: Conn, secret_hash: bytes) -> dict[str, Any] | None:
    return await _one(
        conn,
        "SELECT k.id::text, k.account_id::text, k.scopes, k.expires_at, k.revoked_at,"
        " (k.expires_at IS NOT NULL AND k.expires_at <= now()) AS expired,"
        " a.status AS account_status FROM api_keys k JOIN accounts a ON a.id = k.account_id"
        " WHERE k.secret_hash = %s",
        (secret_hash,),
    )


async def touch_api_key(conn: Conn, key_id: str) -> None:
    await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s", (key_id,))


async def api_key_in_account(conn: Conn, account_id: str, key_id: str) -> dict[str, Any] | None:
    try:
        uuid.UUID(key_id)
    except ValueError:
        return None
    return await _one(conn, _API_KEY + " WHERE id = %s AND account_id = %s", (key_id, account_id))


async def revoke_api_key(conn: Conn, account_id: str, key_id: str) -> dict[str, Any] | None:
    await conn.execute(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
        " WHERE id = %s AND account_id = %s",
        (key_id, account_id),
    )
    return await api_key_in_account(conn, account_id, key_id)


async def list_api_keys(
    conn: Conn,
    account_id: str,
    *,
    show_revoked: bool,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[dict[str, Any]]:
    return await _all(
        conn,
        _API_KEY + " WHERE account_id = %(account)s AND (%(revoked)s OR revoked_at IS NULL)"
        " AND (%(after_t)s::timestamptz IS NULL"
        "      OR (created_at, id) < (%(after_t)s, %(after_id)s::uuid))"
        " ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
        {
            "account": account_id,
            "revoked": show_revoked,
            "after_t": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )


# -- audit log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    action: str
    outcome: str = "success"
    account_id: str | None = None
    actor_user_id: str | None = None
    target: str = ""
    ip_pseudonym: str = ""
    user_agent: str = ""
    details: dict[str, str] | None = None


async def audit(conn: Conn, entry: AuditEntry) -> None:
    await conn.execute(
        "INSERT INTO audit_events (id, account_id, actor_user_id, action, target, outcome,"
        " ip_pseudonym, user_agent, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            str(uuid.uuid4()),
            entry.account_id,
            entry.actor_user_id,
            entry.action,
            entry.target,
            entry.outcome,
            entry.ip_pseudonym,
            entry.user_agent,
            Jsonb(entry.details or {}),
        ),
    )


async def list_audit_events(
    conn: Conn,
    account_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
    start: datetime | None,
    end: datetime | None,
    actor: str | None,
    action_prefix: str,
) -> list[dict[str, Any]]:
    return await _all(
        conn,
        "SELECT id::text, occurred_at, actor_user_id::text, action, target, outcome,"
        " ip_pseudonym, user_agent, details FROM audit_events"
        " WHERE account_id = %(account)s"
        " AND (%(start)s::timestamptz IS NULL OR occurred_at >= %(start)s)"
        " AND (%(end)s::timestamptz IS NULL OR occurred_at < %(end)s)"
        " AND (%(actor)s::uuid IS NULL OR actor_user_id = %(actor)s::uuid)"
        " AND action LIKE %(prefix)s"
        " AND (%(after_t)s::timestamptz IS NULL"
        "      OR (occurred_at, id) < (%(after_t)s, %(after_id)s::uuid))"
        " ORDER BY occurred_at DESC, id DESC LIMIT %(limit)s",
        {
            "account": account_id,
            "start": start,
            "end": end,
            "actor": actor,
            "prefix": action_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%",
            "after_t": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )


# -- teams -------------------------------------------------------------------------------


async def create_invitation(
    conn: Conn,
    *,
    invitation_id: str,
    account_id: str,
    email: str,
    role: str,
    invited_by: str,
    token_hash: bytes,
    ttl: timedelta,
) -> dict[str, Any]:
    row = await _one(
        conn,
        "INSERT INTO invitations (id, account_id, email, role, invited_by_user_id, token_hash,"
        " expires_at) VALUES (%s, %s, %s, %s, %s, %s, now() + %s)"
        " RETURNING id::text, email, role, invited_by_user_id::text, expires_at",
        (invitation_id, account_id, email, role, invited_by, token_hash, ttl),
    )
    assert row is not None
    return row


async def pending_invitations(conn: Conn, account_id: str) -> list[dict[str, Any]]:
    return await _all(
        conn,
        "SELECT id::text, email, role, expires_at FROM invitations WHERE account_id = %s"
        " AND accepted_at IS NULL AND expires_at > now() ORDER BY created_at LIMIT 100",
        (account_id,),
    )


async def spend_invitation(conn: Conn, token_hash: bytes) -> dict[str, Any] | None:
    return await _one(
        conn,
        "UPDATE invitations SET accepted_at = now() WHERE token_hash = %s"
        " AND accepted_at IS NULL AND expires_at > now()"
        " RETURNING id::text, account_id::text, email, role",
        (token_hash,),
    )


async def list_members(
    conn: Conn,
    account_id: str,
    *,
    show_removed: bool,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[User]:
    rows = await _all(
        conn,
        _USER + " WHERE u.account_id = %(account)s"
        " AND (u.status = 'active' OR (%(removed)s AND u.restorable_until > now()))"
        " AND (%(after_t)s::timestamptz IS NULL"
        "      OR (u.created_at, u.id) > (%(after_t)s, %(after_id)s::uuid))"
        " ORDER BY u.created_at, u.id LIMIT %(limit)s",
        {
            "account": account_id,
            "removed": show_removed,
            "after_t": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )
    return [u for u in (_user(r) for r in rows) if u is not None]


async def lock_role(conn: Conn, user_id: str) -> str | None:
    """The user's role, with their row locked until the transaction ends."""
    row = await _one(conn, "SELECT role FROM users WHERE id = %s FOR UPDATE", (user_id,))
    return str(row["role"]) if row else None


async def set_role(conn: Conn, user_id: str, role: str) -> None:
    await conn.execute("UPDATE users SET role = %s WHERE id = %s", (role, user_id))


async def remove_member(conn: Conn, user_id: str, removed_by: str, window: timedelta) -> None:
    await conn.execute(
        "UPDATE users SET status = 'removed', removed_at = now(),"
        " restorable_until = now() + %s, removed_by = %s WHERE id = %s",
        (window, removed_by, user_id),
    )


async def restore_member(conn: Conn, user_id: str) -> None:
    await conn.execute(
        "UPDATE users SET status = 'active', removed_at = NULL, restorable_until = NULL,"
        " removed_by = NULL WHERE id = %s",
        (user_id,),
    )


# -- account lifecycle -------------------------------------------------------------------


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


# -- OpenID Connect ----------------------------------------------------------------------


async def create_oidc_login(
    conn: Conn,
    state_hash: bytes,
    *,
    nonce: str,
    verifier: str,
    redirect_uri: str,
    ttl: timedelta,
) -> datetime:
    cur = await conn.execute(
        "INSERT INTO oidc_logins (state_hash, nonce, code_verifier, redirect_uri, expires_at)"
        " VALUES (%s, %s, %s, %s, now() + %s) RETURNING expires_at",
        (state_hash, nonce, verifier, redirect_uri, ttl),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def spend_oidc_login(conn: Conn, state_hash: bytes) -> dict[str, Any] | None:
    return await _one(
        conn,
        "UPDATE oidc_logins SET used_at = now() WHERE state_hash = %s AND used_at IS NULL"
        " AND expires_at > now() RETURNING nonce, code_verifier, redirect_uri",
        (state_hash,),
    )


async def user_by_oidc_subject(conn: Conn, subject: str) -> User | None:
    return _user(await _one(conn, _USER + " WHERE u.oidc_subject = %s", (subject,)))


async def link_oidc_subject(conn: Conn, user_id: str, subject: str) -> None:
    await conn.execute("UPDATE users SET oidc_subject = %s WHERE id = %s", (subject, user_id))
