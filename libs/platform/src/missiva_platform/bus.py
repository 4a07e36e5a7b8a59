"""The event bus: JetStream streams and consumers declared in code, and idempotent consumers.

- ``StreamSpec``/``ConsumerSpec`` declare what a service needs; ``provision`` creates or
  updates them and is safe at every start and from several replicas at once.
- ``Consumer`` runs a durable pull consumer. Each fetched batch is handled in one database
  transaction, each message in a savepoint: the kit records ``(consumer, event_id)`` in
  ``kit_inbox`` and runs the handler; an event already in the inbox is a duplicate and its
  handler is skipped. Messages are acknowledged only after the commit, so a crash anywhere
  means redelivery, and redelivery never means a second effect. A failing handler is
  retried with backoff up to ``max_deliver`` times, then its message goes to the consumer's
  dead-letter subject with the error, is acknowledged, and counted. A batch whose transaction
  fails is held (in progress, nothing more fetched) while the database is unreachable, and
  otherwise retried one message at a time.
- Every handler runs in a ``process`` span whose parent is the producer's trace context
  (from the message headers), so one trace spans producer, relay and consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import nats
import nats.errors
import nats.js.errors
import psycopg
from google.protobuf.message import DecodeError
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import api
from nats.js.client import JetStreamContext
from opentelemetry import propagate, trace
from psycopg import Transaction
from psycopg_pool import AsyncConnectionPool

from missiva_platform import metrics
from missiva_platform.db import ping
from missiva_platform.events import EventEnvelope, trace_context

log = logging.getLogger(__name__)

DAY = 86_400.0
_STREAM_NAME_IN_USE = 10058  # JetStream: "stream name already in use with a different config"

# ---------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class StreamSpec:
    """A stream a service owns: one per producing service (events) or per work queue."""

    name: str
    subjects: tuple[str, ...]
    retention: Literal["limits", "workqueue"] = "limits"
    duplicate_window: float = 120.0  # seconds in which a re-published Nats-Msg-Id is dropped
    max_age: float = 0.0  # seconds a message is kept; 0 keeps it until limits apply
    max_bytes: int = -1
    replicas: int = 1
    storage: Literal["file", "memory"] = "file"

    def __post_init__(self) -> None:
        object.__setattr__(self, "subjects", tuple(self.subjects))
        if not self.subjects:
            raise ValueError(f"stream {self.name} needs at least one subject")
        if self.max_age and self.duplicate_window > self.max_age:
            raise ValueError(f"stream {self.name}: duplicate_window exceeds max_age")

    def config(self) -> api.StreamConfig:
        return api.StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            retention=api.RetentionPolicy(self.retention),
            duplicate_window=self.duplicate_window,
            max_age=self.max_age,
            max_bytes=self.max_bytes,
            num_replicas=self.replicas,
            storage=api.StorageType(self.storage),
        )


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer and its redelivery policy.

    A failed message is redelivered after ``backoff[n - 1]`` seconds following its n-th
    failure (the last value repeats), at most ``max_deliver`` handler runs in all; then it
    goes to ``dead_letter_subject``. ``ack_wait`` is how long a delivery may stay
    unacknowledged (a crashed consumer's messages come back after it).
    """

    stream: str
    durable: str
    filter_subject: str | None = None
    max_deliver: int = 5
    backoff: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    ack_wait: float = 30.0
    max_ack_pending: int = 1000
    service: str = ""  # the consuming service: its dead letters go to its own DLQ stream

    def __post_init__(self) -> None:
        object.__setattr__(self, "backoff", tuple(self.backoff))
        if self.max_deliver < 1:
            raise ValueError(f"consumer {self.durable}: max_deliver must be at least 1")
        if "." in self.durable:
            raise ValueError(f"consumer name {self.durable!r} may not contain dots")

    @property
    def dead_letter_subject(self) -> str:
        """``dlq.<service>.<durable>`` (caught by ``dead_letter_stream(service)``)."""
        return f"dlq.{self.service}.{self.durable}" if self.service else f"dlq.{self.durable}"

    def delay_after(self, deliveries: int) -> float:
        """Seconds before redelivering a message whose handler failed ``deliveries`` times."""
        if not self.backoff:
            return 0.0
        return self.backoff[min(deliveries, len(self.backoff)) - 1]

    def config(self) -> api.ConsumerConfig:
        return api.ConsumerConfig(
            name=self.durable,
            durable_name=self.durable,
            filter_subject=self.filter_subject,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            # One delivery in reserve: a consumer that crashed during the last attempt
            # gets it back and can still dead-letter the message instead of losing it.
            max_deliver=self.max_deliver + 1,
            max_ack_pending=self.max_ack_pending,
        )


