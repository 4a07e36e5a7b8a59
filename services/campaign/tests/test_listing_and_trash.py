"""Keyset pages with opaque tokens, filters, the trash (restorable 30 days, then purged by the
retention rule: a time-travel test), and tags."""

from __future__ import annotations

import grpc
import pytest
from campaign_testkit import violated_fields

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign.retention import RULES
from missiva_platform.retention import run_retention, travel

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def all_pages(campaign, tenant: str, size: int, **filters) -> tuple[list[pb.Contact], int]:
    seen: list[pb.Contact] = []
    token, pages = "", 0
    while True:
        reply = await campaign.stub.ListContacts(
            pb.ListContactsRequest(page_size=size, page_token=token, **filters),
            metadata=campaign.md(tenant, scopes=["contacts:read"]),
            timeout=10,
        )
        pages += 1
        seen.extend(reply.contacts)
        token = reply.next_page_token
        if not token:
            return seen, pages


async def test_pages_cover_every_contact_once_in_order(campaign) -> None:
    tenant = campaign.tenant()
    made = [await campaign.create(tenant) for _ in range(7)]
    await campaign.create(campaign.tenant())  # another account's: never listed
    seen, pages = await all_pages(campaign, tenant, 3)
    assert [c.contact_id for c in seen] == sorted(c.contact_id for c in made)
    assert pages == 3
    exact, pages = await all_pages(campaign, tenant, 7)
    assert len(exact) == 7
    assert pages == 1


async def test_filters_by_tag_and_prefix(campaign) -> None:
    tenant = campaign.tenant()
    ada = await campaign.create(tenant, "ada.lovelace@example.org", first_name="Ada", tags=["vip"])
    await campaign.create(tenant, "grace@example.org", first_name="Grace", last_name="Hopper")
    await campaign.create(tenant, "ad_min@example.org")
    vip, _ = await all_pages(campaign, tenant, 10, tag="vip")
    assert [c.contact_id for c in vip] == [ada.contact_id]
    by_prefix, _ = await all_pages(campaign, tenant, 10, query="ADA")
    assert [c.email for c in by_prefix] == ["ada.lovelace@example.org"]
    by_name, _ = await all_pages(campaign, tenant, 10, query="hop")
    assert [c.first_name for c in by_name] == ["Grace"]
    literal, _ = await all_pages(campaign, tenant, 10, query="ad_")  # "_" is no wildcard
    assert [c.email for c in literal] == ["ad_min@example.org"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListContactsRequest(page_size=-1), "page_size"),
        (pb.ListContactsRequest(page_token="not a token"), "page_token"),
        (pb.ListContactsRequest(page_token="eyJhIjoxfQ"), "page_token"),
        (pb.ListContactsRequest(query="\x00"), "query"),
        (pb.ListContactsRequest(list_id="l-1"), "list_id"),
    ],
)
async def test_bad_listings_name_the_field(campaign, request_, field) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.ListContacts(request_, metadata=campaign.md(campaign.tenant()))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == [field]


