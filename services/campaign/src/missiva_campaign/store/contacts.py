"""Contacts: rows per account, the trash, tags, and the person's rows for privacy requests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from psycopg import errors, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from missiva_campaign.store import Conn

COLUMNS = (
    "id::text AS id, account_id, email, email_key, person_key, first_name, last_name, locale,"
    " timezone, attributes, tags, source, source_detail, actor_kind, actor_id, version,"
    " created_at, updated_at, last_interaction_at, deleted_at, inactive_since,"
    # Whether consent's list suppresses the person for every purpose (account or platform).
    " EXISTS (SELECT 1 FROM suppressions s WHERE s.person_key = contacts.person_key"
    " AND s.active AND s.purpose_id = '' AND s.scope IN (contacts.account_id, '')) AS suppressed,"
)
# The lists a contact is on: the live ones; a person's export shows those in the trash too.
_LISTS = (
    " ARRAY(SELECT m.list_id::text FROM list_members m JOIN contact_lists l ON l.id = m.list_id"
    " WHERE m.contact_id = contacts.id{live} ORDER BY m.list_id) AS list_ids"
)
PERSON_COLUMNS = COLUMNS + _LISTS.format(live="")
COLUMNS += _LISTS.format(live=" AND l.deleted_at IS NULL")
# Columns an update may set (the caller has validated the values).
UPDATABLE = frozenset(
    {
        "email",
        "email_key",
        "person_key",
        "first_name",
        "last_name",
        "locale",
        "timezone",
        "attributes",
    }
)


class DuplicateEmail(Exception):
    """Another live contact of the account has the address."""


async def _one(conn: Conn, query: Any, params: Sequence[Any] | Mapping[str, Any]) -> Any:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def _all(conn: Conn, query: Any, params: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def insert(conn: Conn, row: Mapping[str, Any]) -> dict[str, Any]:
    """Insert a contact; ``DuplicateEmail`` when the account already has the address live."""
    values = dict(row)
    values["attributes"] = Jsonb(values["attributes"])
    found = await _one(
        conn,
        "INSERT INTO contacts (id, account_id, email, email_key, person_key, first_name,"
        " last_name, locale, timezone, attributes, tags, source, source_detail, actor_kind,"
        " actor_id) VALUES (%(id)s, %(account_id)s, %(email)s, %(email_key)s, %(person_key)s,"
        " %(first_name)s, %(last_name)s, %(locale)s, %(timezone)s, %(attributes)s, %(tags)s,"
        " %(source)s, %(source_detail)s, %(actor_kind)s, %(actor_id)s)"
        " ON CONFLICT (account_id, email_key) WHERE deleted_at IS NULL DO NOTHING"
        f" RETURNING {COLUMNS}",
        values,
    )
    if found is None:
        raise DuplicateEmail
    return dict(found)


async def get(
    conn: Conn, account_id: str, contact_id: str, *, trash: bool = False, lock: bool = False
) -> dict[str, Any] | None:
    """A live contact (or, with ``trash``, one in the trash) of the account."""
    state = "deleted_at IS NOT NULL" if trash else "deleted_at IS NULL"
    found = await _one(
        conn,
        f"SELECT {COLUMNS} FROM contacts WHERE account_id = %s AND id = %s AND {state}"
        + (" FOR UPDATE" if lock else ""),
        (account_id, contact_id),
    )
    return dict(found) if found else None


async def update(
    conn: Conn, account_id: str, contact_id: str, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply validated ``changes`` to a live contact; ``DuplicateEmail`` on an address clash."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    values = {k: Jsonb(v) if k == "attributes" else v for k, v in changes.items()}
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values
    )
    query = sql.SQL(
        "UPDATE contacts SET {a}, version = version + 1, updated_at = now()"
        " WHERE account_id = %(account_id)s AND id = %(contact_id)s AND deleted_at IS NULL"
        " RETURNING " + COLUMNS
    ).format(a=assignments)
    try:
        async with conn.transaction():  # a savepoint: a clash leaves the caller's work intact
            found = await _one(
                conn, query, {**values, "account_id": account_id, "contact_id": contact_id}
            )
    except errors.UniqueViolation:
        raise DuplicateEmail from None
    if found is None:
        raise LookupError(contact_id)
    return dict(found)


async def trash(conn: Conn, account_id: str, contact_id: str) -> dict[str, Any] | None:
    found = await _one(
        conn,
        "UPDATE contacts SET deleted_at = now(), updated_at = now(), version = version + 1"
        " WHERE account_id = %s AND id = %s AND deleted_at IS NULL"
        f" RETURNING {COLUMNS}",
        (account_id, contact_id),
    )
    return dict(found) if found else None


async def restore(
    conn: Conn, account_id: str, contact_id: str, deleted_after: datetime
) -> dict[str, Any] | None:
    """Bring a contact back from the trash (deleted after ``deleted_after``)."""
    try:
        async with conn.transaction():
            found = await _one(
                conn,
                "UPDATE contacts SET deleted_at = NULL, updated_at = now(), version = version + 1"
                " WHERE account_id = %s AND id = %s AND deleted_at > %s"
                f" RETURNING {COLUMNS}",
                (account_id, contact_id, deleted_after),
            )
    except errors.UniqueViolation:
        raise DuplicateEmail from None
    return dict(found) if found else None


async def page(
    conn: Conn,
    account_id: str,
    *,
    after: str | None,
    limit: int,
    tag: str = "",
    list_id: str = "",
    prefix: str = "",
    trash_since: datetime | None = None,
) -> list[dict[str, Any]]:
    """Contacts in id order after ``after``: live ones, or the trash (deleted after
    ``trash_since``); optionally with a tag, or whose address or name starts with ``prefix``
    (a LIKE pattern already escaped, lower-case)."""
    where = [sql.SQL("account_id = %(account)s")]
    if trash_since is None:
        where.append(sql.SQL("deleted_at IS NULL"))
    else:
        where.append(sql.SQL("deleted_at > %(since)s"))
    if after:
        where.append(sql.SQL("id > %(after)s"))
    if tag:
        where.append(sql.SQL("tags @> ARRAY[%(tag)s]::text[]"))
    if list_id:
        where.append(
            sql.SQL(
                "EXISTS (SELECT 1 FROM list_members m WHERE m.list_id = %(list)s"
                " AND m.contact_id = contacts.id)"
            )
        )
    if prefix:
        where.append(
            sql.SQL(
                "(email_key LIKE %(prefix)s OR lower(first_name) LIKE %(prefix)s"
                " OR lower(last_name) LIKE %(prefix)s)"
            )
        )
    query = sql.SQL("SELECT " + COLUMNS + " FROM contacts WHERE {w} ORDER BY id LIMIT %(limit)s")
    params = {
        "account": account_id,
        "since": trash_since,
        "after": after,
        "tag": tag,
        "list": list_id or None,
        "prefix": prefix,
        "limit": limit,
    }
    rows = await _all(conn, query.format(w=sql.SQL(" AND ").join(where)), params)
    return [dict(r) for r in rows]


# -------------------------------------------------------------------------------- tags


async def add_tags(
    conn: Conn, account_id: str, ids: list[str], tags: list[str]
) -> list[dict[str, Any]]:
    """Add ``tags`` to the live contacts among ``ids``; the ids that gained one."""
    rows = await _all(
        conn,
        "UPDATE contacts SET tags = ARRAY(SELECT DISTINCT unnest(tags || %(tags)s::text[])"
        " ORDER BY 1), version = version + 1, updated_at = now()"
        " WHERE account_id = %(account)s AND id = ANY(%(ids)s::uuid[]) AND deleted_at IS NULL"
        " AND NOT tags @> %(tags)s::text[] RETURNING " + COLUMNS,
        {"account": account_id, "ids": ids, "tags": tags},
    )
    return [dict(r) for r in rows]


async def remove_tags(
    conn: Conn, account_id: str, ids: list[str], tags: list[str]
) -> list[dict[str, Any]]:
    rows = await _all(
        conn,
        "UPDATE contacts SET tags = ARRAY(SELECT t FROM unnest(tags) t"
        " WHERE t <> ALL(%(tags)s::text[]) ORDER BY 1), version = version + 1,"
        " updated_at = now()"
        " WHERE account_id = %(account)s AND id = ANY(%(ids)s::uuid[]) AND deleted_at IS NULL"
        " AND tags && %(tags)s::text[] RETURNING " + COLUMNS,
        {"account": account_id, "ids": ids, "tags": tags},
    )
    return [dict(r) for r in rows]


async def missing_ids(conn: Conn, account_id: str, ids: list[str]) -> list[str]:
    """The ids among ``ids`` that are no live contact of the account."""
    rows = await _all(
        conn,
        "SELECT i::text AS id FROM unnest(%(ids)s::uuid[]) i WHERE NOT EXISTS (SELECT 1 FROM"
        " contacts c WHERE c.account_id = %(account)s AND c.id = i AND c.deleted_at IS NULL)",
        {"account": account_id, "ids": ids},
    )
    return [r["id"] for r in rows]


async def tag_counts(
    conn: Conn, account_id: str, *, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """Tags of the account's live contacts with their counts, by name after ``after``."""
    return await _all(
        conn,
        "SELECT t AS name, count(*) AS contact_count FROM contacts, unnest(tags) t"
        " WHERE account_id = %(account)s AND deleted_at IS NULL"
        " AND (%(after)s::text IS NULL OR t > %(after)s) GROUP BY t ORDER BY t LIMIT %(limit)s",
        {"account": account_id, "after": after, "limit": limit},
    )


