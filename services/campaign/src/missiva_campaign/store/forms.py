"""Subscribe forms and their submissions waiting for consent's confirmation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import errors, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from missiva_campaign.store import Conn
from missiva_campaign.store.trash import restore_row, trash_row

COLUMNS = (
    "id::text AS id, account_id, name, kind, fields, list_ids::text[] AS list_ids, title,"
    " description, submit_label, consent_text, policy_document_id, policy_version,"
    " single_opt_in, thank_you_message, thank_you_url, confirmed_message, confirmed_url, popup,"
    " min_fill_seconds, challenge_required, locale, active, submission_count, confirmed_count,"
    " created_at, updated_at, deleted_at"
)
WRITABLE = (
    "name", "kind", "fields", "list_ids", "title", "description", "submit_label",
    "consent_text", "policy_document_id", "policy_version", "single_opt_in",
    "thank_you_message", "thank_you_url", "confirmed_message", "confirmed_url", "popup",
    "min_fill_seconds", "challenge_required", "locale", "active",
)  # fmt: skip
_JSON = ("fields", "popup")


class DuplicateName(Exception):
    """The account already has a live form of that name."""


def _values(row: dict[str, Any]) -> dict[str, Any]:
    return {k: Jsonb(v) if k in _JSON else v for k, v in row.items()}


async def create(conn: Conn, row: dict[str, Any]) -> dict[str, Any]:
    names = ["id", "account_id", *[k for k in WRITABLE if k in row]]
    query = sql.SQL("INSERT INTO forms ({}) VALUES ({}) RETURNING " + COLUMNS).format(
        sql.SQL(", ").join(sql.Identifier(n) for n in names),
        sql.SQL(", ").join(
            sql.SQL("{}::uuid[]").format(sql.Placeholder(n))
            if n == "list_ids"
            else sql.Placeholder(n)
            for n in names
        ),
    )
    try:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, _values(row))
            found = await cur.fetchone()
    except errors.UniqueViolation:
        raise DuplicateName from None
    assert found is not None
    return dict(found)


async def update(
    conn: Conn, account_id: str, form_id: str, changes: dict[str, Any]
) -> dict[str, Any] | None:
    sets = [
        sql.SQL("{} = {}").format(
            sql.Identifier(k),
            sql.SQL("{}::uuid[]").format(sql.Placeholder(k))
            if k == "list_ids"
            else sql.Placeholder(k),
        )
        for k in changes
    ]
    query = sql.SQL(
        "UPDATE forms SET {}, updated_at = now() WHERE account_id = %(account)s"
        " AND id = %(form)s AND deleted_at IS NULL RETURNING " + COLUMNS
    ).format(sql.SQL(", ").join(sets))
    try:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, {**_values(changes), "account": account_id, "form": form_id})
            found = await cur.fetchone()
    except errors.UniqueViolation:
        raise DuplicateName from None
    return dict(found) if found else None


async def get(conn: Conn, account_id: str, form_id: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM forms WHERE account_id = %s AND id = %s AND deleted_at IS NULL",
            (account_id, form_id),
        )
        found = await cur.fetchone()
    return dict(found) if found else None


async def published(conn: Conn, form_id: str) -> dict[str, Any] | None:
    """A live, active form by id alone: the public page names no account (the form does)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM forms WHERE id = %s AND deleted_at IS NULL AND active",
            (form_id,),
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
) -> list[dict]:
    """Live forms, or (``trash_since``) those deleted after that moment, in id order."""
    state = "deleted_at IS NULL" if trash_since is None else "deleted_at > %(since)s"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM forms WHERE account_id = %(account)s AND {state}"
            " AND (%(after)s::uuid IS NULL OR id > %(after)s::uuid) ORDER BY id LIMIT %(limit)s",
            {"account": account_id, "after": after, "limit": limit, "since": trash_since},
        )
        return [dict(r) for r in await cur.fetchall()]


