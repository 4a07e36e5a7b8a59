"""Suppression entries: who must not be mailed, why, and their removal log.

Every function takes an open connection and runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from missiva_consent import domain, suppression
from missiva_consent.domain import Reason, Source
from missiva_consent.store.base import Conn, consent_envelope, emit, next_version
from missiva_consent.suppression import SuppressionEntry
from missiva_platform.events import EventEnvelope
from missiva_platform.outbox import add_event, add_events

_SUPPRESSIONS_OF_PERSON = """
SELECT scope, person_key, reason, purpose_id, source, source_detail, note, email, created_at,
       entry_id
FROM suppressions WHERE scope IN (%s, '') AND person_key = %s
ORDER BY scope DESC, created_at
"""


def suppression_of_row(row: Sequence[Any]) -> SuppressionEntry:
    return SuppressionEntry(
        scope=row[0],
        person_key=row[1],
        reason=Reason(row[2]),
        purpose_id=row[3],
        source=Source(row[4]),
        source_detail=row[5],
        note=row[6],
        email=row[7],
        created_at=row[8],
        entry_id=row[9],
    )


async def suppressions_of_person(
    conn: Conn, account_id: str, person_key: str
) -> list[SuppressionEntry]:
    """The person's entries in the account and platform-wide."""
    cur = await conn.execute(_SUPPRESSIONS_OF_PERSON, (account_id, person_key))
    return [suppression_of_row(row) for row in await cur.fetchall()]


SUPPRESSION_COLUMNS = (
    "scope, person_key, reason, purpose_id, source, source_detail, note, email, created_at, "
    "entry_id"
)


# The entry and the next version of its aggregate, in one round trip (no version when the
# entry existed already: nothing changed, nothing is published).
_ADD_SUPPRESSION = f"""
WITH added AS (
    INSERT INTO suppressions
        (scope, person_key, reason, purpose_id, source, source_detail, note, email)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (scope, person_key, reason, purpose_id) DO NOTHING
    RETURNING {SUPPRESSION_COLUMNS}
), bumped AS (
    INSERT INTO aggregate_versions (aggregate_id, version)
    SELECT %s, 1 FROM added
    ON CONFLICT (aggregate_id) DO UPDATE SET version = aggregate_versions.version + 1
    RETURNING version
)
SELECT added.*, bumped.version FROM added, bumped
"""

_FIND_SUPPRESSION = f"""
SELECT {SUPPRESSION_COLUMNS} FROM suppressions
WHERE scope = %s AND person_key = %s AND reason = %s AND purpose_id = %s
"""

_REMEMBER_EMAIL = """
UPDATE suppressions SET email = %s
WHERE scope = %s AND person_key = %s AND reason = %s AND purpose_id = %s AND email IS NULL
"""

_DELETE_SUPPRESSION = """
DELETE FROM suppressions
WHERE scope = %s AND person_key = %s AND reason = %s AND purpose_id = %s
"""

_LOG_REMOVAL = """
INSERT INTO suppression_removals (scope, person_key, reason, purpose_id, note, removed_by)
VALUES (%s, %s, %s, %s, %s, %s)
"""

_LIST_SUPPRESSIONS = f"""
SELECT {SUPPRESSION_COLUMNS} FROM suppressions
WHERE scope = %(scope)s AND entry_id < %(before)s AND (%(reason)s = '' OR reason = %(reason)s)
ORDER BY entry_id DESC LIMIT %(limit)s
"""

_SELF_LIFTED = f"""
DELETE FROM suppressions
WHERE scope = %s AND person_key = %s AND reason IN ('unsubscribed', 'erased')
  AND purpose_id IN ('', %s)
RETURNING {SUPPRESSION_COLUMNS}
"""


async def add_suppression(conn: Conn, entry: SuppressionEntry) -> tuple[SuppressionEntry, bool]:
    """Add an entry (and its event); an existing one is returned unchanged, created=False."""
    aggregate = domain.suppression_aggregate(
        entry.scope, entry.person_key, entry.reason, entry.purpose_id
    )
    cur = await conn.execute(
        _ADD_SUPPRESSION,
        (
            entry.scope,
            entry.person_key,
            str(entry.reason),
            entry.purpose_id,
            str(entry.source),
            entry.source_detail,
            entry.note,
            entry.email,
            aggregate,
        ),
    )
    row = await cur.fetchone()
    if row is None:
        key = (entry.scope, entry.person_key, str(entry.reason), entry.purpose_id)
        if entry.email:
            await conn.execute(_REMEMBER_EMAIL, (entry.email, *key))
        cur = await conn.execute(_FIND_SUPPRESSION, key)
        existing = await cur.fetchone()
        assert existing is not None
        return suppression_of_row(existing), False
    added = suppression_of_row(row)
    await add_event(conn, suppressed_envelope(added, aggregate, int(row[-1])))
    return added, True


