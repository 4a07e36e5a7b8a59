"""Lists tied to a consent purpose: create, page, members in and out (counted by the
database, purges included), contacts created onto lists, bad input and other accounts."""

from __future__ import annotations

import grpc
import pytest
from campaign_testkit import violated_fields

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign.retention import RULES
from missiva_platform.retention import run_retention, travel

pytestmark = pytest.mark.asyncio(loop_scope="module")

PURPOSE = "0195a3d0-1111-7abc-8def-0123456789ab"
LISTS = ("lists:read", "lists:write")


async def new_list(campaign, tenant: str, name: str = "Newsletter") -> pb.ContactList:
    reply = await campaign.stub.CreateList(
        pb.CreateListRequest(list=pb.ContactList(name=name, purpose_id=PURPOSE)),
        metadata=campaign.md(tenant, scopes=["lists:write"]),
        timeout=10,
    )
    return reply.list


async def count(campaign, tenant: str, list_id: str) -> int:
    reply = await campaign.stub.ListLists(
        pb.ListListsRequest(), metadata=campaign.md(tenant, scopes=["lists:read"])
    )
    return next(item.member_count for item in reply.lists if item.list_id == list_id)


async def test_create_and_page_lists(campaign) -> None:
    tenant = campaign.tenant()
    made = [await new_list(campaign, tenant, f"List {i}") for i in range(3)]
    assert made[0].purpose_id == PURPOSE
    assert made[0].member_count == 0
    first = await campaign.stub.ListLists(
        pb.ListListsRequest(page_size=2), metadata=campaign.md(tenant, scopes=["lists:read"])
    )
    rest = await campaign.stub.ListLists(
        pb.ListListsRequest(page_size=2, page_token=first.next_page_token),
        metadata=campaign.md(tenant, scopes=["lists:read"]),
    )
    assert [x.list_id for x in [*first.lists, *rest.lists]] == [m.list_id for m in made]
    assert rest.next_page_token == ""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await new_list(campaign, tenant, "list 0")  # names are unique, whatever the case
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (pb.ContactList(purpose_id=PURPOSE), "list.name"),
        (pb.ContactList(name="N\x00", purpose_id=PURPOSE), "list.name"),
        (pb.ContactList(name="N"), "list.purpose_id"),
        (pb.ContactList(name="N", purpose_id="no spaces please"), "list.purpose_id"),
        (pb.ContactList(name="N", purpose_id=PURPOSE, description="x" * 2001), "list.description"),
    ],
)
async def test_bad_lists_name_the_field(campaign, given, field) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.CreateList(
            pb.CreateListRequest(list=given), metadata=campaign.md(campaign.tenant(), scopes=LISTS)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == [field]


async def test_members_in_and_out_and_counted(campaign) -> None:
    tenant = campaign.tenant()
    news = await new_list(campaign, tenant)
    a, b, c = [await campaign.create(tenant) for _ in range(3)]
    md = campaign.md(tenant, scopes=["lists:write"])
    added = await campaign.stub.AddToList(
        pb.AddToListRequest(list_id=news.list_id, contact_ids=[a.contact_id, b.contact_id]),
        metadata=md,
    )
    assert added.added == 2
    again = await campaign.stub.AddToList(
        pb.AddToListRequest(list_id=news.list_id, contact_ids=[b.contact_id, c.contact_id]),
        metadata=md,
    )
    assert again.added == 1
    assert await count(campaign, tenant, news.list_id) == 3
    members = await campaign.stub.ListContacts(
        pb.ListContactsRequest(list_id=news.list_id), metadata=campaign.md(tenant)
    )
    assert {m.contact_id for m in members.contacts} == {a.contact_id, b.contact_id, c.contact_id}
    assert all(list(m.list_ids) == [news.list_id] for m in members.contacts)
    removed = await campaign.stub.RemoveFromList(
        pb.RemoveFromListRequest(list_id=news.list_id, contact_ids=[a.contact_id]), metadata=md
    )
    assert removed.removed == 1
    assert await count(campaign, tenant, news.list_id) == 2
    # a purged contact leaves the list, and the count follows
    await campaign.stub.DeleteContact(
        pb.DeleteContactRequest(contact_id=b.contact_id), metadata=campaign.md(tenant)
    )
    await run_retention(campaign.url, RULES, now=travel(days=31))
    assert await count(campaign, tenant, news.list_id) == 1


async def test_a_contact_created_onto_lists(campaign) -> None:
    tenant = campaign.tenant()
    one, two = await new_list(campaign, tenant, "One"), await new_list(campaign, tenant, "Two")
    reply = await campaign.stub.CreateContact(
        pb.CreateContactRequest(
            contact=pb.Contact(email=campaign.email()), list_ids=[two.list_id, one.list_id]
        ),
        metadata=campaign.md(tenant, scopes=["contacts:write"]),
    )
    assert sorted(reply.contact.list_ids) == sorted([one.list_id, two.list_id])
    got = await campaign.stub.GetContact(
        pb.GetContactRequest(contact_id=reply.contact.contact_id), metadata=campaign.md(tenant)
    )
    assert list(got.contact.list_ids) == list(reply.contact.list_ids)
    foreign = await new_list(campaign, campaign.tenant(), "Theirs")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.CreateContact(
            pb.CreateContactRequest(
                contact=pb.Contact(email=campaign.email()), list_ids=[foreign.list_id]
            ),
            metadata=campaign.md(tenant),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert await campaign.scalar(
        "SELECT count(*) FROM contacts WHERE account_id = %s", tenant
    ) == 1  # fmt: skip


async def test_other_accounts_lists_and_contacts_are_not_found(campaign) -> None:
    owner, stranger = campaign.tenant(), campaign.tenant()
    theirs = await new_list(campaign, owner)
    their_contact = await campaign.create(owner)
    mine = await new_list(campaign, stranger)
    my_contact = await campaign.create(stranger)
    md = campaign.md(stranger, scopes=(*LISTS, "contacts:read"))
    for call in (
        campaign.stub.AddToList(
            pb.AddToListRequest(list_id=theirs.list_id, contact_ids=[my_contact.contact_id]),
            metadata=md,
        ),
        campaign.stub.AddToList(
            pb.AddToListRequest(list_id=mine.list_id, contact_ids=[their_contact.contact_id]),
            metadata=md,
        ),
        campaign.stub.RemoveFromList(
            pb.RemoveFromListRequest(list_id=theirs.list_id, contact_ids=[my_contact.contact_id]),
            metadata=md,
        ),
        campaign.stub.ListContacts(pb.ListContactsRequest(list_id=theirs.list_id), metadata=md),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await campaign.stub.ListLists(pb.ListListsRequest(), metadata=md)
    assert [x.list_id for x in listed.lists] == [mine.list_id]
    assert await count(campaign, owner, theirs.list_id) == 0


@pytest.mark.parametrize(
    ("method", "scopes", "build"),
    [
        ("CreateList", ("lists:write",),
         lambda lid, c: pb.CreateListRequest(list=pb.ContactList(name=c, purpose_id=PURPOSE))),
        ("ListLists", ("lists:read",), lambda lid, c: pb.ListListsRequest()),
        ("AddToList", ("lists:write",),
         lambda lid, c: pb.AddToListRequest(list_id=lid, contact_ids=[c])),
        ("RemoveFromList", ("lists:write",),
         lambda lid, c: pb.RemoveFromListRequest(list_id=lid, contact_ids=[c])),
    ],
)  # fmt: skip
async def test_least_scope_works_and_one_less_is_denied(campaign, method, scopes, build) -> None:
    tenant = campaign.tenant()
    the_list = await new_list(campaign, tenant)
    contact = await campaign.create(tenant)
    request = build(the_list.list_id, contact.contact_id)
    call = getattr(campaign.stub, method)
    other = {"lists:read": "lists:write", "lists:write": "lists:read"}
    for denied in (
        campaign.md(tenant, scopes=[other[s] for s in scopes]),
        campaign.md(tenant, scopes=["contacts:read", "contacts:write"]),
        campaign.md(tenant, scopes=scopes, roles=("billing",)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, metadata=denied)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await call(request, metadata=campaign.md(tenant, scopes=scopes, roles=("member",)))


async def test_bad_member_requests_name_the_field(campaign) -> None:
    tenant = campaign.tenant()
    the_list = await new_list(campaign, tenant)
    for request_, field in (
        (pb.AddToListRequest(list_id="nope", contact_ids=[the_list.list_id]), "list_id"),
        (pb.AddToListRequest(list_id=the_list.list_id), "contact_ids"),
        (pb.AddToListRequest(list_id=the_list.list_id, contact_ids=["x"]), "contact_ids[0]"),
        (pb.AddToListRequest(list_id=the_list.list_id, contact_ids=[the_list.list_id] * 1001),
         "contact_ids"),
    ):  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await campaign.stub.AddToList(request_, metadata=campaign.md(tenant, scopes=LISTS))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(caught.value) == [field]
