"""ListInvoices, GetInvoice, DownloadInvoicePdf, DownloadInvoiceXml: the account's invoices
and credit notes, newest first; another account's id is NOT_FOUND."""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import datetime
from typing import Any

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva.common.v1 import types_pb2
from missiva_billing import documents
from missiva_billing.einvoice import EInvoiceError
from missiva_billing.rpc_base import RpcBase, timestamp, valid_id
from missiva_billing.rpc_profile import profile_pb
from missiva_billing.store import invoices
from missiva_billing.store.invoices import InvoiceRow
from missiva_platform.auth import current_tenant
from missiva_platform.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied

log = logging.getLogger(__name__)
BANK_TRANSFER = "bank_transfer"
MAX_BANK_REFERENCE = 140
DEFAULT_PAGE = 20
MAX_PAGE = 100
_STATUS = {
    "issued": pb.INVOICE_STATUS_ISSUED,
    "paid": pb.INVOICE_STATUS_PAID,
    "void": pb.INVOICE_STATUS_VOID,
}
_SDI = {
    "not_applicable": pb.SDI_STATUS_NOT_APPLICABLE,
    "pending": pb.SDI_STATUS_PENDING,
    "sent": pb.SDI_STATUS_SENT,
    "delivered": pb.SDI_STATUS_DELIVERED,
    "rejected": pb.SDI_STATUS_REJECTED,
}


def money(cents: int, currency: str = "EUR") -> types_pb2.Money:
    units, rest = divmod(abs(cents), 100)
    sign = -1 if cents < 0 else 1
    return types_pb2.Money(currency_code=currency, units=sign * units, nanos=sign * rest * 10**7)


def _token(invoice: InvoiceRow) -> str:
    raw = f"invoices:{invoice.issued_at.isoformat()}|{invoice.invoice_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, rest = text.partition(":")
        moment, _, invoice_id = rest.partition("|")
        if prefix != "invoices" or not invoice_id:
            raise ValueError(text)
        return datetime.fromisoformat(moment), valid_id("page_token", invoice_id)
    except (ValueError, binascii.Error, UnicodeDecodeError, InvalidArgument):
        raise InvalidArgument.field("page_token", "is not a token from ListInvoices") from None


class InvoiceRpcs(RpcBase):
    def invoice_pb(self, invoice: InvoiceRow) -> pb.Invoice:
        billed = profile_pb(self.invoices.billed_profile(invoice))
        return pb.Invoice(
            invoice_id=invoice.invoice_id,
            number=invoice.number_text,
            issued_at=timestamp(invoice.issued_at),
            status=_STATUS[invoice.status],
            lines=[
                pb.InvoiceLine(
                    description=line["description"],
                    quantity=line["quantity"],
                    unit_price=money(line["unit_price_cents"], invoice.currency),
                    vat_rate_bps=line["vat_rate_bps"],
                    amount=money(line["quantity"] * line["unit_price_cents"], invoice.currency),
                )
                for line in invoice.lines
            ],
            subtotal=money(invoice.subtotal_cents, invoice.currency),
            vat=money(invoice.vat_cents, invoice.currency),
            total=money(invoice.total_cents, invoice.currency),
            billed_to=billed,
            sdi_status=_SDI[invoice.sdi_status],
        )

    async def _own(self, conn: Any, invoice_id: str) -> InvoiceRow:
        found = await invoices.get(conn, current_tenant(), valid_id("invoice_id", invoice_id))
        if found is None:
            raise NotFound("invoice not found")
        return found

    async def ListInvoices(
        self, request: pb.ListInvoicesRequest, context: Any
    ) -> pb.ListInvoicesResponse:
        account = current_tenant()
        if request.page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        size = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
        after = _after(request.page_token)
        async with self.pool.connection() as conn:
            rows = await invoices.page(conn, account, size + 1, after)
        page = rows[:size]
        return pb.ListInvoicesResponse(
            invoices=[self.invoice_pb(r) for r in page],
            next_page_token=_token(page[-1]) if len(rows) > size else "",
        )

    async def GetInvoice(
        self, request: pb.GetInvoiceRequest, context: Any
    ) -> pb.GetInvoiceResponse:
        async with self.pool.connection() as conn:
            found = await self._own(conn, request.invoice_id)
        return pb.GetInvoiceResponse(invoice=self.invoice_pb(found))

    async def DownloadInvoicePdf(
        self, request: pb.DownloadInvoicePdfRequest, context: Any
    ) -> pb.DownloadInvoicePdfResponse:
        async with self.pool.connection() as conn:
            found = await self._own(conn, request.invoice_id)
            name, content = await documents.pdf_of(conn, self.invoices, found, self.seller)
        return pb.DownloadInvoicePdfResponse(
            file_name=name, media_type="application/pdf", content=content
        )

    async def DownloadInvoiceXml(
        self, request: pb.DownloadInvoiceXmlRequest, context: Any
    ) -> pb.DownloadInvoiceXmlResponse:
        async with self.pool.connection() as conn:
            found = await self._own(conn, request.invoice_id)
            if found.sdi_status == "not_applicable":
                raise FailedPrecondition(
                    f"invoice {found.number_text} is not an Italian electronic invoice (EU"
                    " consumer VAT under the OSS scheme): download its PDF"
                )
            try:
                name, content = await documents.xml(conn, self.invoices, found, self.seller)
            except EInvoiceError as exc:
                raise FailedPrecondition(
                    f"the electronic invoice does not validate: {exc}"
                ) from None
        return pb.DownloadInvoiceXmlResponse(
            file_name=name, media_type="application/xml", content=content
        )

    async def MarkInvoicePaid(
        self, request: pb.MarkInvoicePaidRequest, context: Any
    ) -> pb.MarkInvoicePaidResponse:
        """An operator (an admin of the platform account) records a bank transfer."""
        if current_tenant() != self.settings.platform_account_id:
            raise PermissionDenied("only the platform's operators may mark invoices paid")
        account = valid_id("account_id", request.account_id)
        invoice_id = valid_id("invoice_id", request.invoice_id)
        if len(request.bank_reference) > MAX_BANK_REFERENCE:
            raise InvalidArgument.field("bank_reference", f"at most {MAX_BANK_REFERENCE} chars")
        async with self.pool.connection() as conn, conn.transaction():
            found = await invoices.get(conn, account, invoice_id, lock=True)
            if found is None or found.kind != "invoice":
                raise NotFound("invoice not found")
            if found.provider != BANK_TRANSFER:
                raise FailedPrecondition(
                    f"invoice {found.number_text} is paid through {found.provider}, not by"
                    " bank transfer"
                )
            invoice = await self.invoices.mark_paid(conn, account, invoice_id)
            changed = found.status != "paid"
            if changed:
                await self.subscriptions.invoice_paid(conn, invoice)
        log.info(
            "invoice marked paid by an operator",
            extra={"account_id": account, "invoice": invoice.number_text, "changed": changed,
                   "bank_reference": request.bank_reference},
        )  # fmt: skip
        return pb.MarkInvoicePaidResponse(invoice=self.invoice_pb(invoice), changed=changed)
