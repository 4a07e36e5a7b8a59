"""Consent's SQL, in one place: named queries and the functions that run them.

Every function takes an open connection and runs inside the caller's transaction, so a
ledger entry, its projection, a suppression entry and their outbox events commit together.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from google.protobuf.message import Message
from psycopg import AsyncConnection, pq

from missiva_consent import domain
from missiva_consent.domain import (
    GENESIS,
    Action,
    Basis,
    Change,
    Document,
    LedgerEntry,
    Purpose,
    Reason,
    Source,
    State,
    Status,
    SuppressionEntry,
)
from missiva_consent.keys import link_ip_hash, new_salt
from missiva_consent.verify_proof import digest_of, leaf_hash, merkle_path, merkle_root
from missiva_platform.errors import InvalidArgument
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.outbox import add_event, outbox_row

Conn = AsyncConnection[Any]
PRODUCER = "consent"


def batch(conn: Conn) -> contextlib.AbstractAsyncContextManager[Any]:
    """Send the statements of the block together (one round trip when the block ends).

    When the caller already runs a pipeline, the statements simply join it: they are sent
    with whatever is fetched next, in order, in the caller's transaction (an error surfaces
    there, and the transaction rolls back as usual).
    """
    if conn.pgconn.pipeline_status != pq.PipelineStatus.OFF:
        return contextlib.nullcontext()
    return conn.pipeline()


async def emit(
    conn: Conn,
    message: Message,
    *,
    subject: str,
    tenant_id: str,
    aggregate_id: str = "",
    aggregate_version: int = 0,
) -> None:
    """Write an event to the outbox in the caller's transaction."""
    await add_event(
        conn,
        _envelope(
            message,
            subject=subject,
            tenant_id=tenant_id,
            aggregate_id=aggregate_id,
            aggregate_version=aggregate_version,
        ),
    )


def _envelope(
    message: Message, *, subject: str, tenant_id: str, aggregate_id: str, aggregate_version: int
) -> EventEnvelope:
    return envelope(
        message,
        subject=subject,
        tenant_id=tenant_id,
        producer=PRODUCER,
        aggregate_id=aggregate_id,
        aggregate_version=aggregate_version,
    )


_BUMP_VERSION = """
INSERT INTO aggregate_versions (aggregate_id, version) VALUES (%s, 1)
ON CONFLICT (aggregate_id) DO UPDATE SET version = aggregate_versions.version + 1
RETURNING version
"""


async def next_version(conn: Conn, aggregate_id: str) -> int:
    cur = await conn.execute(_BUMP_VERSION, (aggregate_id,))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def page_token(value: object) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def read_page_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument.field("page_token", "is not a token from a previous page") from None


def page_size(requested: int, *, default: int = 50, cap: int = 500) -> int:
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(requested or default, cap)


# =========================================================================== purposes

_PURPOSE_COLUMNS = (
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
    + _PURPOSE_COLUMNS
)
_PURPOSE_BY_ID = (
    f"SELECT {_PURPOSE_COLUMNS} FROM purposes WHERE account_id = %s AND purpose_id = %s"
)
_PURPOSE_BY_KEY = f"SELECT {_PURPOSE_COLUMNS} FROM purposes WHERE account_id = %s AND key = %s"
_PURPOSES_OF_ACCOUNT = f"""
SELECT {_PURPOSE_COLUMNS} FROM purposes
WHERE account_id = %(account)s AND (%(archived)s OR state = 'active') AND key > %(after)s
ORDER BY key LIMIT %(limit)s
"""
_UPDATE_PURPOSE = f"""
UPDATE purposes SET name = %s, description = %s, double_opt_in = %s, frequency_cap_count = %s,
                    frequency_cap_days = %s, state = %s, updated_at = now()
WHERE account_id = %s AND purpose_id = %s
RETURNING {_PURPOSE_COLUMNS}
"""


def _purpose(row: Sequence[Any]) -> Purpose:
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
    return _purpose(row) if row else None


async def find_purpose(conn: Conn, account_id: str, ref: str) -> Purpose | None:
    """A purpose of the account by id or by key."""
    if domain.is_uuid(ref):
        cur = await conn.execute(_PURPOSE_BY_ID, (account_id, ref))
    else:
        cur = await conn.execute(_PURPOSE_BY_KEY, (account_id, ref))
    row = await cur.fetchone()
    return _purpose(row) if row else None


async def list_purposes(
    conn: Conn, account_id: str, *, archived: bool = True, after: str = "", limit: int = 10_000
) -> list[Purpose]:
    cur = await conn.execute(
        _PURPOSES_OF_ACCOUNT,
        {"account": account_id, "archived": archived, "after": after, "limit": limit},
    )
    return [_purpose(row) for row in await cur.fetchall()]


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
    return _purpose(row)


async def seed_platform_purposes(conn: Conn, account_id: str) -> None:
    """Missiva's own SYSTEM / PRODUCT_UPDATE / MARKETING purposes (idempotent)."""
    for purpose in domain.platform_purposes(account_id):
        await insert_purpose(conn, purpose)


# =========================================================================== the ledger

