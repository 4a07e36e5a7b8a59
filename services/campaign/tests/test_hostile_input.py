"""Hostile text in every field of every campaign RPC is answered, never INTERNAL."""

from __future__ import annotations

import pytest

from missiva_campaign.servicer import ACCESS_RULES
from missiva_platform.testing.hostile import hostile_failures

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_no_rpc_breaks_on_hostile_text(campaign):
    tenant = campaign.tenant()

    def token_for(**kw):
        return campaign.issuer.token(tenant_id=tenant, audience="campaign", **kw)

    failures = await hostile_failures(
        campaign.channel, "missiva.campaign.v1.CampaignService", ACCESS_RULES, token_for
    )
    assert failures == []
