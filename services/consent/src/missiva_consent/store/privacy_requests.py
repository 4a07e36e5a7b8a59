"""SQL of data-subject requests (tables of migration 0002); the rules are in ``dsar.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

Conn = AsyncConnection[Any]

_COLUMNS = (
    "request_id::text, account_id, person_key, user_id, kind, status, requested_by, "
    "opened_at, due_at, extension_reason, completed_at, rejection_reason, export_deleted_at"
)


@dataclass(frozen=True)
class RequestRow:
    request_id: str
    account_id: str
    person_key: str
    user_id: str | None
    kind: str  # 'export' | 'erase'
    status: str  # 'open' | 'in_progress' | 'completed' | 'rejected'
    requested_by: str
    opened_at: datetime
    due_at: datetime
    extension_reason: str
    completed_at: datetime | None
    rejection_reason: str
    export_deleted_at: datetime | None


@dataclass(frozen=True)
class Progress:
    service: str
    answered_at: datetime | None
    answer: bytes | None


def _row(row: Sequence[Any]) -> RequestRow:
    return RequestRow(*row)


_INSERT = """
INSERT INTO privacy_requests (request_id, account_id, person_key, user_id, kind, status,
                              requested_by, ip_hash, opened_at, due_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
_INSERT_SERVICE = "INSERT INTO privacy_request_services (request_id, service) VALUES (%s, %s)"


async def insert_request(
    conn: Conn, row: RequestRow, *, ip_hash: str | None, services: Sequence[str]
) -> None:
    await conn.execute(
        _INSERT,
        (
            row.request_id,
            row.account_id,
            row.person_key,
            row.user_id,
            row.kind,
            row.status,
            row.requested_by,
            ip_hash,
            row.opened_at,
            row.due_at,
        ),
    )
    async with conn.cursor() as cur:
        await cur.executemany(_INSERT_SERVICE, [(row.request_id, s) for s in services])


async def find_request(conn: Conn, request_id: str, *, lock: bool = False) -> RequestRow | None:
    """The request, or None; ``lock`` holds its row until the transaction ends (replies of
    several services for one request are applied one after the other)."""
    suffix = " FOR UPDATE" if lock else ""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM privacy_requests WHERE request_id = %s{suffix}", (request_id,)
    )
    row = await cur.fetchone()
    return _row(row) if row else None


async def progress_of(conn: Conn, request_ids: Sequence[str]) -> dict[str, list[Progress]]:
    """Each request's services, by name."""
    found: dict[str, list[Progress]] = {request_id: [] for request_id in request_ids}
    if not request_ids:
        return found
    cur = await conn.execute(
        "SELECT request_id::text, service, answered_at, answer FROM privacy_request_services"
        " WHERE request_id = ANY(%s::uuid[]) ORDER BY request_id, service",
        (list(request_ids),),
    )
    for request_id, service, answered_at, answer in await cur.fetchall():
        found[request_id].append(
            Progress(service, answered_at, bytes(answer) if answer is not None else None)
        )
    return found


_LIST = f"""
SELECT {_COLUMNS} FROM privacy_requests
WHERE account_id = ANY(%(accounts)s)
  AND (%(status)s = '' OR status = %(status)s)
  AND (due_at, request_id) > (%(due)s, %(request_id)s::uuid)
ORDER BY due_at, request_id
LIMIT %(limit)s
"""


async def list_requests(
    conn: Conn,
    accounts: Sequence[str],
    *,
    status: str,
    after: tuple[datetime, str],
    limit: int,
) -> list[RequestRow]:
    """Requests of ``accounts``, oldest due first, after the keyset position ``after``."""
    cur = await conn.execute(
        _LIST,
        {
            "accounts": list(accounts),
            "status": status,
            "due": after[0],
            "request_id": after[1],
            "limit": limit,
        },
    )
    return [_row(row) for row in await cur.fetchall()]


async def record_answer(
    conn: Conn, request_id: str, service: str, answer: bytes | None, at: datetime
) -> bool:
    """Mark ``service`` as having answered; False when it had already (or was never asked)."""
    cur = await conn.execute(
        "UPDATE privacy_request_services SET answered_at = %s, answer = %s"
        " WHERE request_id = %s AND service = %s AND answered_at IS NULL",
        (at, answer, request_id, service),
    )
    return bool(cur.rowcount)


async def unanswered(conn: Conn, request_id: str) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM privacy_request_services"
        " WHERE request_id = %s AND answered_at IS NULL",
        (request_id,),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def complete(conn: Conn, request_id: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE privacy_requests SET status = 'completed', completed_at = %s"
        " WHERE request_id = %s AND completed_at IS NULL",
        (at, request_id),
    )


async def save_part(conn: Conn, request_id: str, service: str, sealed: bytes) -> None:
    await conn.execute(
        "INSERT INTO privacy_export_parts (request_id, service, sealed) VALUES (%s, %s, %s)"
        " ON CONFLICT (request_id, service) DO NOTHING",
        (request_id, service, sealed),
    )


async def parts_of(conn: Conn, request_id: str) -> list[tuple[str, bytes]]:
    cur = await conn.execute(
        "SELECT service, sealed FROM privacy_export_parts WHERE request_id = %s ORDER BY service",
        (request_id,),
    )
    return [(service, bytes(sealed)) for service, sealed in await cur.fetchall()]


_EXTEND = f"""
UPDATE privacy_requests
SET due_at = due_at + make_interval(days => %s), extension_reason = %s
WHERE request_id = %s AND extension_reason = '' AND completed_at IS NULL AND due_at > %s
RETURNING {_COLUMNS}
"""


