"""Invoice commands: ``python -m missiva_billing <command>`` (a CronJob or an operator).

- ``renew-subscriptions``: renew every subscription whose period ended (its invoice issued,
  due), end those cancelled at period end, remind and, after the grace, downgrade the unpaid.
- ``sdi-transmit``: render every invoice waiting for the SDI as FatturaPA and hand it to the
  intermediary (the folder drop: ``SDI_OUTBOX_DIR``); each then is ``sent``.
- ``sdi-receipts``: apply the SDI's receipts found in ``SDI_INBOX_DIR`` (delivered, rejected
  with its error codes) to their invoices.
- ``sdi-resend INVOICE``: a rejected invoice goes back to ``pending`` (after what made the SDI
  refuse it, e.g. the seller's settings, was corrected; its content never changes).
- ``charge-bank-transfer ACCOUNT PLAN ORDER``: issue the invoice of a plan paid by bank
  transfer (once per ORDER); ``mark-paid INVOICE``: the transfer arrived;
  ``credit-invoice INVOICE REFUND``: a credit note refunding the whole invoice.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg

from missiva_billing import documents
from missiva_billing.core import Credits
from missiva_billing.core_invoices import Invoices, Item
from missiva_billing.core_profile import Profiles
from missiva_billing.core_subscriptions import Subscriptions
from missiva_billing.einvoice import EInvoiceError, Seller
from missiva_billing.keys import BillingKeys
from missiva_billing.payments import BankTransfer
from missiva_billing.plans import catalogue
from missiva_billing.sdi import FolderDrop, SdiChannel
from missiva_billing.store import invoices, subscriptions
from missiva_billing.stripe_subscriptions import subscriptions_of
from missiva_platform.errors import DomainError, FailedPrecondition, NotFound

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

log = logging.getLogger(__name__)


async def transmit(url: str, core: Invoices, seller: Seller, channel: SdiChannel) -> int:
    """Send every pending invoice; returns how many were handed over. One that does not
    render (it cannot, unless the rules changed after it was issued) stays pending, logged."""
    sent = 0
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for invoice_id in await _pending(conn):
            async with conn.transaction():
                found = await invoices.get(conn, None, invoice_id, lock=True)
                if found is None or found.sdi_status != "pending":
                    continue
                try:
                    name, content = await documents.xml(conn, core, found, seller)
                except EInvoiceError as exc:
                    log.error("sdi: invoice %s does not render: %s", found.number_text, exc)
                    continue
                channel.send(name, content)
                await invoices.set_sdi(conn, invoice_id, "sent", file_name=name)
                sent += 1
    return sent


async def _pending(conn: Any) -> list[str]:
    async with conn.transaction():
        return await invoices.pending_sdi(conn, 10_000)


async def apply_receipts(url: str, core: Invoices, channel: SdiChannel) -> dict[str, int]:
    """Apply the channel's receipts; counts by outcome (``unknown``: a file not ours)."""
    counts: dict[str, int] = {}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for receipt in channel.receipts():
            async with conn.transaction():
                found = await core.sdi_receipt(
                    conn, receipt.file_name, receipt.outcome, receipt.errors
                )
            outcome = receipt.outcome if found is not None else "unknown"
            if found is None:
                log.warning("sdi: a receipt names a file we did not send: %s", receipt.file_name)
            counts[outcome] = counts.get(outcome, 0) + 1
            channel.done(receipt)
    return counts


def _core(app: ServiceApp) -> Invoices:
    settings: Any = app.settings
    keys = BillingKeys(settings.field_keys_file, settings.email_hash_key_file)
    return Invoices(keys, Profiles(keys), oss=settings.vat_oss)


def _channel(app: ServiceApp) -> FolderDrop | None:
    settings: Any = app.settings
    if not settings.sdi_outbox_dir or not settings.sdi_inbox_dir:
        return None
    return FolderDrop(settings.sdi_outbox_dir, settings.sdi_inbox_dir)


async def _unconfigured(app: ServiceApp, states: tuple[str, ...]) -> int:
    """No SDI channel: fine (exit 0) while no invoice waits in ``states``; otherwise exit 2,
    naming the settings (a CronJob failing is what should be noticed)."""
    async with await psycopg.AsyncConnection.connect(app.settings.database_url) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM invoices WHERE sdi_status = ANY(%s)", (list(states),)
        )
        row = await cur.fetchone()
    waiting = int(row[0]) if row else 0
    if waiting:
        print(f"billing: {waiting} invoice(s) wait for the SDI, but SDI_OUTBOX_DIR and"
              " SDI_INBOX_DIR are not set", flush=True)  # fmt: skip
        return 2
    print("billing: no SDI channel (SDI_OUTBOX_DIR, SDI_INBOX_DIR) and nothing waits for one")
    return 0


async def _transmit_command(app: ServiceApp, args: list[str]) -> int:
    argparse.ArgumentParser(prog="missiva-billing sdi-transmit").parse_args(args)
    channel = _channel(app)
    if channel is None:
        return await _unconfigured(app, ("pending",))
    settings: Any = app.settings
    seller = documents.seller_of(settings)
    sent = await transmit(settings.database_url, _core(app), seller, channel)
    print(f"billing: {sent} invoice(s) handed to the SDI intermediary")
    return 0


