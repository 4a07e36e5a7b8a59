"""The ledger is append-only (a trigger refuses changes); reservation expiry; adjustments;
metrics."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from google.protobuf import duration_pb2

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing.core import Credits
from missiva_billing.jobs import expire_reservations
from missiva_platform import metrics
from missiva_platform.errors import FailedPrecondition, InvalidArgument

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE credit_ledger SET amount = amount + 1 WHERE account_id = %s",
        "DELETE FROM credit_ledger WHERE account_id = %s",
        "TRUNCATE credit_ledger",
    ],
)
async def test_ledger_entries_can_never_be_changed_or_removed(billing, statement):
    tenant = billing.tenant()
    await billing.grant(tenant)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        await billing.sql(statement, *([tenant] if "%s" in statement else []))
    assert await billing.ledger_sums(tenant) == (500, 0)


async def _reserve_with_ttl(billing, tenant: str, amount: int, seconds: int) -> str:
    reply = await billing.stub.ReserveCredits(
        pb.ReserveCreditsRequest(
            amount=amount,
            ttl=duration_pb2.Duration(seconds=seconds),
            idempotency_key=billing.key(),
        ),
        metadata=billing.service(tenant),
        timeout=10,
    )
    return reply.reservation_id


async def test_expired_reservations_are_released_once(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    short = await _reserve_with_ttl(billing, tenant, 30, 60)
    long = await _reserve_with_ttl(billing, tenant, 40, 3 * 86_400)
    now = datetime.now(UTC) + timedelta(minutes=5)
    released = await expire_reservations(billing.url, now=now)
    assert released >= 30  # other tests' holds may have expired too
    status = dict(
        await billing.sql(
            "SELECT reservation_id::text, status FROM credit_reservations WHERE account_id = %s",
            tenant,
        )
    )
    assert status == {short: "closed", long: "open"}
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (460, 40)
    assert await billing.ledger_sums(tenant) == (460, 40)
    kinds = await billing.sql(
        "SELECT kind, amount FROM credit_ledger WHERE reservation_id = %s ORDER BY entry_id", short
    )
    assert kinds == [("reserve", 30), ("expire", 30)]
    assert await expire_reservations(billing.url, now=now) == 0  # nothing left to expire


async def test_a_partly_used_reservation_expires_what_it_still_holds(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    held = await _reserve_with_ttl(billing, tenant, 10, 60)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        assert await Credits().commit_message(conn, tenant, held, "m-1") == "committed"
    await expire_reservations(billing.url, now=datetime.now(UTC) + timedelta(minutes=5))
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (499, 0)


async def test_adjustments_correct_the_balance_but_never_below_zero(billing):
    tenant = billing.tenant()
    await billing.grant(tenant, 100)
    credits = Credits()
    async with await psycopg.AsyncConnection.connect(billing.url) as conn:
        async with conn.transaction():
            after = await credits.adjust(conn, tenant, 25, "goodwill: ticket 42")
        assert after.available == 125
        with pytest.raises(FailedPrecondition):
            async with conn.transaction():
                await credits.adjust(conn, tenant, -126, "too much")
        with pytest.raises(InvalidArgument):
            async with conn.transaction():
                await credits.adjust(conn, tenant, 0, "nothing")
    assert (await billing.balance(tenant)).available == 125
    assert await billing.ledger_sums(tenant) == (125, 0)


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.registry().get_sample_value(name, labels or {}) or 0.0


async def test_reservations_refusals_and_low_balance_are_counted(billing):
    reserved = "missiva_billing_credit_reservations_total"
    low = "missiva_billing_credits_low_total"
    before = (
        _sample(reserved, {"outcome": "reserved"}),
        _sample(reserved, {"outcome": "refused"}),
        _sample(low),
    )
    tenant = billing.tenant()
    await billing.grant(tenant, 100)
    await billing.reserve(tenant, 95)
    with pytest.raises(Exception, match="missing"):
        await billing.reserve(tenant, 10)
    after = (
        _sample(reserved, {"outcome": "reserved"}),
        _sample(reserved, {"outcome": "refused"}),
        _sample(low),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]


async def _cli(billing, *args: str) -> tuple[int, str]:
    env = {**os.environ, "DATABASE_URL": billing.url, "LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "missiva_billing", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_the_commands_run_from_the_command_line(billing):
    tenant = billing.tenant()
    await billing.grant(tenant, 10)
    code, out = await _cli(billing, "adjust-credits", tenant, "15", "goodwill")
    assert (code, out.strip().splitlines()[-1]) == (
        0, f"billing: {tenant} now has 25 credit(s) available",
    )  # fmt: skip
    code, out = await _cli(billing, "adjust-credits", tenant, "-26", "too much")
    assert code == 1
    assert "cannot remove 26" in out
    code, out = await _cli(billing, "expire-reservations")
    assert code == 0
    assert "expired credit(s)" in out
    assert (await billing.balance(tenant)).available == 25
