"""Consent: ledger appends per second, and unsubscribe latency at 300 requests per second.

On embedded PostgreSQL and NATS, with the consent service running as its own process:

- (a) a plain INSERT of a ledger-shaped row, one per transaction, 8 connections in parallel:
  the baseline the ledger's extra work is compared with;
- (b) ledger appends through ``store.append``, same parallelism, one entry per transaction:
  lock the person's chain head, hash the canonical form, insert, update the projection and
  the head, write the outbox event;
- (c) the gRPC health check at 300 requests/s (open loop), the round-trip floor of the same
  server: the baseline of (d);
- (d) ``Unsubscribe`` at 300 requests/s (open loop), each for a different person with an
  active consent: token check, IP hash and abuse count, withdrawal, suppression entry and
  events in one transaction (one SQL statement: see store.apply_unsubscribe);
- (e) the same at 100 requests/s: the latency of a request that does not queue, to read (d)
  against;
- (f) (d) again over two replicas of the service, reached through one client channel that
  balances round robin over their addresses, as the gateway reaches replicas in production.
  One Python process spends about one core at 300/s (half of it gRPC's own per-call cost,
  which a bare grpcio health server shows too), so replicas are how consent scales.

Latency is measured from each request's scheduled start, so a slow server cannot hide its
queueing (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc
from psycopg_pool import AsyncConnectionPool

from bench import Result
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.consent.v1 import consent_service_pb2_grpc
from missiva_consent import domain, links, store
from missiva_consent.__main__ import build
from missiva_consent.config import ConsentSettings
from missiva_consent.domain import Action, Basis, Change, Evidence, Source
from missiva_platform.db import migrate
from missiva_platform.devstack.ports import free_port, wait_for_port
from missiva_platform.devstack.processes import NatsServer, PostgresServer, die_with_parent
from missiva_platform.secrets import (
    EMAIL_HASH_KEY_FILE,
    IP_SALTS_FILE,
    TOKEN_KEYRING_FILE,
    generate_secrets,
    load_token_keyring,
)

WORKERS = 8
ROUND_ROBIN = [("grpc.lb_policy_name", "round_robin")]
APPENDS = 8_000
PEOPLE = 2_000
RATE = float(os.environ.get("BENCH_CONSENT_RATE", "300"))
SECONDS = float(os.environ.get("BENCH_CONSENT_SECONDS", "10"))
LIGHT_RATE = 100.0  # a rate one process sustains here: latency without queueing, for reading
ACCOUNT = "bench-account"


def _person(i: int) -> str:
    return f"{i:064x}"


def _purpose() -> domain.Purpose:
    return domain.Purpose(
        purpose_id=str(uuid.uuid5(uuid.NAMESPACE_URL, "bench:newsletter")),
        account_id=ACCOUNT,
        key="newsletter",
        name="Newsletter",
        description="",
        kind="email",
        category="marketing",
        legal_basis=Basis.CONSENT,
    )


async def _parallel(n: int, work: Any) -> float:
    """Run ``work(i)`` for i < n over WORKERS tasks; return operations per second."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await work(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return n / (time.perf_counter() - started)