# Creates the chain head or takes the row lock on it, in one round trip: the lock is what
# serialises appends per (account, person), so the chain never forks.
_LOCK_CHAIN = """
INSERT INTO ledger_chains (account_id, person_key, seq, head_hash) VALUES (%s, %s, 0, %s)
ON CONFLICT (account_id, person_key) DO UPDATE SET seq = ledger_chains.seq
RETURNING seq, head_hash, recorded_at
"""
_ADVANCE_CHAIN = """
UPDATE ledger_chains SET seq = %s, head_hash = %s, recorded_at = %s
WHERE account_id = %s AND person_key = %s
"""
_LEDGER_COLUMNS = (
    "record_id::text, account_id, person_key, seq, purpose_id, purpose_key, action, "
    "resulting_status, state_version, legal_basis, source, source_detail, campaign_id, "
    "checkbox_text, document_id, document_version, ip_hash, user_agent, occurred_at, "
    "recorded_at, prev_hash, entry_hash"
)
_INSERT_ENTRY = f"""
INSERT INTO consent_ledger ({_LEDGER_COLUMNS.replace("::text", "")})
VALUES ({", ".join(["%s"] * 22)})
"""
_ENTRIES_OF_PERSON = f"""
SELECT {_LEDGER_COLUMNS} FROM consent_ledger
WHERE account_id = %s AND person_key = %s ORDER BY seq
"""
_RECENT_ENTRIES_OF_PERSON = f"""
SELECT {_LEDGER_COLUMNS} FROM consent_ledger
WHERE account_id = %s AND person_key = %s ORDER BY seq DESC LIMIT %s
"""
_STATES_OF_PERSON = """
SELECT purpose_id::text, status, restricted, version, since FROM consent_states
WHERE account_id = %s AND person_key = %s
"""
_UPSERT_STATE = """
INSERT INTO consent_states (account_id, purpose_id, person_key, status, restricted, version,
                            since, last_record_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (account_id, purpose_id, person_key) DO UPDATE
SET status = EXCLUDED.status, restricted = EXCLUDED.restricted, version = EXCLUDED.version,
    since = EXCLUDED.since, last_record_id = EXCLUDED.last_record_id
"""


def _entry(row: Sequence[Any]) -> LedgerEntry:
    return LedgerEntry(
        record_id=row[0],
        account_id=row[1],
        person_key=row[2],
        seq=row[3],
        purpose_id=row[4],
        purpose_key=row[5],
        action=Action(row[6]),
        resulting_status=Status(row[7]),
        state_version=row[8],
        legal_basis=Basis(row[9]),
        source=Source(row[10]),
        source_detail=row[11],
        campaign_id=row[12],
        checkbox_text=row[13],
        document_id=row[14],
        document_version=row[15],
        ip_hash=row[16],
        user_agent=row[17],
        occurred_at=row[18],
        recorded_at=row[19],
        prev_hash=row[20],
        entry_hash=row[21],
    )


def _entry_params(entry: LedgerEntry) -> tuple[Any, ...]:
    return (
        entry.record_id,
        entry.account_id,
        entry.person_key,
        entry.seq,
        entry.purpose_id,
        entry.purpose_key,
        str(entry.action),
        str(entry.resulting_status),
        entry.state_version,
        str(entry.legal_basis),
        str(entry.source),
        entry.source_detail,
        entry.campaign_id,
        entry.checkbox_text,
        entry.document_id,
        entry.document_version,
        entry.ip_hash,
        entry.user_agent,
        entry.occurred_at,
        entry.recorded_at,
        entry.prev_hash,
        entry.entry_hash,
    )


def _states(rows: Iterable[Sequence[Any]]) -> dict[str, State]:
    return {row[0]: State(Status(row[1]), row[2], row[3], row[4]) for row in rows}


async def person_states(conn: Conn, account_id: str, person_key: str) -> dict[str, State]:
    cur = await conn.execute(_STATES_OF_PERSON, (account_id, person_key))
    return _states(await cur.fetchall())


@dataclass(frozen=True)
class AppendPlan:
    """What appending some changes to a chain writes, prepared against one chain head."""

    account_id: str
    person_key: str
    seq: int  # the head it was prepared against
    prev_hash: str
    entries: list[LedgerEntry]
    states: dict[str, tuple[State, str]]  # purpose id -> (state after, record id)
    events: list[EventEnvelope]
    recorded: datetime

    @property
    def new_seq(self) -> int:
        return self.entries[-1].seq if self.entries else self.seq

    @property
    def new_head(self) -> str:
        return self.entries[-1].entry_hash if self.entries else self.prev_hash


def plan_append(
    account_id: str,
    person_key: str,
    changes: Sequence[Change],
    *,
    seq: int,
    prev_hash: str,
    last_at: datetime | None,
    states: dict[str, State],
    now: datetime | None = None,
) -> AppendPlan:
    """The entries, projection rows and events of ``changes`` on the chain head ``seq`` /
    ``prev_hash``. Changes that would change nothing (withdrawing what is already withdrawn)
    plan nothing, so replaying a request is harmless. Pure: nothing is read or written."""
    head_seq, head_hash = seq, prev_hash
    states = dict(states)
    recorded = domain.utc(now or datetime.now(UTC))
    if last_at is not None and recorded < last_at:
        recorded = last_at  # replicas' clocks differ: keep recorded_at monotonic per chain
    entries: list[LedgerEntry] = []
    changed: dict[str, tuple[State, str]] = {}
    for change in changes:
        evidence, purpose = change.evidence, change.purpose
        if purpose is not None:
            current = states.get(purpose.purpose_id, State())
            after = domain.transition(purpose, current, change.action, evidence.source)
            if after is None:
                continue
            states[purpose.purpose_id] = after
            status, version, basis = after.shown, after.version, purpose.legal_basis
        else:
            status, version = Status.GRANTED, 0
            basis = change.legal_basis or Basis.CONTRACT
        seq += 1
        entry = LedgerEntry(
            record_id=domain.new_id(),
            account_id=account_id,
            person_key=person_key,
            seq=seq,
            purpose_id=purpose.purpose_id if purpose else "",
            purpose_key=purpose.key if purpose else "",
            action=change.action,
            resulting_status=status,
            state_version=version,
            legal_basis=basis,
            source=evidence.source,
            source_detail=evidence.source_detail,
            campaign_id=evidence.campaign_id,
            checkbox_text=evidence.checkbox_text,
            document_id=evidence.document_id,
            document_version=evidence.document_version,
            ip_hash=evidence.ip_hash,
            user_agent=evidence.user_agent[: domain.MAX_USER_AGENT],
            occurred_at=domain.utc(evidence.occurred_at or recorded),
            recorded_at=recorded,
            prev_hash=prev_hash,
        ).sealed()
        prev_hash = entry.entry_hash
        entries.append(entry)
        if purpose is not None:
            changed[purpose.purpose_id] = (states[purpose.purpose_id], entry.record_id)
    purposes = {c.purpose.purpose_id: c.purpose for c in changes if c.purpose is not None}
    events: list[EventEnvelope] = []
    for entry in entries:
        purpose = purposes.get(entry.purpose_id)
        event = domain.purpose_event(entry, purpose) if purpose else None
        if event is not None:
            subject, message = event
            events.append(
                _envelope(
                    message,
                    subject=subject,
                    tenant_id=account_id,
                    aggregate_id=domain.state_aggregate(account_id, person_key, entry.purpose_id),
                    aggregate_version=entry.state_version,
                )
            )
    return AppendPlan(
        account_id, person_key, head_seq, head_hash, entries, changed, events, recorded
    )


