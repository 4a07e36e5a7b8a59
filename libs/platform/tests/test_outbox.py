"""The transactional outbox and its relay, against real PostgreSQL and NATS JetStream."""

import asyncio
import time
import uuid

import nats
import psycopg
import pytest
from google.protobuf import wrappers_pb2
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from missiva_platform import metrics
from missiva_platform.db import kit_migrations, make_pool
from missiva_platform.events import envelope, new_event_id, trace_context, unpack
from missiva_platform.outbox import OutboxRelay, add_event, add_events


@pytest.fixture
def db(make_database):
    return make_database([kit_migrations()], "outbox")


@pytest.fixture
async def js(nats_url):
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


@pytest.fixture
async def stream(js):
    """A stream of its own for each test: (name, subject prefix)."""
    tag = uuid.uuid4().hex[:8]
    name, prefix = f"OUTBOX_{tag}", f"outbox{tag}"
    await js.add_stream(name=name, subjects=[f"{prefix}.>"], duplicate_window=120)
    yield name, prefix
    await js.delete_stream(name)


def events(prefix, n, entity="thing"):
    return [
        envelope(
            wrappers_pb2.StringValue(value=f"payload {i}"),
            subject=f"{prefix}.{entity}.happened",
            tenant_id="tenant-1",
            producer="test",
            aggregate_id=f"thing-{i}",
            aggregate_version=1,
        )
        for i in range(n)
    ]


def sample(what):
    return metrics.registry().get_sample_value(metrics.full_name(what)) or 0.0


async def stored(js, name):
    """(event ids, headers) of every message in the stream, in stream order."""
    info = await js.stream_info(name)
    ids, headers = [], []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(name, seq)
        ids.append(msg.headers["Nats-Msg-Id"])
        headers.append(msg.headers)
    return ids, headers


async def eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)
    return result


async def stream_count(js, name):
    return (await js.stream_info(name)).state.messages


async def outbox_count(db):
    async with await psycopg.AsyncConnection.connect(db) as conn:
        row = await (await conn.execute("SELECT count(*) FROM kit_outbox")).fetchone()
    return row[0]


async def test_relay_publishes_what_committed_and_nothing_that_rolled_back(db, js, stream):
    name, prefix = stream
    committed = []
    async with await psycopg.AsyncConnection.connect(db) as conn:
        for _ in range(3):
            async with conn.transaction():
                batch = events(prefix, 5)
                await add_events(conn, batch)
                committed += [e.event_id for e in batch]
        async with conn.transaction(force_rollback=True):
            await add_events(conn, events(prefix, 5, entity="rolled_back"))
        async with conn.transaction():
            single = events(prefix, 1)[0]
            await add_event(conn, single)
            committed.append(single.event_id)

    relay = OutboxRelay(db, js, batch_size=4, poll_interval=0.1)
    await relay.start()
    try:
        await eventually(lambda: _at_least(js, name, len(committed)))
        await asyncio.sleep(0.2)  # time for anything extra to (wrongly) arrive
    finally:
        await relay.stop()

    ids, headers = await stored(js, name)
    assert sorted(ids) == sorted(committed)
    assert await outbox_count(db) == 0
    assert all(h["Missiva-Event-Type"] == f"{prefix}.thing.happened" for h in headers)


async def _at_least(js, name, n):
    return await stream_count(js, name) >= n


class CrashBetweenPublishAndDelete(OutboxRelay):
    """Publishes, then fails before its DELETE commits: what a killed relay leaves behind."""

    async def _publish(self, rows):
        await super()._publish(rows)
        raise RuntimeError("crashed after publishing")


async def test_a_republished_event_is_dropped_by_the_streams_duplicate_window(db, js, stream):
    name, prefix = stream
    async with await psycopg.AsyncConnection.connect(db) as conn, conn.transaction():
        await add_events(conn, events(prefix, 3))

    crashing = CrashBetweenPublishAndDelete(db, js)
    with pytest.raises(RuntimeError, match="crashed after publishing"):
        await crashing.publish_batch()
    await crashing.stop()
    assert await stream_count(js, name) == 3
    assert await outbox_count(db) == 3  # the rows survived the crash

    duplicates_before = sample("outbox_duplicates_total")
    published_before = sample("outbox_published_total")
    relay = OutboxRelay(db, js)
    try:
        assert await relay.publish_batch() == 3
    finally:
        await relay.stop()

    assert await stream_count(js, name) == 3
    assert await outbox_count(db) == 0
    assert sample("outbox_duplicates_total") - duplicates_before == 3
    assert sample("outbox_published_total") == published_before


async def test_relay_wakes_on_commit_without_waiting_for_its_poll(db, js, stream):
    name, prefix = stream
    relay = OutboxRelay(db, js, poll_interval=60)
    await relay.start()
    try:
        await asyncio.sleep(0.3)  # the relay has found the outbox empty and sleeps
        started = time.monotonic()
        async with await psycopg.AsyncConnection.connect(db) as conn, conn.transaction():
            await add_event(conn, events(prefix, 1)[0])
        await eventually(lambda: _at_least(js, name, 1), timeout=5)
        assert time.monotonic() - started < 2
    finally:
        await relay.stop()


