"""VAT_OSS=true: an EU consumer pays their own member state's standard rate, with the OSS note;
the invoice is not an Italian electronic invoice (no FatturaPA, never queued for the SDI) but
its PDF is served; its credit note follows it. Businesses and Italians are taxed as before."""

from __future__ import annotations

import grpc
import psycopg
import pytest

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing.core_invoices import Invoices, Item
from missiva_billing.profile import Profile
from missiva_billing.tax import EU_STANDARD_RATES_BPS, treatment

from . import customers

pytestmark = pytest.mark.asyncio(loop_scope="module")
SETTINGS = {"vat_oss": True}


async def _issue(billing, profile) -> tuple[str, object]:
    tenant = billing.tenant()
    await customers.write(billing, tenant, profile)
    core = Invoices(billing.keys, billing.profiles, oss=billing.app.settings.vat_oss)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        invoice, _ = await core.issue(
            conn,
            tenant,
            provider="bank_transfer",
            payment_ref=billing.key(),
            items=[Item("Missiva Pro (monthly)", 1, 4900)],
            paid=True,
        )
    return tenant, invoice


async def test_every_member_state_but_italy_has_a_rate_and_oss_leaves_others_alone():
    from missiva_billing.profile import EU_COUNTRIES

    assert set(EU_STANDARD_RATES_BPS) == EU_COUNTRIES - {"IT"}
    assert all(1500 <= rate <= 2700 for rate in EU_STANDARD_RATES_BPS.values())
    business = Profile(business_name="Muster GmbH", country_code="DE", vat_number="DE136695976")
    assert treatment(business, oss=True).kind == "eu_reverse_charge"
    assert treatment(Profile(business_name="Rossi", country_code="IT"), oss=True).rate_bps == 2200
    assert treatment(Profile(business_name="Ex", country_code="US"), oss=True).kind == "outside_eu"
    assert treatment(Profile(business_name="Jeanne", country_code="FR")).kind == "eu_consumer"


async def test_an_eu_consumer_pays_their_countrys_vat_and_gets_no_fatturapa(billing):
    tenant, invoice = await _issue(billing, customers.EU_CONSUMER)  # France
    assert (invoice.vat_kind, invoice.vat_rate_bps, invoice.vat_cents) == (
        "eu_consumer_oss",
        2000,
        980,
    )
    assert invoice.vat_note.startswith("VAT of FR at 20%, declared under the Union OSS scheme")
    assert invoice.sdi_status == "not_applicable"
    reader = billing.billing_admin(tenant, scopes=["billing:read"])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await billing.stub.DownloadInvoiceXml(
            pb.DownloadInvoiceXmlRequest(invoice_id=invoice.invoice_id), metadata=reader, timeout=10
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "OSS" in err.value.details()
    pdf = await billing.stub.DownloadInvoicePdf(
        pb.DownloadInvoicePdfRequest(invoice_id=invoice.invoice_id), metadata=reader, timeout=10
    )
    assert pdf.content.startswith(b"%PDF")
    core = Invoices(billing.keys, billing.profiles, oss=True)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        note, _ = await core.credit(conn, tenant, invoice.invoice_id, refund_ref="refund-oss")
    assert (note.vat_kind, note.vat_cents, note.sdi_status) == (
        "eu_consumer_oss",
        980,
        "not_applicable",
    )


async def test_a_business_and_an_italian_are_taxed_as_without_oss(billing):
    _, business = await _issue(billing, customers.EU_BUSINESS)
    assert (business.vat_kind, business.vat_cents, business.sdi_status) == (
        "eu_reverse_charge",
        0,
        "pending",
    )
    _, italian = await _issue(billing, customers.ITALIAN_COMPANY)
    assert (italian.vat_kind, italian.vat_cents, italian.sdi_status) == ("italy", 1078, "pending")
