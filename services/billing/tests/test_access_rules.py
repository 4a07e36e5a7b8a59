"""Every billing rule's scope and role is enforced, method by method (the kit's table test)."""

from __future__ import annotations

import pytest

from missiva_billing.servicer import ACCESS_RULES
from missiva_platform.auth import CallerKind
from missiva_platform.testing.access import role_denials, scope_denials

SERVICE = "missiva.billing.v1.BillingService"

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_token_lacking_the_scope_of_a_method_is_refused(billing):
    tenant = billing.tenant()

    def token_for(**kw):
        return billing.issuer.token(tenant_id=tenant, **kw)

    # Credit holds are the campaign service's: its tokens are for billing's audience.
    campaign = {"subject": "campaign", "audience": "billing"}
    assert await scope_denials(billing.channel, SERVICE, ACCESS_RULES, token_for, **campaign) == []
    assert (
        await scope_denials(
            billing.channel, SERVICE, ACCESS_RULES, token_for, kind=CallerKind.SERVICE,
            subject="campaign", audience="billing",
        )
        == []
    )  # fmt: skip


async def test_a_user_without_the_role_of_a_method_is_refused(billing):
    tenant = billing.tenant()

    def token_for(**kw):
        return billing.issuer.token(tenant_id=tenant, **kw)

    assert await role_denials(billing.channel, SERVICE, ACCESS_RULES, token_for) == []
