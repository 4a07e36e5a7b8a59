"""Apply an event only when it is newer than what a consumer already applied of its aggregate.

Events of one aggregate can arrive out of order. The outbox relay claims rows in id order,
but a batch that failed to publish is retried after a later batch went out, a replica's
relay can publish rows committed after another replica's, and a redelivered message comes
back after the ones behind it. So a consumer that keeps a projection (the latest state of
something) must not assume arrival order; it asks ``is_newer`` in its handler's transaction
and skips the event when a later version of the same aggregate was already applied:

    async def on_purpose_changed(conn, event, msg):
        if not await versions.is_newer(conn, "campaign-consent", event):
            return  # a later change of this aggregate is already applied
        ...apply the state it carries...

Events whose ``aggregate_version`` is 0 carry no version and are always applied. Consumers
that record facts rather than state (a ledger entry per event) need no ordering at all.
"""

from __future__ import annotations

from typing import Any

from missiva_platform.events import EventEnvelope

_UPSERT = (
    "INSERT INTO kit_aggregate_versions (consumer, aggregate, version) VALUES (%s, %s, %s)"
    " ON CONFLICT (consumer, aggregate) DO UPDATE"
    " SET version = EXCLUDED.version, applied_at = now()"
    " WHERE kit_aggregate_versions.version < EXCLUDED.version"
    " RETURNING 1"
)


def aggregate_of(event: EventEnvelope) -> str:
    """``<service>.<entity>:<aggregate id>``: ids of different kinds of aggregate never meet."""
    entity = ".".join(event.event_type.split(".")[:2])
    return f"{entity}:{event.aggregate_id}"


async def is_newer(conn: Any, consumer: str, event: EventEnvelope) -> bool:
    """True (and recorded, in ``conn``'s transaction) when ``event`` is the newest version of
    its aggregate ``consumer`` has seen; False when that version or a later one was applied."""
    if event.aggregate_version <= 0 or not event.aggregate_id:
        return True
    cur = await conn.execute(_UPSERT, (consumer, aggregate_of(event), int(event.aggregate_version)))
    return await cur.fetchone() is not None
