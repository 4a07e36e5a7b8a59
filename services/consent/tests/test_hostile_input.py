"""Hostile text in every field of every consent RPC is answered, never INTERNAL."""

from __future__ import annotations

import pytest

from missiva_consent.servicer import ACCESS_RULES, SERVICE
from missiva_platform.testing.hostile import hostile_failures

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_no_rpc_breaks_on_hostile_text(consent):
    tenant = consent.tenant()

    def token_for(**kw):
        return consent.issuer.token(tenant_id=tenant, audience="consent", **kw)

    failures = await hostile_failures(consent.channel, SERVICE, ACCESS_RULES, token_for)
    assert failures == []
