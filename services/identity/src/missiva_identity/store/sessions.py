"""Sessions and their rotating refresh tokens; revocation.
Every function takes the caller's transaction; nothing here commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from missiva_identity import revocations
from missiva_identity.store._sql import Conn, fetch_all, fetch_one


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
    row = await fetch_one(
        conn,
        "INSERT INTO sessions (id, user_id, account_id, expires_at, remember_me, mfa,"
        " user_agent, ip_pseudonym) VALUES (%s, %s, %s, now() + %s, %s, %s, %s, %s)"
        " RETURNING id::text, expires_at, auth_time, mfa",
        (session_id, user_id, account_id, ttl, remember_me, mfa, user_agent, ip_pseudonym),
    )
    assert row is not None
    return row


async def session(conn: Conn, session_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    return await fetch_one(
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
    return await fetch_one(
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
    return await fetch_all(
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
