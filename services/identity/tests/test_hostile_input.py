"""Hostile text in every field of every identity RPC is answered, never INTERNAL."""

from __future__ import annotations

from missiva_identity.servicer import ACCESS_RULES
from missiva_platform.auth import CallerKind
from missiva_platform.testing.hostile import hostile_failures


async def test_no_rpc_breaks_on_hostile_text(identity):
    user = await identity.user()

    async def token_for(*, kind, scopes, roles, subject="someone"):
        if kind is CallerKind.SERVICE:
            return await identity.issue(
                tenant_id=user.account_id, kind=kind, scopes=scopes, subject=subject,
                audience="identity",
            )  # fmt: skip
        # A signed-in primary admin's own token: user RPCs reach their handlers.
        return user.tokens.access_token

    failures = await hostile_failures(
        identity.channel, "missiva.identity.v1.IdentityService", ACCESS_RULES, token_for
    )
    assert failures == []
