"""An invoice's documents: the FatturaPA XML and the PDF, made from the stored invoice (which
never changes) whenever they are asked for, so they always say what was issued."""

from __future__ import annotations

from typing import Any

from missiva_billing import einvoice, pdf
from missiva_billing.config import BillingSettings
from missiva_billing.core_invoices import Invoices
from missiva_billing.einvoice import Seller
from missiva_billing.store import invoices
from missiva_billing.store.invoices import InvoiceRow


def seller_of(settings: BillingSettings) -> Seller:
    return Seller(
        name=settings.seller_name,
        vat_number=settings.seller_vat_number,
        tax_code=settings.seller_tax_code,
        street=settings.seller_street,
        postal_code=settings.seller_postal_code,
        city=settings.seller_city,
        province=settings.seller_province,
        rea=settings.seller_rea,
        tax_regime=settings.seller_tax_regime,
        iban=settings.seller_iban,
        transmitter_id=settings.sdi_transmitter_id,
    )


async def _credited(conn: Any, invoice: InvoiceRow) -> InvoiceRow | None:
    if invoice.credited_invoice is None:
        return None
    return await invoices.get(conn, invoice.account_id, invoice.credited_invoice)


async def xml(conn: Any, core: Invoices, invoice: InvoiceRow, seller: Seller) -> tuple[str, bytes]:
    """The FatturaPA file name and content of ``invoice``."""
    customer = core.billed_profile(invoice)
    credited = await _credited(conn, invoice)
    link = (credited.number_text, credited.issue_date) if credited else None
    model = einvoice.build(invoice, customer, seller, credited=link)
    return einvoice.file_name(invoice, seller), einvoice.render(model, customer)


async def pdf_of(
    conn: Any, core: Invoices, invoice: InvoiceRow, seller: Seller
) -> tuple[str, bytes]:
    customer = core.billed_profile(invoice)
    credited = await _credited(conn, invoice)
    content = pdf.render(
        invoice, customer, seller, credited_number=credited.number_text if credited else ""
    )
    name = invoice.number_text.replace("/", "-")
    prefix = "credit-note" if invoice.kind == "credit_note" else "invoice"
    return f"{prefix}-{name}.pdf", content
