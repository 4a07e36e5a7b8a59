"""Streams, consumers and idempotent consumption, against real PostgreSQL and NATS JetStream."""

import asyncio
import dataclasses
import time
import uuid

import pytest
from google.protobuf import wrappers_pb2
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from missiva_platform import metrics
from missiva_platform.bus import (
    Consumer,
    ConsumerSpec,
    StreamSpec,
    bus_healthy,
    connect_nats,
    dead_letter_stream,
    provision,
)
from missiva_platform.db import MigrationSet, kit_migrations, make_pool
from missiva_platform.events import envelope, unpack
from missiva_platform.outbox import OutboxRelay, add_event, headers_for

EFFECTS = "CREATE TABLE effects (event_id uuid NOT NULL, body text NOT NULL);"


@pytest.fixture(scope="module")
def effects_migrations(tmp_path_factory):
    folder = tmp_path_factory.mktemp("effects")
    (folder / "0001_effects.sql").write_text(EFFECTS)
    return MigrationSet("effects", folder)


@pytest.fixture
async def pool(make_database, effects_migrations):
    url = make_database([kit_migrations(), effects_migrations], "bus")
    pool = make_pool(url, max_size=4)
    await pool.open()
    yield pool
    await pool.close()


@pytest.fixture
async def nc(nats_url):
    nc = await connect_nats(nats_url, "test-bus")
    yield nc
    await nc.close()


@pytest.fixture
def js(nc):
    return nc.jetstream()


@pytest.fixture
async def bus(js):
    """A service's stream, its dead-letter stream and a consumer spec, unique to the test."""
    tag = uuid.uuid4().hex[:8]
    service = f"svc{tag}"
    stream = StreamSpec(f"EVENTS_{tag}", (f"{service}.>",))
    dlq = dead_letter_stream(service)
    consumer = ConsumerSpec(
        stream.name,
        f"effects-{tag}",
        f"{service}.>",
        max_deliver=3,
        backoff=(0.1, 0.2),
        ack_wait=1.0,
        service=service,
    )
    await provision(js, [stream, dlq], [consumer])
    yield stream, dlq, consumer
    for spec in (stream, dlq):
        await js.delete_stream(spec.name)


