"""Invoices: one per payment, VAT by customer, numbering, immutability, credit notes, the
RPCs (happy path, bad input, other account, least scope), PDF, SDI transmission and receipts,
retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import psycopg
import pytest

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva.billing.v1 import events_pb2
from missiva_billing import documents
from missiva_billing.core_invoices import Item
from missiva_billing.invoice_jobs import apply_receipts, transmit
from missiva_billing.retention import RULES
from missiva_billing.sdi import FolderDrop
from missiva_platform.errors import FailedPrecondition, InvalidArgument, NotFound
from missiva_platform.events import unpack
from missiva_platform.retention import apply_rule

from . import customers
from .conftest import bad_fields

pytestmark = pytest.mark.asyncio(loop_scope="module")

PRO = [Item("Missiva Pro (monthly)", 1, 4900), Item("Extra credits pack", 3, 333)]


async def _issue(billing, tenant, ref=None, *, items=PRO, paid=False, now=None):
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        invoice, _ = await billing.invoices.issue(
            conn,
            tenant,
            provider="bank_transfer",
            payment_ref=ref or billing.key(),
            items=items,
            paid=paid,
            now=now,
        )
    return invoice


async def _customer(billing, profile):
    tenant = billing.tenant()
    await customers.write(billing, tenant, profile)
    return tenant


def _reader(billing, tenant):
    return billing.billing_admin(tenant, scopes=["billing:read"])


async def test_an_italian_company_pays_22_percent_and_the_same_payment_invoices_once(billing):
    tenant = await _customer(billing, customers.ITALIAN_COMPANY)
    invoice = await _issue(billing, tenant, "order:1")
    assert (invoice.subtotal_cents, invoice.vat_cents, invoice.total_cents) == (5899, 1298, 7197)
    assert invoice.vat_kind == "italy"
    assert invoice.language == "it"
    assert invoice.status == "issued"
    assert invoice.number_text == f"{invoice.fiscal_year}/{invoice.number:06d}"
    again = await _issue(billing, tenant, "order:1")
    assert again.invoice_id == invoice.invoice_id
    count = await billing.scalar("SELECT count(*) FROM invoices WHERE account_id = %s", tenant)
    assert count == 1
    # Issued once, announced once (billing.invoice.issued, through the outbox).
    [event] = await billing.events("billing.invoice.issued", tenant)
    told = unpack(event, events_pb2.InvoiceIssued)
    assert (told.invoice_id, told.number) == (invoice.invoice_id, invoice.number_text)
    assert (told.total.units, told.total.nanos) == (71, 970_000_000)


@pytest.mark.parametrize(
    ("profile", "kind", "vat", "natura", "note"),
    [
        (customers.EU_BUSINESS, "eu_reverse_charge", 0, "N2.1", "Reverse charge"),
        (customers.EU_CONSUMER, "eu_consumer", 1298, "", ""),
        (customers.OUTSIDE_EU, "outside_eu", 0, "N2.1", "Outside the scope"),
        (customers.ITALIAN_PERSON, "italy", 1298, "", ""),
    ],
)
async def test_vat_follows_the_customer(billing, profile, kind, vat, natura, note):
    tenant = await _customer(billing, profile)
    invoice = await _issue(billing, tenant)
    assert (invoice.vat_kind, invoice.vat_cents, invoice.natura) == (kind, vat, natura)
    assert invoice.vat_note.startswith(note)
    assert invoice.language == ("it" if profile.address.country_code == "IT" else "en")


async def test_an_incomplete_profile_or_bad_items_issue_nothing(billing):
    tenant = billing.tenant()
    with pytest.raises(FailedPrecondition) as err:
        await _issue(billing, tenant)
    assert "business_name" in err.value.message
    tenant = await _customer(billing, customers.ITALIAN_COMPANY)
    for items, field in (
        ([], "items"),
        ([Item("x", 0, 100)], "items[0].quantity"),
        ([Item("x", 1, -1)], "items[0].unit_price"),
        ([Item(" ", 1, 1)], "items[0].description"),
    ):
        with pytest.raises(InvalidArgument) as bad:
            await _issue(billing, tenant, items=items)
        assert bad.value.violations[0][0] == field
    assert await billing.scalar("SELECT count(*) FROM invoices WHERE account_id = %s", tenant) == 0


async def test_an_issued_invoice_cannot_change_or_go(billing):
    tenant = await _customer(billing, customers.ITALIAN_COMPANY)
    invoice = await _issue(billing, tenant)
    for statement in (
        "UPDATE invoices SET total_cents = total_cents + 1,"
        " subtotal_cents = subtotal_cents + 1 WHERE invoice_id = %s",
        "UPDATE invoices SET lines = '[]' WHERE invoice_id = %s",
        "UPDATE invoices SET billed_to = '{}' WHERE invoice_id = %s",
        "UPDATE invoices SET billed_vat_enc = NULL WHERE invoice_id = %s",
        "DELETE FROM invoices WHERE invoice_id = %s",
    ):
        with pytest.raises(psycopg.errors.RestrictViolation):
            await billing.sql(statement, invoice.invoice_id)
    with pytest.raises(psycopg.errors.RestrictViolation):
        await billing.sql("TRUNCATE invoices CASCADE")
    # Its payment and SDI state may move on.
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        paid = await billing.invoices.mark_paid(conn, tenant, invoice.invoice_id)
    assert paid.status == "paid"
    # A profile change later does not change what was invoiced.
    await customers.write(billing, tenant, customers.ITALIAN_PERSON)
    reply = await billing.stub.GetInvoice(
        pb.GetInvoiceRequest(invoice_id=invoice.invoice_id), metadata=_reader(billing, tenant)
    )
    assert reply.invoice.billed_to.vat_number == "IT00743110157"
    assert reply.invoice.status == pb.INVOICE_STATUS_PAID


async def test_a_refund_is_a_credit_note_that_voids_the_invoice_once(billing):
    tenant = await _customer(billing, customers.ITALIAN_COMPANY)
    invoice = await _issue(billing, tenant, paid=True)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        note, created = await billing.invoices.credit(
            conn, tenant, invoice.invoice_id, refund_ref="refund:1"
        )
    assert created
    assert note.kind == "credit_note"
    assert note.number_text.startswith("NC")
    assert note.total_cents == invoice.total_cents
    assert note.credited_invoice == invoice.invoice_id
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        same, created = await billing.invoices.credit(
            conn, tenant, invoice.invoice_id, refund_ref="refund:1"
        )
    assert (same.invoice_id, created) == (note.invoice_id, False)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn:
        with pytest.raises(FailedPrecondition):
            async with conn.transaction():
                await billing.invoices.credit(
                    conn, tenant, invoice.invoice_id, refund_ref="refund:2"
                )
        with pytest.raises(FailedPrecondition):
            async with conn.transaction():
                await billing.invoices.mark_paid(conn, tenant, invoice.invoice_id)
        with pytest.raises(NotFound):
            async with conn.transaction():
                await billing.invoices.mark_paid(conn, billing.tenant(), invoice.invoice_id)
    status = await billing.scalar(
        "SELECT status FROM invoices WHERE invoice_id = %s", invoice.invoice_id
    )
    assert status == "void"


async def test_list_and_get_are_the_accounts_own_newest_first_in_pages(billing):
    tenant = await _customer(billing, customers.ITALIAN_COMPANY)
    other = await _customer(billing, customers.ITALIAN_COMPANY)
    issued = [await _issue(billing, tenant) for _ in range(3)]
    await _issue(billing, other)
    first = await billing.stub.ListInvoices(
        pb.ListInvoicesRequest(page_size=2), metadata=_reader(billing, tenant)
    )
    second = await billing.stub.ListInvoices(
        pb.ListInvoicesRequest(page_size=2, page_token=first.next_page_token),
        metadata=_reader(billing, tenant),
    )
    listed = [i.invoice_id for i in (*first.invoices, *second.invoices)]
    assert listed == [i.invoice_id for i in reversed(issued)]
    assert second.next_page_token == ""
    got = (
        await billing.stub.GetInvoice(
            pb.GetInvoiceRequest(invoice_id=issued[0].invoice_id),
            metadata=_reader(billing, tenant),
        )
    ).invoice
    assert got.number == issued[0].number_text
    assert (got.subtotal.units, got.subtotal.nanos) == (58, 990_000_000)
    assert (got.vat.units, got.vat.nanos) == (12, 980_000_000)
    assert got.lines[1].vat_rate_bps == 2200
    assert got.lines[1].amount.units == 9
    assert got.sdi_status == pb.SDI_STATUS_PENDING
    assert got.billed_to.tax_code == "00743110157"


@pytest.mark.parametrize("call", ["GetInvoice", "DownloadInvoicePdf", "DownloadInvoiceXml"])
async def test_an_invoice_of_another_account_is_not_found_and_a_bad_id_is_named(billing, call):
    tenant = await _customer(billing, customers.ITALIAN_COMPANY)
    invoice = await _issue(billing, tenant)
    method = getattr(billing.stub, call)
    request = getattr(pb, f"{call}Request")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await method(
            request(invoice_id=invoice.invoice_id), metadata=_reader(billing, billing.tenant())
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await method(request(invoice_id="nope"), metadata=_reader(billing, tenant))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(err.value) == ["invoice_id"]


async def test_list_refuses_a_bad_page(billing):
    tenant = billing.tenant()
    for request, field in (
        (pb.ListInvoicesRequest(page_size=-1), "page_size"),
        (pb.ListInvoicesRequest(page_token="garbage"), "page_token"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await billing.stub.ListInvoices(request, metadata=_reader(billing, tenant))
        assert bad_fields(err.value) == [field]


@pytest.mark.parametrize(
    ("profile", "title"),
    [(customers.ITALIAN_COMPANY, b"Fattura"), (customers.EU_BUSINESS, b"Invoice")],
)
async def test_the_pdf_is_in_the_customers_language(billing, profile, title):
    tenant = await _customer(billing, profile)
    invoice = await _issue(billing, tenant)
    reply = await billing.stub.DownloadInvoicePdf(
        pb.DownloadInvoicePdfRequest(invoice_id=invoice.invoice_id),
        metadata=_reader(billing, tenant),
    )
    assert reply.media_type == "application/pdf"
    assert reply.content.startswith(b"%PDF-")
    assert reply.file_name == f"invoice-{invoice.number_text.replace('/', '-')}.pdf"
    # The document's title (uncompressed metadata) names it in the customer's language.
    assert b"/Title (" + title + b" " + invoice.number_text.encode() in reply.content


@pytest.mark.parametrize(
    ("call", "request_"),
    [
        ("ListInvoices", pb.ListInvoicesRequest()),
        ("GetInvoice", None),
        ("DownloadInvoicePdf", None),
        ("DownloadInvoiceXml", None),
    ],
)
async def test_invoices_need_billing_read_and_a_billing_role(billing, call, request_):
    tenant = await _customer(billing, customers.ITALIAN_COMPANY)
    invoice = await _issue(billing, tenant)
    if request_ is None:
        request_ = getattr(pb, f"{call}Request")(invoice_id=invoice.invoice_id)
    method = getattr(billing.stub, call)
    await method(request_, metadata=_reader(billing, tenant), timeout=10)
    for metadata in (
        billing.billing_admin(tenant, scopes=["credits:read"]),
        billing.user(tenant, roles=["member"], scopes=["billing:read"]),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await method(request_, metadata=metadata, timeout=10)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_invoices_go_to_the_sdi_and_its_receipts_change_their_state(billing, tmp_path):
    tenant = await _customer(billing, customers.ITALIAN_COMPANY)
    accepted, refused = await _issue(billing, tenant), await _issue(billing, tenant)
    channel = FolderDrop(tmp_path / "out", tmp_path / "in")
    seller = documents.seller_of(billing.app.settings)
    assert await transmit(billing.url, billing.invoices, seller, channel) >= 2
    names = {}
    for invoice in (accepted, refused):
        status, name = (
            await billing.sql(
                "SELECT sdi_status, sdi_file_name FROM invoices WHERE invoice_id = %s",
                invoice.invoice_id,
            )
        )[0]
        assert status == "sent"
        assert (tmp_path / "out" / name).read_bytes().startswith(b"<?xml")
        names[invoice.invoice_id] = name
    assert await transmit(billing.url, billing.invoices, seller, channel) == 0  # sent once
    inbox = tmp_path / "in"
    inbox.mkdir()
    ok = names[accepted.invoice_id].removesuffix(".xml")
    bad = names[refused.invoice_id].removesuffix(".xml")
    (inbox / f"{ok}_RC_001.xml").write_text(
        f"<RicevutaConsegna><NomeFile>{ok}.xml</NomeFile></RicevutaConsegna>"
    )
    (inbox / f"{bad}_NS_001.xml").write_text(
        f"<NotificaScarto><NomeFile>{bad}.xml</NomeFile><ListaErrori><Errore>"
        "<Codice>00305</Codice><Descrizione>IdFiscaleIVA non valido</Descrizione>"
        "</Errore></ListaErrori></NotificaScarto>"
    )
    (inbox / "IT99999999999_ZZZZZ_RC_001.xml").write_text(
        "<RicevutaConsegna><NomeFile>IT99999999999_ZZZZZ.xml</NomeFile></RicevutaConsegna>"
    )
    counts = await apply_receipts(billing.url, billing.invoices, channel)
    assert counts == {"delivered": 1, "rejected": 1, "unknown": 1}
    assert not list(inbox.glob("*.xml"))  # every receipt moved to processed/
    read = _reader(billing, tenant)
    got = await billing.stub.GetInvoice(
        pb.GetInvoiceRequest(invoice_id=accepted.invoice_id), metadata=read
    )
    assert got.invoice.sdi_status == pb.SDI_STATUS_DELIVERED
    got = await billing.stub.GetInvoice(
        pb.GetInvoiceRequest(invoice_id=refused.invoice_id), metadata=read
    )
    assert got.invoice.sdi_status == pb.SDI_STATUS_REJECTED
    errors = await billing.scalar(
        "SELECT sdi_errors FROM invoices WHERE invoice_id = %s", refused.invoice_id
    )
    assert errors == [{"code": "00305", "description": "IdFiscaleIVA non valido"}]


async def test_invoices_are_kept_ten_years_after_their_fiscal_year(billing):
    tenant = await _customer(billing, customers.ITALIAN_COMPANY)
    now = datetime.now(UTC)
    old = await _issue(billing, tenant, now=now.replace(year=now.year - 11))
    kept = await _issue(billing, tenant, now=now.replace(year=now.year - 10))
    [rule] = [r for r in RULES if r.table == "invoices"]
    async with await psycopg.AsyncConnection.connect(billing.url, autocommit=True) as conn:
        assert await apply_rule(conn, rule, now) >= 1
    left = {
        r[0]
        for r in await billing.sql(
            "SELECT invoice_id::text FROM invoices WHERE account_id = %s", tenant
        )
    }
    assert old.invoice_id not in left
    assert kept.invoice_id in left
    assert kept.retain_until > now + timedelta(days=1)


async def test_rotation_re_encrypts_the_invoiced_tax_fields_too(billing):
    import json

    from missiva_billing.jobs import rotate_field_keys
    from missiva_platform.crypto import FieldCipher

    tenant = await _customer(billing, customers.ITALIAN_COMPANY)
    invoice = await _issue(billing, tenant)
    old = FieldCipher.from_file(billing.app.settings.field_keys_file)
    new = old.rotate()
    done = await rotate_field_keys(billing.url, new)
    assert done["invoices.billed_vat_enc"] >= 1
    vat = await billing.scalar(
        "SELECT billed_vat_enc FROM invoices WHERE invoice_id = %s", invoice.invoice_id
    )
    assert new.key_id(bytes(vat)) == new.primary_kid
    assert new.decrypt(bytes(vat), tenant) == b"IT00743110157"
    ring = json.loads(new.to_json())
    ring["primary"] = old.primary_kid  # back under the service's key for the other tests
    await rotate_field_keys(billing.url, FieldCipher.from_json(json.dumps(ring)))


async def test_the_operator_commands_charge_by_bank_transfer_mark_paid_credit_and_resend(
    billing, capsys
):
    from missiva_billing.jobs import COMMANDS

    tenant = await _customer(billing, customers.ITALIAN_COMPANY)
    assert await COMMANDS["charge-bank-transfer"](billing.app, [tenant, "pro-monthly", "o-1"]) == 0
    assert await COMMANDS["charge-bank-transfer"](billing.app, [tenant, "pro-monthly", "o-1"]) == 0
    out = capsys.readouterr().out
    assert "(already issued)" in out
    [(invoice_id, status, provider)] = await billing.sql(
        "SELECT invoice_id::text, status, provider FROM invoices WHERE account_id = %s", tenant
    )
    assert (status, provider) == ("issued", "bank_transfer")
    assert await COMMANDS["charge-bank-transfer"](billing.app, [tenant, "free", "o-2"]) == 2
    assert await COMMANDS["mark-paid"](billing.app, [invoice_id]) == 0
    assert (
        await billing.scalar("SELECT status FROM invoices WHERE invoice_id = %s", invoice_id)
        == "paid"
    )
    assert await COMMANDS["sdi-resend"](billing.app, [invoice_id]) == 1  # pending, not rejected
    await billing.sql(
        "UPDATE invoices SET sdi_status = 'rejected' WHERE invoice_id = %s", invoice_id
    )
    assert await COMMANDS["sdi-resend"](billing.app, [invoice_id]) == 0
    assert (
        await billing.scalar("SELECT sdi_status FROM invoices WHERE invoice_id = %s", invoice_id)
        == "pending"
    )
    assert await COMMANDS["credit-invoice"](billing.app, [invoice_id, "refund-1"]) == 0
    assert "credit note NC" in capsys.readouterr().out
    assert (
        await billing.scalar("SELECT status FROM invoices WHERE invoice_id = %s", invoice_id)
        == "void"
    )