async def _receipts_command(app: ServiceApp, args: list[str]) -> int:
    argparse.ArgumentParser(prog="missiva-billing sdi-receipts").parse_args(args)
    channel = _channel(app)
    if channel is None:
        return await _unconfigured(app, ("sent",))
    counts = await apply_receipts(app.settings.database_url, _core(app), channel)
    print(f"billing: SDI receipts applied: {counts}")
    return 0


async def _in_transaction(app: ServiceApp, work: Any) -> int:
    async with await psycopg.AsyncConnection.connect(app.settings.database_url) as conn:
        try:
            async with conn.transaction():
                message = await work(conn)
        except DomainError as exc:
            print(f"billing: {exc.message}", flush=True)
            return 1
    print(f"billing: {message}")
    return 0


async def _charge_command(app: ServiceApp, args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="missiva-billing charge-bank-transfer")
    parser.add_argument("account_id")
    parser.add_argument("plan_id")
    parser.add_argument("order")
    parsed = parser.parse_args(args)
    plans = {p.plan_id: p for p in catalogue()}
    plan = plans.get(parsed.plan_id)
    if plan is None or plan.price_cents <= 0:
        print(f"billing: {parsed.plan_id!r} is not a paid plan", flush=True)
        return 2
    provider = BankTransfer(_core(app))

    async def work(conn: Any) -> str:
        item = Item(f"Missiva {plan.name} ({plan.interval})", 1, plan.price_cents)
        charge = await provider.charge(conn, parsed.account_id, f"order:{parsed.order}", [item])
        again = "" if charge.created else " (already issued)"
        return f"invoice {charge.invoice.number_text} {charge.invoice.invoice_id}{again}"

    return await _in_transaction(app, work)


async def _paid_command(app: ServiceApp, args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="missiva-billing mark-paid")
    parser.add_argument("invoice_id")
    parsed = parser.parse_args(args)
    core = _core(app)

    subs = Subscriptions(Credits(), core)

    async def work(conn: Any) -> str:
        invoice = await core.mark_paid(conn, None, parsed.invoice_id)
        activated = await subs.invoice_paid(conn, invoice)
        period = " (its subscription period is active)" if activated else ""
        return f"invoice {invoice.number_text} is paid{period}"

    return await _in_transaction(app, work)


async def _credit_command(app: ServiceApp, args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="missiva-billing credit-invoice")
    parser.add_argument("invoice_id")
    parser.add_argument("refund")
    parsed = parser.parse_args(args)
    core = _core(app)

    async def work(conn: Any) -> str:
        note, _ = await core.credit(conn, None, parsed.invoice_id, refund_ref=parsed.refund)
        return f"credit note {note.number_text} {note.invoice_id}"

    return await _in_transaction(app, work)


async def _resend_command(app: ServiceApp, args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="missiva-billing sdi-resend")
    parser.add_argument("invoice_id")
    parsed = parser.parse_args(args)

    async def work(conn: Any) -> str:
        found = await invoices.get(conn, None, parsed.invoice_id, lock=True)
        if found is None:
            raise NotFound("invoice not found")
        if found.sdi_status != "rejected":
            raise FailedPrecondition(f"invoice {found.number_text} is {found.sdi_status}")
        await invoices.set_sdi(conn, found.invoice_id, "pending", errors=[])
        return f"invoice {found.number_text} will be sent again"

    return await _in_transaction(app, work)


async def renew_subscriptions(
    url: str, now: datetime, keys: BillingKeys, settings: Any = None
) -> dict[str, int]:
    """One pass of the renewal job over every subscription due at ``now``; counts by outcome
    (``renewed``, ``ended``, ``reminded``, ``downgraded``, ``waiting``, ``refused``...).
    ``settings`` give the dunning schedule (and Stripe); the defaults without."""
    invoices_core = Invoices(keys, Profiles(keys), oss=bool(settings and settings.vat_oss))
    if settings is None:
        subs = Subscriptions(Credits(), invoices_core)
    else:
        subs = subscriptions_of(settings, Credits(), invoices_core)
    counts: dict[str, int] = {}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        async with conn.transaction():
            accounts = await subscriptions.due(conn, now, 10_000)
        for account in accounts:
            try:
                async with conn.transaction():
                    outcome = await subs.renew(conn, account, now)
            except DomainError as exc:  # e.g. the profile is no longer complete
                log.error("renewal refused", extra={"account_id": account, "why": exc.message})
                outcome = "refused"
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


async def _renew_command(app: ServiceApp, args: list[str]) -> int:
    argparse.ArgumentParser(prog="missiva-billing renew-subscriptions").parse_args(args)
    settings: Any = app.settings
    keys = BillingKeys(settings.field_keys_file, settings.email_hash_key_file)
    counts = await renew_subscriptions(settings.database_url, datetime.now(UTC), keys, settings)
    print(f"billing: subscriptions: {counts}")
    return 0


COMMANDS = {
    "renew-subscriptions": _renew_command,
    "sdi-transmit": _transmit_command,
    "sdi-resend": _resend_command,
    "sdi-receipts": _receipts_command,
    "charge-bank-transfer": _charge_command,
    "mark-paid": _paid_command,
    "credit-invoice": _credit_command,
}