@pytest.fixture
def tracing():
    """An SDK provider of the test's own (the global one stays untouched) and its spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def event_for(consumer, body="hello"):
    return envelope(
        wrappers_pb2.StringValue(value=body),
        subject=f"{consumer.filter_subject[:-2]}.thing.happened",
        tenant_id="tenant-1",
        producer="test",
    )


async def publish(js, event):
    await js.publish(event.event_type, event.SerializeToString(), headers=headers_for(event))


async def record_effect(conn, event, msg):
    body = unpack(event, wrappers_pb2.StringValue).value
    await conn.execute(
        "INSERT INTO effects (event_id, body) VALUES (%s, %s)", (event.event_id, body)
    )


async def count(pool, sql, *args):
    async with pool.connection() as conn:
        row = await (await conn.execute(sql, args)).fetchone()
    return row[0]


def sample(what, consumer):
    name = metrics.full_name(what)
    return metrics.registry().get_sample_value(name, {"consumer": consumer.durable}) or 0.0


async def eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)
    return result


async def test_provisioning_again_or_concurrently_changes_nothing_and_updates_apply(js):
    tag = uuid.uuid4().hex[:8]
    stream = StreamSpec(f"PROV_{tag}", [f"prov{tag}.>"], max_age=3600)
    dlq = dead_letter_stream(f"prov{tag}")
    consumer = ConsumerSpec(stream.name, f"c-{tag}", f"prov{tag}.a.>", service=f"prov{tag}")
    try:
        await provision(js, [stream, dlq], [consumer])
        await provision(js, [stream, dlq], [consumer])
        await asyncio.gather(*(provision(js, [stream, dlq], [consumer]) for _ in range(3)))
        assert len(await js.consumers_info(stream.name)) == 1
        assert (await js.stream_info(stream.name)).config.max_age == 3600

        await provision(
            js,
            [dataclasses.replace(stream, max_age=7200)],
            [dataclasses.replace(consumer, max_deliver=7, filter_subject=f"prov{tag}.b.>")],
        )
        assert (await js.stream_info(stream.name)).config.max_age == 7200
        updated = (await js.consumer_info(stream.name, consumer.durable)).config
        assert updated.filter_subject == f"prov{tag}.b.>"
        assert updated.max_deliver >= 7
    finally:
        await js.delete_stream(stream.name)
        await js.delete_stream(dlq.name)


async def test_the_effect_and_the_inbox_row_commit_together(pool, js, bus):
    _, _, spec = bus
    calls = []

    async def fails_once_after_its_effect(conn, event, msg):
        calls.append(event.event_id)
        await record_effect(conn, event, msg)
        if len(calls) == 1:
            raise RuntimeError("boom after the effect")

    event = event_for(spec)
    await publish(js, event)
    consumer = Consumer(pool, js, spec, fails_once_after_its_effect)
    assert await consumer.fetch_and_handle(wait=2) == 1
    assert await count(pool, "SELECT count(*) FROM effects") == 0
    assert await count(pool, "SELECT count(*) FROM kit_inbox") == 0

    await eventually(lambda: consumer.fetch_and_handle(wait=1))  # redelivered after backoff
    assert len(calls) == 2
    assert await count(pool, "SELECT count(*) FROM effects") == 1
    assert (
        await count(
            pool,
            "SELECT count(*) FROM kit_inbox WHERE consumer = %s AND event_id = %s",
            spec.durable,
            event.event_id,
        )
        == 1
    )
    await consumer.stop()


class LosesItsAcks(Consumer):
    """Commits, then dies before acknowledging: what a consumer killed mid-batch does."""

    async def _settle_all(self, outcomes):
        pass


async def test_an_event_redelivered_after_its_commit_has_no_second_effect(pool, js, bus):
    _, _, spec = bus
    calls = []

    async def handler(conn, event, msg):
        calls.append(event.event_id)
        await record_effect(conn, event, msg)

    await publish(js, event_for(spec))
    crashing = LosesItsAcks(pool, js, spec, handler)
    assert await crashing.fetch_and_handle(wait=2) == 1
    await crashing.stop()

    duplicates_before = sample("consumer_duplicates_total", spec)
    consumer = Consumer(pool, js, spec, handler)
    # JetStream redelivers once ack_wait (1 s) has passed.
    await eventually(lambda: consumer.fetch_and_handle(wait=1), timeout=5)
    await consumer.stop()

    assert len(calls) == 1
    assert await count(pool, "SELECT count(*) FROM effects") == 1
    assert sample("consumer_duplicates_total", spec) - duplicates_before == 1
    info = await js.consumer_info(spec.stream, spec.durable)
    assert info.num_ack_pending == 0


async def test_a_handler_that_always_fails_is_retried_then_dead_lettered(pool, js, bus):
    _, dlq, spec = bus
    calls = []

    async def always_fails(conn, event, msg):
        calls.append(msg.metadata.num_delivered)
        await record_effect(conn, event, msg)
        raise ValueError("this event cannot be applied")

    dead_before = sample("consumer_dead_lettered_total", spec)
    failures_before = sample("consumer_failures_total", spec)
    event = event_for(spec)
    await publish(js, event)
    consumer = Consumer(pool, js, spec, always_fails, fetch_timeout=0.5)
    await consumer.start()
    try:
        await eventually(lambda: _has_messages(js, dlq.name), timeout=10)
        await asyncio.sleep(1.5)  # longer than ack_wait: no further delivery may come
    finally:
        await consumer.stop()

    assert calls == [1, 2, 3]
    dead = await js.get_msg(dlq.name, 1)
    assert dead.subject == spec.dead_letter_subject
    assert dead.data == event.SerializeToString()
    assert dead.headers["Missiva-Dead-Letter-Error"] == "ValueError: this event cannot be applied"
    assert dead.headers["Missiva-Dead-Letter-Deliveries"] == "3"
    assert dead.headers["Missiva-Dead-Letter-Subject"] == event.event_type
    assert sample("consumer_dead_lettered_total", spec) - dead_before == 1
    assert sample("consumer_failures_total", spec) - failures_before == 3
    assert await count(pool, "SELECT count(*) FROM effects") == 0
    info = await js.consumer_info(spec.stream, spec.durable)
    assert info.num_ack_pending == 0
    assert info.num_pending == 0


async def test_a_message_that_breaks_the_batch_commit_is_retried_alone_and_spares_the_rest(
    pool, js, bus
):
    _, dlq, spec = bus
    async with pool.connection() as conn:
        # A deferred constraint fails at COMMIT, after every handler of the batch succeeded.
        await conn.execute(
            "CREATE TABLE picky (v int, CONSTRAINT picky_once UNIQUE (v)"
            " DEFERRABLE INITIALLY DEFERRED); INSERT INTO picky VALUES (1)"
        )

    async def handler(conn, event, msg):
        await record_effect(conn, event, msg)
        if unpack(event, wrappers_pb2.StringValue).value == "bad":
            await conn.execute("INSERT INTO picky VALUES (1)")

    bodies = ["a", "b", "bad", "c", "d"]
    for body in bodies:
        await publish(js, event_for(spec, body))
    consumer = Consumer(pool, js, spec, handler, fetch_timeout=0.5)
    await consumer.start()
    try:
        await eventually(lambda: _has_messages(js, dlq.name), timeout=10)
    finally:
        await consumer.stop()

    rows = await count(pool, "SELECT string_agg(body, ',' ORDER BY body) FROM effects")
    assert rows == "a,b,c,d"
    dead = await js.get_msg(dlq.name, 1)
    assert "picky_once" in dead.headers["Missiva-Dead-Letter-Error"]
    assert dead.headers["Missiva-Dead-Letter-Deliveries"] == str(spec.max_deliver)


async def _has_messages(js, stream):
    return (await js.stream_info(stream)).state.messages > 0


async def test_a_message_that_is_not_an_envelope_is_dead_lettered_at_once(pool, js, bus):
    _, dlq, spec = bus
    calls = []

    async def handler(conn, event, msg):
        calls.append(event)

    await js.publish(f"{spec.filter_subject[:-2]}.junk", b"\xff\xfe not protobuf")
    consumer = Consumer(pool, js, spec, handler)
    assert await consumer.fetch_and_handle(wait=2) == 1
    await consumer.stop()

    assert calls == []
    dead = await js.get_msg(dlq.name, 1)
    assert dead.headers["Missiva-Dead-Letter-Deliveries"] == "1"
    assert "not an event envelope" in dead.headers["Missiva-Dead-Letter-Error"]


async def test_the_consumers_process_span_continues_the_producers_trace(pool, js, bus, tracing):
    _, _, spec = bus
    handler_trace = []

    async def handler(conn, event, msg):
        handler_trace.append(trace.get_current_span().get_span_context().trace_id)

    provider, spans = tracing
    with provider.get_tracer("test").start_as_current_span("grant consent") as request:
        event = event_for(spec)
        async with pool.connection() as conn, conn.transaction():
            await add_event(conn, event)
    producer = request.get_span_context()

    relay = OutboxRelay(pool, js, tracer_provider=provider)
    assert await relay.publish_batch() == 1
    await relay.stop()
    consumer = Consumer(pool, js, spec, handler, tracer_provider=provider)
    assert await consumer.fetch_and_handle(wait=2) == 1
    await consumer.stop()

    finished = {s.name: s for s in spans.get_finished_spans()}
    publish_span = finished[f"publish {event.event_type}"]
    process_span = finished[f"process {event.event_type}"]
    assert process_span.context.trace_id == producer.trace_id
    assert handler_trace == [producer.trace_id]
    assert publish_span.parent.span_id == producer.span_id
    assert process_span.parent.span_id == publish_span.context.span_id
    assert process_span.kind is trace.SpanKind.CONSUMER
    assert "outbox publish" in finished


async def test_stop_finishes_the_batch_in_hand_before_returning(pool, js, bus):
    _, _, spec = bus
    entered = asyncio.Event()

    async def slow(conn, event, msg):
        entered.set()
        await asyncio.sleep(0.5)
        await record_effect(conn, event, msg)

    await publish(js, event_for(spec))
    consumer = Consumer(pool, js, spec, slow)
    await consumer.start()
    await asyncio.wait_for(entered.wait(), 5)
    await consumer.stop()

    assert await count(pool, "SELECT count(*) FROM effects") == 1
    await asyncio.sleep(0.1)  # the ack is on its way to the server
    assert (await js.consumer_info(spec.stream, spec.durable)).num_ack_pending == 0


async def test_a_consumer_that_was_never_provisioned_refuses_to_start(pool, js, bus):
    _, _, spec = bus
    missing = dataclasses.replace(spec, durable="never-provisioned")

    async def handler(conn, event, msg):
        pass

    with pytest.raises(RuntimeError, match=r"call bus\.provision"):
        await Consumer(pool, js, missing, handler).start()


async def test_the_bus_is_healthy_while_connected_and_not_after_close(nats_url):
    nc = await connect_nats(nats_url, "health")
    assert await bus_healthy(nc)
    await nc.close()
    assert not await bus_healthy(nc)


def test_redelivery_backoff_follows_the_spec_and_repeats_its_last_step():
    spec = ConsumerSpec("S", "d", backoff=(1, 5, 30))
    assert [spec.delay_after(n) for n in (1, 2, 3, 4, 9)] == [1, 5, 30, 30, 30]
    assert spec.dead_letter_subject == "dlq.d"
    assert dataclasses.replace(spec, service="campaign").dead_letter_subject == "dlq.campaign.d"