def dead_letter_stream(service: str, *, max_age: float = 30 * DAY) -> StreamSpec:
    """The dead-letter stream of ``service``: ``DLQ_<SERVICE>`` on ``dlq.<service>.>``."""
    return StreamSpec(
        name=f"DLQ_{service.upper().replace('-', '_')}",
        subjects=(f"dlq.{service}.>",),
        max_age=max_age,
    )


async def provision(
    js: JetStreamContext,
    streams: Iterable[StreamSpec] = (),
    consumers: Iterable[ConsumerSpec] = (),
) -> None:
    """Create or update ``streams`` then ``consumers``; idempotent and safe to race."""
    for stream in streams:
        await _ensure_stream(js, stream)
    for consumer in consumers:
        await js.add_consumer(consumer.stream, consumer.config())  # creates or updates


async def _ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    config = spec.config()
    try:
        await js.add_stream(config)  # an identical existing stream is a success
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code != _STREAM_NAME_IN_USE:
            raise
        await js.update_stream(config)


# ------------------------------------------------------------------------------ connection


async def connect_nats(url: str, name: str, *, connect_deadline: float = 30.0) -> NATS:
    """Connect to ``url`` (comma-separated for a cluster) and reconnect forever after that.

    The first connection is retried until ``connect_deadline`` so services may start before
    NATS does; publishes made while reconnecting are buffered (up to 8 MiB).
    """

    client: list[NATS] = []

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    async def on_disconnected() -> None:
        if client and (client[0].is_closed or client[0].is_draining or client[0].is_draining_pubs):
            return  # our own close, not an outage
        log.warning("nats disconnected; reconnecting")

    async def on_reconnected() -> None:
        log.info("nats reconnected")

    servers = [server.strip() for server in url.split(",") if server.strip()]
    deadline = time.monotonic() + connect_deadline
    delay = 0.2
    while True:
        try:
            nc = await nats.connect(
                servers=servers,
                name=name,
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                ping_interval=10,
                max_outstanding_pings=3,
                pending_size=8 * 1024 * 1024,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
            )
            client.append(nc)
            return nc
        except Exception as exc:  # nats-py gives up on a first failure; we keep trying
            if time.monotonic() + delay > deadline:
                raise
            log.info("nats not reachable yet (%s); retrying", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def bus_healthy(nc: NATS, within: float = 1.0) -> bool:
    """True when the connection is up and JetStream answers an API request ``within`` seconds.

    A request, not ``nc.flush(timeout)``: a flush that times out leaves a cancelled future in
    nats-py's PONG queue, and the late PONG then breaks the client's read loop when a paused
    server resumes (it recovered only once its stale-connection pings ran out). A request's
    late reply is simply dropped; and answering proves JetStream, not only the socket, works.
    """
    if not nc.is_connected:
        return False
    try:
        reply = await nc.request("$JS.API.INFO", b"", timeout=within)
    except Exception:  # any failure means "not reachable right now"
        return False
    return b'"error"' not in reply.data


# -------------------------------------------------------------------------------- consumer

Handler = Callable[[Any, EventEnvelope, Msg], Awaitable[None]]
"""``handler(conn, envelope, msg)``: applies the event using ``conn``, inside the kit's
transaction (never commits or rolls back itself); raising means "failed, retry later"."""

_INBOX = "INSERT INTO kit_inbox (consumer, event_id) VALUES (%s, %s) ON CONFLICT DO NOTHING"
_HEADER_LIMIT = 1024


class _Metrics:
    def __init__(self, durable: str) -> None:
        label = {"consumer": durable}
        labels = ("consumer",)
        self.processed = metrics.counter(
            "consumer_processed_total", "Events handled and committed.", labels
        ).labels(**label)
        self.duplicates = metrics.counter(
            "consumer_duplicates_total",
            "Redelivered events skipped because the inbox already had them.",
            labels,
        ).labels(**label)
        self.failures = metrics.counter(
            "consumer_failures_total", "Handler runs that raised (each is retried).", labels
        ).labels(**label)
        self.dead_lettered = metrics.counter(
            "consumer_dead_lettered_total",
            "Events given up after max_deliver failures and sent to the dead-letter subject.",
            labels,
        ).labels(**label)
        self.latency = metrics.histogram(
            "consumer_handler_seconds", "Time to handle one event (inbox + handler).", labels
        ).labels(**label)
        self.lag = metrics.gauge(
            "consumer_lag_messages", "Messages in the stream not yet delivered.", labels
        ).labels(**label)
        self.database_waits = metrics.counter(
            "consumer_database_waits_total",
            "Times the consumer held its batch because the database was unreachable.",
            labels,
        ).labels(**label)


@dataclass
class _Outcome:
    msg: Msg
    ok: bool
    error: str = ""
    event_id: str = ""
    duplicate: bool = False
    poison: bool = False  # not an envelope at all: retrying cannot help


class Consumer:
    """A durable pull consumer that applies each event once, in a database transaction."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        js: JetStreamContext,
        spec: ConsumerSpec,
        handler: Handler,
        *,
        batch_size: int = 100,
        fetch_timeout: float = 2.0,
        lag_interval: float = 5.0,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.pool = pool
        self.js = js
        self.spec = spec
        self.handler = handler
        self.batch_size = batch_size
        self.fetch_timeout = fetch_timeout
        self.lag_interval = lag_interval
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._busy = False
        self._metrics = _Metrics(spec.durable)
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)

    async def start(self) -> None:
        """Bind to the provisioned durable consumer and start consuming in a task."""
        if self._task is not None:
            raise RuntimeError(f"consumer {self.spec.durable} already started")
        await self._bind()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.spec.durable}")

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the batch in hand (for up to ``grace`` seconds), then unsubscribe."""
        task, self._task = self._task, None
        self._stopping = True
        if task is not None:
            if self._busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), grace)
            # Still running means waiting for messages (or past the timeout): nothing to keep.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def fetch_and_handle(self, wait: float | None = None) -> int:
        """Fetch one batch (waiting up to ``wait`` seconds) and handle it; return its size."""
        if self._sub is None:
            await self._bind()
        assert self._sub is not None
        try:
            msgs = await self._sub.fetch(self.batch_size, timeout=wait or self.fetch_timeout)
        except (nats.errors.TimeoutError, TimeoutError):
            return 0  # nothing to do within the wait (nats-py raises either kind)
        self._busy = True
        try:
            await self.handle(msgs)
        finally:
            self._busy = False
        return len(msgs)

    async def handle(self, msgs: list[Msg]) -> None:
        """Apply ``msgs`` in one transaction, then acknowledge, retry or dead-letter each.

        When the batch transaction fails, the database decides what happens next: while it is
        unreachable the consumer keeps the messages (telling JetStream they are in progress,
        fetching nothing more) and tries again once it answers, so an outage uses up no
        delivery; when it answers, the messages are retried one at a time, so one bad message
        is retried and dead-lettered by its own delivery count without taking the rest along.
        """
        while True:
            try:
                outcomes = await self._apply_all(msgs)
                break
            except Exception as exc:  # the commit (or the connection) failed: nothing happened
                log.warning("consumer %s: batch transaction failed: %s", self.spec.durable, exc)
                if await self._wait_for_database(msgs):
                    continue  # it was an outage: the whole batch again, no delivery spent
                if self._stopping:
                    return  # unacknowledged: redelivered after ack_wait
                outcomes = [await self._apply_alone(msg) for msg in msgs]
                break
        await self._settle_all(outcomes)

    async def _apply_all(self, msgs: list[Msg]) -> list[_Outcome]:
        async with self.pool.connection() as conn:
            async with conn.transaction() as transaction:
                outcomes = [await self._apply(conn, msg) for msg in msgs]
            # psycopg leaves a transaction on a lost connection without a word when the block
            # raised nothing (each message's failure was caught in its savepoint): nothing
            # committed, so no message may be acknowledged as handled.
            if transaction.status is not Transaction.Status.COMMITTED:
                raise psycopg.OperationalError("the connection was lost before the commit")
        return outcomes

    async def _apply_alone(self, msg: Msg) -> _Outcome:
        while True:
            try:
                [outcome] = await self._apply_all([msg])
                return outcome
            except Exception as exc:
                if await self._wait_for_database([msg]):
                    continue
                return _Outcome(msg, ok=False, error=f"{type(exc).__name__}: {exc}")

    async def _wait_for_database(self, held: list[Msg]) -> bool:
        """Whether the database was unreachable; if so, return once it answers again.

        Meanwhile the held messages are marked in progress, so JetStream neither redelivers
        them nor counts a delivery, and nothing more is fetched.
        """
        if await ping(self.pool):
            return False
        self._metrics.database_waits.inc()
        log.warning(
            "consumer %s: database unreachable; holding %d messages", self.spec.durable, len(held)
        )
        pause, last_touch = 0.2, time.monotonic()
        while not self._stopping:
            if time.monotonic() - last_touch >= self.spec.ack_wait / 3:
                for msg in held:
                    await _quietly(msg.in_progress())
                last_touch = time.monotonic()
            await asyncio.sleep(min(pause, self.spec.ack_wait / 3))
            if await ping(self.pool):
                log.warning("consumer %s: database back; retrying", self.spec.durable)
                return True
            pause = min(pause * 2, 5.0)
        return False

    async def _settle_all(self, outcomes: list[_Outcome]) -> None:
        """After the commit: acknowledge, retry or dead-letter each message."""
        for outcome in outcomes:
            await self._settle(outcome)

    async def _apply(self, conn: Any, msg: Msg) -> _Outcome:
        try:
            event = EventEnvelope.FromString(msg.data)
            uuid.UUID(event.event_id)
        except (DecodeError, ValueError) as exc:
            return _Outcome(msg, ok=False, error=f"not an event envelope: {exc}", poison=True)
        headers = msg.headers or {}
        parent = propagate.extract(headers) if "traceparent" in headers else trace_context(event)
        with self._tracer.start_as_current_span(
            f"process {msg.subject}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            record_exception=False,
            set_status_on_exception=False,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.destination.name": msg.subject,
                "messaging.consumer.group.name": self.spec.durable,
                "messaging.message.id": event.event_id,
            },
        ) as span:
            started = time.perf_counter()
            try:
                async with conn.transaction():  # a savepoint: one failure spares the batch
                    cur = await conn.execute(_INBOX, (self.spec.durable, event.event_id))
                    if cur.rowcount == 0:
                        span.set_attribute("missiva.duplicate", True)
                        return _Outcome(msg, ok=True, event_id=event.event_id, duplicate=True)
                    await self.handler(conn, event, msg)
            except Exception as exc:  # the handler's failure is the message's, not ours
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR, str(exc))
                self._metrics.failures.inc()
                log.warning(
                    "consumer %s: event %s failed: %s", self.spec.durable, event.event_id, exc
                )
                return _Outcome(
                    msg, ok=False, error=f"{type(exc).__name__}: {exc}", event_id=event.event_id
                )
            finally:
                self._metrics.latency.observe(time.perf_counter() - started)
        return _Outcome(msg, ok=True, event_id=event.event_id)

    async def _settle(self, outcome: _Outcome) -> None:
        msg = outcome.msg
        if outcome.ok:
            if outcome.duplicate:
                self._metrics.duplicates.inc()
            else:
                self._metrics.processed.inc()
            await _quietly(msg.ack())
            return
        deliveries = msg.metadata.num_delivered or 1
        last = outcome.poison or deliveries >= self.spec.max_deliver
        if last and await self._dead_letter(outcome, deliveries):
            await _quietly(msg.ack())
            return
        await _quietly(msg.nak(delay=self.spec.delay_after(deliveries)))

    async def _dead_letter(self, outcome: _Outcome, deliveries: int) -> bool:
        """Publish the original message and its error to the dead-letter subject."""
        msg = outcome.msg
        meta = msg.metadata
        headers = dict(msg.headers or {})
        headers.update(
            {
                # Its own id: two consumers may dead-letter the same event.
                "Nats-Msg-Id": f"{self.spec.durable}:{outcome.event_id or meta.sequence.stream}",
                "Missiva-Dead-Letter-Consumer": self.spec.durable,
                "Missiva-Dead-Letter-Subject": msg.subject,
                "Missiva-Dead-Letter-Stream": str(meta.stream),
                "Missiva-Dead-Letter-Sequence": str(meta.sequence.stream),
                "Missiva-Dead-Letter-Deliveries": str(deliveries),
                "Missiva-Dead-Letter-Error": _header_text(outcome.error),
            }
        )
        try:
            await self.js.publish(self.spec.dead_letter_subject, msg.data, headers=headers)
        except Exception as exc:  # no DLQ stream, or NATS down: keep the message instead
            log.error(
                "consumer %s: cannot dead-letter event %s to %s: %s",
                self.spec.durable,
                outcome.event_id,
                self.spec.dead_letter_subject,
                exc,
            )
            return False
        self._metrics.dead_lettered.inc()
        log.error(
            "consumer %s: event %s dead-lettered after %d deliveries: %s",
            self.spec.durable,
            outcome.event_id,
            deliveries,
            outcome.error,
        )
        return True

    async def _bind(self) -> None:
        try:
            await self.js.consumer_info(self.spec.stream, self.spec.durable)
        except nats.js.errors.NotFoundError:
            raise RuntimeError(
                f"consumer {self.spec.durable} on stream {self.spec.stream} does not exist; "
                "call bus.provision() first"
            ) from None
        self._sub = await self.js.pull_subscribe_bind(
            durable=self.spec.durable, stream=self.spec.stream
        )

    async def _run(self) -> None:
        next_lag = 0.0
        failures = 0
        while not self._stopping:
            if time.monotonic() >= next_lag:
                next_lag = time.monotonic() + self.lag_interval
                await self._update_lag()
            try:
                await self.fetch_and_handle()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS or database trouble: back off, keep going
                failures += 1
                log.warning("consumer %s: %s (attempt %d)", self.spec.durable, exc, failures)
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))

    async def _update_lag(self) -> None:
        with contextlib.suppress(Exception):  # a missing lag sample is not worth a failure
            info = await self.js.consumer_info(self.spec.stream, self.spec.durable, timeout=1)
            self._metrics.lag.set(info.num_pending or 0)


def _header_text(text: str) -> str:
    # NATS headers are single lines.
    return " ".join(text.split())[:_HEADER_LIMIT]


async def _quietly(action: Awaitable[None]) -> None:
    # An ack or nak that cannot be sent is repaired by redelivery after ack_wait.
    try:
        await action
    except Exception as exc:
        log.info("could not settle a message: %s", exc)
