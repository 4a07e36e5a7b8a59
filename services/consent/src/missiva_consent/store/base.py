"""What consent's store modules share: the connection type, pipelining and the outbox.

Every function takes an open connection and runs inside the caller's transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from google.protobuf.message import Message
from psycopg import AsyncConnection, pq

from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.outbox import add_event

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
        consent_envelope(
            message,
            subject=subject,
            tenant_id=tenant_id,
            aggregate_id=aggregate_id,
            aggregate_version=aggregate_version,
        ),
    )


def consent_envelope(
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


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
