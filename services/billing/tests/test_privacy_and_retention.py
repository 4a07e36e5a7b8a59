"""Billing's tables hold no personal data (each is listed with why, or has a retention rule);
the privacy contract's export and erasure leave the account's credits alone."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva.common.v1 import types_pb2
from missiva_billing.core_invoices import Item
from missiva_billing.retention import NO_PERSONAL_DATA, RULES
from missiva_platform.privacy import Person
from missiva_platform.retention import KIT_RULES, apply_rule

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_every_table_has_a_retention_rule_or_holds_no_personal_data(billing):
    tables = {
        row[0]
        for row in await billing.sql(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
    }
    kit = {t for t in tables if t.startswith("kit_")} | {"schema_migrations"}  # the kit's
    ruled = {r.table for r in (*RULES, *KIT_RULES)}
    assert tables - kit, "billing's own tables are there"
    assert tables - kit <= set(NO_PERSONAL_DATA) | ruled
    assert set(NO_PERSONAL_DATA) <= tables  # no stale entry
    assert not set(NO_PERSONAL_DATA) & ruled


async def test_no_ledger_column_could_hold_an_address_or_a_person(billing):
    columns = {
        row[0]
        for row in await billing.sql(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name IN ('credit_ledger', 'credit_balances', 'credit_reservations')"
        )
    }
    assert not {c for c in columns if any(w in c for w in ("email", "person", "user", "ip"))}


async def test_export_and_erasure_leave_the_accounts_credits(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    await billing.reserve(tenant, 20)
    person = Person(request_id="r-1", person_key="ab" * 32, user_id="u-1", tenant_id=tenant)
    privacy = billing.privacy
    assert await privacy.export(person) == []
    erasure = await privacy.erase(person)
    assert erasure.erased == {}
    assert [r.category for r in erasure.retained] == ["invoices"]
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (480, 20)


async def _profile(billing, tenant, email="fatture@rossi.example"):
    from .test_profile import IT_COMPANY

    profile = pb.BillingProfile()
    profile.CopyFrom(IT_COMPANY)
    profile.invoice_email = email
    await billing.stub.UpdateBillingProfile(
        pb.UpdateBillingProfileRequest(profile=profile),
        metadata=billing.billing_admin(tenant, scopes=["billing:write"]),
        timeout=10,
    )


async def test_a_person_named_by_a_profile_gets_it_exported_then_anonymised(billing):
    tenant, other = billing.tenant(), billing.tenant()
    address = f"p-{uuid.uuid4().hex[:8]}@rossi.example"
    await _profile(billing, tenant, address)
    await _profile(billing, other, address)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        await billing.invoices.issue(
            conn, tenant, provider="bank_transfer", payment_ref=f"order:{address}",
            items=[Item("Missiva Pro (monthly)", 1, 4900)], paid=True,
        )  # fmt: skip
    key = billing.keys.person_keys(address)[0]
    person = Person(request_id="r-2", person_key=key, tenant_id=tenant)
    section, invoiced = await billing.privacy.export(person)  # that account only
    [issued] = json.loads(invoiced.content)
    assert issued["total_cents"] == 5978
    assert issued["billed_to"]["vat_number"] == "IT00743110157"
    exported = json.loads(section.content)
    assert exported["vat_number"] == "IT00743110157"
    assert exported["invoice_email"] == address
    erasure = await billing.privacy.erase(person)
    assert erasure.erased == {"billing_profiles": 1}
    [kept] = erasure.retained
    assert kept.category == "invoices"
    assert "10 years" in kept.reason
    assert kept.legal_basis == types_pb2.LEGAL_BASIS_LEGAL_OBLIGATION
    row = (
        await billing.sql(
            "SELECT business_name, vat_number_enc, tax_code_enc, invoice_email, anonymised_at"
            " FROM billing_profiles WHERE account_id = %s",
            tenant,
        )
    )[0]
    assert row[:4] == ("", None, None, "")
    assert row[4] is not None
    assert await billing.privacy.export(person) == []  # the profile no longer names them
    # The other account's profile was not part of the request; an every-account one finds it
    # (by the address too, without a person key).
    everyone = Person(request_id="r-3", person_key="", email=address.upper(), all_accounts=True)
    assert len(await billing.privacy.export(everyone)) == 1  # the other account: no invoice
    assert (await billing.privacy.erase(everyone)).erased == {"billing_profiles": 1}


async def test_an_anonymised_profile_goes_30_days_later(billing):
    tenant, kept = billing.tenant(), billing.tenant()
    await _profile(billing, tenant, f"x-{uuid.uuid4().hex[:8]}@rossi.example")
    await _profile(billing, kept)
    [rule] = [r for r in RULES if r.table == "billing_profiles"]
    await billing.privacy.erase(
        Person(request_id="r-4", person_key="", email=None, tenant_id=tenant)
    )  # names nobody: nothing anonymised
    await billing.sql(
        "UPDATE billing_profiles SET anonymised_at = now() WHERE account_id = %s", tenant
    )
    async with await psycopg.AsyncConnection.connect(billing.url, autocommit=True) as conn:
        assert await apply_rule(conn, rule, datetime.now(UTC) + timedelta(days=29)) == 0
        assert await apply_rule(conn, rule, datetime.now(UTC) + timedelta(days=31)) >= 1
    accounts = {r[0] for r in await billing.sql("SELECT account_id FROM billing_profiles")}
    assert tenant not in accounts
    assert kept in accounts


async def test_an_erased_account_has_its_profile_anonymised_and_its_invoices_kept(billing):
    from missiva.identity.v1 import events_pb2 as identity_events
    from missiva_billing.core_invoices import Item
    from missiva_platform.events import envelope

    tenant = billing.tenant()
    await _profile(billing, tenant)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        invoice, _ = await billing.invoices.issue(
            conn, tenant, provider="bank_transfer", payment_ref=f"order:{tenant}",
            items=[Item("Missiva Pro (monthly)", 1, 4900)], paid=True,
        )  # fmt: skip
    await billing.publish(
        envelope(
            identity_events.AccountErased(account_id=tenant),
            subject="identity.account.erased",
            tenant_id=tenant,
            producer="identity",
            aggregate_id=tenant,
        )
    )

    async def anonymised():
        return await billing.scalar(
            "SELECT anonymised_at FROM billing_profiles WHERE account_id = %s", tenant
        )

    assert await billing.until(anonymised)
    assert (
        await billing.scalar(
            "SELECT business_name FROM billing_profiles WHERE account_id = %s", tenant
        )
        == ""
    )
    kept = await billing.scalar(
        "SELECT billed_vat_enc FROM invoices WHERE invoice_id = %s", invoice.invoice_id
    )
    assert billing.keys.open(bytes(kept), tenant) == "IT00743110157"