async def append(
    conn: Conn,
    account_id: str,
    person_key: str,
    changes: Sequence[Change],
    *,
    now: datetime | None = None,
) -> list[LedgerEntry]:
    """Append ``changes`` to the person's chain, update the projection, emit the events.

    Changes that would change nothing (withdrawing what is already withdrawn) append
    nothing, so replaying a request is harmless. Returns the entries appended.
    """
    # Lock the head, then read the states (after the lock, so nobody changes them under us):
    # two statements, executed in that order, in one round trip.
    async with batch(conn):
        locked = await conn.execute(_LOCK_CHAIN, (account_id, person_key, GENESIS))
        read = await conn.execute(_STATES_OF_PERSON, (account_id, person_key))
    head = await locked.fetchone()
    assert head is not None
    seq, prev_hash, last_at = head
    plan = plan_append(
        account_id,
        person_key,
        changes,
        seq=seq,
        prev_hash=prev_hash,
        last_at=last_at,
        states=_states(await read.fetchall()),
        now=now,
    )
    if not plan.entries:
        return []
    # The writes depend on nothing they return: one pipelined round trip instead of several.
    async with batch(conn):
        for entry in plan.entries:
            await conn.execute(_INSERT_ENTRY, _entry_params(entry))
        for pid, (state, record_id) in plan.states.items():
            await conn.execute(
                _UPSERT_STATE,
                (account_id, pid, person_key, str(state.status), state.restricted,
                 state.version, plan.recorded, record_id),
            )  # fmt: skip
        await conn.execute(
            _ADVANCE_CHAIN, (plan.new_seq, plan.new_head, plan.recorded, account_id, person_key)
        )
        for event in plan.events:
            await add_event(conn, event)
    return plan.entries


async def person_entries(
    conn: Conn, account_id: str, person_key: str, *, newest: int | None = None
) -> list[LedgerEntry]:
    """The person's chain, oldest first (or the ``newest`` entries, newest first)."""
    if newest is None:
        cur = await conn.execute(_ENTRIES_OF_PERSON, (account_id, person_key))
    else:
        cur = await conn.execute(_RECENT_ENTRIES_OF_PERSON, (account_id, person_key, newest))
    return [_entry(row) for row in await cur.fetchall()]


async def accounts_of_person(conn: Conn, person_key: str) -> list[str]:
    cur = await conn.execute(
        "SELECT account_id FROM ledger_chains WHERE person_key = %s ORDER BY account_id",
        (person_key,),
    )
    return [row[0] for row in await cur.fetchall()]


# =========================================================================== checks

_SUPPRESSIONS_OF_PERSON = """
SELECT scope, person_key, reason, purpose_id, source, source_detail, note, email, created_at,
       entry_id
FROM suppressions WHERE scope IN (%s, '') AND person_key = %s
ORDER BY scope DESC, created_at
"""
# One statement for a whole batch: the keys in request order, their state for the purpose,
# and whether a suppression entry that applies to the purpose exists.
_BATCH_CHECK = """
SELECT k.person_key, s.status, s.restricted, s.version,
       EXISTS (
           SELECT 1 FROM suppressions x
           WHERE x.scope IN (%(account)s, '') AND x.person_key = k.person_key
             AND (x.purpose_id = '' OR x.purpose_id = %(purpose)s::text)
             AND (NOT %(contract)s OR x.reason NOT IN ('unsubscribed', 'manual'))
       ) AS suppressed
FROM unnest(%(keys)s::text[]) WITH ORDINALITY AS k(person_key, n)
LEFT JOIN consent_states s
       ON s.account_id = %(account)s AND s.purpose_id = %(purpose)s::uuid
      AND s.person_key = k.person_key
ORDER BY k.n
"""
_KEYS_WITH_STATE = """
SELECT person_key FROM consent_states
WHERE account_id = %s AND purpose_id = %s AND person_key > %s
ORDER BY person_key LIMIT %s
"""


def _suppression(row: Sequence[Any]) -> SuppressionEntry:
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
    return [_suppression(row) for row in await cur.fetchall()]


async def batch_check(
    conn: Conn, purpose: Purpose, person_keys: Sequence[str]
) -> list[tuple[str, State, bool]]:
    """(person key, state, suppressed for this purpose) for each key, in order."""
    cur = await conn.execute(
        _BATCH_CHECK,
        {
            "account": purpose.account_id,
            "purpose": purpose.purpose_id,
            "contract": purpose.legal_basis is Basis.CONTRACT,
            "keys": list(person_keys),
        },
    )
    results = []
    for key, status, restricted, version, suppressed in await cur.fetchall():
        state = State() if status is None else State(Status(status), restricted, version)
        results.append((key, state, bool(suppressed)))
    return results


