"""200 payments settled concurrently produce 200 invoices numbered 1..200 for the year: no
gap, no repeat (its own module: its own database, so its counter starts at zero)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from missiva_billing.core_invoices import Item

from . import customers

pytestmark = pytest.mark.asyncio(loop_scope="module")

PAYMENTS = 200
CONNECTIONS = 40


async def test_concurrent_payments_are_numbered_without_gap_or_repeat(billing):
    accounts = [billing.tenant() for _ in range(10)]
    for account in accounts:
        await customers.write(billing, account, customers.ITALIAN_COMPANY)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(PAYMENTS):
        queue.put_nowait(index)
    issued: list[tuple[int, int]] = []
    failures: list[BaseException] = []

    async def worker() -> None:
        async with await psycopg.AsyncConnection.connect(billing.url) as conn:
            while not queue.empty():
                index = queue.get_nowait()
                try:
                    async with conn.transaction():
                        invoice, created = await billing.invoices.issue(
                            conn,
                            accounts[index % len(accounts)],
                            provider="bank_transfer",
                            payment_ref=f"order:{index}",
                            items=[Item("Missiva Pro (monthly)", 1, 4900)],
                            paid=True,
                        )
                    assert created
                    issued.append((invoice.fiscal_year, invoice.number))
                except BaseException as exc:  # collected, so one failure does not hide others
                    failures.append(exc)

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    assert failures == []
    years = {year for year, _ in issued}
    assert len(years) == 1
    assert sorted(number for _, number in issued) == list(range(1, PAYMENTS + 1))
    rows = await billing.sql("SELECT number FROM invoices WHERE series = 'F' ORDER BY number")
    assert [r[0] for r in rows] == list(range(1, PAYMENTS + 1))


async def test_a_rolled_back_issue_gives_its_number_back(billing):
    account = billing.tenant()
    await customers.write(billing, account, customers.ITALIAN_COMPANY)
    before = await billing.scalar("SELECT max(number) FROM invoices WHERE series = 'F'")
    async with await psycopg.AsyncConnection.connect(billing.url) as conn:
        failed = False
        try:
            async with conn.transaction():
                await billing.invoices.issue(
                    conn, account, provider="bank_transfer", payment_ref="order:rollback",
                    items=[Item("x", 1, 100)], paid=True,
                )  # fmt: skip
                raise RuntimeError("the payment's transaction failed after the invoice")
        except RuntimeError:
            failed = True
        assert failed
        async with conn.transaction():
            invoice, _ = await billing.invoices.issue(
                conn, account, provider="bank_transfer", payment_ref="order:next",
                items=[Item("x", 1, 100)], paid=True,
            )  # fmt: skip
    assert invoice.number == (before or 0) + 1
