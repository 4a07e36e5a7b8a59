"""The scheduled jobs: under `missiva up` (JOBS_INTERVAL_SECONDS) the billing process runs them
itself; the SDI commands without a channel pass while nothing waits for the SDI and fail when
something does (CronJobs in the chart: tests/deploy)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import msgspec
import psycopg
import pytest
from google.protobuf import duration_pb2

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing.core_invoices import Item
from missiva_billing.jobs import COMMANDS
from missiva_billing.scheduler import JOBS, run_jobs

from . import customers

pytestmark = pytest.mark.asyncio(loop_scope="module")

_SDI = Path(tempfile.mkdtemp())
SETTINGS = {
    "jobs_interval_seconds": 1,
    "sdi_outbox_dir": str(_SDI / "outbox"),
    "sdi_inbox_dir": str(_SDI / "inbox"),
}


async def test_the_service_expires_holds_and_hands_invoices_to_the_sdi_by_itself(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    held = await billing.stub.ReserveCredits(
        pb.ReserveCreditsRequest(
            amount=30, idempotency_key=billing.key(), ttl=duration_pb2.Duration(seconds=60)
        ),
        metadata=billing.service(tenant),
        timeout=10,
    )
    await billing.sql(
        "UPDATE credit_reservations SET expires_at = now() - interval '1 second'"
        " WHERE reservation_id = %s",
        held.reservation_id,
    )
    await customers.write(billing, tenant, customers.ITALIAN_COMPANY)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        invoice, _ = await billing.invoices.issue(
            conn,
            tenant,
            provider="bank_transfer",
            payment_ref="sched-1",
            items=[Item("Missiva Pro (monthly)", 1, 4900)],
            paid=False,
        )

    async def done():
        status = await billing.scalar(
            "SELECT status FROM credit_reservations WHERE reservation_id = %s", held.reservation_id
        )
        sdi = await billing.scalar(
            "SELECT sdi_status FROM invoices WHERE invoice_id = %s", invoice.invoice_id
        )
        return status == "closed" and sdi == "sent"

    # Nobody calls a command here: the worker's rounds (every second) do the work.
    assert await billing.until(done, timeout=20)
    assert (await billing.balance(tenant)).available == 500
    assert [p.name for p in (_SDI / "outbox").iterdir()]


async def test_one_round_runs_every_job_and_a_failure_does_not_stop_the_others(
    billing, monkeypatch
):
    done = await run_jobs(billing.app.settings)
    assert sorted(done) == sorted(JOBS)
    assert "failed" not in done.values()

    async def broken(*args, **kwargs):
        raise psycopg.OperationalError("injected")

    monkeypatch.setattr("missiva_billing.scheduler.expire_reservations", broken)
    done = await run_jobs(billing.app.settings)
    assert done["expire-reservations"] == "failed"
    assert isinstance(done["renew-subscriptions"], dict)
    assert isinstance(done["sdi-receipts"], dict)


async def test_sdi_commands_without_a_channel_fail_only_when_an_invoice_waits(billing, capsys):
    bare = SimpleNamespace(
        settings=msgspec.structs.replace(billing.app.settings, sdi_outbox_dir="", sdi_inbox_dir="")
    )
    await billing.sql(
        "UPDATE invoices SET sdi_status = 'delivered' WHERE sdi_status <> 'delivered'"
        " AND sdi_status <> 'not_applicable'"
    )
    assert await COMMANDS["sdi-transmit"](bare, []) == 0
    assert await COMMANDS["sdi-receipts"](bare, []) == 0
    assert "nothing waits" in capsys.readouterr().out
    tenant = billing.tenant()
    await customers.write(billing, tenant, customers.ITALIAN_COMPANY)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        await billing.invoices.issue(
            conn,
            tenant,
            provider="bank_transfer",
            payment_ref="sched-2",
            items=[Item("Missiva Pro (monthly)", 1, 4900)],
            paid=False,
        )
    # The worker of this module may take it first: then it waits as "sent" for its receipt.
    codes = {await COMMANDS["sdi-transmit"](bare, []), await COMMANDS["sdi-receipts"](bare, [])}
    assert 2 in codes
    assert "SDI_OUTBOX_DIR and SDI_INBOX_DIR are not set" in capsys.readouterr().out
