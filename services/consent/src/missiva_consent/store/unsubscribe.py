"""The one-purpose unsubscribe in one statement (ledger + suppression + events).

Every function takes an open connection and runs inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from missiva_consent.domain import Purpose, State, Status
from missiva_consent.store.base import Conn
from missiva_consent.store.ledger import LEDGER_COLUMNS, AppendPlan, entry_params
from missiva_consent.store.purposes import PURPOSE_COLUMNS, purpose_of_row
from missiva_consent.suppression import SuppressionEntry
from missiva_platform.events import EventEnvelope
from missiva_platform.outbox import outbox_row

_PURPOSE_WIDTH = len(PURPOSE_COLUMNS.split(","))
_P_PURPOSE_COLUMNS = ", ".join("p." + column.strip() for column in PURPOSE_COLUMNS.split(","))


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

_LEDGER_NAMES = LEDGER_COLUMNS.replace("::text", "").split(", ")

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
        purpose=purpose_of_row(row[:_PURPOSE_WIDTH]) if row[0] is not None else None,
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
        _json(dict(zip(_LEDGER_NAMES, entry_params(plan.entries[0]), strict=True)))
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
