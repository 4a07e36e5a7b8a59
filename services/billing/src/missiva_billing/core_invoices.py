"""Invoice operations, each inside the caller's transaction: issue one per payment, mark it
paid, credit it (a credit note for a refund), record the SDI's receipts.

Numbering is the seller's, across every account: series ``F`` for invoices (``2026/000123``)
and ``NC`` for credit notes (``NC2026/000007``), each restarting at 1 every fiscal year (the
calendar year in Italian time). ``store.invoices.next_number`` keeps them gapless under
concurrency. An invoice names the billing profile as it was when issued (tax fields encrypted
under the account) and is immutable from then on (a trigger); every invoice and credit note
is transmitted to the SDI (foreign customers too, with recipient code ``XXXXXXX``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from missiva.billing.v1 import events_pb2
from missiva.common.v1 import types_pb2
from missiva_billing import SERVICE_NAME
from missiva_billing.core import new_id
from missiva_billing.core_profile import Profiles
from missiva_billing.core_referrals import reward_paid
from missiva_billing.domain import MAX_REFERENCE
from missiva_billing.keys import BillingKeys
from missiva_billing.profile import Profile, invoice_problem
from missiva_billing.store import invoices
from missiva_billing.store.invoices import InvoiceRow
from missiva_billing.tax import Line, language_of, totals, treatment
from missiva_platform import metrics
from missiva_platform.errors import FailedPrecondition, InvalidArgument, NotFound
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.outbox import add_event

ITALY = ZoneInfo("Europe/Rome")
INVOICE_SERIES = "F"
CREDIT_NOTE_SERIES = "NC"
RETENTION_YEARS = 10
MAX_LINES = 100


@dataclass(frozen=True)
class Item:
    """What a payment pays for: one invoice line, VAT excluded."""

    description: str
    quantity: int
    unit_price_cents: int


def number_text(series: str, year: int, number: int) -> str:
    prefix = "" if series == INVOICE_SERIES else series
    return f"{prefix}{year}/{number:06d}"


def retain_until(fiscal_year: int) -> datetime:
    """Ten years after the end of the invoice's fiscal year."""
    return datetime(fiscal_year + RETENTION_YEARS + 1, 1, 1, tzinfo=ITALY)


def checked_items(items: list[Item]) -> list[Item]:
    if not items:
        raise InvalidArgument.field("items", "an invoice needs at least one line")
    if len(items) > MAX_LINES:
        raise InvalidArgument.field("items", f"at most {MAX_LINES} lines")
    for index, item in enumerate(items):
        if not item.description.strip() or len(item.description) > 1000:
            raise InvalidArgument.field(f"items[{index}].description", "1 to 1000 characters")
        if item.quantity <= 0:
            raise InvalidArgument.field(f"items[{index}].quantity", "must be positive")
        if item.unit_price_cents < 0:
            raise InvalidArgument.field(f"items[{index}].unit_price", "must not be negative")
    return items


def compose(
    *,
    invoice_id: str,
    account_id: str,
    kind: str,
    number: int,
    customer: Profile,
    lines: list[Line],
    provider: str,
    payment_ref: str,
    status: str,
    now: datetime,
    credited: str | None = None,
    sealed: tuple[bytes | None, bytes | None] = (None, None),
    oss: bool = False,
) -> InvoiceRow:
    """The invoice (or credit note) numbered ``number`` to ``customer``, issued at ``now``
    (the fiscal year and the date are Italian time's); ``sealed``: the encrypted tax fields."""
    vat = treatment(customer, oss=oss)
    issue_date: date = now.astimezone(ITALY).date()
    series = INVOICE_SERIES if kind == "invoice" else CREDIT_NOTE_SERIES
    amounts = totals(lines)
    language = language_of(customer)
    billed = {
        k: v
        for k, v in asdict(customer).items()
        if k not in ("vat_number", "tax_code", "updated_at")
    }
    return InvoiceRow(
        invoice_id=invoice_id,
        account_id=account_id,
        kind=kind,
        series=series,
        fiscal_year=issue_date.year,
        number=number,
        number_text=number_text(series, issue_date.year, number),
        issued_at=now,
        issue_date=issue_date,
        currency="EUR",
        lines=[asdict(line) for line in lines],
        subtotal_cents=amounts.subtotal_cents,
        vat_cents=amounts.vat_cents,
        total_cents=amounts.total_cents,
        vat_kind=vat.kind,
        vat_rate_bps=vat.rate_bps,
        natura=vat.natura,
        vat_note=vat.note(language),
        language=language,
        billed_to=billed,
        billed_vat_enc=sealed[0],
        billed_tax_enc=sealed[1],
        provider=provider,
        payment_ref=payment_ref,
        credited_invoice=credited,
        status=status,
        paid_at=now if status == "paid" else None,
        sdi_status="pending" if vat.electronic else "not_applicable",
        retain_until=retain_until(issue_date.year),
    )