async def test_replicas_relays_share_a_stream_of_small_commits_each_event_once(db, js, stream):
    """Two replicas' relays listen to the same NOTIFYs: each commit wakes one slot of each,
    the relay that finds nothing backs off, and none waits for its (here 60 s) poll."""
    name, prefix = stream
    relays = [OutboxRelay(db, js, poll_interval=60) for _ in range(2)]
    for relay in relays:
        await relay.start()
    try:
        await asyncio.sleep(0.3)  # both found the outbox empty and sleep until a NOTIFY
        batch = events(prefix, 120)
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            for event in batch:  # one commit each, a few milliseconds apart
                async with conn.transaction():
                    await add_event(conn, event)
                await asyncio.sleep(0.003)
        await eventually(lambda: _at_least(js, name, len(batch)), timeout=10)
        ids, _ = await stored(js, name)
        assert sorted(ids) == sorted(e.event_id for e in batch)  # each once, none lost
        assert await eventually(lambda: _outbox_empty(db), timeout=10)
    finally:
        for relay in relays:
            await relay.stop()


async def _outbox_empty(db):
    return await outbox_count(db) == 0


async def test_an_event_no_stream_accepts_stays_in_the_outbox_and_counts_as_an_error(db, js):
    lost = events(f"nostream{uuid.uuid4().hex[:8]}", 2)
    async with await psycopg.AsyncConnection.connect(db) as conn, conn.transaction():
        await add_events(conn, lost)
    errors_before = sample("outbox_publish_errors_total")
    relay = OutboxRelay(db, js, publish_timeout=5)
    try:
        assert await relay.publish_batch() == 0
    finally:
        await relay.stop()
    assert await outbox_count(db) == 2
    assert sample("outbox_publish_errors_total") - errors_before == 2
    async with await psycopg.AsyncConnection.connect(db) as conn:
        await conn.execute("DELETE FROM kit_outbox")
        await conn.commit()


async def test_stop_publishes_everything_already_committed(db, js, stream):
    name, prefix = stream
    async with await psycopg.AsyncConnection.connect(db) as conn, conn.transaction():
        await add_events(conn, events(prefix, 2_500))
    pool = make_pool(db, max_size=4)
    await pool.open()
    try:
        relay = OutboxRelay(pool, js, batch_size=100, poll_interval=60)
        await relay.start()
        await relay.stop(grace=20)
    finally:
        await pool.close()
    assert await outbox_count(db) == 0
    assert await stream_count(js, name) == 2_500


async def test_outbox_lag_reports_the_age_of_the_oldest_unpublished_event(db, js, stream):
    _, prefix = stream
    async with await psycopg.AsyncConnection.connect(db) as conn, conn.transaction():
        await add_event(conn, events(prefix, 1)[0])
        await conn.execute("UPDATE kit_outbox SET created_at = now() - interval '90 seconds'")
    relay = OutboxRelay(db, js)
    try:
        assert await relay.publish_batch() == 1
        assert 89 < sample("outbox_lag_seconds") < 120
        assert await relay.publish_batch() == 0
        assert sample("outbox_lag_seconds") == 0
    finally:
        await relay.stop()


async def test_an_event_without_an_id_or_subject_is_refused(db):
    nameless = envelope(
        wrappers_pb2.StringValue(value="x"), subject="", tenant_id="t", producer="test"
    )
    async with await psycopg.AsyncConnection.connect(db) as conn:
        with pytest.raises(ValueError, match="no subject"):
            await add_event(conn, nameless)
        nameless.event_id = ""
        with pytest.raises(ValueError, match="event_id"):
            await add_event(conn, nameless, subject="a.b.c")


def test_an_envelope_carries_a_uuid7_the_current_trace_and_only_unpacks_as_its_own_type():
    parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(parent)):
        event = envelope(
            wrappers_pb2.StringValue(value="hi"),
            subject="consent.purpose.withdrawn",
            tenant_id="tenant-1",
            producer="consent",
            aggregate_id="person:purpose",
            aggregate_version=7,
        )
    assert uuid.UUID(event.event_id).version == 7
    assert event.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert event.event_type == "consent.purpose.withdrawn"
    assert (event.producer, event.aggregate_id, event.aggregate_version) == (
        "consent",
        "person:purpose",
        7,
    )
    assert abs(event.occurred_at.ToSeconds() - time.time()) < 5
    assert unpack(event, wrappers_pb2.StringValue).value == "hi"
    with pytest.raises(TypeError, match=r"google\.protobuf\.StringValue"):
        unpack(event, wrappers_pb2.Int64Value)
    assert trace.get_current_span(trace_context(event)).get_span_context().trace_id == (
        parent.trace_id
    )
    assert new_event_id() < new_event_id()  # time-ordered
