"""Billing: credit reservations per second on one account and across 1,000 accounts.

On embedded PostgreSQL (and NATS, for the service), 8 connections in parallel:

- (a) a plain INSERT of a reservation-shaped row, one per transaction: the baseline;
- (b) a reservation through the same database work as ``ReserveCredits`` (the kit's
  idempotency key, the balance row lock, the reservation, the ledger entry and the projection
  in one transaction), every reservation on one account: they serialise on its balance row,
  which is what keeps concurrent reservations from overdrawing it;
- (c) the same spread over 1,000 accounts, where the row locks rarely meet;
- (d) a gRPC health check from 16 concurrent callers against the running service (service and
  load share this process): the round-trip floor, baseline of (e) and (f);
- (e), (f) whole ``ReserveCredits`` RPCs (token, access rule, validation, the transaction of
  (b)) from 16 concurrent callers, on one account and over 1,000 accounts.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc
from psycopg_pool import AsyncConnectionPool

from bench import Result
from missiva.billing.v1 import billing_service_pb2 as pb
from missiva.billing.v1 import billing_service_pb2_grpc
from missiva_billing.__main__ import build
from missiva_billing.config import BillingSettings
from missiva_billing.core import Credits
from missiva_platform.auth import CallerKind
from missiva_platform.db import migrate
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.processes import NatsServer, PostgresServer
from missiva_platform.idempotency import run_once
from missiva_platform.testing.tokens import TestIssuer

WORKERS = 8
CALLERS = 16
RESERVATIONS = 3_000
RPCS = 1_500
ACCOUNTS = 1_000
METHOD = "missiva.billing.v1.BillingService/ReserveCredits"


async def _parallel(n: int, workers: int, work: Any) -> float:
    """Run ``work(i)`` for i < n over ``workers`` tasks; return operations per second."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await work(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return n / (time.perf_counter() - started)


async def _grant(url: str, accounts: list[str], amount: int) -> None:
    credits = Credits()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for account in accounts:
            async with conn.transaction():
                await credits.grant(conn, account, amount, key="bench")


async def _database_rates(url: str) -> tuple[float, float, float]:
    one = [str(uuid.uuid4())]
    many = [str(uuid.uuid4()) for _ in range(ACCOUNTS)]
    await _grant(url, one + many, RESERVATIONS)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "CREATE TABLE bench_plain (LIKE credit_reservations INCLUDING DEFAULTS);"
            " ALTER TABLE bench_plain ADD PRIMARY KEY (reservation_id)"
        )
    credits = Credits()
    week = timedelta(days=7)
    async with AsyncConnectionPool(url, min_size=WORKERS, max_size=WORKERS, open=False) as pool:
        await pool.wait()

        async def plain(i: int) -> None:
            async with pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO bench_plain (reservation_id, account_id, amount, reference,"
                    " expires_at) VALUES (%s, %s, 1, %s, now() + interval '7 days')",
                    (str(uuid.uuid4()), one[0], f"campaign:{i}"),
                )

        def reserve(accounts: list[str]) -> Any:
            async def work(i: int) -> None:
                account = accounts[i % len(accounts)]
                request = pb.ReserveCreditsRequest(
                    amount=1, reference=f"campaign:{i}", idempotency_key=f"bench-{i}"
                )

                async def body(conn: Any) -> pb.ReserveCreditsResponse:
                    held = await credits.reserve(conn, account, 1, request.reference, week)
                    return pb.ReserveCreditsResponse(reservation_id=held.reservation.reservation_id)

                await run_once(
                    pool,
                    tenant_id=account,
                    method=METHOD,
                    request=request,
                    response_type=pb.ReserveCreditsResponse,
                    work=body,
                )

            return work

        baseline = await _parallel(RESERVATIONS, WORKERS, plain)
        single = await _parallel(RESERVATIONS, WORKERS, reserve(one))
        spread = await _parallel(RESERVATIONS, WORKERS, reserve(many))
    return baseline, single, spread


async def _rpc_rates(url: str, nats_url: str) -> tuple[float, float, float]:
    issuer = TestIssuer()
    settings = BillingSettings(
        database_url=url, nats_url=nats_url, grpc_port=0, http_port=0, db_pool_max=WORKERS
    )
    app = build(settings, jwks=issuer.source())
    await app.start()
    one = [str(uuid.uuid4())]
    many = [str(uuid.uuid4()) for _ in range(ACCOUNTS)]
    await _grant(url, one + many, RPCS)
    tokens = {
        account: (
            (
                "authorization",
                "Bearer "
                + issuer.token(
                    tenant_id=account,
                    kind=CallerKind.SERVICE,
                    subject="campaign",
                    roles=(),
                    scopes=("credits:write",),
                    audience="billing",  # service tokens name the service they are for
                ),
            ),
        )
        for account in one + many
    }
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            stub = billing_service_pb2_grpc.BillingServiceStub(channel)

            async def check(i: int) -> None:
                await health.Check(health_pb2.HealthCheckRequest(), timeout=10)

            def reserve(accounts: list[str], tag: str) -> Any:
                async def call(i: int) -> None:
                    account = accounts[i % len(accounts)]
                    await stub.ReserveCredits(
                        pb.ReserveCreditsRequest(amount=1, idempotency_key=f"{tag}-{i}"),
                        metadata=tokens[account],
                        timeout=30,
                    )

                return call

            await _parallel(200, CALLERS, check)  # warm up channel and pool
            baseline = await _parallel(RPCS, CALLERS, check)
            single = await _parallel(RPCS, CALLERS, reserve(one, "one"))
            spread = await _parallel(RPCS, CALLERS, reserve(many, "many"))
    finally:
        await app.stop()
    return baseline, single, spread


async def _measure(pg: PostgresServer, nats_url: str) -> list[Result]:
    probe = build(BillingSettings(database_url="postgresql://x@127.0.0.1/x"))
    db_url = pg.create_database("bench_billing_db")
    rpc_url = pg.create_database("bench_billing_rpc")
    for url in (db_url, rpc_url):
        await migrate(url, probe.migration_sets)
    plain, single, spread = await _database_rates(db_url)
    health, rpc_single, rpc_spread = await _rpc_rates(rpc_url, nats_url)
    a, d = "(a) plain INSERT of a reservation row", "(d) gRPC health check"
    db_note = f"{WORKERS} connections, {RESERVATIONS:,} reservations of 1 credit, 1 per transaction"
    rpc_note = f"{CALLERS} concurrent callers, {RPCS:,} calls, service in the same process"
    return [
        Result(a, plain, "rows/s", note=db_note),
        Result("(b) reservation, one account", single, "reservations/s", a, plain, note=db_note),
        Result(f"(c) reservation, {ACCOUNTS:,} accounts", spread, "reservations/s", a, plain),
        Result(d, health, "calls/s", note=rpc_note),
        Result("(e) ReserveCredits RPC, one account", rpc_single, "reservations/s", d, health),
        Result(
            f"(f) ReserveCredits RPC, {ACCOUNTS:,} accounts",
            rpc_spread,
            "reservations/s",
            d,
            health,
            note=rpc_note,
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
            return asyncio.run(_measure(pg, nats_server.url))
        finally:
            nats_server.stop()
            pg.stop()
