"""Hostile text in every field of every billing RPC is answered, never INTERNAL."""

from __future__ import annotations

import pytest

from missiva_billing.servicer import ACCESS_RULES
from missiva_platform.testing.hostile import hostile_failures

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_no_rpc_breaks_on_hostile_text(billing):
    tenant = billing.tenant()

    def token_for(**kw):
        return billing.issuer.token(tenant_id=tenant, audience="billing", **kw)

    failures = await hostile_failures(
        billing.channel,
        "missiva.billing.v1.BillingService",
        ACCESS_RULES,
        token_for,
        calling_services=("campaign",),
    )
    assert failures == []
