"""TOTP secrets, used time steps and recovery codes.
Every function takes the caller's transaction; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from missiva_identity.store._sql import Conn


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
