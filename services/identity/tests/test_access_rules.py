"""Every identity RPC has an explicit rule; each scope and role a rule names is enforced."""

from __future__ import annotations

import grpc

from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_identity.servicer import ACCESS_RULES
from missiva_platform.auth import Access, CallerKind
from missiva_platform.testing.access import role_denials, scope_denials

SERVICE = "missiva.identity.v1.IdentityService"


def _bearer(token: str):
    return (("authorization", f"Bearer {token}"),)


async def test_a_token_lacking_the_scope_of_a_method_is_refused(identity):
    user = await identity.user()
    channel = identity.channel

    def token_for(**kw):
        return identity.issue(tenant_id=user.account_id, **kw)

    assert await scope_denials(channel, SERVICE, ACCESS_RULES, token_for) == []


async def test_a_member_without_the_role_of_a_method_is_refused(identity):
    user = await identity.user()
    channel = identity.channel

    def token_for(**kw):
        return identity.issue(tenant_id=user.account_id, **kw)

    assert await role_denials(channel, SERVICE, ACCESS_RULES, token_for) == []


async def test_team_and_key_management_is_for_signed_in_people_only(identity):
    user = await identity.user()
    person_only = [n for n, r in ACCESS_RULES.items() if r.access is Access.PERSON]
    assert {"CreateApiKey", "InviteMember", "DeleteAccount"} <= set(person_only)
    key = await identity.issue(
        tenant_id=user.account_id, kind=CallerKind.API_KEY, scopes=("*",), roles=()
    )
    err = None
    try:
        await identity.stub.CreateApiKey(
            pb.CreateApiKeyRequest(name="ci", scopes=["*"]), metadata=_bearer(key), timeout=10
        )
    except grpc.aio.AioRpcError as exc:
        err = exc
    assert err is not None
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
