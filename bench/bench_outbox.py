"""Outbox relay throughput against raw nats-py publishing, on embedded PostgreSQL and NATS.

Everything publishes the same envelopes (same payload size, same ``Nats-Msg-Id`` and trace
headers) into one file-backed stream with a duplicate window, so the difference is only the
work around the publish:

- (a) raw ``js.publish``, one acknowledgement awaited at a time (the baseline);
- (b) raw ``js.publish_async`` with JetStream's pending window, then all acks awaited;
- (b') raw ``js.publish`` calls pipelined with ``asyncio.gather``, 1,000 in flight;
- (c) the outbox relay draining rows committed to ``kit_outbox`` beforehand: claim with
  ``SKIP LOCKED``, publish, delete, commit, two batches in flight;
- (c') the same relay publishing through ``js.publish_async`` instead of its own ack inbox,
  kept here to show why the relay does not use it.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
import psycopg
from google.protobuf import wrappers_pb2

from bench import Result
from missiva_platform.db import kit_migrations, migrate
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.processes import NatsServer, PostgresServer
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.outbox import MSG_ID, OutboxRelay, add_events, headers_for

SYNC_EVENTS = 5_000
ASYNC_EVENTS = 50_000
GATHER_EVENTS = 25_000
RELAY_EVENTS = 50_000
RELAY_BATCH = 1_000
RELAY_CONCURRENCY = 2
STREAM = "BENCH"
DRAIN_LIMIT = 60.0


def _events(n: int, kind: str) -> list[EventEnvelope]:
    body = wrappers_pb2.StringValue(value="x" * 120)  # about the size of a domain event
    return [
        envelope(
            body,
            subject=f"bench.{kind}.happened",
            tenant_id="0190b2c4-0000-7000-8000-000000000001",
            producer="bench",
            aggregate_id=f"agg-{i % 100}",
            aggregate_version=i,
        )
        for i in range(n)
    ]


async def _sync_rate(js: Any, n: int) -> float:
    events = _events(n, "sync")
    started = time.perf_counter()
    for event in events:
        await js.publish(event.event_type, event.SerializeToString(), headers=headers_for(event))
    return n / (time.perf_counter() - started)


async def _async_rate(js: Any, n: int) -> float:
    events = _events(n, "async")
    started = time.perf_counter()
    futures = [
        await js.publish_async(
            event.event_type, event.SerializeToString(), headers=headers_for(event)
        )
        for event in events
    ]
    await asyncio.gather(*futures)
    return n / (time.perf_counter() - started)


async def _gather_rate(js: Any, n: int, window: int = 1_000) -> float:
    events = _events(n, "gather")
    started = time.perf_counter()
    for i in range(0, n, window):
        await asyncio.gather(
            *(
                js.publish(e.event_type, e.SerializeToString(), headers=headers_for(e))
                for e in events[i : i + window]
            )
        )
    return n / (time.perf_counter() - started)


class _PublishAsyncRelay(OutboxRelay):
    """The relay with nats-py's ``publish_async`` in place of its own acknowledgement inbox."""

    def __init__(self, db: str, js: Any, **options: Any) -> None:
        super().__init__(db, js, **options)
        self.js = js

    async def _publish(self, rows: list[tuple[Any, ...]]) -> list[int]:
        futures = []
        for _, event_id, subject, payload, headers, _ in rows:
            headers[MSG_ID] = event_id
            futures.append(await self.js.publish_async(subject, payload, headers=headers))
        acks = await asyncio.gather(*futures, return_exceptions=True)
        stored = zip(rows, acks, strict=True)
        return [row[0] for row, ack in stored if not isinstance(ack, Exception)]


async def _write_outbox(url: str, n: int, kind: str) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for i in range(0, n, 1_000):
            async with conn.transaction():
                await add_events(conn, _events(min(1_000, n - i), kind))


