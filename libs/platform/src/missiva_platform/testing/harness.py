"""Small helpers the services' test harnesses share: their database, their event stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import nats.errors
import psycopg
from nats.js.client import JetStreamContext

from missiva_platform.events import EventEnvelope


async def sql(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``statement`` on its own autocommit connection; the rows, if it returns any."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(statement, params)  # type: ignore[arg-type]
        return await cur.fetchall() if cur.description else []


async def scalar(url: str, statement: str, *params: Any) -> Any:
    """The first column of the first row (None when there is none)."""
    rows = await sql(url, statement, *params)
    return rows[0][0] if rows else None


async def stream_events(
    js: JetStreamContext,
    stream: str,
    subject: str,
    keep: Callable[[EventEnvelope], bool],
    *,
    want: int = 1,
    seconds: float = 10.0,
) -> list[EventEnvelope]:
    """Every event on ``subject`` in ``stream`` that ``keep`` accepts, read again until
    ``want`` of them are there or ``seconds`` pass (then whatever is there)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = []
        sub = await js.subscribe(subject, ordered_consumer=True, stream=stream)
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=0.3)
                except (nats.errors.TimeoutError, TimeoutError):
                    break
                event = EventEnvelope.FromString(msg.data)
                if keep(event):
                    found.append(event)
        finally:
            await sub.unsubscribe()
        if len(found) >= want or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)
