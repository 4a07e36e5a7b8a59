"""The consent ledger: each person's hash chain, its projection (consent_states) and checks.

Every function takes an open connection and runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from missiva_consent import domain
from missiva_consent.domain import (
    GENESIS,
    Action,
    Basis,
    Change,
    LedgerEntry,
    Purpose,
    Source,
    State,
    Status,
)
from missiva_consent.store.base import Conn, batch, consent_envelope
from missiva_platform.events import EventEnvelope
from missiva_platform.outbox import add_event

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

LEDGER_COLUMNS = (
    "record_id::text, account_id, person_key, seq, purpose_id, purpose_key, action, "
    "resulting_status, state_version, legal_basis, source, source_detail, campaign_id, "
    "checkbox_text, document_id, document_version, ip_hash, user_agent, occurred_at, "
    "recorded_at, prev_hash, entry_hash"
)

_INSERT_ENTRY = f"""
INSERT INTO consent_ledger ({LEDGER_COLUMNS.replace("::text", "")})
VALUES ({", ".join(["%s"] * 22)})
"""

_ENTRIES_OF_PERSON = f"""
SELECT {LEDGER_COLUMNS} FROM consent_ledger
WHERE account_id = %s AND person_key = %s ORDER BY seq
"""

_RECENT_ENTRIES_OF_PERSON = f"""
SELECT {LEDGER_COLUMNS} FROM consent_ledger
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


def entry_params(entry: LedgerEntry) -> tuple[Any, ...]:
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
                consent_envelope(
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
            await conn.execute(_INSERT_ENTRY, entry_params(entry))
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
