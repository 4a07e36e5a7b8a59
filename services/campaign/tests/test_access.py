"""Access rules: every CampaignService method has one (scope and roles); each built RPC works
with its least scope and answers PERMISSION_DENIED with one scope less or a role that may
not; a service token is refused; an RPC not built yet still answers by its rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign.servicer import ACCESS_RULES, PUBLIC
from missiva_platform.auth import Access, CallerKind

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_every_method_has_an_explicit_rule_with_scope_and_roles() -> None:
    methods = set(pb.DESCRIPTOR.services_by_name["CampaignService"].methods_by_name)
    assert set(ACCESS_RULES) == methods
    for name, rule in ACCESS_RULES.items():
        if name in PUBLIC:  # a visitor's form page and submission: the form names the account
            assert rule.access is Access.ANONYMOUS, name
            assert not rule.scopes, name
            continue
        assert rule.access is Access.USER, name
        assert rule.scopes, name
        assert rule.roles, name
        assert all(s.endswith((":read", ":write")) for s in rule.scopes), name
        writes = any(s.endswith(":write") for s in rule.scopes)
        if writes:
            assert "billing" not in rule.roles, name


# (method, least scopes, request builder given a live contact of the tenant)
CASES: list[tuple[str, tuple[str, ...], Callable[[pb.Contact], Any]]] = [
    ("CreateContact", ("contacts:write",),
     lambda c: pb.CreateContactRequest(contact=pb.Contact(email=f"n-{c.contact_id}@example.org"))),
    ("GetContact", ("contacts:read",), lambda c: pb.GetContactRequest(contact_id=c.contact_id)),
    ("UpdateContact", ("contacts:write",),
     lambda c: pb.UpdateContactRequest(contact=pb.Contact(contact_id=c.contact_id, first_name="N"),
                                       update_mask=field_mask_pb2.FieldMask(paths=["first_name"]))),
    ("ListContacts", ("contacts:read",), lambda c: pb.ListContactsRequest()),
    ("AddTags", ("contacts:write",),
     lambda c: pb.AddTagsRequest(contact_ids=[c.contact_id], tags=["t"])),
    ("RemoveTags", ("contacts:write",),
     lambda c: pb.RemoveTagsRequest(contact_ids=[c.contact_id], tags=["t"])),
    ("ListTags", ("contacts:read",), lambda c: pb.ListTagsRequest()),
    ("DeleteContact", ("contacts:write",),
     lambda c: pb.DeleteContactRequest(contact_id=c.contact_id)),
]  # fmt: skip


@pytest.mark.parametrize(("method", "scopes", "build"), CASES, ids=[c[0] for c in CASES])
async def test_least_scope_works_and_one_less_is_denied(campaign, method, scopes, build) -> None:
    tenant = campaign.tenant()
    contact = await campaign.create(tenant)
    call = getattr(campaign.stub, method)
    request = build(contact)
    wrong = {"contacts:read": "contacts:write", "contacts:write": "contacts:read"}
    for denied in (
        campaign.md(tenant, scopes=()),
        campaign.md(tenant, scopes=[wrong[s] for s in scopes]),
        campaign.md(tenant, scopes=scopes, roles=("billing",)),
        campaign.md(tenant, scopes=["*"], roles=()),
        campaign.md("", scopes=["*"], roles=("admin",), kind=CallerKind.SERVICE, subject="consent"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, metadata=denied, timeout=10)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, caught.value.details()
    for roles in (("member",), ("admin",), ("primary_admin", "admin")):
        if method in ("CreateContact", "DeleteContact") and roles != ("member",):
            continue  # the request is not repeatable
        await call(request, metadata=campaign.md(tenant, scopes=scopes, roles=roles), timeout=10)
    # a user's token (scope "*") works by its role
    if method not in ("CreateContact", "DeleteContact"):
        await call(request, metadata=campaign.md(tenant, scopes=["*"]), timeout=10)


async def test_a_call_without_a_token_is_unauthenticated(campaign) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.ListContacts(pb.ListContactsRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_rpcs_not_built_yet_answer_by_their_rule(campaign) -> None:
    tenant = campaign.tenant()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.ListCampaigns(
            pb.ListCampaignsRequest(), metadata=campaign.md(tenant, scopes=["contacts:read"])
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Built now: the billing role reads campaigns (what the credits went on).
    listed = await campaign.stub.ListCampaigns(
        pb.ListCampaignsRequest(),
        metadata=campaign.md(tenant, scopes=["campaigns:read"], roles=("billing",)),
    )
    assert list(listed.campaigns) == []


async def test_restore_needs_contacts_write(campaign) -> None:
    tenant = campaign.tenant()
    contact = await campaign.create(tenant)
    await campaign.stub.DeleteContact(
        pb.DeleteContactRequest(contact_id=contact.contact_id), metadata=campaign.md(tenant)
    )
    request = pb.RestoreContactRequest(contact_id=contact.contact_id)
    for denied in (
        campaign.md(tenant, scopes=["contacts:read"]),
        campaign.md(tenant, scopes=["contacts:write"], roles=("billing",)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await campaign.stub.RestoreContact(request, metadata=denied)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    restored = await campaign.stub.RestoreContact(
        request, metadata=campaign.md(tenant, scopes=["contacts:write"], roles=("member",))
    )
    assert restored.contact.contact_id == contact.contact_id
