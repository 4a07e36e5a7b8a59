"""A database outage under load loses no command: the consumer waits instead of burning retries.

The outage lasts ``MISSIVA_OUTAGE_SECONDS`` (8 s in ``make test``; ``make chaos`` runs the
five-minute outage of the issue). The consumer's retry policy is scaled down with it
(backoff 0.2 to 0.5 s, three deliveries, 3 s ack wait), so an outage of a few seconds already
outlasts every retry the server would make: before the fix, the batch's messages were NAKed
on every failed transaction until JetStream stopped delivering them.
"""

import asyncio
import os
import time
import uuid

import nats
import psycopg
import pytest
from google.protobuf import wrappers_pb2

from missiva_platform.bus import Consumer, ConsumerSpec, StreamSpec, dead_letter_stream, provision
from missiva_platform.db import kit_migrations, make_pool, migrate
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.processes import PostgresServer
from missiva_platform.events import envelope

OUTAGE = float(os.environ.get("MISSIVA_OUTAGE_SECONDS", "8"))
BEFORE, DURING = 150, 150

pytestmark = [pytest.mark.slow, pytest.mark.timeout(OUTAGE + 240)]


async def publish(js, subject: str, start: int, count: int) -> None:
    for i in range(start, start + count):
        event = envelope(
            wrappers_pb2.StringValue(value=str(i)),
            subject=subject,
            tenant_id="tenant-1",
            producer="outage-test",
            aggregate_id=f"command-{i}",
            aggregate_version=1,
        )
        await js.publish(
            subject, event.SerializeToString(), headers={"Nats-Msg-Id": event.event_id}
        )


async def count_effects(url: str) -> tuple[int, int]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT count(*), count(DISTINCT n) FROM effects")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


async def test_commands_queued_through_a_database_outage_are_each_handled_once(nats_url, tmp_path):
    pg = PostgresServer(tmp_path / "pg", free_port(), durable=False)
    pg.start()
    nc = await nats.connect(nats_url)
    pool = None
    consumer = None
    try:
        url = pg.create_database("outage")
        await migrate(url, [kit_migrations()])
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("CREATE TABLE effects (n integer NOT NULL)")  # no unique: dupes show
        tag = uuid.uuid4().hex[:8]
        svc = f"outage{tag}"
        stream = StreamSpec(f"OUTAGE_{tag.upper()}", (f"{svc}.>",), duplicate_window=120)
        spec = ConsumerSpec(
            stream.name, f"effects-{tag}", f"{svc}.>", max_deliver=3, backoff=(0.2, 0.5),
            ack_wait=3.0, service=svc,
        )  # fmt: skip
        js = nc.jetstream()
        await provision(js, [stream, dead_letter_stream(svc)], [spec])

        async def handler(conn, event, msg):
            value = wrappers_pb2.StringValue()
            event.payload.Unpack(value)
            await conn.execute("INSERT INTO effects (n) VALUES (%s)", (int(value.value),))
            await asyncio.sleep(0.005)  # work takes time, so the outage lands mid-batch

        pool = make_pool(url, min_size=1, max_size=4)
        await pool.open()
        consumer = Consumer(pool, js, spec, handler, batch_size=50, fetch_timeout=0.5)
        await consumer.start()
        subject = f"{svc}.command.sent"
        await publish(js, subject, 0, BEFORE)
        while (await count_effects(url))[0] < BEFORE // 3:
            await asyncio.sleep(0.05)

        await asyncio.to_thread(pg.stop)
        await publish(js, subject, BEFORE, DURING)
        await asyncio.sleep(OUTAGE)
        await asyncio.to_thread(pg.start)

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with_effects = await count_effects(url)
            if with_effects[1] == BEFORE + DURING:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # anything redelivered late would show now
        total, distinct = await count_effects(url)
        assert distinct == BEFORE + DURING, f"lost {BEFORE + DURING - distinct} commands"
        assert total == distinct, f"{total - distinct} commands were applied twice"
        dead = await js.stream_info(dead_letter_stream(svc).name)
        assert dead.state.messages == 0
    finally:
        if consumer is not None:
            await consumer.stop()
        if pool is not None:
            await pool.close()
        await nc.close()
        pg.stop()
