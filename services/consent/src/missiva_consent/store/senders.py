"""Sender identities: who an account is to its recipients (one row per account).

Every function takes an open connection and runs inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from missiva_consent.senders import SenderIdentity
from missiva_consent.store.base import Conn

_GET = """
SELECT name, postal_address, privacy_contact, updated_at FROM sender_identities
WHERE account_id = %s
"""

_PUT = """
INSERT INTO sender_identities (account_id, name, postal_address, privacy_contact, updated_at)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (account_id) DO UPDATE SET name = EXCLUDED.name,
    postal_address = EXCLUDED.postal_address, privacy_contact = EXCLUDED.privacy_contact,
    updated_at = EXCLUDED.updated_at
"""


async def get(conn: Conn, account_id: str) -> tuple[SenderIdentity, datetime] | None:
    cur = await conn.execute(_GET, (account_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    name, postal_address, contact, updated_at = row
    return SenderIdentity(name, postal_address, contact), updated_at


async def put(conn: Conn, account_id: str, identity: SenderIdentity, at: datetime) -> None:
    await conn.execute(
        _PUT,
        (account_id, identity.name, identity.postal_address, identity.privacy_contact, at),
    )