async def extend(
    conn: Conn, request_id: str, *, days: int, reason: str, now: datetime
) -> RequestRow | None:
    """Move the deadline of an unfinished, never extended request whose deadline has not
    passed; None when one of those conditions fails (the caller says which)."""
    cur = await conn.execute(_EXTEND, (days, reason, request_id, now))
    row = await cur.fetchone()
    return _row(row) if row else None


# A user's keys: those identity announced (identity.user.email_changed, migration 0005) and
# those the platform account's ledger recorded for them (sign-up and legal acceptances name
# them ``user:<id>``), which covers users whose address never changed, or changed before
# consent heard of changes. The current key first: the announced one that became current
# last, else the ledger's latest; the others after it, oldest first.
_USER_PERSON_KEYS = """
SELECT person_key, max(current_since) AS since, max(seen) AS seen, min(seen) AS first_seen
FROM (
    SELECT person_key, current_since, recorded_at AS seen
    FROM user_person_keys WHERE user_id = %(user)s
    UNION ALL
    SELECT person_key, NULL, recorded_at
    FROM consent_ledger
    WHERE account_id = %(platform)s AND source_detail = %(detail)s
      AND source_detail LIKE 'user:%%'  -- lets the planner use the partial index
      -- The sign-up address counts only while it is the user's address: once they changed
      -- it, identity's changes name the addresses they proved (never an unverified one).
      AND NOT EXISTS (SELECT 1 FROM user_person_keys WHERE user_id = %(user)s)
) AS keys
GROUP BY person_key
ORDER BY since DESC NULLS LAST, seen DESC
"""


async def user_person_keys(conn: Conn, platform_account: str, user_id: str) -> list[str]:
    """Every person key our own user has had and proved, the current one first; [] when
    consent never saw them. A changed address changes the key, and the ledger stays under the
    key of its time, so a user's request is about all of them. The key of the sign-up counts
    until the first change; from then on only the keys identity's changes name (identity
    leaves out an old address that was never verified)."""
    cur = await conn.execute(
        _USER_PERSON_KEYS,
        {"user": user_id, "platform": platform_account, "detail": f"user:{user_id}"},
    )
    rows = await cur.fetchall()
    if not rows:
        return []
    current, *older = rows
    older.sort(key=lambda row: row[3])  # oldest first
    return [str(current[0]), *(str(row[0]) for row in older)]


async def user_person_key(conn: Conn, platform_account: str, user_id: str) -> str:
    """Our own user's current person key (``user_person_keys``' first); '' when consent
    never saw them."""
    keys = await user_person_keys(conn, platform_account, user_id)
    return keys[0] if keys else ""


_REMEMBER_KEY = """
INSERT INTO user_person_keys (user_id, person_key, account_id, current_since)
VALUES (%s, %s, %s, %s)
ON CONFLICT (user_id, person_key) DO UPDATE
SET current_since = GREATEST(user_person_keys.current_since, EXCLUDED.current_since)
"""


async def remember_email_change(
    conn: Conn, *, user_id: str, account_id: str, old_key: str, new_key: str, at: datetime
) -> None:
    """Link both keys to the user; the new one is current from ``at``. Replays and
    out-of-order changes (A→B, B→A) end the same: the latest change's key is current."""
    if old_key:
        await conn.execute(_REMEMBER_KEY, (user_id, old_key, account_id, None))
    if new_key:
        await conn.execute(_REMEMBER_KEY, (user_id, new_key, account_id, at))


async def forget_user_keys(
    conn: Conn, *, user_ids: Sequence[str] = (), account_id: str = ""
) -> int:
    """Drop the key links of these users (and of every user of ``account_id``)."""
    cur = await conn.execute(
        "DELETE FROM user_person_keys WHERE user_id = ANY(%s) OR account_id = %s",
        (list(user_ids), account_id or None),
    )
    return cur.rowcount


_OPEN_BY_AGE = """
SELECT count(*) FILTER (WHERE opened_at > %(now)s - interval '7 days'),
       count(*) FILTER (WHERE opened_at <= %(now)s - interval '7 days' AND due_at > %(now)s),
       count(*) FILTER (WHERE due_at <= %(now)s),
       min(opened_at)
FROM privacy_requests WHERE completed_at IS NULL AND status <> 'rejected'
"""


async def open_by_age(conn: Conn, now: datetime) -> tuple[dict[str, int], datetime | None]:
    """Open requests by age bucket (under 7 days, older but not due, overdue) and the time
    the oldest was opened."""
    cur = await conn.execute(_OPEN_BY_AGE, {"now": now})
    row = await cur.fetchone()
    assert row is not None
    recent, older, overdue, oldest = row
    return {"under_7d": recent, "7d_to_due": older, "overdue": overdue}, oldest


async def delete_export_parts(
    conn: Conn, *, completed_before: datetime, opened_before: datetime
) -> int:
    """Delete the exported content of requests completed before ``completed_before`` (the
    download window is over) and of requests opened before ``opened_before`` that never
    completed (past any legal deadline); mark those requests' exports as deleted."""
    cur = await conn.execute(
        """
        WITH expired AS (
            UPDATE privacy_requests SET export_deleted_at = now()
            WHERE kind = 'export' AND export_deleted_at IS NULL
              AND (completed_at < %(completed)s
                   OR (completed_at IS NULL AND opened_at < %(opened)s))
            RETURNING request_id
        )
        DELETE FROM privacy_export_parts WHERE request_id IN (SELECT request_id FROM expired)
        """,
        {"completed": completed_before, "opened": opened_before},
    )
    return cur.rowcount
