"""The trash of templates, campaigns and lists: a deleted one is gone from Get and List, listed
in the trash, restorable for 30 days (a list's name is free meanwhile; restoring then clashes),
then purged by the retention rule (time travel). What a scheduled or sending campaign needs
cannot go; a running campaign must be cancelled first. Bad ids name the field, one scope less
is refused, another account's ids are NOT_FOUND."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from campaign_testkit import violated_fields
from google.protobuf import timestamp_pb2
from sending_testkit import PURPOSE

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.common.v1 import types_pb2
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_campaign.retention import RULES
from missiva_platform.auth import CallerKind
from missiva_platform.retention import run_retention, travel

pytestmark = pytest.mark.asyncio(loop_scope="module")

BODY = (
    '<p>Hi</p><a href="{{ unsubscribe_url }}">Unsubscribe</a> <a href="{{ my_data_url }}">Data</a>'
)


async def refused(call, request, metadata) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, metadata=metadata, timeout=10)
    return caught.value


def tomorrow() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(days=1))
    return stamp


async def template(sender, tenant: str, name: str = "Spring news") -> pb.Template:
    reply = await sender.stub.CreateTemplate(
        pb.CreateTemplateRequest(template=pb.Template(name=name, subject="News", html_body=BODY)),
        metadata=sender.md(tenant, scopes=("templates:write",)),
        timeout=10,
    )
    return reply.template


async def new_list(sender, tenant: str, name: str) -> pb.ContactList:
    reply = await sender.stub.CreateList(
        pb.CreateListRequest(list=pb.ContactList(name=name, purpose_id=PURPOSE)),
        metadata=sender.md(tenant, scopes=("lists:write",)),
        timeout=10,
    )
    return reply.list


async def schedule(sender, tenant: str, campaign_id: str) -> None:
    reply = await sender.stub.ScheduleCampaign(
        pb.ScheduleCampaignRequest(
            campaign_id=campaign_id, send_at=tomorrow(), idempotency_key=uuid.uuid4().hex
        ),
        metadata=sender.md(tenant, scopes=("campaigns:write",)),
        timeout=10,
    )
    assert reply.campaign.status == pb.CAMPAIGN_STATUS_SCHEDULED


def thirty_days(item) -> None:
    assert item.HasField("deleted_at")
    window = item.restorable_until.ToDatetime() - item.deleted_at.ToDatetime()
    assert window == timedelta(days=30)


async def test_a_template_goes_to_the_trash_and_comes_back(sender) -> None:
    tenant = sender.tenant()
    made = await template(sender, tenant)
    write = sender.md(tenant, scopes=("templates:write",))
    read = sender.md(tenant, scopes=("templates:read",))
    gone = await sender.stub.DeleteTemplate(
        pb.DeleteTemplateRequest(template_id=made.template_id), metadata=write, timeout=10
    )
    thirty_days(gone.template)
    err = await refused(
        sender.stub.GetTemplate, pb.GetTemplateRequest(template_id=made.template_id), read
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    live = await sender.stub.ListTemplates(pb.ListTemplatesRequest(), metadata=read)
    assert made.template_id not in [t.template_id for t in live.templates]
    trash = await sender.stub.ListTemplates(pb.ListTemplatesRequest(in_trash=True), metadata=read)
    assert [t.template_id for t in trash.templates] == [made.template_id]  # no starters
    err = await refused(  # a template in the trash is no longer a campaign's to use
        sender.stub.CreateCampaign,
        pb.CreateCampaignRequest(campaign=pb.Campaign(name="x", template_id=made.template_id)),
        sender.md(tenant, scopes=("campaigns:write",)),
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    back = await sender.stub.RestoreTemplate(
        pb.RestoreTemplateRequest(template_id=made.template_id), metadata=write, timeout=10
    )
    assert not back.template.HasField("deleted_at")
    got = await sender.stub.GetTemplate(
        pb.GetTemplateRequest(template_id=made.template_id), metadata=read
    )
    assert got.template.html_body == BODY
    err = await refused(  # a live template is not in the trash
        sender.stub.RestoreTemplate, pb.RestoreTemplateRequest(template_id=made.template_id), write
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await refused(
        sender.stub.DeleteTemplate, pb.DeleteTemplateRequest(template_id="starter-en"), write
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "read-only" in err.details()


async def test_a_scheduled_campaigns_template_and_list_stay_until_it_is_cancelled(sender) -> None:
    tenant = sender.tenant()
    made = await template(sender, tenant)
    list_id = await sender.list_with(tenant, [await sender.create(tenant)])
    draft = await sender.draft(tenant, [list_id], template_id=made.template_id, name="Autumn")
    await schedule(sender, tenant, draft.campaign_id)
    err = await refused(
        sender.stub.DeleteTemplate,
        pb.DeleteTemplateRequest(template_id=made.template_id),
        sender.md(tenant, scopes=("templates:write",)),
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert '"Autumn" (scheduled)' in err.details()
    err = await refused(
        sender.stub.DeleteList,
        pb.DeleteListRequest(list_id=list_id),
        sender.md(tenant, scopes=("lists:write",)),
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "audience" in err.details()
    cmd = sender.md(tenant, scopes=("campaigns:write",))
    err = await refused(
        sender.stub.DeleteCampaign, pb.DeleteCampaignRequest(campaign_id=draft.campaign_id), cmd
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "cancel it first" in err.details()
    await sender.stub.CancelCampaign(
        pb.CancelCampaignRequest(campaign_id=draft.campaign_id), metadata=cmd, timeout=10
    )
    await sender.stub.DeleteTemplate(
        pb.DeleteTemplateRequest(template_id=made.template_id),
        metadata=sender.md(tenant, scopes=("templates:write",)),
    )
    await sender.stub.DeleteList(
        pb.DeleteListRequest(list_id=list_id), metadata=sender.md(tenant, scopes=("lists:write",))
    )
    gone = await sender.stub.DeleteCampaign(
        pb.DeleteCampaignRequest(campaign_id=draft.campaign_id), metadata=cmd
    )
    assert gone.campaign.status == pb.CAMPAIGN_STATUS_CANCELLED
    thirty_days(gone.campaign)


async def test_a_campaign_goes_to_the_trash_and_comes_back(sender) -> None:
    tenant = sender.tenant()
    list_id = await sender.list_with(tenant, [await sender.create(tenant)])
    draft = await sender.draft(tenant, [list_id])
    kept = await sender.draft(tenant, [list_id])
    write = sender.md(tenant, scopes=("campaigns:write",))
    read = sender.md(tenant, scopes=("campaigns:read",))
    await sender.stub.DeleteCampaign(
        pb.DeleteCampaignRequest(campaign_id=draft.campaign_id), metadata=write
    )
    err = await refused(
        sender.stub.GetCampaign, pb.GetCampaignRequest(campaign_id=draft.campaign_id), read
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await refused(  # nor can it be scheduled or sent from the trash
        sender.stub.SendCampaignNow,
        pb.SendCampaignNowRequest(campaign_id=draft.campaign_id, idempotency_key="k1"),
        write,
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    live = await sender.stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=read)
    assert [c.campaign_id for c in live.campaigns] == [kept.campaign_id]
    trash = await sender.stub.ListCampaigns(pb.ListCampaignsRequest(in_trash=True), metadata=read)
    assert [c.campaign_id for c in trash.campaigns] == [draft.campaign_id]
    thirty_days(trash.campaigns[0])
    back = await sender.stub.RestoreCampaign(
        pb.RestoreCampaignRequest(campaign_id=draft.campaign_id), metadata=write
    )
    assert back.campaign.status == pb.CAMPAIGN_STATUS_DRAFT
    assert not back.campaign.HasField("deleted_at")
    assert (await sender.get(tenant, draft.campaign_id)).name == "Spring"
    err = await refused(
        sender.stub.RestoreCampaign, pb.RestoreCampaignRequest(campaign_id=draft.campaign_id), write
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_a_list_goes_to_the_trash_with_its_members_and_its_name_is_freed(sender) -> None:
    tenant = sender.tenant()
    contact = await sender.create(tenant)
    old = await new_list(sender, tenant, "Newsletter")
    write = sender.md(tenant, scopes=("lists:write",))
    await sender.stub.AddToList(
        pb.AddToListRequest(list_id=old.list_id, contact_ids=[contact.contact_id]), metadata=write
    )
    gone = await sender.stub.DeleteList(pb.DeleteListRequest(list_id=old.list_id), metadata=write)
    thirty_days(gone.list)
    read = sender.md(tenant, scopes=("lists:read",))
    live = await sender.stub.ListLists(pb.ListListsRequest(), metadata=read)
    assert list(live.lists) == []
    trash = await sender.stub.ListLists(pb.ListListsRequest(in_trash=True), metadata=read)
    assert [(x.list_id, x.member_count) for x in trash.lists] == [(old.list_id, 1)]
    err = await refused(
        sender.stub.ListContacts,
        pb.ListContactsRequest(list_id=old.list_id),
        sender.md(tenant, scopes=("contacts:read",)),
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await refused(
        sender.stub.AddToList,
        pb.AddToListRequest(list_id=old.list_id, contact_ids=[contact.contact_id]),
        write,
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    got = await sender.stub.GetContact(
        pb.GetContactRequest(contact_id=contact.contact_id),
        metadata=sender.md(tenant, scopes=("contacts:read",)),
    )
    assert list(got.contact.list_ids) == []
    # A list in the trash is no campaign's audience (NOT_FOUND, as when one is scheduled).
    err = await refused(
        sender.stub.CreateCampaign,
        pb.CreateCampaignRequest(campaign=pb.Campaign(name="x", list_ids=[old.list_id])),
        sender.md(tenant, scopes=("campaigns:write",)),
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    twin = await new_list(sender, tenant, "NEWSLETTER")  # the name is free
    err = await refused(sender.stub.RestoreList, pb.RestoreListRequest(list_id=old.list_id), write)
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "live list has this list's name" in err.details()
    await sender.stub.DeleteList(pb.DeleteListRequest(list_id=twin.list_id), metadata=write)
    back = await sender.stub.RestoreList(pb.RestoreListRequest(list_id=old.list_id), metadata=write)
    assert (back.list.name, back.list.member_count) == ("Newsletter", 1)
    assert not back.list.HasField("deleted_at")
    got = await sender.stub.GetContact(
        pb.GetContactRequest(contact_id=contact.contact_id),
        metadata=sender.md(tenant, scopes=("contacts:read",)),
    )
    assert list(got.contact.list_ids) == [old.list_id]


async def test_a_persons_export_shows_the_lists_in_the_trash_they_are_on(sender) -> None:
    tenant = sender.tenant()
    contact = await sender.create(tenant)
    old = await new_list(sender, tenant, "Old news")
    write = sender.md(tenant, scopes=("lists:write",))
    await sender.stub.AddToList(
        pb.AddToListRequest(list_id=old.list_id, contact_ids=[contact.contact_id]), metadata=write
    )
    await sender.stub.DeleteList(pb.DeleteListRequest(list_id=old.list_id), metadata=write)
    reply = await sender.privacy.ExportPersonData(
        ppb.ExportPersonDataRequest(
            request_id=str(uuid.uuid4()),
            person=types_pb2.PersonRef(person_key=contact.person_key),
        ),
        metadata=sender.md(tenant, kind=CallerKind.SERVICE, subject="consent", scopes=(), roles=()),
    )
    sections = {s.name: json.loads(s.content) for s in reply.sections}
    assert sections["contacts"][0]["list_ids"] == [old.list_id]  # still held, so shown


async def test_a_sent_campaign_is_deleted_once_cancelled_and_purged_with_its_recipients(
    sender,
) -> None:
    tenant = sender.tenant()
    contacts = [await sender.create(tenant) for _ in range(2)]
    for contact in contacts:
        await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 10)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, contacts)])
    await sender.send_now(tenant, draft.campaign_id)
    cid = draft.campaign_id
    md = sender.md(tenant, scopes=("campaigns:write",))
    await sender.stub.PauseCampaign(pb.PauseCampaignRequest(campaign_id=cid), metadata=md)
    err = await refused(sender.stub.DeleteCampaign, pb.DeleteCampaignRequest(campaign_id=cid), md)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "paused" in err.details()
    await sender.stub.CancelCampaign(pb.CancelCampaignRequest(campaign_id=cid), metadata=md)
    await sender.stub.DeleteCampaign(pb.DeleteCampaignRequest(campaign_id=cid), metadata=md)
    recipients = "SELECT count(*) FROM campaign_recipients WHERE campaign_id = %s"
    assert await sender.scalar(recipients, cid) == 2  # kept in the trash
    await run_retention(sender.url, RULES, now=travel(days=29))
    assert await sender.scalar("SELECT count(*) FROM campaigns WHERE id = %s", cid) == 1
    await run_retention(sender.url, RULES, now=travel(days=31))
    assert await sender.scalar("SELECT count(*) FROM campaigns WHERE id = %s", cid) == 0
    assert await sender.scalar(recipients, cid) == 0


async def test_the_trash_of_templates_and_lists_is_purged_after_30_days(sender) -> None:
    tenant = sender.tenant()
    gone_t, kept_t = await template(sender, tenant), await template(sender, tenant)
    gone_l = await new_list(sender, tenant, "Old")
    kept_l = await new_list(sender, tenant, "Kept")
    contact = await sender.create(tenant)
    await sender.stub.AddToList(
        pb.AddToListRequest(list_id=gone_l.list_id, contact_ids=[contact.contact_id]),
        metadata=sender.md(tenant, scopes=("lists:write",)),
    )
    await sender.stub.DeleteTemplate(
        pb.DeleteTemplateRequest(template_id=gone_t.template_id),
        metadata=sender.md(tenant, scopes=("templates:write",)),
    )
    await sender.stub.DeleteList(
        pb.DeleteListRequest(list_id=gone_l.list_id),
        metadata=sender.md(tenant, scopes=("lists:write",)),
    )
    templates = "SELECT id::text FROM templates WHERE account_id = %s ORDER BY id"
    lists = "SELECT id::text FROM contact_lists WHERE account_id = %s ORDER BY id"
    await run_retention(sender.url, RULES, now=travel(days=29))
    assert len(await sender.sql(templates, tenant)) == 2
    assert len(await sender.sql(lists, tenant)) == 2
    await run_retention(sender.url, RULES, now=travel(days=31))
    assert await sender.sql(templates, tenant) == [(kept_t.template_id,)]
    assert await sender.sql(lists, tenant) == [(kept_l.list_id,)]
    members = "SELECT count(*) FROM list_members WHERE list_id = %s"
    assert await sender.scalar(members, gone_l.list_id) == 0
    assert await sender.scalar("SELECT count(*) FROM contacts WHERE id = %s", contact.contact_id)


CALLS = (
    ("DeleteTemplate", pb.DeleteTemplateRequest, "template_id", "templates"),
    ("RestoreTemplate", pb.RestoreTemplateRequest, "template_id", "templates"),
    ("DeleteCampaign", pb.DeleteCampaignRequest, "campaign_id", "campaigns"),
    ("RestoreCampaign", pb.RestoreCampaignRequest, "campaign_id", "campaigns"),
    ("DeleteList", pb.DeleteListRequest, "list_id", "lists"),
    ("RestoreList", pb.RestoreListRequest, "list_id", "lists"),
)


@pytest.mark.parametrize(("method", "request_type", "field", "kind"), CALLS)
async def test_bad_ids_name_the_field(sender, method, request_type, field, kind) -> None:
    md = sender.md(sender.tenant(), scopes=(f"{kind}:write",))
    for bad in ("", "not-an-id"):
        err = await refused(getattr(sender.stub, method), request_type(**{field: bad}), md)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(err) == [field]


@pytest.mark.parametrize(("method", "request_type", "field", "kind"), CALLS)
async def test_the_read_scope_is_one_scope_too_few(sender, method, request_type, field, kind):
    md = sender.md(sender.tenant(), scopes=(f"{kind}:read",))
    err = await refused(
        getattr(sender.stub, method), request_type(**{field: str(uuid.uuid4())}), md
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_another_accounts_items_are_not_found(sender) -> None:
    tenant, other = sender.tenant(), sender.tenant()
    made = await template(sender, tenant)
    listed = await new_list(sender, tenant, "Mine")
    draft = await sender.draft(tenant, [listed.list_id])
    ids = {"template_id": made.template_id, "campaign_id": draft.campaign_id,
           "list_id": listed.list_id}  # fmt: skip
    for method, request_type, field, kind in CALLS:
        if method.startswith("Restore"):  # the owner deletes, the other account restores
            delete = method.replace("Restore", "Delete")
            await getattr(sender.stub, delete)(
                getattr(pb, f"{delete}Request")(**{field: ids[field]}),
                metadata=sender.md(tenant, scopes=(f"{kind}:write",)),
            )
        err = await refused(
            getattr(sender.stub, method),
            request_type(**{field: ids[field]}),
            sender.md(other, scopes=(f"{kind}:write",)),
        )
        assert err.code() == grpc.StatusCode.NOT_FOUND, method
