"""Purposes: the account's reasons to process a person's data.

Every function takes an open connection and runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from missiva_consent import domain
from missiva_consent.domain import Basis, Purpose
from missiva_consent.store.base import Conn

PURPOSE_COLUMNS = (
    "purpose_id::text, account_id, key, name, description, kind, category, legal_basis, "
    "double_opt_in, frequency_cap_count, frequency_cap_days, state, created_at, updated_at"
)

_INSERT_PURPOSE = (
    """
INSERT INTO purposes (purpose_id, account_id, key, name, description, kind, category,
                      legal_basis, double_opt_in, frequency_cap_count, frequency_cap_days)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (account_id, key) DO NOTHING
RETURNING """
    + PURPOSE_COLUMNS
)

_PURPOSE_BY_ID = f"SELECT {PURPOSE_COLUMNS} FROM purposes WHERE account_id = %s AND purpose_id = %s"
_PURPOSE_BY_KEY = f"SELECT {PURPOSE_COLUMNS} FROM purposes WHERE account_id = %s AND key = %s"

_PURPOSES_OF_ACCOUNT = f"""
SELECT {PURPOSE_COLUMNS} FROM purposes
WHERE account_id = %(account)s AND (%(archived)s OR state = 'active') AND key > %(after)s
ORDER BY key LIMIT %(limit)s
"""

_UPDATE_PURPOSE = f"""
UPDATE purposes SET name = %s, description = %s, double_opt_in = %s, frequency_cap_count = %s,
                    frequency_cap_days = %s, state = %s, updated_at = now()
WHERE account_id = %s AND purpose_id = %s
RETURNING {PURPOSE_COLUMNS}
"""


def purpose_of_row(row: Sequence[Any]) -> Purpose:
    return Purpose(
        purpose_id=row[0],
        account_id=row[1],
        key=row[2],
        name=row[3],
        description=row[4],
        kind=row[5],
        category=row[6],
        legal_basis=Basis(row[7]),
        double_opt_in=row[8],
        frequency_cap_count=row[9],
        frequency_cap_days=row[10],
        state=row[11],
        created_at=row[12],
        updated_at=row[13],
    )


async def insert_purpose(conn: Conn, purpose: Purpose) -> Purpose | None:
    """The created purpose, or None when the account already has one with that key."""
    cur = await conn.execute(
        _INSERT_PURPOSE,
        (
            purpose.purpose_id,
            purpose.account_id,
            purpose.key,
            purpose.name,
            purpose.description,
            purpose.kind,
            purpose.category,
            str(purpose.legal_basis),
            purpose.double_opt_in,
            purpose.frequency_cap_count,
            purpose.frequency_cap_days,
        ),
    )
    row = await cur.fetchone()
    return purpose_of_row(row) if row else None


async def find_purpose(conn: Conn, account_id: str, ref: str) -> Purpose | None:
    """A purpose of the account by id or by key."""
    if domain.is_uuid(ref):
        cur = await conn.execute(_PURPOSE_BY_ID, (account_id, ref))
    else:
        cur = await conn.execute(_PURPOSE_BY_KEY, (account_id, ref))
    row = await cur.fetchone()
    return purpose_of_row(row) if row else None


async def list_purposes(
    conn: Conn, account_id: str, *, archived: bool = True, after: str = "", limit: int = 10_000
) -> list[Purpose]:
    cur = await conn.execute(
        _PURPOSES_OF_ACCOUNT,
        {"account": account_id, "archived": archived, "after": after, "limit": limit},
    )
    return [purpose_of_row(row) for row in await cur.fetchall()]


async def update_purpose(conn: Conn, purpose: Purpose) -> Purpose:
    cur = await conn.execute(
        _UPDATE_PURPOSE,
        (
            purpose.name,
            purpose.description,
            purpose.double_opt_in,
            purpose.frequency_cap_count,
            purpose.frequency_cap_days,
            purpose.state,
            purpose.account_id,
            purpose.purpose_id,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return purpose_of_row(row)


async def seed_platform_purposes(conn: Conn, account_id: str) -> None:
    """Missiva's own SYSTEM / PRODUCT_UPDATE / MARKETING purposes (idempotent)."""
    for purpose in domain.platform_purposes(account_id):
        await insert_purpose(conn, purpose)