# An import: its rows are copied into a staging table, then ONE statement adds the new entries
# (the first row of a person wins), bumps their aggregates' versions and remembers the
# address of entries that existed without one.
_IMPORT_STAGING = """
CREATE TEMPORARY TABLE suppression_import (
    ord int NOT NULL, person_key text NOT NULL, email text NOT NULL, note text NOT NULL,
    aggregate_id text NOT NULL
) ON COMMIT DROP
"""
_COPY_IMPORT = "COPY suppression_import (ord, person_key, email, note, aggregate_id) FROM STDIN"
_APPLY_IMPORT = f"""
WITH rows AS (
    SELECT DISTINCT ON (person_key) ord, person_key, email, note, aggregate_id
    FROM suppression_import ORDER BY person_key, ord
), added AS (
    INSERT INTO suppressions
        (scope, person_key, reason, purpose_id, source, source_detail, note, email)
    SELECT %(scope)s, person_key, %(reason)s, '', %(source)s, %(detail)s, note, email
    FROM rows ORDER BY ord
    ON CONFLICT (scope, person_key, reason, purpose_id) DO NOTHING
    RETURNING {SUPPRESSION_COLUMNS}
), bumped AS (
    INSERT INTO aggregate_versions (aggregate_id, version)
    SELECT rows.aggregate_id, 1 FROM added JOIN rows USING (person_key)
    ON CONFLICT (aggregate_id) DO UPDATE SET version = aggregate_versions.version + 1
    RETURNING aggregate_id, version
), remembered AS (
    UPDATE suppressions AS s SET email = rows.email FROM rows
    WHERE s.scope = %(scope)s AND s.person_key = rows.person_key AND s.reason = %(reason)s
      AND s.purpose_id = '' AND s.email IS NULL
)
SELECT added.*, rows.aggregate_id, bumped.version
FROM added JOIN rows USING (person_key) JOIN bumped USING (aggregate_id)
ORDER BY added.entry_id
"""


async def import_suppressions(
    conn: Conn,
    *,
    scope: str,
    reason: Reason,
    source_detail: str,
    rows: Sequence[tuple[str, str, str]],
) -> int:
    """Add an entry (and its event) for each (person key, email, note) not yet suppressed for
    ``reason`` in ``scope``, in bulk; returns how many were added (a person named twice is
    added once, by their first row)."""
    if not rows:
        return 0
    await conn.execute(_IMPORT_STAGING)
    async with conn.cursor() as cur:
        async with cur.copy(_COPY_IMPORT) as copy:
            for index, (person_key, email, note) in enumerate(rows):
                aggregate = domain.suppression_aggregate(scope, person_key, reason, "")
                await copy.write_row((index, person_key, email, note, aggregate))
        await cur.execute(
            _APPLY_IMPORT,
            {"scope": scope, "reason": str(reason), "source": str(Source.IMPORT),
             "detail": source_detail},
        )  # fmt: skip
        added = await cur.fetchall()
    await add_events(
        conn, [suppressed_envelope(suppression_of_row(row), row[-2], int(row[-1])) for row in added]
    )
    return len(added)


def suppressed_envelope(entry: SuppressionEntry, aggregate: str, version: int) -> EventEnvelope:
    """The ContactSuppressed event of a new suppression entry, version ``version``."""
    return consent_envelope(
        suppression.suppressed_event(entry),
        subject=domain.SUPPRESSED_SUBJECT,
        tenant_id=entry.scope,
        aggregate_id=aggregate,
        aggregate_version=version,
    )


async def find_suppression(
    conn: Conn, scope: str, person_key: str, reason: Reason, purpose_id: str
) -> SuppressionEntry | None:
    cur = await conn.execute(_FIND_SUPPRESSION, (scope, person_key, str(reason), purpose_id))
    row = await cur.fetchone()
    return suppression_of_row(row) if row else None


async def remove_suppression(
    conn: Conn, entry: SuppressionEntry, *, note: str, removed_by: str
) -> bool:
    """Delete the entry, log who did it, emit the event; return whether others remain."""
    key = (entry.scope, entry.person_key, str(entry.reason), entry.purpose_id)
    await conn.execute(_DELETE_SUPPRESSION, key)
    await conn.execute(_LOG_REMOVAL, (*key, note, removed_by))
    return await _unsuppressed(conn, entry)


async def _unsuppressed(conn: Conn, entry: SuppressionEntry) -> bool:
    remaining = await suppressions_of_person(conn, entry.scope or "", entry.person_key)
    still = bool(remaining)
    aggregate = domain.suppression_aggregate(
        entry.scope, entry.person_key, entry.reason, entry.purpose_id
    )
    await emit(
        conn,
        suppression.unsuppressed_event(entry, still),
        subject=domain.UNSUPPRESSED_SUBJECT,
        tenant_id=entry.scope,
        aggregate_id=aggregate,
        aggregate_version=await next_version(conn, aggregate),
    )
    return still


async def lift_own_unsubscription(
    conn: Conn, account_id: str, person_key: str, purpose_id: str
) -> None:
    """A person's own new consent lifts their earlier unsubscription in the account."""
    cur = await conn.execute(_SELF_LIFTED, (account_id, person_key, purpose_id))
    for row in await cur.fetchall():
        entry = suppression_of_row(row)
        await conn.execute(
            _LOG_REMOVAL,
            (entry.scope, entry.person_key, str(entry.reason), entry.purpose_id,
             "lifted by the person's own new consent", "consent"),
        )  # fmt: skip
        await _unsuppressed(conn, entry)


async def list_suppressions(
    conn: Conn, scope: str, *, reason: Reason | None, before: int, limit: int
) -> list[SuppressionEntry]:
    cur = await conn.execute(
        _LIST_SUPPRESSIONS,
        {"scope": scope, "before": before, "reason": str(reason or ""), "limit": limit},
    )
    return [suppression_of_row(row) for row in await cur.fetchall()]