async def _appends(url: str) -> tuple[float, float]:
    purpose = _purpose()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await store.insert_purpose(conn, purpose)
        await conn.execute(
            "CREATE TABLE bench_plain (LIKE consent_ledger INCLUDING DEFAULTS); "
            "ALTER TABLE bench_plain ADD PRIMARY KEY (record_id)"
        )
    evidence = Evidence(
        source=Source.FORM,
        checkbox_text="Yes, send me the newsletter",
        document_id="privacy",
        document_version="2026-01",
        ip_hash="ab" * 32,
        user_agent="Mozilla/5.0 (bench)",
    )
    async with AsyncConnectionPool(url, min_size=WORKERS, max_size=WORKERS, open=False) as pool:
        await pool.wait()

        async def plain(i: int) -> None:
            entry = domain.LedgerEntry(
                record_id=domain.new_id(), account_id=ACCOUNT, person_key=_person(i % PEOPLE),
                seq=i, purpose_id=purpose.purpose_id, purpose_key=purpose.key,
                action=Action.GRANT, resulting_status=domain.Status.GRANTED, state_version=i,
                legal_basis=Basis.CONSENT, source=Source.FORM, source_detail="",
                campaign_id="", checkbox_text=evidence.checkbox_text, document_id="privacy",
                document_version="2026-01", ip_hash=evidence.ip_hash,
                user_agent=evidence.user_agent, occurred_at=domain.utc(_now()),
                recorded_at=domain.utc(_now()), prev_hash=domain.GENESIS, entry_hash="0" * 64,
            )  # fmt: skip
            async with pool.connection() as conn, conn.transaction():
                await conn.execute(
                    store._INSERT_ENTRY.replace("consent_ledger", "bench_plain"),
                    store._entry_params(entry),
                )

        async def chained(i: int) -> None:
            async with pool.connection() as conn, conn.transaction():
                change = Change(Action.GRANT, evidence, purpose)
                await store.append(conn, ACCOUNT, _person(i % PEOPLE), [change])

        baseline = await _parallel(APPENDS, plain)
        ledger = await _parallel(APPENDS, chained)
    return baseline, ledger


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def _open_loop(call: Any, n: int, rate: float = RATE) -> tuple[list[float], int]:
    """Start ``call(i)`` at ``rate`` per second regardless of answers.

    Returns every request's latency in ms (a failed one counts with the time it took, so an
    overloaded server cannot look fast) and the number that failed.
    """
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    latencies: list[float] = []
    failed = 0

    async def one(i: int, due: float) -> None:
        nonlocal failed
        await asyncio.sleep(max(0.0, due - loop.time()))
        try:
            await call(i)
        except grpc.aio.AioRpcError:
            failed += 1
        latencies.append((loop.time() - due) * 1000)

    await asyncio.gather(*(one(i, start + i / rate) for i in range(n)))
    return latencies, failed


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def _spawn(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """The consent service in a process of its own (no GIL shared with the load)."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "missiva_consent", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )


@dataclass
class Latencies:
    health: tuple[list[float], int]
    measured: tuple[list[float], int]  # RATE/s, one replica
    unhurried: tuple[list[float], int]  # LIGHT_RATE/s, one replica
    replicated: tuple[list[float], int]  # RATE/s, two replicas behind one round-robin channel


async def _wait_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for _ in range(100):
        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("consent never became SERVING")


async def _latencies(url: str, nats_url: str, secrets: dict[str, Path], folder: Path) -> Latencies:
    n = int(RATE * SECONDS)
    light = int(LIGHT_RATE * SECONDS / 2)
    people = 2 * n + light
    purpose = _purpose()
    grant = Evidence(source=Source.FORM, checkbox_text="Yes")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await store.insert_purpose(conn, purpose)
        for i in range(people):
            async with conn.transaction():
                key = _person(1_000_000 + i)
                await store.append(conn, ACCOUNT, key, [Change(Action.GRANT, grant, purpose)])
        await conn.execute("DELETE FROM kit_outbox")  # the seed's events need no relay
        await conn.commit()
    keyring = load_token_keyring(secrets[TOKEN_KEYRING_FILE])
    tokens = [
        keyring.sign(
            "unsubscribe",
            links.LinkScope(ACCOUNT, _person(1_000_000 + i), purpose.purpose_id, "c1").claims(),
        )
        for i in range(people)
    ]
    # Each person from an address of their own, as real unsubscribes come.
    clients = [
        types_pb2.ClientContext(
            ip_address=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", user_agent="bench"
        )
        for i in range(people)
    ]
    ports = [free_port(), free_port()]
    servers = []
    for replica, port in enumerate(ports):
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "NATS_URL": nats_url,
            "GRPC_PORT": str(port),
            "HTTP_PORT": str(free_port()),
            "LOG_LEVEL": "WARNING",
            "DB_POOL_MAX": "20",
            "TOKEN_KEYRING_FILE": str(secrets[TOKEN_KEYRING_FILE]),
            "EMAIL_HASH_KEY_FILE": str(secrets[EMAIL_HASH_KEY_FILE]),
            "IP_SALTS_FILE": str(secrets[IP_SALTS_FILE]),
            "UNSUBSCRIBE_ABUSE_THRESHOLD": "1000000",
        }
        servers.append(_spawn(env, folder / f"consent-{replica}.log"))
    try:
        for port in ports:
            await asyncio.to_thread(wait_for_port, port, "127.0.0.1", 60.0)
        # As the gateway reaches replicas: one channel, round robin over their addresses.
        both = ",".join(f"127.0.0.1:{port}" for port in ports)
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{ports[0]}") as channel,
            grpc.aio.insecure_channel(f"ipv4:{both}", options=ROUND_ROBIN) as balanced,
        ):
            await _wait_serving(channel)
            await _wait_serving(balanced)
            health = health_pb2_grpc.HealthStub(channel)
            consent = consent_service_pb2_grpc.ConsentServiceStub(channel)
            spread = consent_service_pb2_grpc.ConsentServiceStub(balanced)

            async def check(i: int) -> None:
                await health.Check(health_pb2.HealthCheckRequest(), timeout=10)

            def unsubscribe(stub: Any, offset: int) -> Any:
                async def call(i: int) -> None:
                    j = offset + i
                    request = pb.UnsubscribeRequest(
                        token=tokens[j], one_click=True, client=clients[j]
                    )
                    await stub.Unsubscribe(request, timeout=10)

                return call

            await _open_loop(check, 300)  # warm-up of the channel and the server
            result = Latencies(
                health=await _open_loop(check, n),
                measured=await _open_loop(unsubscribe(consent, 0), n),
                unhurried=await _open_loop(unsubscribe(consent, n), light, LIGHT_RATE),
                replicated=await _open_loop(unsubscribe(spread, n + light), n),
            )
            async with await psycopg.AsyncConnection.connect(url) as conn:
                cur = await conn.execute(
                    "SELECT count(*) FROM consent_states WHERE status = 'withdrawn'"
                )
                row = await cur.fetchone()
            failed = result.measured[1] + result.unhurried[1] + result.replicated[1]
            if row is None or row[0] != people - failed:
                raise RuntimeError(f"{row} withdrawals recorded for {people - failed} answers")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
    return result


async def _measure(pg: PostgresServer, nats_url: str, folder: Path) -> list[Result]:
    secrets = generate_secrets(folder / "secrets")
    probe = build(ConsentSettings(database_url="postgresql://x@127.0.0.1/x"))
    appends_url = pg.create_database("bench_consent_appends")
    await migrate(appends_url, probe.migration_sets)
    plain, ledger = await _appends(appends_url)
    rpc_url = pg.create_database("bench_consent_rpc")
    await migrate(rpc_url, probe.migration_sets)
    latencies = await _latencies(rpc_url, nats_url, secrets, folder)
    (health, health_failed), (unsubscribe, failed) = latencies.health, latencies.measured
    light, (replicated, replicated_failed) = latencies.unhurried[0], latencies.replicated
    n = len(unsubscribe)
    shape = f"{WORKERS} connections, {APPENDS:,} rows over {PEOPLE:,} people, 1 per transaction"
    load = f"{n:,} requests, {RATE:.0f}/s open loop for {SECONDS:.0f} s, service in its own process"
    load_failed = f"{load}; {failed} failed (counted with their time)" if failed else load
    health_note = f"{load}; {health_failed} failed" if health_failed else load
    return [
        Result("(a) plain INSERT of a ledger-shaped row", plain, "rows/s", note=shape),
        Result(
            "(b) ledger append (chain, projection, outbox)",
            ledger,
            "appends/s",
            "(a) plain INSERT of a ledger-shaped row",
            plain,
            note=shape,
        ),
        Result("(c) gRPC health check p50", _p(health, 0.5), "ms", higher_is_better=False),
        Result(
            "(c) gRPC health check p99",
            _p(health, 0.99),
            "ms",
            higher_is_better=False,
            note=health_note,
        ),
        Result(
            "(d) Unsubscribe p50",
            _p(unsubscribe, 0.5),
            "ms",
            "(c) gRPC health check p50",
            _p(health, 0.5),
            higher_is_better=False,
            note="each a different person with an active consent, from an address of their own",
        ),
        Result(
            "(d) Unsubscribe p99",
            _p(unsubscribe, 0.99),
            "ms",
            "(c) gRPC health check p99",
            _p(health, 0.99),
            higher_is_better=False,
            note=load_failed,
        ),
        Result(
            f"(e) Unsubscribe p50 at {LIGHT_RATE:.0f}/s",
            _p(light, 0.5),
            "ms",
            "(c) gRPC health check p50",
            _p(health, 0.5),
            higher_is_better=False,
        ),
        Result(
            f"(e) Unsubscribe p99 at {LIGHT_RATE:.0f}/s",
            _p(light, 0.99),
            "ms",
            "(c) gRPC health check p99",
            _p(health, 0.99),
            higher_is_better=False,
            note=f"{len(light):,} requests: the latency of one request when nothing queues",
        ),
        Result(
            "(f) Unsubscribe p50, two replicas",
            _p(replicated, 0.5),
            "ms",
            "(c) gRPC health check p50",
            _p(health, 0.5),
            higher_is_better=False,
            note="two service processes, one client channel balancing round robin",
        ),
        Result(
            "(f) Unsubscribe p99, two replicas",
            _p(replicated, 0.99),
            "ms",
            "(c) gRPC health check p99",
            _p(health, 0.99),
            higher_is_better=False,
            note=f"{load}; {replicated_failed} failed" if replicated_failed else load,
        ),
    ]


def run() -> list[Result]:
    """Start throwaway PostgreSQL and NATS, measure, stop them."""
    with tempfile.TemporaryDirectory(prefix="missiva-bench-") as name:
        folder = Path(name)
        pg = PostgresServer(folder / "pg", free_port(), durable=False)
        nats_server = NatsServer(folder / "nats", free_port())
        pg.start()
        nats_server.start()
        try:
            return asyncio.run(_measure(pg, nats_server.url, folder))
        finally:
            nats_server.stop()
            pg.stop()