# ------------------------------------------------------------------ notices, privacy


async def notice_batch(
    conn: Conn, account_id: str, after: str | None, limit: int, stoppers: Sequence[str]
) -> list[dict[str, Any]]:
    """The next live contacts in id order, each with whether a suppression that stops a
    SYSTEM notice (hard bounce, complaint, erasure: in the account or platform-wide) holds."""
    return await _all(
        conn,
        "SELECT c.id::text AS id, c.email, c.person_key, c.first_name, c.last_name, c.locale,"
        " EXISTS (SELECT 1 FROM suppressions s WHERE s.person_key = c.person_key AND s.active"
        "   AND s.scope IN (c.account_id, '') AND s.reason = ANY(%(stoppers)s)) AS stopped"
        " FROM contacts c WHERE c.account_id = %(account)s AND c.deleted_at IS NULL"
        " AND (%(after)s::uuid IS NULL OR c.id > %(after)s::uuid) ORDER BY c.id LIMIT %(limit)s",
        {"account": account_id, "after": after, "limit": limit, "stoppers": list(stoppers)},
    )


async def of_person(conn: Conn, person_key: str, account_id: str = "") -> list[dict[str, Any]]:
    """Every contact row (live or in the trash) of a person: in one account, or in all."""
    rows = await _all(
        conn,
        f"SELECT {PERSON_COLUMNS} FROM contacts WHERE person_key = %(key)s"
        " AND (%(account)s = '' OR account_id = %(account)s) ORDER BY account_id, id",
        {"key": person_key, "account": account_id},
    )
    return [dict(r) for r in rows]


async def delete_ids(conn: Conn, ids: list[str]) -> int:
    cur = await conn.execute("DELETE FROM contacts WHERE id = ANY(%s::uuid[])", (ids,))
    return cur.rowcount


async def purge_account(conn: Conn, account_id: str) -> dict[str, int]:
    """Every row of an erased account (the notices go with their contacts, the form
    submissions with their forms)."""
    await conn.execute("DELETE FROM contact_policies WHERE account_id = %s", (account_id,))
    counts = {}
    cur = await conn.execute("DELETE FROM forms WHERE account_id = %s", (account_id,))
    counts["forms"] = cur.rowcount
    cur = await conn.execute(
        "DELETE FROM document_notices_sent WHERE account_id = %s", (account_id,)
    )
    counts["document_notices"] = cur.rowcount
    cur = await conn.execute("DELETE FROM contacts WHERE account_id = %s", (account_id,))
    counts["contacts"] = cur.rowcount
    cur = await conn.execute("DELETE FROM contact_lists WHERE account_id = %s", (account_id,))
    counts["lists"] = cur.rowcount
    cur = await conn.execute("DELETE FROM suppressions WHERE scope = %s", (account_id,))
    counts["suppressions"] = cur.rowcount
    return counts
