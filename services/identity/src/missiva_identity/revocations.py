"""``identity.session.revoked``: the event that tells every service a session has ended.

Written by the store in the transaction that ends the sessions, so no revocation is lost and
none is announced for a change that rolled back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2

from missiva.identity.v1 import events_pb2
from missiva_identity import SERVICE_NAME
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.outbox import add_event

SESSIONS_REVOKED = "identity.session.revoked"


def sessions_revoked(
    session_ids: list[str], reason: str, *, tenant_id: str, at: datetime | None = None
) -> EventEnvelope:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime((at or datetime.now(UTC)).astimezone(UTC))
    return envelope(
        events_pb2.SessionsRevoked(session_ids=session_ids, reason=reason, revoked_at=stamp),
        subject=SESSIONS_REVOKED,
        tenant_id=tenant_id,
        producer=SERVICE_NAME,
        aggregate_id=session_ids[0] if len(session_ids) == 1 else "",
    )


async def announce(conn: Any, rows: list[tuple[str, str]], reason: str) -> None:
    """One event per account for the ``(session id, account id)`` rows just revoked."""
    by_account: dict[str, list[str]] = {}
    for session_id, account_id in rows:
        by_account.setdefault(account_id, []).append(session_id)
    for account_id, ids in by_account.items():
        await add_event(conn, sessions_revoked(ids, reason, tenant_id=account_id))