async def _drained(url: str, relay: OutboxRelay) -> float:
    """Seconds from ``relay.start()`` until the outbox is empty."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        await relay.start()
        try:
            while True:
                cur = await conn.execute("SELECT EXISTS (SELECT FROM kit_outbox)")
                row = await cur.fetchone()
                if row is not None and not row[0]:
                    return time.perf_counter() - started
                if time.perf_counter() - started > DRAIN_LIMIT:
                    raise RuntimeError(f"the relay did not drain the outbox in {DRAIN_LIMIT} s")
                await asyncio.sleep(0.01)
        finally:
            await relay.stop()


async def _relay_rate(url: str, js: Any, n: int) -> float:
    await _write_outbox(url, n, "relay")
    relay = OutboxRelay(url, js, batch_size=RELAY_BATCH, concurrency=RELAY_CONCURRENCY)
    return n / await _drained(url, relay)


async def _publish_async_relay_rate(url: str, js: Any, n: int) -> float:
    await _write_outbox(url, n, "relay_pa")
    relay = _PublishAsyncRelay(url, js, batch_size=RELAY_BATCH, concurrency=RELAY_CONCURRENCY)
    return n / await _drained(url, relay)


async def _measure(pg: PostgresServer, nats_url: str) -> list[Result]:
    url = pg.create_database("bench_outbox")
    await migrate(url, [kit_migrations()])
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=["bench.>"], duplicate_window=120)
        sync = await _sync_rate(js, SYNC_EVENTS)
        pipelined = await _async_rate(js, ASYNC_EVENTS)
        gathered = await _gather_rate(js, GATHER_EVENTS)
        relay = await _relay_rate(url, js, RELAY_EVENTS)
        relay_pa = await _publish_async_relay_rate(url, js, RELAY_EVENTS // 2)
        info = await js.stream_info(STREAM)
        expected = SYNC_EVENTS + ASYNC_EVENTS + GATHER_EVENTS + RELAY_EVENTS + RELAY_EVENTS // 2
        if info.state.messages != expected:
            raise RuntimeError(f"stream holds {info.state.messages} messages, not {expected}")
    finally:
        await nc.close()
    base = "(a) raw js.publish, sequential"
    relay_setup = (
        f"batches of {RELAY_BATCH:,}, {RELAY_CONCURRENCY} in flight: claim with SKIP LOCKED, "
        "publish, await acks, delete, commit"
    )
    return [
        Result(base, sync, "events/s", note=f"{SYNC_EVENTS:,} events, one ack awaited at a time"),
        Result(
            "(b) raw js.publish_async",
            pipelined,
            "events/s",
            base,
            sync,
            note=f"{ASYNC_EVENTS:,} events, nats-py's default pending window (4,000)",
        ),
        Result(
            "(b') raw js.publish pipelined with asyncio.gather",
            gathered,
            "events/s",
            base,
            sync,
            note=f"{GATHER_EVENTS:,} events, 1,000 requests in flight",
        ),
        Result(
            "(c) outbox relay draining committed rows",
            relay,
            "events/s",
            base,
            sync,
            note=f"{RELAY_EVENTS:,} events; {relay_setup}; its own ack inbox over core NATS",
        ),
        Result(
            "(c') outbox relay on js.publish_async",
            relay_pa,
            "events/s",
            "(c) outbox relay draining committed rows",
            relay,
            note=f"{RELAY_EVENTS // 2:,} events; same relay, nats-py's publish_async per event",
        ),
    ]


def run() -> list[Result]:
    """Start throwaway PostgreSQL and NATS, measure, stop them."""
    with tempfile.TemporaryDirectory(prefix="missiva-bench-") as folder:
        pg = PostgresServer(Path(folder) / "pg", free_port(), durable=False)
        nats_server = NatsServer(Path(folder) / "nats", free_port())
        pg.start()
        nats_server.start()
        try:
            return asyncio.run(_measure(pg, nats_server.url))
        finally:
            nats_server.stop()
            pg.stop()
