"""Billing's tables hold no personal data (each is listed with why, or has a retention rule);
the privacy contract's export and erasure leave the account's credits alone."""

from __future__ import annotations

import pytest

from missiva_billing.privacy import BillingPrivacy
from missiva_billing.retention import NO_PERSONAL_DATA, RULES
from missiva_platform.privacy import Person
from missiva_platform.retention import KIT_RULES

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
    privacy = BillingPrivacy()
    assert await privacy.export(person) == []
    erasure = await privacy.erase(person)
    assert erasure.erased == {}
    assert erasure.retained == []
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (480, 20)
