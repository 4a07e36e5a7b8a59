"""The Foundation's acceptance test: exactly one effect per event, whatever gets killed.

10,000 events are committed to a producer's outbox in 100 transactions (and 1,000 more are
rolled back). The relay and the consumer run as separate processes; the relay is killed
with SIGKILL three times while it publishes and the consumer twice while it consumes, each
restarted at once. In the end the consumer's database holds exactly one effect row per
committed event: the stream dropped the relay's re-publishes, and the inbox absorbed the
consumer's redeliveries.
"""

import asyncio
import json
import subprocess
import sys
import time
import uuid

import nats
import psycopg
import pytest
from google.protobuf import wrappers_pb2

from missiva_platform.bus import provision
from missiva_platform.db import MigrationSet, kit_migrations
from missiva_platform.devstack.processes import die_with_parent
from missiva_platform.events import envelope
from missiva_platform.outbox import add_events
from missiva_platform.testing import chaos

pytestmark = pytest.mark.slow

TRANSACTIONS, PER_TRANSACTION = 100, 100
TOTAL = TRANSACTIONS * PER_TRANSACTION
ROLLED_BACK = 10  # transactions of PER_TRANSACTION events each
RELAY_KILLS_AT = [1_500, 4_000, 6_500]  # messages in the stream
CONSUMER_KILLS_AT = [2_500, 5_500]  # effect rows
DEADLINE = 55.0


class Child:
    """One chaos role as a child process that the test can SIGKILL and restart."""

    def __init__(self, role, args, folder):
        self.role = role
        self.args = [*args, "--stats-dir", str(folder)]
        self.folder = folder
        self.log = folder / f"{role}.log"
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "missiva_platform.testing.chaos", self.role, *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,  # default SIGINT; dies if the test dies
            )

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        self.proc.terminate()
        return self.proc.wait(30)

    def ensure_stopped(self):
        if self.proc is not None and self.proc.poll() is None:
            self.kill()

    def counters(self):
        """Counters summed over every process of this role, killed ones included."""
        total = {}
        for path in self.folder.glob(f"{self.role}-*.json"):
            for key, value in json.loads(path.read_text()).items():
                total[key] = total.get(key, 0) + value
        return total


@pytest.fixture
def databases(make_database, tmp_path):
    folder = tmp_path / "effects"
    folder.mkdir()
    (folder / "0001_effects.sql").write_text(chaos.EFFECTS_SQL)
    producer = make_database([kit_migrations()], "chaos_producer")
    consumer = make_database([kit_migrations(), MigrationSet("effects", folder)], "chaos_consumer")
    return producer, consumer


async def write_events(conn, prefix):
    """Commit TOTAL events in TRANSACTIONS transactions, roll ROLLED_BACK more back."""
    committed = set()
    for t in range(TRANSACTIONS + ROLLED_BACK):
        batch = [
            envelope(
                wrappers_pb2.StringValue(value=f"event {t}/{i}"),
                subject=f"{prefix}.thing.happened",
                tenant_id="tenant-chaos",
                producer="chaos",
                aggregate_id=f"thing-{i}",
                aggregate_version=t + 1,
            )
            for i in range(PER_TRANSACTION)
        ]
        rollback = t % 11 == 5  # spread among the committed ones
        async with conn.transaction(force_rollback=rollback):
            await add_events(conn, batch)
        if not rollback:
            committed |= {e.event_id for e in batch}
    assert len(committed) == TOTAL
    return committed


async def scalar(conn, sql):
    return (await (await conn.execute(sql)).fetchone())[0]


