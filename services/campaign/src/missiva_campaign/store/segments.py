"""Saved segments (rule trees) and the counts and samples of their compiled conditions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import errors, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from missiva_campaign.segments import Compiled, count_query
from missiva_campaign.store import Conn
from missiva_campaign.store.contacts import COLUMNS as CONTACT_COLUMNS
from missiva_campaign.store.trash import restore_row, trash_row

COLUMNS = "id::text AS id, account_id, name, rule_tree, created_at, updated_at, deleted_at"
# A preview is interactive: a tree the indexes cannot serve is stopped rather than left to run.
PREVIEW_TIMEOUT = "10s"


class DuplicateName(Exception):
    """The account already has a live segment of that name."""


async def create(conn: Conn, row: dict[str, Any]) -> dict[str, Any]:
    try:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO segments (id, account_id, name, rule_tree)"
                " VALUES (%(id)s, %(account_id)s, %(name)s, %(rule_tree)s)"
                f" RETURNING {COLUMNS}",
                {**row, "rule_tree": Jsonb(row["rule_tree"])},
            )
            created = await cur.fetchone()
    except errors.UniqueViolation:
        raise DuplicateName from None
    assert created is not None
    return dict(created)


async def update(
    conn: Conn, account_id: str, segment_id: str, changes: dict[str, Any]
) -> dict[str, Any] | None:
    """Change a live segment's name and/or rule tree; ``DuplicateName`` on a name clash."""
    sets: list[sql.Composable] = [sql.SQL("updated_at = now()")]
    values: dict[str, Any] = {"account": account_id, "segment": segment_id}
    for column in ("name", "rule_tree"):
        if column in changes:
            sets.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)))
            value = changes[column]
            values[column] = Jsonb(value) if column == "rule_tree" else value
    query = sql.SQL(
        "UPDATE segments SET {} WHERE account_id = %(account)s AND id = %(segment)s"
        " AND deleted_at IS NULL RETURNING " + COLUMNS
    ).format(sql.SQL(", ").join(sets))
    try:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, values)
            found = await cur.fetchone()
    except errors.UniqueViolation:
        raise DuplicateName from None
    return dict(found) if found else None


async def page(
    conn: Conn, account_id: str, *, after: str | None, limit: int, trash_since: datetime | None
) -> list[dict[str, Any]]:
    state = "deleted_at IS NULL" if trash_since is None else "deleted_at > %(since)s"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM segments WHERE account_id = %(account)s AND {state}"
            " AND (%(after)s::uuid IS NULL OR id > %(after)s::uuid) ORDER BY id LIMIT %(limit)s",
            {"account": account_id, "after": after, "limit": limit, "since": trash_since},
        )
        return [dict(r) for r in await cur.fetchall()]


async def trash(conn: Conn, account_id: str, segment_id: str) -> dict[str, Any] | None:
    return await trash_row(conn, "segments", COLUMNS, account_id, segment_id)


async def restore(
    conn: Conn, account_id: str, segment_id: str, *, since: datetime
) -> dict[str, Any] | None:
    """Bring a segment back from the trash; ``DuplicateName`` when a live one has its name."""
    return await restore_row(
        conn, "segments", COLUMNS, account_id, segment_id, since=since, duplicate=DuplicateName
    )


async def count(conn: Conn, compiled: Compiled) -> int:
    cur = await conn.execute(count_query(compiled), compiled.params)
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def sample(conn: Conn, compiled: Compiled, limit: int) -> list[dict[str, Any]]:
    query = sql.SQL(
        "SELECT " + CONTACT_COLUMNS + " FROM contacts WHERE id IN"
        " (SELECT c.id FROM contacts c WHERE {w} ORDER BY c.id LIMIT {n}) ORDER BY id"
    ).format(w=compiled.condition, n=sql.Placeholder())
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*compiled.params, limit])
        return [dict(r) for r in await cur.fetchall()]


async def get(conn: Conn, account_id: str, segment_id: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM segments WHERE account_id = %s AND id = %s"
            " AND deleted_at IS NULL",
            (account_id, segment_id),
        )
        found = await cur.fetchone()
    return dict(found) if found else None


async def contact_page(
    conn: Conn, compiled: Compiled, *, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """The segment's contacts in id order after ``after`` (keyset paging)."""
    query = sql.SQL(
        "SELECT " + CONTACT_COLUMNS + " FROM contacts WHERE id IN"
        " (SELECT c.id FROM contacts c WHERE {w} AND ({a}::uuid IS NULL OR c.id > {a2}::uuid)"
        " ORDER BY c.id LIMIT {n}) ORDER BY id"
    ).format(w=compiled.condition, a=sql.Placeholder(), a2=sql.Placeholder(), n=sql.Placeholder())
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*compiled.params, after, after, limit])
        return [dict(r) for r in await cur.fetchall()]


async def preview(conn: Conn, compiled: Compiled, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """The count and a sample, stopped after ``PREVIEW_TIMEOUT``."""
    async with conn.transaction():
        await conn.execute("SELECT set_config('statement_timeout', %s, true)", (PREVIEW_TIMEOUT,))
        total = await count(conn, compiled)
        rows = await sample(conn, compiled, limit) if limit and total else []
    return total, rows


async def purge_account(conn: Conn, account_id: str) -> int:
    cur = await conn.execute("DELETE FROM segments WHERE account_id = %s", (account_id,))
    return cur.rowcount


async def missing(conn: Conn, account_id: str, ids: list[str]) -> list[str]:
    """The ids among ``ids`` that are no live segment of the account."""
    cur = await conn.execute(
        "SELECT i::text FROM unnest(%(ids)s::uuid[]) i WHERE NOT EXISTS (SELECT 1 FROM"
        " segments s WHERE s.account_id = %(account)s AND s.id = i AND s.deleted_at IS NULL)",
        {"account": account_id, "ids": ids},
    )
    return [row[0] for row in await cur.fetchall()]


async def trees(conn: Conn, account_id: str, ids: list[str]) -> dict[str, Any]:
    """The rule trees of the account's live segments among ``ids``, by id."""
    cur = await conn.execute(
        "SELECT id::text, rule_tree FROM segments WHERE account_id = %s"
        " AND id = ANY(%s::uuid[]) AND deleted_at IS NULL",
        (account_id, ids),
    )
    return {row[0]: row[1] for row in await cur.fetchall()}
