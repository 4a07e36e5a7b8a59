"""Every campaign rule's scope and role is enforced, method by method (the kit's table test)."""

from __future__ import annotations

import pytest

from missiva_campaign.servicer import ACCESS_RULES
from missiva_platform.testing.access import role_denials, scope_denials

SERVICE = "missiva.campaign.v1.CampaignService"

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_token_lacking_the_scope_of_a_method_is_refused(campaign):
    tenant = campaign.tenant()

    def token_for(**kw):
        return campaign.issuer.token(tenant_id=tenant, **kw)

    assert await scope_denials(campaign.channel, SERVICE, ACCESS_RULES, token_for) == []


async def test_a_user_without_the_role_of_a_method_is_refused(campaign):
    tenant = campaign.tenant()

    def token_for(**kw):
        return campaign.issuer.token(tenant_id=tenant, **kw)

    assert await role_denials(campaign.channel, SERVICE, ACCESS_RULES, token_for) == []