async def restore(
    conn: Conn, account_id: str, form_id: str, *, since: datetime
) -> dict[str, Any] | None:
    """Bring a form back from the trash; ``DuplicateName`` when a live one has its name."""
    return await restore_row(
        conn, "forms", COLUMNS, account_id, form_id, since=since, duplicate=DuplicateName
    )


async def trash(conn: Conn, account_id: str, form_id: str) -> dict[str, Any] | None:
    return await trash_row(conn, "forms", COLUMNS, account_id, form_id)


# -- submissions ------------------------------------------------------------------------------


async def add_submission(conn: Conn, row: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO form_submissions (id, account_id, form_id, person_key, email, first_name,"
        " last_name, locale, attributes, list_ids, purpose_ids) VALUES (%(id)s, %(account_id)s,"
        " %(form_id)s, %(person_key)s, %(email)s, %(first_name)s, %(last_name)s, %(locale)s,"
        " %(attributes)s, %(list_ids)s::uuid[], %(purpose_ids)s)",
        {**row, "attributes": Jsonb(row["attributes"])},
    )
    await conn.execute(
        "UPDATE forms SET submission_count = submission_count + 1 WHERE id = %s",
        (row["form_id"],),
    )


async def set_confirmation(conn: Conn, submission_id: str, confirmation_id: str) -> None:
    await conn.execute(
        "UPDATE form_submissions SET confirmation_id = %s WHERE id = %s",
        (confirmation_id, submission_id),
    )


async def drop_submission(conn: Conn, submission_id: str) -> None:
    """Consent refused it: as if it had never been taken."""
    await conn.execute(
        "WITH gone AS (DELETE FROM form_submissions WHERE id = %s RETURNING form_id)"
        " UPDATE forms SET submission_count = submission_count - 1 FROM gone"
        " WHERE forms.id = gone.form_id",
        (submission_id,),
    )


async def pending_for(
    conn: Conn, account_id: str, person_key: str, purpose_id: str
) -> list[dict[str, Any]]:
    """The person's pending submissions naming the purpose, oldest first, locked."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id::text AS id, form_id::text AS form_id, email, first_name, last_name,"
            " locale, attributes, list_ids::text[] AS list_ids, purpose_ids, created_at"
            " FROM form_submissions WHERE account_id = %s AND person_key = %s"
            " AND status = 'pending' AND %s = ANY(purpose_ids) ORDER BY created_at"
            " FOR UPDATE",
            (account_id, person_key, purpose_id),
        )
        return [dict(r) for r in await cur.fetchall()]


async def confirm(conn: Conn, submission_id: str, form_id: str, contact_id: str) -> None:
    """The contact is written: the submission keeps no address, the form counts it."""
    await conn.execute(
        "UPDATE form_submissions SET status = 'confirmed', confirmed_at = now(), email = '',"
        " first_name = '', last_name = '', attributes = '{}', contact_id = %s WHERE id = %s",
        (contact_id, submission_id),
    )
    await conn.execute(
        "UPDATE forms SET confirmed_count = confirmed_count + 1 WHERE id = %s", (form_id,)
    )


async def of_person(conn: Conn, person_key: str, account_id: str = "") -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT s.form_id::text AS form_id, f.name AS form_name, s.email, s.first_name,"
            " s.last_name, s.locale, s.attributes, s.status, s.created_at, s.confirmed_at"
            " FROM form_submissions s JOIN forms f ON f.id = s.form_id"
            " WHERE s.person_key = %(key)s AND (%(account)s = '' OR s.account_id = %(account)s)"
            " ORDER BY s.created_at",
            {"key": person_key, "account": account_id},
        )
        return [dict(r) for r in await cur.fetchall()]


async def forget_person(conn: Conn, person_key: str, account_id: str = "") -> int:
    cur = await conn.execute(
        "DELETE FROM form_submissions WHERE person_key = %(key)s"
        " AND (%(account)s = '' OR account_id = %(account)s)",
        {"key": person_key, "account": account_id},
    )
    return cur.rowcount
