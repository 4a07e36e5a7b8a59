"""The Italian electronic invoice (FatturaPA 1.2.2, format FPR12) of an invoice, built with
``a38`` and checked by its validation before it leaves.

- Seller (CedentePrestatore): the settings' ``SELLER_*``; transmitter: ``SDI_TRANSMITTER_ID``
  or the seller's VAT number.
- Recipient code: the profile's SDI code; ``0000000`` with the PEC when it has one; ``0000000``
  alone for an Italian private person (their invoices wait in their tax drawer: the SDI
  accepts it, though ``a38`` reports it as error 00426, the one check we do not hold it to);
  ``XXXXXXX`` for a foreign customer.
- Customer (CessionarioCommittente): VAT number split into country and code; an Italian tax
  code as CodiceFiscale; a foreign customer without a VAT number gets the conventional
  ``99999999999``. Foreign addresses carry CAP ``00000`` and no province.
- Amounts: two decimals; one DatiRiepilogo per rate with the tax the invoice states
  (``tax.tax_cents``), so taxable x rate = tax to the cent. Zero-rated invoices carry
  Natura N2.1 and the legal reference; the legal note goes in Causale.
- Credit notes are TD04 and name the invoice they credit (DatiFattureCollegate).
- File name: ``<transmitter>_<5 characters>``, unique per (year, series, number).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import a38
from a38.validation import Validation

from missiva_billing.profile import Profile
from missiva_billing.store.invoices import InvoiceRow
from missiva_billing.tax import REFERENCE_7TER, euros, tax_cents

FOREIGN_RECIPIENT = "XXXXXXX"
NO_RECIPIENT_CODE = "0000000"
FOREIGN_NO_VAT = "99999999999"
FOREIGN_CAP = "00000"
CONSUMER_WITHOUT_PEC = "00426"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ET.register_namespace("p", a38.fattura.NS)


@dataclass(frozen=True)
class Seller:
    name: str
    vat_number: str  # with its IT prefix
    tax_code: str
    street: str
    postal_code: str
    city: str
    province: str
    rea: str  # "MI-1234567"
    tax_regime: str
    iban: str = ""
    transmitter_id: str = ""

    @property
    def transmitter(self) -> str:
        return self.transmitter_id or self.vat_number


class EInvoiceError(Exception):
    """The FatturaPA of an invoice does not pass ``a38``'s validation (names the fields)."""


def _base36(value: int, width: int) -> str:
    digits = ""
    while value:
        value, rest = divmod(value, 36)
        digits = _ALPHABET[rest] + digits
    return digits.rjust(width, "0")[-width:]


def _sequence(invoice: InvoiceRow) -> int:
    series = 1 if invoice.kind == "credit_note" else 0
    return ((invoice.fiscal_year - 2024) * 2 + series) * 1_000_000 + invoice.number


def progressivo(invoice: InvoiceRow) -> str:
    """ProgressivoInvio (at most 10 characters): series, 2-digit year, number."""
    return f"{invoice.series}{invoice.fiscal_year % 100:02d}{invoice.number:06d}"


def file_name(invoice: InvoiceRow, seller: Seller) -> str:
    return f"{seller.transmitter}_{_base36(_sequence(invoice), 5)}.xml"


def _id(vat: str) -> a38.IdFiscaleIVA:
    return a38.IdFiscaleIVA(vat[:2], vat[2:])


def _seller(seller: Seller) -> a38.CedentePrestatore:
    office, _, number = seller.rea.partition("-")
    return a38.CedentePrestatore(
        a38.DatiAnagraficiCedentePrestatore(
            _id(seller.vat_number),
            codice_fiscale=seller.tax_code or None,
            anagrafica=a38.Anagrafica(denominazione=seller.name),
            regime_fiscale=seller.tax_regime,
        ),
        a38.Sede(
            indirizzo=seller.street,
            cap=seller.postal_code,
            comune=seller.city,
            provincia=seller.province,
            nazione="IT",
        ),
        iscrizione_rea=a38.IscrizioneREA(ufficio=office, numero_rea=number, stato_liquidazione="LN")
        if seller.rea
        else None,
    )


def _customer(customer: Profile) -> a38.CessionarioCommittente:
    vat = None
    if customer.vat_number:
        vat = _id(customer.vat_number)
        if not customer.in_eu and not customer.vat_number[:2].isalpha():
            vat = a38.IdFiscaleIVA(customer.country_code, customer.vat_number)
    elif not customer.is_italian:
        vat = a38.IdFiscaleIVA(customer.country_code, FOREIGN_NO_VAT)
    italian = customer.is_italian
    return a38.CessionarioCommittente(
        a38.DatiAnagraficiCessionarioCommittente(
            id_fiscale_iva=vat,
            codice_fiscale=customer.tax_code or None,
            anagrafica=a38.Anagrafica(denominazione=customer.business_name),
        ),
        a38.Sede(
            indirizzo=customer.line1 or "-",
            cap=customer.postal_code if italian else FOREIGN_CAP,
            comune=customer.city or "-",
            provincia=customer.province if italian else None,
            nazione=customer.country_code,
        ),
    )


