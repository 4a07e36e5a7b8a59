"""The trash shared by segments, lists, templates and forms: a row is moved there by setting
``deleted_at`` and brought back while it is newer than the restore window's start."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import errors
from psycopg.rows import dict_row

from missiva_campaign.store import Conn


async def trash_row(
    conn: Conn, table: str, columns: str, account_id: str, item_id: str
) -> dict[str, Any] | None:
    """Move a live row of ``table`` to the trash; its ``columns``, or None if none was live."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"UPDATE {table} SET deleted_at = now(), updated_at = now()"
            " WHERE account_id = %s AND id = %s AND deleted_at IS NULL"
            f" RETURNING {columns}",
            (account_id, item_id),
        )
        found = await cur.fetchone()
    return dict(found) if found else None


async def restore_row(
    conn: Conn,
    table: str,
    columns: str,
    account_id: str,
    item_id: str,
    *,
    since: datetime,
    duplicate: type[Exception] | None = None,
) -> dict[str, Any] | None:
    """Bring a row of ``table`` trashed after ``since`` back; with ``duplicate``, a live row
    holding its unique name raises that instead (the failed update in a savepoint of its own,
    so the caller's transaction goes on)."""
    statement = (
        f"UPDATE {table} SET deleted_at = NULL, updated_at = now()"
        " WHERE account_id = %s AND id = %s AND deleted_at > %s"
        f" RETURNING {columns}"
    )
    if duplicate is None:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(statement, (account_id, item_id, since))
            found = await cur.fetchone()
        return dict(found) if found else None
    try:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(statement, (account_id, item_id, since))
            found = await cur.fetchone()
    except errors.UniqueViolation:
        raise duplicate from None
    return dict(found) if found else None
