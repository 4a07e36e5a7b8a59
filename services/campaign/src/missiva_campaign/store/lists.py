"""Contact lists and their members; a deleted list waits in the trash (its members kept)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import errors
from psycopg.rows import dict_row

from missiva_campaign.store import Conn
from missiva_campaign.store.trash import restore_row, trash_row

COLUMNS = (
    "id::text AS id, account_id, name, description, purpose_id, member_count, created_at,"
    " updated_at, deleted_at"
)


class DuplicateName(Exception):
    """The account already has a live list of that name."""


async def create(conn: Conn, row: dict[str, Any]) -> dict[str, Any]:
    try:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO contact_lists (id, account_id, name, description, purpose_id)"
                " VALUES (%(id)s, %(account_id)s, %(name)s, %(description)s, %(purpose_id)s)"
                f" RETURNING {COLUMNS}",
                row,
            )
            created = await cur.fetchone()
    except errors.UniqueViolation:
        raise DuplicateName from None
    assert created is not None
    return dict(created)


async def missing(conn: Conn, account_id: str, ids: list[str]) -> list[str]:
    """The ids among ``ids`` that are no live list of the account."""
    cur = await conn.execute(
        "SELECT i::text FROM unnest(%(ids)s::uuid[]) i WHERE NOT EXISTS (SELECT 1 FROM"
        " contact_lists l WHERE l.account_id = %(account)s AND l.id = i"
        " AND l.deleted_at IS NULL)",
        {"account": account_id, "ids": ids},
    )
    return [row[0] for row in await cur.fetchall()]


async def get(conn: Conn, account_id: str, list_id: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM contact_lists WHERE account_id = %s AND id = %s"
            " AND deleted_at IS NULL",
            (account_id, list_id),
        )
        found = await cur.fetchone()
    return dict(found) if found else None


async def page(
    conn: Conn,
    account_id: str,
    *,
    after: str | None,
    limit: int,
    trash_since: datetime | None = None,
) -> list[dict[str, Any]]:
    """Live lists, or (``trash_since``) those deleted since then, in id order after ``after``."""
    state = "deleted_at IS NULL" if trash_since is None else "deleted_at > %(since)s"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM contact_lists WHERE account_id = %(account)s AND {state}"
            " AND (%(after)s::uuid IS NULL OR id > %(after)s::uuid) ORDER BY id LIMIT %(limit)s",
            {"account": account_id, "after": after, "limit": limit, "since": trash_since},
        )
        return [dict(r) for r in await cur.fetchall()]


async def trash(conn: Conn, account_id: str, list_id: str) -> dict[str, Any] | None:
    return await trash_row(conn, "contact_lists", COLUMNS, account_id, list_id)


async def restore(
    conn: Conn, account_id: str, list_id: str, *, since: datetime
) -> dict[str, Any] | None:
    """Bring a list back from the trash; ``DuplicateName`` when a live one has its name."""
    return await restore_row(
        conn, "contact_lists", COLUMNS, account_id, list_id, since=since, duplicate=DuplicateName
    )


async def add_members(conn: Conn, list_ids: list[str], contact_ids: list[str]) -> int:
    """Put every contact on every list (both already checked to be the account's); the number
    of memberships that are new."""
    cur = await conn.execute(
        "INSERT INTO list_members (list_id, contact_id)"
        " SELECT l, c FROM unnest(%s::uuid[]) l CROSS JOIN unnest(%s::uuid[]) c"
        " ON CONFLICT DO NOTHING",
        (list_ids, contact_ids),
    )
    return cur.rowcount


async def remove_members(conn: Conn, list_id: str, contact_ids: list[str]) -> int:
    cur = await conn.execute(
        "DELETE FROM list_members WHERE list_id = %s AND contact_id = ANY(%s::uuid[])",
        (list_id, contact_ids),
    )
    return cur.rowcount


async def names(conn: Conn, list_ids: list[str]) -> dict[str, str]:
    cur = await conn.execute(
        "SELECT id::text, name FROM contact_lists WHERE id = ANY(%s::uuid[])", (list_ids,)
    )
    return {row[0]: row[1] for row in await cur.fetchall()}
