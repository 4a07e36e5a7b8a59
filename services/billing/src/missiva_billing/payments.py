"""Payment providers. Card data never reaches billing: a provider holds it, and billing keeps
its customer and payment ids, the status, the amount and the VAT (on the invoice).

``PaymentProvider`` is what billing asks of one: charge an account for some items. The
embedded default is ``BankTransfer``: the charge issues the invoice at once (status
``issued``, the seller's IBAN on it); the customer pays by bank transfer quoting the invoice
number; an operator then marks it paid (``python -m missiva_billing mark-paid INVOICE``).
Stripe (``stripe_provider.py``) works the other way round: the customer pays at Stripe's
checkout page first, and Stripe's ``invoice.paid`` webhook issues our invoice, already paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from missiva_billing.core_invoices import Invoices, Item
from missiva_billing.store.invoices import InvoiceRow


@dataclass(frozen=True)
class Charge:
    """What a provider's charge gave: the invoice, and where to pay when the customer must
    act (a checkout page; empty for a bank transfer, paid against the invoice)."""

    invoice: InvoiceRow
    created: bool
    pay_at: str = ""


class PaymentProvider(Protocol):
    name: str

    async def charge(
        self, conn: Any, account_id: str, payment_ref: str, items: list[Item]
    ) -> Charge: ...


class BankTransfer:
    name = "bank_transfer"

    def __init__(self, invoices: Invoices) -> None:
        self.invoices = invoices

    async def charge(
        self, conn: Any, account_id: str, payment_ref: str, items: list[Item]
    ) -> Charge:
        invoice, created = await self.invoices.issue(
            conn, account_id, provider=self.name, payment_ref=payment_ref, items=items, paid=False
        )
        return Charge(invoice, created)
