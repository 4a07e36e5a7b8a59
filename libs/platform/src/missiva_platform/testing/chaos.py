"""Processes for the delivery-guarantee test, to be killed with SIGKILL while they work.

    python -m missiva_platform.testing.chaos relay --database-url URL --nats-url URL --name N
    python -m missiva_platform.testing.chaos consumer --database-url URL --nats-url URL --name N

``relay`` runs the kit's outbox relay over the producer's database; ``consumer`` runs a kit
consumer whose effect is one row in ``effects`` (no unique constraint, so a second effect
would really be a second row). Both hesitate inside their crash window (relay: after
JetStream acknowledged a batch, before the DELETE commits; consumer: after the COMMIT,
before the acks) so that a kill is likely to land where a mistake would show. SIGTERM or
SIGINT stops them gracefully. Each process writes its counters as JSON to
``<stats-dir>/<role>-<pid>.json`` every 0.1 s and when it stops, so counters of killed
processes survive too (up to their last 0.1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

from missiva_platform import metrics
from missiva_platform.bus import (
    Consumer,
    ConsumerSpec,
    StreamSpec,
    connect_nats,
    dead_letter_stream,
    provision,
)
from missiva_platform.db import make_pool
from missiva_platform.events import EventEnvelope
from missiva_platform.outbox import OutboxRelay

EFFECTS_SQL = """
-- Deliberately no unique constraint: a duplicate effect must show as a duplicate row.
CREATE TABLE effects (
    event_id   uuid        NOT NULL,
    pid        integer     NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
"""


def service(name: str) -> str:
    """The subject prefix (and DLQ owner) of the run called ``name``."""
    return f"chaos{name}"


def specs(name: str) -> tuple[StreamSpec, StreamSpec, ConsumerSpec]:
    """The event stream, dead-letter stream and consumer of the run called ``name``."""
    svc = service(name)
    stream = StreamSpec(f"CHAOS_{name.upper()}", (f"{svc}.>",), duplicate_window=120)
    consumer = ConsumerSpec(
        stream.name,
        f"effects-{name}",
        f"{svc}.>",
        max_deliver=10,
        backoff=(0.2,),
        ack_wait=2.0,  # a killed consumer's batch comes back this soon
        service=svc,
    )
    return stream, dead_letter_stream(svc), consumer


class HesitantRelay(OutboxRelay):
    """Waits between JetStream's acknowledgement and the DELETE: the relay's crash window."""

    hesitation = 0.05

    async def _publish(self, rows: list[tuple[Any, ...]]) -> list[int]:
        acked = await super()._publish(rows)
        await asyncio.sleep(self.hesitation)
        return acked


class HesitantConsumer(Consumer):
    """Waits between the COMMIT and the acks: the consumer's crash window."""

    hesitation = 0.05

    async def _settle_all(self, outcomes: list[Any]) -> None:
        await asyncio.sleep(self.hesitation)
        await super()._settle_all(outcomes)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _value(what: str, labels: dict[str, str] | None = None) -> float:
    return metrics.registry().get_sample_value(metrics.full_name(what), labels or {}) or 0.0


def _write_stats(folder: str | None, role: str, stats: dict[str, float]) -> None:
    if folder:
        path = Path(folder) / f"{role}-{os.getpid()}.json"
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(stats))
        scratch.replace(path)  # a reader never sees half a file


async def _report(folder: str | None, role: str, read: Any) -> None:
    """Write the counters every 0.1 s until cancelled, then once more."""
    try:
        while True:
            _write_stats(folder, role, read())
            await asyncio.sleep(0.1)
    finally:
        _write_stats(folder, role, read())
        print(json.dumps(read()), flush=True)


async def _run_until_signalled(folder: str | None, role: str, read: Any) -> None:
    reporter = asyncio.create_task(_report(folder, role, read))
    try:
        await _until_signalled()
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter


async def run_relay(args: argparse.Namespace) -> None:
    stream, dlq, _ = specs(args.name)
    nc = await connect_nats(args.nats_url, f"chaos-relay-{os.getpid()}")
    try:
        js = nc.jetstream()
        await provision(js, [stream, dlq])
        relay = HesitantRelay(args.database_url, nc, batch_size=args.batch_size, poll_interval=0.2)
        await relay.start()
        print(f"relay {os.getpid()} started", flush=True)

        def counters() -> dict[str, float]:
            return {
                "published": _value("outbox_published_total"),
                "duplicates": _value("outbox_duplicates_total"),
                "errors": _value("outbox_publish_errors_total"),
            }

        await _run_until_signalled(args.stats_dir, "relay", counters)
        await relay.stop()
        _write_stats(args.stats_dir, "relay", counters())
    finally:
        await nc.drain()


async def run_consumer(args: argparse.Namespace) -> None:
    stream, dlq, spec = specs(args.name)
    pid = os.getpid()

    async def record_effect(conn: Any, event: EventEnvelope, msg: Any) -> None:
        await conn.execute(
            "INSERT INTO effects (event_id, pid) VALUES (%s, %s)", (event.event_id, pid)
        )

    nc = await connect_nats(args.nats_url, f"chaos-consumer-{pid}")
    pool = make_pool(args.database_url, max_size=2)
    await pool.open()
    try:
        js = nc.jetstream()
        await provision(js, [stream, dlq], [spec])
        consumer = HesitantConsumer(
            pool, js, spec, record_effect, batch_size=args.batch_size, fetch_timeout=0.5
        )
        await consumer.start()
        print(f"consumer {pid} started", flush=True)
        labels = {"consumer": spec.durable}

        def counters() -> dict[str, float]:
            return {
                "processed": _value("consumer_processed_total", labels),
                "duplicates": _value("consumer_duplicates_total", labels),
                "failures": _value("consumer_failures_total", labels),
            }

        await _run_until_signalled(args.stats_dir, "consumer", counters)
        await consumer.stop()
        _write_stats(args.stats_dir, "consumer", counters())
    finally:
        await nc.drain()
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m missiva_platform.testing.chaos")
    parser.add_argument("role", choices=["relay", "consumer"])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--name", required=True, help="names the stream and consumer")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--stats-dir", help="folder for each process's counters (JSON)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    metrics.configure("chaos")
    runner = run_relay if args.role == "relay" else run_consumer
    asyncio.run(runner(args))


if __name__ == "__main__":
    main()
