"""Every BillingService RPC has an explicit rule; the least token that should work does, and
one scope or role less is PERMISSION_DENIED."""

from __future__ import annotations

import grpc
import pytest

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing.servicer import ACCESS_RULES
from missiva_platform.auth import Access, CallerKind

in_module_loop = pytest.mark.asyncio(loop_scope="module")


def test_every_rpc_has_a_rule_and_every_rule_an_rpc():
    methods = set(pb.DESCRIPTOR.services_by_name["BillingService"].methods_by_name)
    assert set(ACCESS_RULES) == methods


def test_account_rules_name_scopes_and_roles():
    for method, rule in ACCESS_RULES.items():
        if rule.access is Access.ANONYMOUS:
            assert method in {"ListPlans", "HandleProviderEvent"}
            continue
        if rule.access is Access.SERVICE:
            assert rule.services, method
            # The gateway's service tokens carry no scope (identity grants it none): its one
            # method is held by the allowlist alone.
            assert rule.scopes or rule.services == {"gateway"}, method
        else:
            assert rule.scopes, method
            assert rule.access is Access.USER, method
            assert rule.roles, method


async def _code(call, request, metadata) -> grpc.StatusCode:
    try:
        await call(request, metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("role", ["member", "billing", "admin", "primary_admin"])
@in_module_loop
async def test_balance_needs_credits_read_and_an_account_role(billing, role):
    tenant = billing.tenant()
    request = pb.GetCreditBalanceRequest()
    call = billing.stub.GetCreditBalance
    assert await _code(call, request, billing.user(tenant, roles=[role])) == grpc.StatusCode.OK
    no_scope = billing.user(tenant, roles=[role], scopes=["billing:read"])
    assert await _code(call, request, no_scope) == grpc.StatusCode.PERMISSION_DENIED


@in_module_loop
async def test_balance_refuses_a_token_without_an_account_role_or_from_a_service(billing):
    tenant = billing.tenant()
    request = pb.GetCreditBalanceRequest()
    call = billing.stub.GetCreditBalance
    assert await _code(call, request, billing.user(tenant, roles=[])) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    service = billing.service(tenant, scopes=["credits:read"])
    assert await _code(call, request, service) == grpc.StatusCode.PERMISSION_DENIED
    assert await _code(call, request, ()) == grpc.StatusCode.UNAUTHENTICATED


@in_module_loop
async def test_reserve_commit_release_are_for_the_campaign_service_with_credits_write(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    denied = grpc.StatusCode.PERMISSION_DENIED
    reserve = pb.ReserveCreditsRequest(amount=10, idempotency_key=billing.key())
    # one scope less; another service; a user, even an admin with every scope
    for metadata in (
        billing.service(tenant, scopes=["credits:read"]),
        billing.service(tenant, name="delivery"),
        billing.user(tenant, roles=["primary_admin", "admin"], scopes=["*"]),
        billing.user(tenant, roles=[], scopes=["credits:write"], kind=CallerKind.API_KEY),
    ):
        assert await _code(billing.stub.ReserveCredits, reserve, metadata) == denied
    assert (await billing.balance(tenant)).available == 500
    held = await billing.reserve(tenant, 10)  # the least token: campaign, credits:write
    for call, request in (
        (
            billing.stub.CommitCredits,
            pb.CommitCreditsRequest(
                reservation_id=held.reservation_id, amount=1, idempotency_key=billing.key()
            ),
        ),
        (
            billing.stub.ReleaseCredits,
            pb.ReleaseCreditsRequest(
                reservation_id=held.reservation_id, idempotency_key=billing.key()
            ),
        ),
    ):
        less = billing.service(tenant, scopes=["credits:read"])
        assert await _code(call, request, less) == denied
        assert await _code(call, request, billing.service(tenant, name="delivery")) == denied
    ok = await _code(
        billing.stub.ReleaseCredits,
        pb.ReleaseCreditsRequest(reservation_id=held.reservation_id, idempotency_key="k1"),
        billing.service(tenant),
    )
    assert ok == grpc.StatusCode.OK


@in_module_loop
async def test_a_service_token_without_an_account_cannot_reserve(billing):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await billing.reserve("", 10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


@in_module_loop
async def test_list_plans_needs_no_token(billing):
    reply = await billing.stub.ListPlans(pb.ListPlansRequest(), timeout=10)
    assert reply.plans


@in_module_loop
async def test_the_subscription_needs_billing_read_and_a_billing_role(billing):
    tenant = billing.tenant()
    request = pb.GetSubscriptionRequest()
    call = billing.stub.GetSubscription
    reader = billing.user(tenant, roles=["billing"], scopes=["billing:read"])
    assert await _code(call, request, reader) == grpc.StatusCode.OK
    member = billing.user(tenant, roles=["member"], scopes=["billing:read"])
    assert await _code(call, request, member) == grpc.StatusCode.PERMISSION_DENIED
    no_scope = billing.user(tenant, roles=["billing"], scopes=["credits:read"])
    assert await _code(call, request, no_scope) == grpc.StatusCode.PERMISSION_DENIED