def lines_for(customer: Profile, items: list[Item], *, oss: bool = False) -> list[Line]:
    """Invoice lines for ``items`` at the customer's VAT rate."""
    rate = treatment(customer, oss=oss).rate_bps
    return [
        Line(i.description.strip(), i.quantity, i.unit_price_cents, rate)
        for i in checked_items(items)
    ]


INVOICE_ISSUED = "billing.invoice.issued"


def invoice_issued_event(invoice: InvoiceRow) -> EventEnvelope:
    """``billing.invoice.issued`` (credit notes too: their number starts with NC)."""
    units, cents = divmod(invoice.total_cents, 100)
    message = events_pb2.InvoiceIssued(
        invoice_id=invoice.invoice_id,
        number=invoice.number_text,
        total=types_pb2.Money(currency_code=invoice.currency, units=units, nanos=cents * 10**7),
    )
    message.issued_at.FromDatetime(invoice.issued_at.astimezone(UTC))
    return envelope(
        message,
        subject=INVOICE_ISSUED,
        tenant_id=invoice.account_id,
        producer=SERVICE_NAME,
        aggregate_id=invoice.invoice_id,
        aggregate_version=1,
    )


class _Metrics:
    def __init__(self) -> None:
        self.issued = metrics.counter("invoices_issued_total", "Invoices issued", ("kind", "vat"))
        self.sdi = metrics.counter("invoice_sdi_receipts_total", "SDI receipts", ("outcome",))


