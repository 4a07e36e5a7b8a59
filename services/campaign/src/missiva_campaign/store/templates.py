"""Email templates of an account (the starter templates are in ``starters.py``, not here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from missiva_campaign.store import Conn
from missiva_campaign.store.trash import restore_row, trash_row

COLUMNS = (
    "id::text AS id, account_id, name, category, locale, subject, preheader, html_body,"
    " text_body, revision, created_at, updated_at, deleted_at"
)
FIELDS = ("name", "category", "locale", "subject", "preheader", "html_body", "text_body")


async def create(conn: Conn, row: dict[str, Any]) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO templates (id, account_id, name, category, locale, subject, preheader,"
            " html_body, text_body) VALUES (%(id)s, %(account_id)s, %(name)s, %(category)s,"
            " %(locale)s, %(subject)s, %(preheader)s, %(html_body)s, %(text_body)s)"
            f" RETURNING {COLUMNS}",
            row,
        )
        created = await cur.fetchone()
    assert created is not None
    return dict(created)


async def get(
    conn: Conn, account_id: str, template_id: str, *, lock: bool = False
) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM templates WHERE account_id = %s AND id = %s"
            " AND deleted_at IS NULL" + (" FOR UPDATE" if lock else ""),
            (account_id, template_id),
        )
        found = await cur.fetchone()
    return dict(found) if found else None


async def update(
    conn: Conn, account_id: str, template_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    assigns = ", ".join(f"{name} = %({name})s" for name in values if name in FIELDS)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"UPDATE templates SET {assigns}, revision = revision + 1, updated_at = now()"
            f" WHERE account_id = %(account)s AND id = %(id)s RETURNING {COLUMNS}",
            {**values, "account": account_id, "id": template_id},
        )
        updated = await cur.fetchone()
    assert updated is not None
    return dict(updated)


async def page(
    conn: Conn,
    account_id: str,
    *,
    after: str | None,
    limit: int,
    trash_since: datetime | None = None,
) -> list[dict[str, Any]]:
    """Live templates, or (``trash_since``) those deleted since then, in id order."""
    state = "deleted_at IS NULL" if trash_since is None else "deleted_at > %(since)s"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM templates WHERE account_id = %(account)s AND {state}"
            " AND (%(after)s::uuid IS NULL OR id > %(after)s::uuid) ORDER BY id LIMIT %(limit)s",
            {"account": account_id, "after": after, "limit": limit, "since": trash_since},
        )
        return [dict(r) for r in await cur.fetchall()]


async def trash(conn: Conn, account_id: str, template_id: str) -> dict[str, Any] | None:
    return await trash_row(conn, "templates", COLUMNS, account_id, template_id)


async def restore(
    conn: Conn, account_id: str, template_id: str, *, since: datetime
) -> dict[str, Any] | None:
    """Bring a template back from the trash."""
    return await restore_row(conn, "templates", COLUMNS, account_id, template_id, since=since)


async def purge_account(conn: Conn, account_id: str) -> int:
    cur = await conn.execute("DELETE FROM templates WHERE account_id = %s", (account_id,))
    return cur.rowcount
