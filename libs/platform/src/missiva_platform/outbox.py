"""The transactional outbox: events commit with the state change, a relay publishes them.

A service writes its events with ``add_event`` in the same transaction as the change they
describe, so an event exists if and only if the change committed. ``OutboxRelay`` runs as a
task in every replica: it claims the oldest rows with ``FOR UPDATE SKIP LOCKED`` (replicas
share the work without blocking each other), publishes them to JetStream asynchronously with
``Nats-Msg-Id = event_id``, and deletes them in the same transaction once JetStream has
acknowledged them. A crash between publish and delete re-publishes the rows later, and the
stream's duplicate window drops those copies: at-least-once publishing, exactly-once storage.

Order is not guaranteed: a batch that failed to publish is retried after later rows went
out, and replicas' relays publish side by side. Consumers that keep the latest state of an
aggregate check ``versions.is_newer`` (the aggregate version in the envelope) before applying.

Publishing is pipelined over core NATS with one reply subscription for all acknowledgements
(the same wire protocol as ``js.publish_async``, without a future, a semaphore and a parsed
``PubAck`` per message): measured in ``bench/bench_outbox.py``, nats-py's ``publish_async``
tops out near the relay target on its own, so the relay could not reach it through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import msgspec
import psycopg
from nats.aio.client import Client as NATS
from nats.js.client import JetStreamContext
from opentelemetry import propagate, trace
from psycopg.types.json import Jsonb, set_json_loads
from psycopg_pool import AsyncConnectionPool

from missiva_platform import metrics
from missiva_platform.events import EventEnvelope
from missiva_platform.jetstream_pipeline import DUPLICATE, OK, AckInbox, core_client

log = logging.getLogger(__name__)

# The channel the 0002 migration's trigger notifies on every insert into kit_outbox.
CHANNEL = "kit_outbox"
MSG_ID = "Nats-Msg-Id"
EVENT_TYPE = "Missiva-Event-Type"

_INSERT = "INSERT INTO kit_outbox (event_id, subject, payload, headers) VALUES (%s, %s, %s, %s)"
_CLAIM = (
    "SELECT id, event_id::text, subject, payload, headers,"
    " extract(epoch FROM statement_timestamp() - created_at)::float8"
    " FROM kit_outbox ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
)
_DELETE = "DELETE FROM kit_outbox WHERE id = ANY(%s)"

# A slot that was woken by a commit but found nothing (another replica's relay was faster)
# coalesces this many times longer before its next claim.
IDLE_COALESCE_FACTOR = 5

_BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


def headers_for(event: EventEnvelope) -> dict[str, str]:
    """The NATS headers an event is published with: dedup id, trace context, type."""
    headers = {MSG_ID: event.event_id, EVENT_TYPE: event.event_type}
    if event.traceparent:
        headers["traceparent"] = event.traceparent
        if event.tracestate:
            headers["tracestate"] = event.tracestate
    return headers


def outbox_row(event: EventEnvelope, subject: str | None = None) -> tuple[str, str, bytes, Jsonb]:
    """The outbox row of ``event``: event id, subject, payload, headers."""
    if not event.event_id:
        raise ValueError("an event needs an event_id; build it with events.envelope()")
    target = subject or event.event_type
    if not target:
        raise ValueError(f"event {event.event_id} has no event_type and no subject was given")
    return (event.event_id, target, event.SerializeToString(), Jsonb(headers_for(event)))


async def add_event(
    conn: psycopg.AsyncConnection[Any], event: EventEnvelope, *, subject: str | None = None
) -> None:
    """Write ``event`` to the outbox inside the caller's open transaction.

    It is published to ``subject`` (default: the envelope's ``event_type``) only if that
    transaction commits.
    """
    await conn.execute(_INSERT, outbox_row(event, subject))


async def add_events(
    conn: psycopg.AsyncConnection[Any],
    events: Iterable[EventEnvelope],
    *,
    subject: str | None = None,
) -> None:
    """Write several events in one round trip, inside the caller's open transaction."""
    rows = [outbox_row(event, subject) for event in events]
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(_INSERT, rows)


class _Metrics:
    def __init__(self) -> None:
        self.published = metrics.counter(
            "outbox_published_total", "Events the outbox relay published and JetStream stored."
        )
        self.duplicates = metrics.counter(
            "outbox_duplicates_total",
            "Re-published events JetStream dropped as duplicates (a relay crashed mid-batch).",
        )
        self.errors = metrics.counter(
            "outbox_publish_errors_total",
            "Events or batches the relay failed to publish; they stay in the outbox for retry.",
        )
        self.lag = metrics.gauge(
            "outbox_lag_seconds", "Age of the oldest event the relay found unpublished."
        )
        self.batch = metrics.histogram(
            "outbox_batch_size", "Events claimed per relay batch.", buckets=_BATCH_BUCKETS
        )


class OutboxRelay:
    """Publishes committed outbox rows to JetStream; one per service replica.

    ``db`` is the service's connection pool (connections are borrowed per batch) or a
    conninfo string (the relay keeps its own connections). ``nats`` is the NATS client or its
    JetStream context. The relay wakes on the outbox trigger's NOTIFY and, as a fallback,
    every ``poll_interval`` seconds; after a NOTIFY it waits ``coalesce`` seconds so that the
    commits right behind it go in the same batch. ``concurrency`` batches are in flight at
    once, so one is claimed and published while another waits for its acknowledgements; at
    most ``batch_size * concurrency`` publishes are unacknowledged.
    """

    def __init__(
        self,
        db: AsyncConnectionPool | str,
        nats: NATS | JetStreamContext,
        *,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        publish_timeout: float = 10.0,
        concurrency: int = 2,
        coalesce: float = 0.02,
        listen_conninfo: str | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be at least 1")
        self.db = db
        # A JetStream context publishes through its client; acks come back on our inbox.
        self.nc: NATS = core_client(nats)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.concurrency = concurrency
        self.coalesce = coalesce
        if listen_conninfo is None:
            listen_conninfo = db if isinstance(db, str) else _pool_conninfo(db)
        self.listen_conninfo = listen_conninfo
        self._acks = AckInbox(self.nc)
        self._own_conns: dict[int, psycopg.AsyncConnection[Any]] = {}
        self._wakes = [asyncio.Event() for _ in range(concurrency)]
        self._next_wake = 0
        self._stopping = False
        self._drain_deadline = 0.0
        self._task: asyncio.Task[None] | None = None
        self._metrics = _Metrics()
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start relaying in a background task of the running loop."""
        if self._task is not None:
            raise RuntimeError("relay already started")
        await self._acks.open()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the batches in flight, publish what is left (for up to ``grace`` s), stop."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._drain_deadline = time.monotonic() + grace
            self._wake(every=True)
            try:
                await asyncio.wait_for(asyncio.shield(task), grace + self.publish_timeout)
            except TimeoutError:
                log.warning("outbox relay did not drain in time; the rest goes after restart")
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._acks.close()
        for slot in list(self._own_conns):
            await self._close_own_connection(slot)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- one batch ---------------------------------------------------------------------------

    async def publish_batch(self, slot: int = 0) -> int:
        """Claim, publish and delete one batch; return how many events JetStream acknowledged.

        Rows whose publish failed stay in the outbox (unlocked on commit) for the next round.
        ``slot`` picks the connection when the relay owns its connections.
        """
        await self._acks.open()
        async with self._connection(slot) as conn, conn.transaction():
            cur = conn.cursor(binary=True)
            set_json_loads(msgspec.json.decode, cur)  # a third of json.loads' cost per row
            await cur.execute(_CLAIM, (self.batch_size,))
            rows = await cur.fetchall()
            if not rows:
                self._metrics.lag.set(0)
                return 0
            self._metrics.lag.set(max(rows[0][5], 0.0))
            self._metrics.batch.observe(len(rows))
            acked = await self._publish(rows)
            if acked:
                await cur.execute(_DELETE, (acked,))
            return len(acked)

    async def _publish(self, rows: list[tuple[Any, ...]]) -> list[int]:
        """Publish ``rows`` without waiting in between; return the ids JetStream stored."""
        with self._tracer.start_as_current_span(
            "outbox publish",
            kind=trace.SpanKind.PRODUCER,
            attributes={"messaging.system": "nats", "messaging.batch.message_count": len(rows)},
        ) as batch_span:
            # Per-event spans only when tracing is on: they cost more than the publish itself.
            per_event = batch_span.is_recording()
            spans: list[trace.Span | None] = []
            batch_id, batch = self._acks.begin(len(rows))
            reply_prefix = f"{self._acks.prefix}.{batch_id}."
            try:
                for index, (_, event_id, subject, payload, headers, _) in enumerate(rows):
                    headers[MSG_ID] = event_id  # rows written by hand dedup too
                    spans.append(
                        self._event_span(subject, headers, batch_span) if per_event else None
                    )
                    try:
                        await self.nc.publish(
                            subject, payload, reply=f"{reply_prefix}{index}", headers=headers
                        )
                    except Exception as exc:  # connection gone: the rest waits for next round
                        log.warning("outbox publish failed: %s", exc)
                        batch.abandon(index, f"not sent: {exc}")
                        break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(batch.done.wait(), self.publish_timeout)
            finally:
                self._acks.end(batch_id)
            spans += [None] * (len(rows) - len(spans))
            acked: list[int] = []
            duplicates = failed = 0
            for row, outcome, span in zip(rows, batch.outcomes, spans, strict=True):
                if outcome in (OK, DUPLICATE):
                    acked.append(row[0])
                    duplicates += outcome == DUPLICATE
                    _end(span, None)
                else:
                    failed += 1
                    _end(span, outcome or "no acknowledgement from JetStream")
            if failed:
                log.warning("%d outbox events were not stored; they will be retried", failed)
                self._metrics.errors.inc(failed)
                batch_span.set_status(trace.StatusCode.ERROR, f"{failed} events not published")
            self._metrics.published.inc(len(acked) - duplicates)
            if duplicates:
                self._metrics.duplicates.inc(duplicates)
            return acked

    def _event_span(
        self, subject: str, headers: dict[str, str], batch_span: trace.Span
    ) -> trace.Span | None:
        # A "publish" span in the event's own trace; consumers become its children.
        if not headers.get("traceparent"):
            return None
        span = self._tracer.start_span(
            f"publish {subject}",
            context=propagate.extract(headers),
            kind=trace.SpanKind.PRODUCER,
            links=[trace.Link(batch_span.get_span_context())],
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": subject,
                "messaging.message.id": headers[MSG_ID],
            },
        )
        propagate.inject(headers, context=trace.set_span_in_context(span))
        return span

    # -- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        listener = asyncio.create_task(self._listen(), name="outbox-relay-listen")
        try:
            await asyncio.gather(*(self._work(slot) for slot in range(self.concurrency)))
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _work(self, slot: int) -> None:
        wake = self._wakes[slot]
        failures = 0
        woken = False  # the first batch (what committed while nobody ran) was not a wake-up
        while True:
            wake.clear()
            try:
                published = await self.publish_batch(slot)
                failures = 0
            except Exception as exc:  # database or NATS trouble: back off and retry
                failures += 1
                self._metrics.errors.inc()
                await self._close_own_connection(slot)
                log.warning("outbox relay batch failed (attempt %d): %s", failures, exc)
                if self._stopping:
                    return
                await self._sleep(wake, min(0.1 * 2**failures, 5.0))
                continue
            if self._stopping:
                if published == 0 or time.monotonic() > self._drain_deadline:
                    return
                continue
            if published >= self.batch_size:
                # More is waiting: the next slot claims another batch meanwhile.
                self._wakes[(slot + 1) % len(self._wakes)].set()
                continue
            # Woken by a commit and found nothing: another replica's relay took the rows, as
            # it will again while several replicas share the traffic; wait longer to claim.
            beaten = woken and published == 0
            if not wake.is_set():
                await self._sleep(wake, self.poll_interval)
            woken = wake.is_set()
            if self.coalesce and woken and not self._stopping:
                # Woken by a commit: let the commits right behind it join this batch, rather
                # than one claim-publish-delete transaction (per slot) for every commit.
                await asyncio.sleep(self.coalesce * (IDLE_COALESCE_FACTOR if beaten else 1))

    def _wake(self, every: bool = False) -> None:
        """Wake one slot (the next in turn), or ``every`` slot: one claim per commit is
        enough, and a slot that fills a whole batch wakes the next one itself."""
        if every:
            for wake in self._wakes:
                wake.set()
            return
        self._next_wake = (self._next_wake + 1) % len(self._wakes)
        self._wakes[self._next_wake].set()

    @staticmethod
    async def _sleep(wake: asyncio.Event, seconds: float) -> None:
        """Sleep until a NOTIFY, ``stop()`` or ``seconds``, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)

    async def _listen(self) -> None:
        """Turn NOTIFYs on the outbox channel into wake-ups; reconnect after failures."""
        delay = 0.1
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.listen_conninfo, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.1
                    self._wake(every=True)  # rows may have committed while nobody listened
                    async for _ in conn.notifies():
                        self._wake()
                        if self.coalesce:
                            # Let the next notifications gather: they are read in one go,
                            # not one wake-up of this task (and the event loop) each.
                            await asyncio.sleep(self.coalesce)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the poll fallback covers us while we reconnect
                log.info("outbox listener reconnecting: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    @contextlib.asynccontextmanager
    async def _connection(self, slot: int) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if isinstance(self.db, AsyncConnectionPool):
            async with self.db.connection() as conn:
                yield conn
            return
        own = self._own_conns.get(slot)
        if own is None or own.closed:
            own = self._own_conns[slot] = await psycopg.AsyncConnection.connect(self.db)
        yield own

    async def _close_own_connection(self, slot: int) -> None:
        conn = self._own_conns.pop(slot, None)
        if conn is not None and not conn.closed:
            with contextlib.suppress(Exception):
                await conn.close()


def _pool_conninfo(pool: AsyncConnectionPool) -> str:
    if not isinstance(pool.conninfo, str) or not pool.conninfo:
        raise ValueError("pass listen_conninfo: the pool's conninfo is not a plain string")
    return pool.conninfo


def _end(span: trace.Span | None, error: BaseException | str | None) -> None:
    if span is None:
        return
    if error is not None:
        if isinstance(error, BaseException):
            span.record_exception(error)
        span.set_status(trace.StatusCode.ERROR, str(error))
    span.end()