async def keys_with_state(conn: Conn, purpose: Purpose, *, after: str, limit: int) -> list[str]:
    cur = await conn.execute(
        _KEYS_WITH_STATE, (purpose.account_id, purpose.purpose_id, after, limit)
    )
    return [row[0] for row in await cur.fetchall()]


# =========================================================================== suppression

_SUPPRESSION_COLUMNS = (
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
    RETURNING {_SUPPRESSION_COLUMNS}
), bumped AS (
    INSERT INTO aggregate_versions (aggregate_id, version)
    SELECT %s, 1 FROM added
    ON CONFLICT (aggregate_id) DO UPDATE SET version = aggregate_versions.version + 1
    RETURNING version
)
SELECT added.*, bumped.version FROM added, bumped
"""
_FIND_SUPPRESSION = f"""
SELECT {_SUPPRESSION_COLUMNS} FROM suppressions
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
SELECT {_SUPPRESSION_COLUMNS} FROM suppressions
WHERE scope = %(scope)s AND entry_id < %(before)s AND (%(reason)s = '' OR reason = %(reason)s)
ORDER BY entry_id DESC LIMIT %(limit)s
"""
_SELF_LIFTED = f"""
DELETE FROM suppressions
WHERE scope = %s AND person_key = %s AND reason IN ('unsubscribed', 'erased')
  AND purpose_id IN ('', %s)
RETURNING {_SUPPRESSION_COLUMNS}
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
        return _suppression(existing), False
    added = _suppression(row)
    await add_event(conn, suppressed_envelope(added, aggregate, int(row[-1])))
    return added, True


