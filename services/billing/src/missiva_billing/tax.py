"""VAT on what Missiva sells, and invoice arithmetic, without I/O.

Missiva is an Italian seller of electronically supplied services. The VAT of an invoice
follows the customer's billing profile at issue time:

- Italy (business or private person): 22%.
- Another EU country with a valid VAT number (a business): 0%, FatturaPA Natura N2.1, with
  the reverse-charge note (art. 196 Dir. 2006/112/EC; art. 7-ter DPR 633/1972).
- Another EU country without a VAT number (a consumer): 22%, Italian VAT, while the seller's
  EU-wide distance sales stay under the EUR 10,000 threshold of art. 59c Dir. 2006/112/EC.
- Outside the EU: 0%, Natura N2.1, outside the scope of Italian VAT (art. 7-ter DPR
  633/1972), with that note.

Above the EUR 10,000 threshold EU consumers would owe their own country's rate through the
OSS: not built (the seller must then switch ``eu_consumer`` to the OSS table).

Amounts are integer euro cents. A line's VAT is not rounded on its own: the tax of each rate
is ``round_half_up(taxable x rate)`` over the sum of its lines (what the FatturaPA's
``DatiRiepilogo`` states), so taxable x rate = tax to the cent, on the invoice and in the XML.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from missiva_billing.profile import Profile

ITALIAN_RATE_BPS = 2200

REVERSE_CHARGE_NOTE = {
    "en": "Reverse charge: VAT to be accounted for by the customer"
    " (art. 196 Directive 2006/112/EC). Not subject to Italian VAT, art. 7-ter DPR 633/1972.",
    "it": "Inversione contabile (reverse charge), art. 196 Direttiva 2006/112/CE."
    " Operazione non soggetta a IVA ai sensi dell'art. 7-ter DPR 633/1972.",
}
OUTSIDE_SCOPE_NOTE = {
    "en": "Outside the scope of Italian VAT (art. 7-ter DPR 633/1972).",
    "it": "Operazione non soggetta a IVA ai sensi dell'art. 7-ter DPR 633/1972.",
}
REFERENCE_7TER = "Art. 7-ter DPR 633/1972"


@dataclass(frozen=True)
class VatTreatment:
    """How an invoice is taxed: its rate, the FatturaPA Natura (when 0%) and the notes."""

    kind: str  # italy, eu_reverse_charge, eu_consumer, outside_eu
    rate_bps: int
    natura: str = ""
    legal_reference: str = ""

    def note(self, language: str) -> str:
        if self.kind == "eu_reverse_charge":
            return REVERSE_CHARGE_NOTE[language]
        if self.kind == "outside_eu":
            return OUTSIDE_SCOPE_NOTE[language]
        return ""


def treatment(customer: Profile) -> VatTreatment:
    """The VAT of an invoice to ``customer`` (see the table above)."""
    if customer.is_italian:
        return VatTreatment("italy", ITALIAN_RATE_BPS)
    if customer.in_eu:
        if customer.vat_number:
            return VatTreatment("eu_reverse_charge", 0, "N2.1", REFERENCE_7TER)
        return VatTreatment("eu_consumer", ITALIAN_RATE_BPS)
    return VatTreatment("outside_eu", 0, "N2.1", REFERENCE_7TER)


def tax_cents(taxable_cents: int, rate_bps: int) -> int:
    """VAT on ``taxable_cents`` at ``rate_bps``, rounded half up to the cent (half away from
    zero for a credit note's negative amounts)."""
    exact = Decimal(taxable_cents) * Decimal(rate_bps) / Decimal(10_000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Line:
    description: str
    quantity: int
    unit_price_cents: int
    vat_rate_bps: int

    @property
    def amount_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass(frozen=True)
class Totals:
    subtotal_cents: int
    vat_cents: int

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.vat_cents


def totals(lines: list[Line]) -> Totals:
    """Subtotal and VAT of ``lines`` (VAT per rate over the rate's taxable sum)."""
    by_rate: dict[int, int] = {}
    for line in lines:
        by_rate[line.vat_rate_bps] = by_rate.get(line.vat_rate_bps, 0) + line.amount_cents
    vat = sum(tax_cents(taxable, rate) for rate, taxable in by_rate.items())
    return Totals(sum(by_rate.values()), vat)


def euros(cents: int) -> Decimal:
    """Cents as a decimal euro amount with two places (``1234`` → ``12.34``)."""
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def language_of(customer: Profile) -> str:
    """The invoice's language: Italian for Italian customers, English for everyone else."""
    return "it" if customer.is_italian else "en"
