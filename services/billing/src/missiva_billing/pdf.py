"""An invoice as PDF (fpdf2, its built-in Helvetica: no system fonts), in English or Italian.

The document is a courtesy copy: for Italian tax purposes the FatturaPA XML is the invoice.
Helvetica covers Latin-1, so text outside it (a name in another script) is shown with ``?``;
amounts are written "EUR 12.34" (English) or "EUR 12,34" (Italian).
"""

from __future__ import annotations

from datetime import UTC

from fpdf import FPDF

from missiva_billing.einvoice import Seller
from missiva_billing.profile import Profile
from missiva_billing.store.invoices import InvoiceRow

STATUS = {
    "en": {"issued": "Due", "paid": "Paid", "void": "Cancelled by a credit note"},
    "it": {"issued": "Da pagare", "paid": "Pagata", "void": "Stornata"},
}
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "credit_note": "Credit note",
        "number": "Number",
        "date": "Date",
        "seller": "From",
        "customer": "Bill to",
        "vat": "VAT number",
        "tax_code": "Tax code",
        "description": "Description",
        "quantity": "Qty",
        "unit_price": "Unit price",
        "rate": "VAT",
        "amount": "Amount",
        "subtotal": "Subtotal",
        "vat_total": "VAT",
        "total": "Total",
        "credits": "Credits invoice",
        "copy": "Courtesy copy. The electronic invoice sent through the SDI is the original.",
    },
    "it": {
        "invoice": "Fattura",
        "credit_note": "Nota di credito",
        "number": "Numero",
        "date": "Data",
        "seller": "Cedente",
        "customer": "Cliente",
        "vat": "Partita IVA",
        "tax_code": "Codice fiscale",
        "description": "Descrizione",
        "quantity": "Q.ta",
        "unit_price": "Prezzo unitario",
        "rate": "IVA",
        "amount": "Importo",
        "subtotal": "Imponibile",
        "vat_total": "IVA",
        "total": "Totale",
        "credits": "Storna la fattura",
        "copy": "Copia di cortesia. L'originale e' la fattura elettronica trasmessa allo SDI.",
    },
}


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def money(cents: int, language: str) -> str:
    units, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    grouped = f"{units:,}".replace(",", "." if language == "it" else ",")
    decimal = "," if language == "it" else "."
    return f"EUR {sign}{grouped}{decimal}{rest:02d}"


def _rate(bps: int, language: str) -> str:
    text = f"{bps / 100:.2f}%"
    return text.replace(".", ",") if language == "it" else text


def _party(pdf: FPDF, title: str, lines: list[str]) -> None:
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in lines:
        if line:
            pdf.cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def render(
    invoice: InvoiceRow, customer: Profile, seller: Seller, *, credited_number: str = ""
) -> bytes:
    lang = invoice.language
    words = LABELS[lang]
    pdf = FPDF(format="A4")
    pdf.set_creation_date(invoice.issued_at.astimezone(UTC).replace(tzinfo=None))
    pdf.set_title(f"{words[invoice.kind]} {invoice.number_text}")
    pdf.set_author(_latin1(seller.name))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"{words[invoice.kind]} {invoice.number_text}"), new_x="LMARGIN",
             new_y="NEXT")  # fmt: skip
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, f"{words['date']}: {invoice.issue_date.isoformat()}", new_x="LMARGIN",
             new_y="NEXT")  # fmt: skip
    status = STATUS[lang][invoice.status]
    pdf.cell(0, 6, _latin1(status), new_x="LMARGIN", new_y="NEXT")
    if credited_number:
        pdf.cell(0, 6, f"{words['credits']} {credited_number}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    _party(
        pdf,
        words["seller"],
        [
            seller.name,
            seller.street,
            f"{seller.postal_code} {seller.city} ({seller.province}) IT",
            f"{words['vat']}: {seller.vat_number}",
        ],
    )
    place = " ".join(p for p in (customer.postal_code, customer.city) if p)
    if customer.province:
        place += f" ({customer.province})"
    _party(
        pdf,
        words["customer"],
        [
            " ".join(p for p in (customer.business_name, customer.legal_form) if p),
            customer.line1,
            customer.line2,
            f"{place} {customer.country_code}".strip(),
            f"{words['vat']}: {customer.vat_number}" if customer.vat_number else "",
            f"{words['tax_code']}: {customer.tax_code}" if customer.tax_code else "",
        ],
    )
    widths = (85, 15, 30, 20, 30)
    pdf.set_font("Helvetica", "B", 10)
    heads = ("description", "quantity", "unit_price", "rate", "amount")
    for width, head in zip(widths, heads, strict=True):
        pdf.cell(width, 7, _latin1(words[head]), border="B")
    pdf.ln()
    pdf.set_font("Helvetica", "", 10)
    for line in invoice.lines:
        amount = line["quantity"] * line["unit_price_cents"]
        cells = (
            line["description"][:60],
            str(line["quantity"]),
            money(line["unit_price_cents"], lang),
            _rate(line["vat_rate_bps"], lang),
            money(amount, lang),
        )
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 6, _latin1(text))
        pdf.ln()
    pdf.ln(3)
    for label, cents in (
        ("subtotal", invoice.subtotal_cents),
        ("vat_total", invoice.vat_cents),
        ("total", invoice.total_cents),
    ):
        pdf.set_font("Helvetica", "B" if label == "total" else "", 10)
        pdf.cell(150, 6, _latin1(words[label]), align="R")
        pdf.cell(30, 6, money(cents, lang), align="R", new_x="LMARGIN", new_y="NEXT")
    if invoice.vat_note:
        pdf.ln(4)
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, _latin1(invoice.vat_note))
    pdf.ln(4)
    pdf.set_font("Helvetica", "I", 8)
    pdf.multi_cell(0, 4, _latin1(words["copy"]))
    return bytes(pdf.output())