def suppressed_envelope(entry: SuppressionEntry, aggregate: str, version: int) -> EventEnvelope:
    """The ContactSuppressed event of a new suppression entry, version ``version``."""
    return _envelope(
        domain.suppressed_event(entry),
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
    return _suppression(row) if row else None


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
        domain.unsuppressed_event(entry, still),
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
        entry = _suppression(row)
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
    return [_suppression(row) for row in await cur.fetchall()]


# =========================================================================== double opt-in

_DOI_COLUMNS = (
    "confirmation_id::text, account_id, person_key, email, to_name, purpose_ids::text[], source, "
    "source_detail, checkbox_text, document_id, document_version, ip_hash, user_agent, locale, "
    "started_at, link_expires_at, confirmed_at, sends, last_sent_at"
)
_DOI_NAMES = (
    "confirmation_id", "account_id", "person_key", "email", "to_name", "purpose_ids", "source",
    "source_detail", "checkbox_text", "document_id", "document_version", "ip_hash", "user_agent",
    "locale", "started_at", "link_expires_at", "confirmed_at", "sends", "last_sent_at",
)  # fmt: skip
_INSERT_DOI = """
INSERT INTO double_opt_ins (confirmation_id, account_id, person_key, email, to_name,
    purpose_ids, source, source_detail, checkbox_text, document_id, document_version, ip_hash,
    user_agent, locale, started_at, link_expires_at, last_sent_at)
VALUES (%s, %s, %s, %s, %s, %s::uuid[], %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
_DOI_FOR_UPDATE = f"""
SELECT {_DOI_COLUMNS} FROM double_opt_ins
WHERE confirmation_id = %s AND account_id = %s FOR UPDATE
"""
_DOI_CONFIRMED = """
UPDATE double_opt_ins SET confirmed_at = %s, email = NULL, to_name = NULL
WHERE confirmation_id = %s
"""
_DOI_RESENT = """
UPDATE double_opt_ins SET sends = sends + 1, last_sent_at = %s, link_expires_at = %s
WHERE confirmation_id = %s
"""
_DOI_SENDS_TODAY = """
SELECT coalesce(sum(sends), 0) FROM double_opt_ins
WHERE account_id = %s AND person_key = %s AND last_sent_at > %s
"""


async def insert_double_opt_in(conn: Conn, row: dict[str, Any]) -> None:
    columns = ("confirmation_id", "account_id", "person_key", "email", "to_name",
               "purpose_ids", "source", "source_detail", "checkbox_text", "document_id",
               "document_version", "ip_hash", "user_agent", "locale", "started_at",
               "link_expires_at", "started_at")  # fmt: skip
    await conn.execute(_INSERT_DOI, tuple(row[c] for c in columns))


async def lock_double_opt_in(
    conn: Conn, account_id: str, confirmation_id: str
) -> dict[str, Any] | None:
    if not domain.is_uuid(confirmation_id):
        return None
    cur = await conn.execute(_DOI_FOR_UPDATE, (confirmation_id, account_id))
    row = await cur.fetchone()
    if row is None:
        return None
    return dict(zip(_DOI_NAMES, row, strict=True))


async def mark_confirmed(conn: Conn, confirmation_id: str, at: datetime) -> None:
    await conn.execute(_DOI_CONFIRMED, (at, confirmation_id))


async def mark_resent(conn: Conn, confirmation_id: str, at: datetime, expires: datetime) -> None:
    await conn.execute(_DOI_RESENT, (at, expires, confirmation_id))


async def confirmation_sends_since(
    conn: Conn, account_id: str, person_key: str, since: datetime
) -> int:
    cur = await conn.execute(_DOI_SENDS_TODAY, (account_id, person_key, since))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


_VOID_PENDING = """
DELETE FROM double_opt_ins WHERE account_id = %s AND person_key = %s AND confirmed_at IS NULL
"""
_REMEMBER_VERIFIED = """
INSERT INTO verified_users (person_key, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING
"""
_IS_VERIFIED = "SELECT 1 FROM verified_users WHERE person_key = %s"


async def void_pending(conn: Conn, account_id: str, person_key: str) -> int:
    """Drop the person's unconfirmed requests in the account: their links stop working."""
    cur = await conn.execute(_VOID_PENDING, (account_id, person_key))
    return cur.rowcount


async def remember_verified(conn: Conn, person_key: str, user_id: str) -> None:
    await conn.execute(_REMEMBER_VERIFIED, (person_key, user_id))


async def is_verified(conn: Conn, person_key: str) -> bool:
    cur = await conn.execute(_IS_VERIFIED, (person_key,))
    return await cur.fetchone() is not None


# Everything of an erased account but its ledger (kept as proof, pseudonymised) and its
# published documents (immutable: the texts its people were shown).
_PURGE_ACCOUNT = (
    ("consent_states", "DELETE FROM consent_states WHERE account_id = %s"),
    ("purposes", "DELETE FROM purposes WHERE account_id = %s"),
    ("double_opt_ins", "DELETE FROM double_opt_ins WHERE account_id = %s"),
    ("suppressions", "DELETE FROM suppressions WHERE scope = %s"),
    ("suppression_removals", "DELETE FROM suppression_removals WHERE scope = %s"),
    ("link_hits", "DELETE FROM link_hits WHERE account_id = %s"),
)


async def purge_account(conn: Conn, account_id: str) -> dict[str, int]:
    purged = {}
    for table, statement in _PURGE_ACCOUNT:
        cur = await conn.execute(statement, (account_id,))
        purged[table] = cur.rowcount
    return purged


# =========================================================================== link IP hashes

_SALT_OF_YEAR = "SELECT salt FROM ip_hash_salts WHERE year = %s"
_NEW_SALT = """
INSERT INTO ip_hash_salts (year, salt, retire_after) VALUES (%s, %s, %s)
ON CONFLICT (year) DO NOTHING
"""
_RECORD_HIT = """
INSERT INTO link_hits (ip_hash, day, kind, account_id, person_key, seen_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""
# Counting stops at the threshold: an IP that unsubscribes thousands stays cheap to check.
_DISTINCT_PEOPLE = """
SELECT count(*) FROM (
    SELECT DISTINCT account_id, person_key FROM link_hits
    WHERE ip_hash = %s AND kind = 'unsubscribe' AND seen_at > %s
    LIMIT %s
) people
"""
_FLAG_IP = """
INSERT INTO ip_review_flags (ip_hash, day, distinct_people) VALUES (%s, %s, %s)
ON CONFLICT (ip_hash, day) DO UPDATE SET distinct_people = EXCLUDED.distinct_people
RETURNING (xmax = 0) AS first_flag
"""


async def link_salt(conn: Conn, at: datetime) -> bytes:
    """Consent's own salt for ``at``'s year, created the first time it is needed."""
    year = at.astimezone(UTC).year
    cur = await conn.execute(_SALT_OF_YEAR, (year,))
    row = await cur.fetchone()
    if row is None:
        end_of_year = datetime(year + 1, 1, 1, tzinfo=UTC)
        await conn.execute(_NEW_SALT, (year, new_salt(), end_of_year))
        cur = await conn.execute(_SALT_OF_YEAR, (year,))
        row = await cur.fetchone()
    assert row is not None
    return bytes(row[0])


async def record_link_hit(
    conn: Conn,
    *,
    ip: str,
    kind: str,
    account_id: str,
    person_key: str,
    at: datetime,
    window: timedelta,
    threshold: int,
    salt: bytes,
) -> tuple[str, int]:
    """Record a visit by salted IP hash; return the hash and how many different people it
    unsubscribed within ``window``, counted up to ``threshold`` (0 for preference visits)."""
    ip_hash = link_ip_hash(salt, ip, at)
    day = at.astimezone(UTC).date()
    if kind != "unsubscribe":
        await conn.execute(_RECORD_HIT, (ip_hash, day, kind, account_id, person_key, at))
        return ip_hash, 0
    # The count runs after the insert (it includes this visit): one round trip for both.
    async with batch(conn):
        await conn.execute(_RECORD_HIT, (ip_hash, day, kind, account_id, person_key, at))
        cur = await conn.execute(_DISTINCT_PEOPLE, (ip_hash, at - window, threshold))
    row = await cur.fetchone()
    return ip_hash, int(row[0]) if row else 0


# ------------------------------------------------------------- unsubscribe in one statement

_PURPOSE_WIDTH = len(_PURPOSE_COLUMNS.split(","))
_P_PURPOSE_COLUMNS = ", ".join("p." + column.strip() for column in _PURPOSE_COLUMNS.split(","))
# Everything the one-statement unsubscribe prepares its rows from, read without a lock: the
# purpose, the chain head, the person's state for it and the version of the suppression
# entry's aggregate (its event carries the next one). consent_apply_unsubscribe re-checks the
# head under lock, and adds the suppression entry only if it is missing.
_UNSUBSCRIBE_READ = f"""
SELECT {_P_PURPOSE_COLUMNS}, c.seq, c.head_hash, c.recorded_at,
       s.status, s.restricted, s.version, s.since, v.version
FROM (SELECT 1) AS one
LEFT JOIN purposes p ON p.account_id = %(account)s AND p.purpose_id = %(purpose)s::uuid
LEFT JOIN ledger_chains c ON c.account_id = %(account)s AND c.person_key = %(person)s
LEFT JOIN consent_states s ON s.account_id = %(account)s AND s.person_key = %(person)s
                          AND s.purpose_id = %(purpose)s::uuid
LEFT JOIN aggregate_versions v ON v.aggregate_id = %(aggregate)s
"""
_APPLY_UNSUBSCRIBE = """
SELECT applied, suppression_added, people FROM consent_apply_unsubscribe(
    %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::uuid, %s, %s, %s::jsonb,
    %s::jsonb, %s, %s, %s::uuid, %s, %s, %s::jsonb,
    %s, %s, %s, %s, %s)
"""
_LEDGER_NAMES = _LEDGER_COLUMNS.replace("::text", "").split(", ")
_STATE_NAMES = (
    "account_id", "purpose_id", "person_key", "status", "restricted", "version", "since",
    "last_record_id",
)  # fmt: skip


@dataclass(frozen=True)
class UnsubscribeRead:
    """What one person's unsubscribe from one purpose is prepared from."""

    purpose: Purpose | None
    head: tuple[int, str, datetime | None] | None  # None: the person has no chain yet
    state: State
    suppression_version: int


@dataclass(frozen=True)
class LinkHit:
    ip_hash: str
    at: datetime
    window_start: datetime
    threshold: int


async def read_for_unsubscribe(
    conn: Conn, account_id: str, person_key: str, purpose_id: str, aggregate: str
) -> UnsubscribeRead:
    cur = await conn.execute(
        _UNSUBSCRIBE_READ,
        {"account": account_id, "person": person_key, "purpose": purpose_id,
         "aggregate": aggregate},
    )  # fmt: skip
    row = await cur.fetchone()
    assert row is not None
    seq, head_hash, last_at, status, restricted, version, since, agg = row[_PURPOSE_WIDTH:]
    return UnsubscribeRead(
        purpose=_purpose(row[:_PURPOSE_WIDTH]) if row[0] is not None else None,
        head=None if seq is None else (seq, head_hash, last_at),
        state=State() if status is None else State(Status(status), restricted, version, since),
        suppression_version=agg or 0,
    )


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


async def apply_unsubscribe(
    conn: Conn,
    plan: AppendPlan,
    suppression: SuppressionEntry,
    *,
    aggregate: str,
    version: int,
    suppressed_event: EventEnvelope,
    hit: LinkHit | None,
) -> tuple[bool, bool, int] | None:
    """Write ``plan`` (at most one entry), the suppression entry (and its event, if new) and
    the link visit in one statement, if the chain head is still ``plan``'s: (an entry was
    written, the suppression was added, distinct people from the IP hash), or None when the
    head moved (nothing written)."""
    if len(plan.entries) > 1 or len(plan.events) > 1:
        raise ValueError("the one-statement unsubscribe writes one entry at most")
    entry = (
        _json(dict(zip(_LEDGER_NAMES, _entry_params(plan.entries[0]), strict=True)))
        if plan.entries
        else None
    )
    state = None
    for pid, (after, record_id) in plan.states.items():
        values = (plan.account_id, pid, plan.person_key, str(after.status), after.restricted,
                  after.version, plan.recorded, record_id)  # fmt: skip
        state = _json(dict(zip(_STATE_NAMES, values, strict=True)))
    event: tuple[Any, ...] = (None, None, None, None)
    if plan.events:
        event = outbox_row(plan.events[0])
        event = (*event[:3], _json(event[3].obj))
    suppression_row = {
        "scope": suppression.scope,
        "person_key": suppression.person_key,
        "reason": str(suppression.reason),
        "purpose_id": suppression.purpose_id,
        "source": str(suppression.source),
        "source_detail": suppression.source_detail,
    }
    event_id, subject, payload, headers = outbox_row(suppressed_event)
    cur = await conn.execute(
        _APPLY_UNSUBSCRIBE,
        (
            plan.account_id,
            plan.person_key,
            plan.seq,
            plan.prev_hash,
            entry,
            state,
            *event,
            _json(suppression_row),
            aggregate,
            version,
            event_id,
            subject,
            payload,
            _json(headers.obj),
            hit.ip_hash if hit else None,
            hit.at.astimezone(UTC).date() if hit else None,
            hit.at if hit else None,
            hit.window_start if hit else None,
            hit.threshold if hit else 0,
        ),
    )  # fmt: skip
    answer = await cur.fetchone()
    assert answer is not None
    applied, added, people = answer
    if not applied:
        return None
    return bool(plan.entries), bool(added), int(people)


async def flag_ip(conn: Conn, ip_hash: str, day: date, people: int) -> bool:
    """Flag an IP hash for review; True the first time that day."""
    cur = await conn.execute(_FLAG_IP, (ip_hash, day, people))
    row = await cur.fetchone()
    return bool(row and row[0])


# =========================================================================== documents

DOCUMENT_COLUMNS = (
    "account_id, document_id, version, locale, kind, title, body_markdown, body_sha256, url, "
    "checkbox_text, material, summary_of_changes, published_at, effective_at, notice_at"
)
_INSERT_DOCUMENT = f"""
INSERT INTO legal_documents ({DOCUMENT_COLUMNS})
VALUES ({", ".join(["%s"] * 15)})
ON CONFLICT DO NOTHING
RETURNING account_id
"""
_DOCUMENT_VERSION = f"""
SELECT {DOCUMENT_COLUMNS} FROM legal_documents
WHERE account_id = ANY(%(accounts)s) AND document_id = %(document)s AND version = %(version)s
ORDER BY (locale = %(locale)s) DESC, published_at LIMIT 1
"""
# The version in effect: the latest effective one, in the wanted locale when it exists.
_CURRENT_DOCUMENTS = f"""
SELECT DISTINCT ON (account_id, document_id) {DOCUMENT_COLUMNS} FROM legal_documents
WHERE account_id = ANY(%(accounts)s) AND effective_at <= %(now)s
  AND (%(document)s = '' OR document_id = %(document)s)
ORDER BY account_id, document_id, effective_at DESC, (locale = %(locale)s) DESC,
         published_at DESC
"""
_DOCUMENT_VERSIONS = f"""
SELECT {DOCUMENT_COLUMNS} FROM legal_documents
WHERE account_id = ANY(%(accounts)s) AND document_id = %(document)s
  AND (%(first)s OR (published_at, version, locale) < (%(at)s, %(version)s, %(locale)s))
ORDER BY published_at DESC, version DESC, locale DESC LIMIT %(limit)s
"""


def document_of_row(row: Sequence[Any]) -> Document:
    return Document(
        account_id=row[0],
        document_id=row[1],
        version=row[2],
        locale=row[3],
        kind=domain.DocumentKind(row[4]),
        title=row[5],
        body_markdown=row[6],
        body_sha256=row[7],
        url=row[8],
        checkbox_text=row[9],
        material=row[10],
        summary_of_changes=row[11],
        published_at=row[12],
        effective_at=row[13],
        notice_at=row[14],
    )


async def insert_document(conn: Conn, document: Document) -> bool:
    cur = await conn.execute(
        _INSERT_DOCUMENT,
        (
            document.account_id, document.document_id, document.version, document.locale,
            str(document.kind), document.title, document.body_markdown, document.body_sha256,
            document.url, document.checkbox_text, document.material,
            document.summary_of_changes, document.published_at, document.effective_at,
            document.notice_at,
        ),
    )  # fmt: skip
    return await cur.fetchone() is not None


async def document_version(
    conn: Conn, accounts: list[str], document_id: str, version: str, locale: str
) -> Document | None:
    cur = await conn.execute(
        _DOCUMENT_VERSION,
        {"accounts": accounts, "document": document_id, "version": version, "locale": locale},
    )
    row = await cur.fetchone()
    return document_of_row(row) if row else None


async def current_documents(
    conn: Conn, accounts: list[str], *, now: datetime, locale: str, document_id: str = ""
) -> list[Document]:
    cur = await conn.execute(
        _CURRENT_DOCUMENTS,
        {"accounts": accounts, "now": now, "locale": locale, "document": document_id},
    )
    return [document_of_row(row) for row in await cur.fetchall()]


async def document_versions(
    conn: Conn,
    accounts: list[str],
    document_id: str,
    *,
    before: tuple[datetime, str, str] | None,
    limit: int,
) -> list[Document]:
    at, version, locale = before or (datetime.now(UTC), "", "")
    cur = await conn.execute(
        _DOCUMENT_VERSIONS,
        {
            "accounts": accounts,
            "document": document_id,
            "first": before is None,
            "at": at,
            "version": version,
            "locale": locale,
            "limit": limit,
        },
    )
    return [document_of_row(row) for row in await cur.fetchall()]


# =========================================================================== daily digests

_HEADS_AT = """
SELECT DISTINCT ON (person_key) person_key, seq, entry_hash FROM consent_ledger
WHERE account_id = %s AND recorded_at < %s
ORDER BY person_key, seq DESC
"""
_RECORDS_BEFORE = "SELECT count(*) FROM consent_ledger WHERE account_id = %s AND recorded_at < %s"
_LAST_DIGEST_BEFORE = """
SELECT day, digest FROM ledger_digests WHERE account_id = %s AND day < %s
ORDER BY day DESC LIMIT 1
"""
_DIGEST_COLUMNS = (
    "account_id, day, chain_count, record_count, merkle_root, previous_digest, digest, sealed_at"
)
_INSERT_DIGEST = f"""
INSERT INTO ledger_digests ({_DIGEST_COLUMNS.replace(", sealed_at", "")})
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING RETURNING account_id
"""
_DIGEST_OF_DAY = f"SELECT {_DIGEST_COLUMNS} FROM ledger_digests WHERE account_id = %s AND day = %s"
_LATEST_DIGEST_COVERING = f"""
SELECT {_DIGEST_COLUMNS} FROM ledger_digests
WHERE account_id = %s AND day >= %s ORDER BY day DESC LIMIT 1
"""
_ACCOUNTS_WITH_ENTRIES_BEFORE = """
SELECT DISTINCT account_id FROM ledger_chains WHERE recorded_at IS NOT NULL
"""


async def heads_at(conn: Conn, account_id: str, cutoff: datetime) -> list[tuple[str, int, str]]:
    """Every chain's head (person key, seq, hash) as it stood at ``cutoff``, by person key."""
    cur = await conn.execute(_HEADS_AT, (account_id, cutoff))
    return [(row[0], row[1], row[2]) for row in await cur.fetchall()]


async def seal_day(conn: Conn, account_id: str, day: date) -> dict[str, Any] | None:
    """Seal ``day`` for the account: Merkle root over the chain heads at its end, chained to
    the previous digest. Returns the new digest, or None if the day was sealed already (or
    the account had no entries by then)."""
    _, end = domain.day_bounds(day)
    heads = await heads_at(conn, account_id, end)
    if not heads:
        return None  # the account had no entries yet at the end of that day
    root = merkle_root([leaf_hash(k, s, h) for k, s, h in heads])
    cur = await conn.execute(_RECORDS_BEFORE, (account_id, end))
    counted = await cur.fetchone()
    records = int(counted[0]) if counted else 0
    cur = await conn.execute(_LAST_DIGEST_BEFORE, (account_id, day))
    last = await cur.fetchone()
    previous = last[1] if last else GENESIS
    digest = digest_of(previous, account_id, day.isoformat(), len(heads), records, root)
    cur = await conn.execute(
        _INSERT_DIGEST, (account_id, day, len(heads), records, root, previous, digest)
    )
    if await cur.fetchone() is None:
        return None
    return {
        "account_id": account_id,
        "day": day.isoformat(),
        "chain_count": len(heads),
        "record_count": records,
        "merkle_root": root,
        "previous_digest": previous,
        "digest": digest,
    }


async def accounts_with_entries(conn: Conn) -> list[str]:
    cur = await conn.execute(_ACCOUNTS_WITH_ENTRIES_BEFORE)
    return sorted(row[0] for row in await cur.fetchall())


def _digest_row(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "account_id": row[0],
        "day": row[1].isoformat(),
        "chain_count": row[2],
        "record_count": row[3],
        "merkle_root": row[4],
        "previous_digest": row[5],
        "digest": row[6],
    }


async def digest_of_day(conn: Conn, account_id: str, day: date) -> dict[str, Any] | None:
    cur = await conn.execute(_DIGEST_OF_DAY, (account_id, day))
    row = await cur.fetchone()
    return _digest_row(row) if row else None


class DigestMismatch(Exception):
    """The ledger no longer matches a digest sealed earlier: it was tampered with."""


async def inclusion(
    conn: Conn, account_id: str, person_key: str, first_recorded: datetime
) -> dict[str, Any] | None:
    """The latest digest covering the person's chain, with the Merkle path of its head."""
    cur = await conn.execute(
        _LATEST_DIGEST_COVERING, (account_id, first_recorded.astimezone(UTC).date())
    )
    row = await cur.fetchone()
    if row is None:
        return None
    sealed = _digest_row(row)
    _, end = domain.day_bounds(row[1])
    heads = await heads_at(conn, account_id, end)
    leaves = [leaf_hash(k, s, h) for k, s, h in heads]
    if merkle_root(leaves) != sealed["merkle_root"]:
        raise DigestMismatch(f"the ledger of {account_id} no longer matches its digest of {row[1]}")
    index = next((i for i, head in enumerate(heads) if head[0] == person_key), None)
    if index is None:
        return None
    _, seq, head_hash = heads[index]
    return {
        **sealed,
        "covered_seq": seq,
        "covered_hash": head_hash,
        "path": merkle_path(leaves, index),
    }


# =========================================================================== privacy

_ERASE_DOI = "DELETE FROM double_opt_ins WHERE person_key = %s AND (%s = '' OR account_id = %s)"
_FORGET_SUPPRESSION_EMAILS = """
UPDATE suppressions SET email = NULL
WHERE person_key = %s AND email IS NOT NULL AND (%s = '' OR scope = %s)
"""
_ERASE_HITS = "DELETE FROM link_hits WHERE person_key = %s AND (%s = '' OR account_id = %s)"
_DOI_OF_PERSON = """
SELECT confirmation_id::text, account_id, purpose_ids::text[], source, started_at,
       confirmed_at, email IS NOT NULL
FROM double_opt_ins WHERE person_key = %s AND (%s = '' OR account_id = %s) ORDER BY started_at
"""
_SUPPRESSIONS_FOR_EXPORT = f"""
SELECT {_SUPPRESSION_COLUMNS} FROM suppressions
WHERE person_key = %s AND (%s = '' OR scope = %s) ORDER BY created_at
"""
_STATES_FOR_EXPORT = """
SELECT s.account_id, p.key, s.status, s.restricted, s.version, s.since
FROM consent_states s JOIN purposes p ON p.purpose_id = s.purpose_id
WHERE s.person_key = %s AND (%s = '' OR s.account_id = %s) ORDER BY s.account_id, p.key
"""


async def erase_person(conn: Conn, person_key: str, account_id: str) -> dict[str, int]:
    """Remove addresses and personal fields outside the ledger; '' means every account."""
    erased: dict[str, int] = {}
    for category, statement in (
        ("pending_double_opt_ins", _ERASE_DOI),
        ("suppression_addresses", _FORGET_SUPPRESSION_EMAILS),
        ("link_ip_hashes", _ERASE_HITS),
    ):
        cur = await conn.execute(statement, (person_key, account_id, account_id))
        erased[category] = cur.rowcount
    return erased


async def export_person(conn: Conn, person_key: str, account_id: str) -> dict[str, list[Any]]:
    args = (person_key, account_id, account_id)
    cur = await conn.execute(_STATES_FOR_EXPORT, args)
    states = [
        {"account_id": a, "purpose": k, "status": s, "restricted": r, "version": v,
         "since": domain.fmt_time(t)}
        for a, k, s, r, v, t in await cur.fetchall()
    ]  # fmt: skip
    cur = await conn.execute(_SUPPRESSIONS_FOR_EXPORT, args)
    suppressions = [_suppression(row) for row in await cur.fetchall()]
    cur = await conn.execute(_DOI_OF_PERSON, args)
    pending = [
        {"confirmation_id": c, "account_id": a, "purpose_ids": p, "source": s,
         "started_at": domain.fmt_time(t), "confirmed_at": domain.fmt_time(f) if f else None,
         "address_held": held}
        for c, a, p, s, t, f, held in await cur.fetchall()
    ]  # fmt: skip
    accounts = [account_id] if account_id else await accounts_of_person(conn, person_key)
    ledger = [
        entry.canonical_fields()
        for account in accounts
        for entry in await person_entries(conn, account, person_key)
    ]
    return {
        "consent_state": states,
        "consent_history": ledger,
        "suppressions": [
            {"account_id": e.scope or None, "reason": str(e.reason), "purpose_id": e.purpose_id,
             "source": str(e.source), "note": e.note, "email": e.email,
             "created_at": domain.fmt_time(e.created_at) if e.created_at else None}
            for e in suppressions
        ],
        "double_opt_ins": pending,
    }  # fmt: skip


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
