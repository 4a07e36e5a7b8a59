"""Pending double opt-ins and the verified users that skip them.

Every function takes an open connection and runs inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from missiva_consent import domain
from missiva_consent.store.base import Conn

_DOI_COLUMNS = (
    "confirmation_id::text, account_id, person_key, email, to_name, purpose_ids::text[], source, "
    "source_detail, checkbox_text, document_id, document_version, ip_hash, user_agent, locale, "
    "started_at, link_expires_at, confirmed_at, sends, last_sent_at"
)

_DOI_NAMES = (
    "confirmation_id", "account_id", "person_key", "email", "to_name", "purpose_ids", "source",
    "source_detail", "checkbox_text", "document_id", "document_version", "ip_hash", "user_agent",
    "locale", "started_at", "link_expires_at", "confirmed_at", "sends", "last_sent_at",
)  # fmt: skip

_INSERT_DOI = """
INSERT INTO double_opt_ins (confirmation_id, account_id, person_key, email, to_name,
    purpose_ids, source, source_detail, checkbox_text, document_id, document_version, ip_hash,
    user_agent, locale, started_at, link_expires_at, last_sent_at)
VALUES (%s, %s, %s, %s, %s, %s::uuid[], %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

_DOI_FOR_UPDATE = f"""
SELECT {_DOI_COLUMNS} FROM double_opt_ins
WHERE confirmation_id = %s AND account_id = %s FOR UPDATE
"""

_DOI_READ = f"""
SELECT {_DOI_COLUMNS} FROM double_opt_ins WHERE confirmation_id = %s AND account_id = %s
"""

_DOI_CONFIRMED = """
UPDATE double_opt_ins SET confirmed_at = %s, email = NULL, to_name = NULL
WHERE confirmation_id = %s
"""

_DOI_RESENT = """
UPDATE double_opt_ins SET sends = sends + 1, last_sent_at = %s, link_expires_at = %s
WHERE confirmation_id = %s
"""

_DOI_SENDS_TODAY = """
SELECT coalesce(sum(sends), 0) FROM double_opt_ins
WHERE account_id = %s AND person_key = %s AND last_sent_at > %s
"""


async def insert_double_opt_in(conn: Conn, row: dict[str, Any]) -> None:
    columns = ("confirmation_id", "account_id", "person_key", "email", "to_name",
               "purpose_ids", "source", "source_detail", "checkbox_text", "document_id",
               "document_version", "ip_hash", "user_agent", "locale", "started_at",
               "link_expires_at", "started_at")  # fmt: skip
    await conn.execute(_INSERT_DOI, tuple(row[c] for c in columns))


async def lock_double_opt_in(
    conn: Conn, account_id: str, confirmation_id: str
) -> dict[str, Any] | None:
    if not domain.is_uuid(confirmation_id):
        return None
    cur = await conn.execute(_DOI_FOR_UPDATE, (confirmation_id, account_id))
    row = await cur.fetchone()
    if row is None:
        return None
    return dict(zip(_DOI_NAMES, row, strict=True))


async def find_double_opt_in(
    conn: Conn, account_id: str, confirmation_id: str
) -> dict[str, Any] | None:
    """The pending (or confirmed) double opt-in, read without a lock."""
    if not domain.is_uuid(confirmation_id):
        return None
    cur = await conn.execute(_DOI_READ, (confirmation_id, account_id))
    row = await cur.fetchone()
    return dict(zip(_DOI_NAMES, row, strict=True)) if row else None


async def mark_confirmed(conn: Conn, confirmation_id: str, at: datetime) -> None:
    await conn.execute(_DOI_CONFIRMED, (at, confirmation_id))


async def mark_resent(conn: Conn, confirmation_id: str, at: datetime, expires: datetime) -> None:
    await conn.execute(_DOI_RESENT, (at, expires, confirmation_id))


async def confirmation_sends_since(
    conn: Conn, account_id: str, person_key: str, since: datetime
) -> int:
    cur = await conn.execute(_DOI_SENDS_TODAY, (account_id, person_key, since))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


_VOID_PENDING = """
DELETE FROM double_opt_ins WHERE account_id = %s AND person_key = %s AND confirmed_at IS NULL
"""

_REMEMBER_VERIFIED = """
INSERT INTO verified_users (person_key, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING
"""

_IS_VERIFIED = "SELECT 1 FROM verified_users WHERE person_key = %s"


async def void_pending(conn: Conn, account_id: str, person_key: str) -> int:
    """Drop the person's unconfirmed requests in the account: their links stop working."""
    cur = await conn.execute(_VOID_PENDING, (account_id, person_key))
    return cur.rowcount


async def remember_verified(conn: Conn, person_key: str, user_id: str) -> None:
    await conn.execute(_REMEMBER_VERIFIED, (person_key, user_id))


async def is_verified(conn: Conn, person_key: str) -> bool:
    cur = await conn.execute(_IS_VERIFIED, (person_key,))
    return await cur.fetchone() is not None
