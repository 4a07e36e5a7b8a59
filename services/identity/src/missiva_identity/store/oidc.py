"""OpenID Connect logins and linked subjects.
Every function takes the caller's transaction; nothing here commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from missiva_identity.store._sql import Conn, fetch_one
from missiva_identity.store.users import USER_SELECT, User, user_from_row


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
    return await fetch_one(
        conn,
        "UPDATE oidc_logins SET used_at = now() WHERE state_hash = %s AND used_at IS NULL"
        " AND expires_at > now() RETURNING nonce, code_verifier, redirect_uri",
        (state_hash,),
    )


async def user_by_oidc_subject(conn: Conn, subject: str) -> User | None:
    return user_from_row(
        await fetch_one(conn, USER_SELECT + " WHERE u.oidc_subject = %s", (subject,))
    )


async def link_oidc_subject(conn: Conn, user_id: str, subject: str) -> None:
    await conn.execute("UPDATE users SET oidc_subject = %s WHERE id = %s", (subject, user_id))