def _recipient(customer: Profile) -> tuple[str, str | None]:
    if not customer.is_italian:
        return FOREIGN_RECIPIENT, None
    if customer.sdi_code and customer.sdi_code != NO_RECIPIENT_CODE:
        return customer.sdi_code, None
    return NO_RECIPIENT_CODE, customer.pec or None


def _money(cents: int) -> Decimal:
    return euros(cents)


def _rate(bps: int) -> Decimal:
    return (Decimal(bps) / 100).quantize(Decimal("0.01"))


def build(
    invoice: InvoiceRow,
    customer: Profile,
    seller: Seller,
    *,
    credited: tuple[str, date] | None = None,
) -> a38.FatturaPrivati12:
    """The ``a38`` model of ``invoice`` to ``customer`` (the profile as invoiced)."""
    fattura = a38.FatturaPrivati12()
    header = fattura.fattura_elettronica_header
    code, pec = _recipient(customer)
    header.dati_trasmissione.update(
        _id(seller.transmitter),
        progressivo_invio=progressivo(invoice),
        codice_destinatario=code,
        pec_destinatario=pec,
    )
    header.cedente_prestatore = _seller(seller)
    header.cessionario_committente = _customer(customer)

    if not fattura.fattura_elettronica_body:
        fattura.fattura_elettronica_body.append(a38.FatturaElettronicaBody())
    body = fattura.fattura_elettronica_body[0]
    notes = [invoice.vat_note[i : i + 200] for i in range(0, len(invoice.vat_note), 200)]
    body.dati_generali.dati_generali_documento = a38.DatiGeneraliDocumento(
        tipo_documento="TD04" if invoice.kind == "credit_note" else "TD01",
        divisa=invoice.currency,
        data=invoice.issue_date,
        numero=invoice.number_text,
        importo_totale_documento=_money(invoice.total_cents),
        causale=notes or None,
    )
    if credited is not None:
        number, issued = credited
        body.dati_generali.dati_fatture_collegate.append(
            a38.DatiFattureCollegate(id_documento=number, data=issued)
        )
    by_rate: dict[int, int] = {}
    for index, line in enumerate(invoice.lines, start=1):
        amount = line["quantity"] * line["unit_price_cents"]
        rate = line["vat_rate_bps"]
        by_rate[rate] = by_rate.get(rate, 0) + amount
        body.dati_beni_servizi.dettaglio_linee.append(
            a38.DettaglioLinee(
                numero_linea=index,
                descrizione=line["description"],
                quantita=Decimal(line["quantity"]).quantize(Decimal("0.01")),
                unita_misura="NR",
                prezzo_unitario=_money(line["unit_price_cents"]),
                prezzo_totale=_money(amount),
                aliquota_iva=_rate(rate),
                natura=(invoice.natura or None) if rate == 0 else None,
            )
        )
    for rate, taxable in sorted(by_rate.items()):
        zero = rate == 0
        body.dati_beni_servizi.dati_riepilogo.append(
            a38.DatiRiepilogo(
                aliquota_iva=_rate(rate),
                natura=invoice.natura if zero else None,
                imponibile_importo=_money(taxable),
                imposta=_money(tax_cents(taxable, rate)),
                esigibilita_iva=None if zero else "I",
                riferimento_normativo=REFERENCE_7TER if zero and invoice.natura else None,
            )
        )
    method = "MP05" if invoice.provider == "bank_transfer" else "MP08"
    body.dati_pagamento.append(
        a38.DatiPagamento(
            condizioni_pagamento="TP02",
            dettaglio_pagamento=[
                a38.DettaglioPagamento(
                    modalita_pagamento=method,
                    importo_pagamento=_money(invoice.total_cents),
                    iban=(seller.iban or None) if method == "MP05" else None,
                )
            ],
        )
    )
    return fattura


def problems(fattura: a38.FatturaPrivati12, customer: Profile) -> list[str]:
    """``a38``'s validation errors (but 00426 for an Italian private person without a PEC)."""
    validation = Validation()
    fattura.validate(validation)
    tolerated = {CONSUMER_WITHOUT_PEC} if customer.is_italian and not customer.vat_number else set()
    return [str(e) for e in validation.errors if e.code not in tolerated]


def render(fattura: a38.FatturaPrivati12, customer: Profile) -> bytes:
    """The XML document (UTF-8, with its declaration), refused if ``a38`` finds it invalid."""
    found = problems(fattura, customer)
    if found:
        raise EInvoiceError("; ".join(found))
    tree = fattura.build_etree()
    ET.indent(tree)
    return ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True) + b"\n"