async def test_a_token_of_other_filters_is_refused(campaign) -> None:
    tenant = campaign.tenant()
    for _ in range(3):
        await campaign.create(tenant, tags=["t"])
    first = await campaign.stub.ListContacts(
        pb.ListContactsRequest(page_size=1, tag="t"), metadata=campaign.md(tenant)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.ListContacts(
            pb.ListContactsRequest(page_size=1, page_token=first.next_page_token),
            metadata=campaign.md(tenant),
        )
    assert violated_fields(caught.value) == ["page_token"]


async def test_delete_moves_to_the_trash_and_restore_brings_it_back(campaign) -> None:
    tenant = campaign.tenant()
    contact = await campaign.create(tenant, first_name="Kept")
    await campaign.stub.DeleteContact(
        pb.DeleteContactRequest(contact_id=contact.contact_id),
        metadata=campaign.md(tenant, scopes=["contacts:write"]),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.GetContact(
            pb.GetContactRequest(contact_id=contact.contact_id), metadata=campaign.md(tenant)
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    live, _ = await all_pages(campaign, tenant, 10)
    trash, _ = await all_pages(campaign, tenant, 10, in_trash=True)
    assert live == []
    assert [c.contact_id for c in trash] == [contact.contact_id]
    deleted = trash[0]
    window = deleted.restorable_until.ToDatetime() - deleted.deleted_at.ToDatetime()
    assert window.days == 30
    # the address is free while its contact is in the trash; restoring then clashes
    twin = await campaign.create(tenant, contact.email)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.RestoreContact(
            pb.RestoreContactRequest(contact_id=contact.contact_id), metadata=campaign.md(tenant)
        )
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    await campaign.stub.DeleteContact(
        pb.DeleteContactRequest(contact_id=twin.contact_id), metadata=campaign.md(tenant)
    )
    restored = await campaign.stub.RestoreContact(
        pb.RestoreContactRequest(contact_id=contact.contact_id),
        metadata=campaign.md(tenant, scopes=["contacts:write"]),
    )
    assert restored.contact.first_name == "Kept"
    assert not restored.contact.HasField("deleted_at")
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # a live contact is not in the trash
        await campaign.stub.RestoreContact(
            pb.RestoreContactRequest(contact_id=contact.contact_id), metadata=campaign.md(tenant)
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_trash_is_purged_after_30_days(campaign) -> None:
    tenant = campaign.tenant()
    gone, kept = await campaign.create(tenant), await campaign.create(tenant)
    await campaign.stub.DeleteContact(
        pb.DeleteContactRequest(contact_id=gone.contact_id), metadata=campaign.md(tenant)
    )
    await run_retention(campaign.url, RULES, now=travel(days=29))
    assert await campaign.scalar("SELECT count(*) FROM contacts WHERE account_id = %s", tenant) == 2
    await run_retention(campaign.url, RULES, now=travel(days=31))
    rows = await campaign.sql("SELECT id::text FROM contacts WHERE account_id = %s", tenant)
    assert rows == [(kept.contact_id,)]  # the live contact stays, however old


async def test_tags_are_added_removed_and_counted(campaign) -> None:
    tenant = campaign.tenant()
    a, b = await campaign.create(tenant, tags=["old"]), await campaign.create(tenant)
    md = campaign.md(tenant, scopes=["contacts:write"])
    added = await campaign.stub.AddTags(
        pb.AddTagsRequest(contact_ids=[a.contact_id, b.contact_id], tags=["new", "old"]),
        metadata=md,
    )
    assert added.updated == 2
    again = await campaign.stub.AddTags(
        pb.AddTagsRequest(contact_ids=[a.contact_id], tags=["new"]), metadata=md
    )
    assert again.updated == 0
    removed = await campaign.stub.RemoveTags(
        pb.RemoveTagsRequest(contact_ids=[a.contact_id, b.contact_id], tags=["old"]), metadata=md
    )
    assert removed.updated == 2
    got = await campaign.stub.GetContact(
        pb.GetContactRequest(contact_id=a.contact_id), metadata=campaign.md(tenant)
    )
    assert list(got.contact.tags) == ["new"]
    await campaign.stub.AddTags(
        pb.AddTagsRequest(contact_ids=[a.contact_id], tags=["z"]), metadata=md
    )
    page = await campaign.stub.ListTags(
        pb.ListTagsRequest(page_size=1), metadata=campaign.md(tenant, scopes=["contacts:read"])
    )
    assert [(t.name, t.contact_count) for t in page.tags] == [("new", 2)]
    rest = await campaign.stub.ListTags(
        pb.ListTagsRequest(page_size=5, page_token=page.next_page_token),
        metadata=campaign.md(tenant),
    )
    assert [(t.name, t.contact_count) for t in rest.tags] == [("z", 1)]
    assert rest.next_page_token == ""


async def test_bad_tag_requests_name_the_field(campaign) -> None:
    tenant = campaign.tenant()
    contact = await campaign.create(tenant)
    for request_, field in (
        (pb.AddTagsRequest(contact_ids=[], tags=["a"]), "contact_ids"),
        (pb.AddTagsRequest(contact_ids=[contact.contact_id], tags=[]), "tags"),
        (pb.AddTagsRequest(contact_ids=[contact.contact_id], tags=["a\x00"]), "tags[0]"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await campaign.stub.AddTags(request_, metadata=campaign.md(tenant))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(caught.value) == [field]
