"""VAT on what Missiva sells, and invoice arithmetic, without I/O.

Missiva is an Italian seller of electronically supplied services. The VAT of an invoice
follows the customer's billing profile at issue time:

- Italy (business or private person): 22%.
- Another EU country with a valid VAT number (a business): 0%, FatturaPA Natura N2.1, with
  the reverse-charge note (art. 196 Dir. 2006/112/EC; art. 7-ter DPR 633/1972).
- Another EU country without a VAT number (a consumer), ``VAT_OSS`` off (the default):
  22%, Italian VAT, while the seller's EU-wide sales to consumers of other member states stay
  under the EUR 10,000 threshold of art. 59c Dir. 2006/112/EC (``eu_consumer``).
- The same with ``VAT_OSS=true`` (above the threshold, or by choice; the seller registered
  for the Union OSS scheme, art. 369a ff. Dir. 2006/112/EC, art. 74-sexies DPR 633/1972): the
  standard rate of the customer's member state (``EU_STANDARD_RATES_BPS``), with a note naming
  it (``eu_consumer_oss``). That VAT is declared in the quarterly OSS return, not in Italy, so
  such an invoice is not an Italian electronic invoice: it is issued (numbered in the same
  series) and sent as PDF, its ``sdi_status`` is ``not_applicable`` and no FatturaPA is made
  for it (the OSS scheme relieves these sales of SDI e-invoicing). The rates table is the
  standard rates in force in 2026; the seller keeps it current (a change is a code change,
  reviewed, with its date).
- Outside the EU: 0%, Natura N2.1, outside the scope of Italian VAT (art. 7-ter DPR
  633/1972), with that note (``outside_eu``): whether a business or a consumer.

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
OSS_NOTE = {
    "en": "VAT of {country} at {rate}%, declared under the Union OSS scheme"
    " (art. 369b Directive 2006/112/EC; art. 74-sexies DPR 633/1972).",
    "it": "IVA {country} al {rate}%, assolta tramite il regime OSS"
    " (art. 369-ter Direttiva 2006/112/CE; art. 74-sexies DPR 633/1972).",
}

# Standard VAT rates of the other EU member states (basis points), for OSS sales to their
# consumers. ISO country codes (Greece is GR here, EL in VAT numbers).
EU_STANDARD_RATES_BPS: dict[str, int] = {
    "AT": 2000, "BE": 2100, "BG": 2000, "CY": 1900, "CZ": 2100, "DE": 1900, "DK": 2500,
    "EE": 2400, "ES": 2100, "FI": 2550, "FR": 2000, "GR": 2400, "HR": 2500, "HU": 2700,
    "IE": 2300, "LT": 2100, "LU": 1700, "LV": 2100, "MT": 1800, "NL": 2100, "PL": 2300,
    "PT": 2300, "RO": 2100, "SE": 2500, "SI": 2200, "SK": 2300,
}  # fmt: skip


@dataclass(frozen=True)
class VatTreatment:
    """How an invoice is taxed: its rate, the FatturaPA Natura (when 0%) and the notes."""

    kind: str  # italy, eu_reverse_charge, eu_consumer, eu_consumer_oss, outside_eu
    rate_bps: int
    natura: str = ""
    legal_reference: str = ""
    country: str = ""

    @property
    def electronic(self) -> bool:
        """Whether the invoice is an Italian electronic invoice (FatturaPA through the SDI)."""
        return self.kind != "eu_consumer_oss"

    def note(self, language: str) -> str:
        if self.kind == "eu_consumer_oss":
            rate = f"{self.rate_bps / 100:g}"
            return OSS_NOTE[language].format(country=self.country, rate=rate)
        if self.kind == "eu_reverse_charge":
            return REVERSE_CHARGE_NOTE[language]
        if self.kind == "outside_eu":
            return OUTSIDE_SCOPE_NOTE[language]
        return ""


def treatment(customer: Profile, *, oss: bool = False) -> VatTreatment:
    """The VAT of an invoice to ``customer`` (see the table above); ``oss``: ``VAT_OSS``."""
    if customer.is_italian:
        return VatTreatment("italy", ITALIAN_RATE_BPS)
    if customer.in_eu:
        if customer.vat_number:
            return VatTreatment("eu_reverse_charge", 0, "N2.1", REFERENCE_7TER)
        if oss:
            rate = EU_STANDARD_RATES_BPS[customer.country_code]
            return VatTreatment("eu_consumer_oss", rate, country=customer.country_code)
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
