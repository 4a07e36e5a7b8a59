"""Hostile text in every field of every delivery RPC is answered, never INTERNAL."""

from __future__ import annotations

import pytest

from missiva_delivery.servicer import ACCESS_RULES
from missiva_platform.testing.hostile import hostile_failures

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_no_rpc_breaks_on_hostile_text(delivery):
    tenant = delivery.tenant()

    def token_for(**kw):
        return delivery.issuer.token(tenant_id=tenant, audience="delivery", **kw)

    failures = await hostile_failures(
        delivery.channel, "missiva.delivery.v1.DeliveryService", ACCESS_RULES, token_for,
        calling_services=("identity",),
    )  # fmt: skip
    assert failures == []