class Invoices:
    def __init__(self, keys: BillingKeys, profiles: Profiles, *, oss: bool = False) -> None:
        self.keys = keys
        self.profiles = profiles
        self.oss = oss  # VAT_OSS: EU consumers pay their own country's VAT (tax.py)
        self._metrics: _Metrics | None = None

    @property
    def metrics(self) -> _Metrics:
        if self._metrics is None:
            self._metrics = _Metrics()
        return self._metrics

    def billed_profile(self, invoice: InvoiceRow) -> Profile:
        """The customer as invoiced, tax fields decrypted."""
        return Profile(
            **invoice.billed_to,  # type: ignore[arg-type]
            vat_number=self.keys.open(invoice.billed_vat_enc, invoice.account_id),
            tax_code=self.keys.open(invoice.billed_tax_enc, invoice.account_id),
        )

    async def _insert(
        self,
        conn: Any,
        account_id: str,
        *,
        kind: str,
        customer: Profile,
        lines: list[Line],
        provider: str,
        payment_ref: str,
        status: str,
        now: datetime,
        credited: str | None = None,
        oss: bool = False,
    ) -> InvoiceRow:
        year = now.astimezone(ITALY).year
        series = INVOICE_SERIES if kind == "invoice" else CREDIT_NOTE_SERIES
        row = compose(
            invoice_id=new_id(),
            account_id=account_id,
            kind=kind,
            number=await invoices.next_number(conn, series, year),
            customer=customer,
            lines=lines,
            provider=provider,
            payment_ref=payment_ref,
            status=status,
            now=now,
            credited=credited,
            oss=oss,
            sealed=(
                self.keys.seal(customer.vat_number, account_id),
                self.keys.seal(customer.tax_code, account_id),
            ),
        )
        await invoices.insert(conn, row)
        await add_event(conn, invoice_issued_event(row))
        self.metrics.issued.labels(kind, row.vat_kind).inc()
        return row

    async def issue(
        self,
        conn: Any,
        account_id: str,
        *,
        provider: str,
        payment_ref: str,
        items: list[Item],
        paid: bool,
        now: datetime | None = None,
    ) -> tuple[InvoiceRow, bool]:
        """The invoice of one payment (issued once: the same payment gets the first one back);
        returns it and whether it was issued by this call."""
        if not payment_ref or len(payment_ref) > MAX_REFERENCE:
            raise InvalidArgument.field("payment_ref", f"1 to {MAX_REFERENCE} characters")
        found = await invoices.for_payment(conn, "invoice", provider, payment_ref)
        if found is not None:
            if found.account_id != account_id:
                raise FailedPrecondition("that payment was invoiced to another account")
            return found, False
        customer = await self.profiles.get(conn, account_id)
        problem = invoice_problem(customer)
        if problem is not None:
            field, why = problem
            raise FailedPrecondition(
                f"the billing profile is not complete: {field} {why}",
                [("BILLING_PROFILE_INCOMPLETE", field, why)],
            )
        lines = lines_for(customer, items, oss=self.oss)
        row = await self._insert(
            conn,
            account_id,
            kind="invoice",
            customer=customer,
            lines=lines,
            provider=provider,
            payment_ref=payment_ref,
            status="paid" if paid else "issued",
            now=now or datetime.now(UTC),
            oss=self.oss,
        )
        if paid and row.total_cents > 0:
            await reward_paid(conn, account_id, now)
        return row, True

    async def mark_paid(
        self, conn: Any, account_id: str | None, invoice_id: str, now: datetime | None = None
    ) -> InvoiceRow:
        """An issued invoice was paid (the bank transfer arrived); paid again is a no-op."""
        found = await invoices.get(conn, account_id, invoice_id, lock=True)
        if found is None or found.kind != "invoice":
            raise NotFound("invoice not found")
        if found.status == "void":
            raise FailedPrecondition("the invoice was cancelled by a credit note")
        if found.status == "paid":
            return found
        moment = now or datetime.now(UTC)
        await invoices.set_status(conn, invoice_id, "paid", moment)
        if found.total_cents > 0:
            await reward_paid(conn, found.account_id, moment)
        return replace(found, status="paid", paid_at=moment)

    async def credit(
        self,
        conn: Any,
        account_id: str | None,
        invoice_id: str,
        *,
        refund_ref: str,
        now: datetime | None = None,
    ) -> tuple[InvoiceRow, bool]:
        """A credit note refunding the whole invoice (which becomes void); once per refund."""
        found = await invoices.get(conn, account_id, invoice_id, lock=True)
        if found is None or found.kind != "invoice":
            raise NotFound("invoice not found")
        existing = await invoices.for_payment(conn, "credit_note", found.provider, refund_ref)
        if existing is not None:
            if existing.credited_invoice != found.invoice_id:
                raise FailedPrecondition("that refund already credited another invoice")
            return existing, False
        if found.status == "void":
            raise FailedPrecondition("the invoice was already credited")
        lines = [Line(**line) for line in found.lines]
        note = await self._insert(
            conn,
            found.account_id,
            kind="credit_note",
            customer=self.billed_profile(found),
            lines=lines,
            provider=found.provider,
            payment_ref=refund_ref,
            status="paid",
            now=now or datetime.now(UTC),
            credited=found.invoice_id,
            oss=found.vat_kind == "eu_consumer_oss",  # as the invoice it credits
        )
        await invoices.set_status(conn, found.invoice_id, "void", None)
        return note, True

    async def sdi_receipt(
        self, conn: Any, file_name: str, outcome: str, errors: list[dict[str, str]]
    ) -> InvoiceRow | None:
        """An SDI receipt for the file ``file_name``: ``sent`` (accepted for delivery),
        ``delivered`` or ``rejected`` (with the SDI's error codes); None for an unknown file."""
        found = await invoices.by_file_name(conn, file_name)
        if found is None:
            return None
        await invoices.set_sdi(conn, found.invoice_id, outcome, errors=errors)
        self.metrics.sdi.labels(outcome).inc()
        return replace(found, sdi_status=outcome, sdi_errors=errors)
