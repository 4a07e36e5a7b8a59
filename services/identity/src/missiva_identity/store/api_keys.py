"""API keys, stored as hashes of their secrets.
Every function takes the caller's transaction; nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from missiva_identity.store._sql import Conn, fetch_all, fetch_one

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
    row = await fetch_one(conn, _API_KEY + " WHERE id = %s", (key_id,))
    assert row is not None
    return row


async def api_key_by_secret(conn: Conn, secret_hash: bytes) -> dict[str, Any] | None:
    return await fetch_one(
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
    return await fetch_one(
        conn, _API_KEY + " WHERE id = %s AND account_id = %s", (key_id, account_id)
    )


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
    return await fetch_all(
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