async def test_every_committed_event_has_exactly_one_effect_despite_sigkills(
    databases, nats_url, tmp_path
):
    producer_db, consumer_db = databases
    name = uuid.uuid4().hex[:8]
    stream, dlq, spec = chaos.specs(name)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await provision(js, [stream, dlq], [spec])
    producer = await psycopg.AsyncConnection.connect(producer_db, autocommit=True)
    consumer_conn = await psycopg.AsyncConnection.connect(consumer_db, autocommit=True)
    committed = await write_events(producer, chaos.service(name))

    common = ["--nats-url", nats_url, "--name", name]
    relay = Child("relay", ["--database-url", producer_db, *common], tmp_path)
    consumer = Child("consumer", ["--database-url", consumer_db, *common], tmp_path)

    async def in_stream():
        return (await js.stream_info(stream.name)).state.messages

    async def in_outbox():
        return await scalar(producer, "SELECT count(*) FROM kit_outbox")

    async def effects():
        return await scalar(consumer_conn, "SELECT count(*) FROM effects")

    async def finished():
        info = await js.consumer_info(spec.stream, spec.durable)
        return (
            info.num_pending == 0
            and info.num_ack_pending == 0
            and await in_outbox() == 0
            and await effects() >= TOTAL
        )

    relay_kills, consumer_kills = [], []
    started = time.monotonic()
    try:
        relay.start()
        consumer.start()
        # Kill each side when its progress crosses the next mark, restart it at once.
        while len(relay_kills) < len(RELAY_KILLS_AT) or len(consumer_kills) < len(
            CONSUMER_KILLS_AT
        ):
            assert time.monotonic() - started < DEADLINE, "stalled before the last kill"
            relay_due = len(relay_kills) < len(RELAY_KILLS_AT)
            if relay_due and await in_stream() >= RELAY_KILLS_AT[len(relay_kills)]:
                relay.kill()
                published, waiting = await in_stream(), await in_outbox()
                # published + still in the outbox - TOTAL = published, not yet deleted
                relay_kills.append((published, waiting, published + waiting - TOTAL))
                relay.start()
            consumer_due = len(consumer_kills) < len(CONSUMER_KILLS_AT)
            if consumer_due and await effects() >= CONSUMER_KILLS_AT[len(consumer_kills)]:
                consumer.kill()
                consumer_kills.append(await effects())
                consumer.start()
            await asyncio.sleep(0.005)
        while not await finished():
            assert time.monotonic() - started < DEADLINE, "did not finish in time"
            await asyncio.sleep(0.05)
        assert relay.stop() == 0
        assert consumer.stop() == 0
        stored = await in_stream()
        rows, distinct = await (
            await consumer_conn.execute("SELECT count(*), count(DISTINCT event_id) FROM effects")
        ).fetchone()
        applied = {
            str(r[0])
            for r in await (await consumer_conn.execute("SELECT event_id FROM effects")).fetchall()
        }
        inbox = await scalar(consumer_conn, "SELECT count(*) FROM kit_inbox")
        consumer_pids = await scalar(consumer_conn, "SELECT count(DISTINCT pid) FROM effects")
    finally:
        relay.ensure_stopped()
        consumer.ensure_stopped()
        await nc.close()
        await producer.close()
        await consumer_conn.close()
        print(f"relay kills (in stream, in outbox, published-not-deleted): {relay_kills}")
        print(f"consumer kills (effect rows): {consumer_kills}")
        print(f"relays: {relay.counters()}; consumers: {consumer.counters()}")
        print(f"took {time.monotonic() - started:.1f} s")

    # Every kill landed mid-stream: neither side had finished.
    assert all(0 < published < TOTAL and waiting > 0 for published, waiting, _ in relay_kills)
    assert all(0 < applied_rows < TOTAL for applied_rows in consumer_kills)
    assert relay.starts == 4
    assert consumer.starts == 3
    assert consumer_pids >= 2  # effects really came from more than one consumer process

    # The result: one effect per committed event, none for a rolled-back one.
    assert rows == TOTAL
    assert distinct == TOTAL
    assert applied == committed
    assert inbox == TOTAL

    # And it was earned: a relay died holding published, undeleted rows, which the next
    # relay re-published and the stream dropped; a consumer died between commit and ack,
    # and the redelivered events were skipped by the inbox.
    assert max(overlap for _, _, overlap in relay_kills) > 0
    assert stored == TOTAL
    assert relay.counters()["duplicates"] > 0
    assert consumer.counters()["duplicates"] > 0
