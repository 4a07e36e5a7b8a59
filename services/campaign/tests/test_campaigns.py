"""Campaign RPCs: drafts, updates, listing, schedules (a time zone, or each recipient's local
time); bad input names its field, another account's campaign (or list, or segment) is
NOT_FOUND, the least scope works and one less is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from campaign_testkit import violated_fields
from google.protobuf import field_mask_pb2, timestamp_pb2
from sending_testkit import SENDER

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.common.v1 import types_pb2

pytestmark = pytest.mark.asyncio(loop_scope="module")

WRITE = ("campaigns:write",)
READ = ("campaigns:read",)


def at(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def refused(call, request, metadata) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, metadata=metadata, timeout=10)
    return caught.value


async def test_a_draft_is_created_read_updated_and_listed(sender) -> None:
    tenant = sender.tenant()
    contact = await sender.create(tenant)
    list_id = await sender.list_with(tenant, [contact])
    draft = await sender.draft(tenant, [list_id], subject="Hello {{ first_name }}")
    assert draft.status == pb.CAMPAIGN_STATUS_DRAFT
    assert draft.category == types_pb2.EMAIL_CATEGORY_MARKETING
    assert list(draft.list_ids) == [list_id]
    got = await sender.get(tenant, draft.campaign_id)
    assert got.subject == "Hello {{ first_name }}"
    updated = await sender.stub.UpdateCampaign(
        pb.UpdateCampaignRequest(
            campaign=pb.Campaign(campaign_id=draft.campaign_id, name="Autumn", preheader="New"),
            update_mask=field_mask_pb2.FieldMask(paths=["name", "preheader"]),
        ),
        metadata=sender.md(tenant, scopes=WRITE),
        timeout=10,
    )
    assert (updated.campaign.name, updated.campaign.preheader) == ("Autumn", "New")
    assert updated.campaign.sender.from_address == "news@bottega.example"  # kept
    second = await sender.draft(tenant, [list_id])
    page = await sender.stub.ListCampaigns(
        pb.ListCampaignsRequest(page_size=1), metadata=sender.md(tenant, scopes=READ), timeout=10
    )
    assert [c.campaign_id for c in page.campaigns] == [second.campaign_id]  # newest first
    rest = await sender.stub.ListCampaigns(
        pb.ListCampaignsRequest(page_size=1, page_token=page.next_page_token),
        metadata=sender.md(tenant, scopes=READ),
        timeout=10,
    )
    assert [c.campaign_id for c in rest.campaigns] == [draft.campaign_id]
    drafts = await sender.stub.ListCampaigns(
        pb.ListCampaignsRequest(status=pb.CAMPAIGN_STATUS_SCHEDULED),
        metadata=sender.md(tenant, scopes=READ),
        timeout=10,
    )
    assert list(drafts.campaigns) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "campaign.name"),
        ({"sender": pb.Sender(from_address="not an address")}, "campaign.sender.from_address"),
        ({"sender": pb.Sender(from_address="a@b.example", reply_to="x@")},
         "campaign.sender.reply_to"),
        ({"category": types_pb2.EMAIL_CATEGORY_SYSTEM}, "campaign.category"),
        ({"list_ids": ["nope"]}, "campaign.list_ids[0]"),
        ({"template_id": "nope"}, "campaign.template_id"),
        ({"purpose_id": "no spaces allowed"}, "campaign.purpose_id"),
    ],
)  # fmt: skip
async def test_bad_input_names_the_field(sender, fields, field) -> None:
    tenant = sender.tenant()
    values = {"name": "Spring", **fields}
    err = await refused(
        sender.stub.CreateCampaign,
        pb.CreateCampaignRequest(campaign=pb.Campaign(**values)),
        sender.md(tenant, scopes=WRITE),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(err) == [field]


async def test_an_unknown_or_another_accounts_segment_is_not_found(sender) -> None:
    tenant, other = sender.tenant(), sender.tenant()
    theirs = await sender.stub.CreateSegment(
        pb.CreateSegmentRequest(
            segment=pb.Segment(name="Theirs", rule_tree_json='{"has_tag": "vip"}')
        ),
        metadata=sender.md(other, scopes=("segments:write",)),
        timeout=10,
    )
    for segment_id in (str(uuid.uuid4()), theirs.segment.segment_id):
        err = await refused(
            sender.stub.CreateCampaign,
            pb.CreateCampaignRequest(campaign=pb.Campaign(name="Spring", segment_ids=[segment_id])),
            sender.md(tenant, scopes=WRITE),
        )
        assert err.code() == grpc.StatusCode.NOT_FOUND
        assert f"segment not found: {segment_id}" in err.details()


async def test_another_accounts_campaign_and_lists_are_not_found(sender) -> None:
    tenant = sender.tenant()
    list_id = await sender.list_with(tenant, [await sender.create(tenant)])
    draft = await sender.draft(tenant, [list_id])
    other = sender.tenant()
    err = await refused(
        sender.stub.CreateCampaign,
        pb.CreateCampaignRequest(campaign=pb.Campaign(name="x", list_ids=[list_id])),
        sender.md(other, scopes=WRITE),
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    cid = draft.campaign_id
    soon = at(datetime.now(UTC) + timedelta(days=1))
    calls = [
        (sender.stub.GetCampaign, pb.GetCampaignRequest(campaign_id=cid), READ),
        (sender.stub.GetCampaignStats, pb.GetCampaignStatsRequest(campaign_id=cid), READ),
        (
            sender.stub.UpdateCampaign,
            pb.UpdateCampaignRequest(
                campaign=pb.Campaign(campaign_id=cid, name="x"),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
            ),
            WRITE,
        ),
        (sender.stub.ScheduleCampaign, pb.ScheduleCampaignRequest(campaign_id=cid, send_at=soon),
         WRITE),
        (sender.stub.SendCampaignNow,
         pb.SendCampaignNowRequest(campaign_id=cid, idempotency_key="k"), WRITE),
        (sender.stub.PauseCampaign, pb.PauseCampaignRequest(campaign_id=cid), WRITE),
        (sender.stub.ResumeCampaign, pb.ResumeCampaignRequest(campaign_id=cid), WRITE),
        (sender.stub.CancelCampaign, pb.CancelCampaignRequest(campaign_id=cid), WRITE),
    ]  # fmt: skip
    for call, request, scopes in calls:
        err = await refused(call, request, sender.md(other, scopes=scopes))
        assert err.code() == grpc.StatusCode.NOT_FOUND, call
    assert (await sender.get(tenant, cid)).status == pb.CAMPAIGN_STATUS_DRAFT


async def test_a_schedule_is_checked(sender) -> None:
    tenant = sender.tenant()
    incomplete = await sender.stub.CreateCampaign(
        pb.CreateCampaignRequest(campaign=pb.Campaign(name="Spring")),
        metadata=sender.md(tenant, scopes=WRITE),
        timeout=10,
    )
    cid = incomplete.campaign.campaign_id
    md = sender.md(tenant, scopes=WRITE)
    soon = at(datetime.now(UTC) + timedelta(days=1))
    for request, field in (
        (pb.ScheduleCampaignRequest(campaign_id=cid), "send_at"),
        (pb.ScheduleCampaignRequest(campaign_id=cid, send_at=at(datetime(2020, 1, 1, tzinfo=UTC))),
         "send_at"),
        (pb.ScheduleCampaignRequest(campaign_id=cid, send_at=soon, timezone="Mars/Olympus"),
         "timezone"),
        (pb.ScheduleCampaignRequest(campaign_id="nope", send_at=soon), "campaign_id"),
    ):  # fmt: skip
        err = await refused(sender.stub.ScheduleCampaign, request, md)
        assert violated_fields(err) == [field]
    err = await refused(
        sender.stub.ScheduleCampaign, pb.ScheduleCampaignRequest(campaign_id=cid, send_at=soon), md
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "needs a template" in err.details()


async def test_each_recipient_gets_it_at_their_own_local_time(sender) -> None:
    tenant = sender.tenant()
    rome = await sender.create(tenant, timezone="Europe/Rome")
    auckland = await sender.create(tenant, timezone="Pacific/Auckland")
    nowhere = await sender.create(tenant)
    for contact in (rome, auckland, nowhere):
        await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 10)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, [rome, auckland, nowhere])])
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    nine_in_rome = datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo("Europe/Rome"))
    scheduled = await sender.stub.ScheduleCampaign(
        pb.ScheduleCampaignRequest(
            campaign_id=draft.campaign_id,
            send_at=at(nine_in_rome.astimezone(UTC)),
            timezone="Europe/Rome",
            recipient_local_time=True,
            idempotency_key="s1",
        ),
        metadata=sender.md(tenant, scopes=WRITE),
        timeout=10,
    )
    assert scheduled.campaign.status == pb.CAMPAIGN_STATUS_SCHEDULED
    assert scheduled.campaign.recipient_local_time
    assert scheduled.campaign.schedule_timezone == "Europe/Rome"
    # Not due yet: nothing starts. 13 hours before 09:00 in Rome it is 09:00 somewhere east.
    assert await sender.path.start_due(now=nine_in_rome - timedelta(days=1)) == 0
    assert await sender.path.start_due(now=nine_in_rome - timedelta(hours=13)) >= 1
    assert (await sender.get(tenant, draft.campaign_id)).status == pb.CAMPAIGN_STATUS_SENDING
    due = dict(
        await sender.sql(
            "SELECT contact_id::text, due_at FROM campaign_recipients WHERE campaign_id = %s",
            draft.campaign_id,
        )
    )
    nine_in_auckland = datetime(
        day.year, day.month, day.day, 9, tzinfo=ZoneInfo("Pacific/Auckland")
    )
    assert due[rome.contact_id] == nine_in_rome
    assert due[nowhere.contact_id] == nine_in_rome  # no zone of their own: the campaign's
    assert due[auckland.contact_id] == nine_in_auckland
    # Nobody is due yet, so no batch has gone out.
    assert (
        await sender.scalar(
            "SELECT count(*) FROM campaign_recipients WHERE campaign_id = %s"
            " AND status <> 'queued'",
            draft.campaign_id,
        )
        == 0
    )


async def test_the_least_scope_works_and_one_less_is_refused(sender) -> None:
    tenant = sender.tenant()
    list_id = await sender.list_with(tenant, [await sender.create(tenant)])
    draft = await sender.draft(tenant, [list_id])
    # The billing role may read campaigns and their statistics.
    reply = await sender.stub.GetCampaignStats(
        pb.GetCampaignStatsRequest(campaign_id=draft.campaign_id),
        metadata=sender.md(tenant, scopes=READ, roles=("billing",)),
        timeout=10,
    )
    assert reply.stats.recipients == 0
    for call, request, scopes in (
        (sender.stub.GetCampaign, pb.GetCampaignRequest(campaign_id=draft.campaign_id), ()),
        (sender.stub.CreateCampaign, pb.CreateCampaignRequest(campaign=pb.Campaign(name="x")),
         READ),
        (sender.stub.CancelCampaign, pb.CancelCampaignRequest(campaign_id=draft.campaign_id),
         READ),
    ):  # fmt: skip
        err = await refused(call, request, sender.md(tenant, scopes=scopes))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # A billing user may not write campaigns.
    err = await refused(
        sender.stub.CancelCampaign,
        pb.CancelCampaignRequest(campaign_id=draft.campaign_id),
        sender.md(tenant, scopes=SENDER, roles=("billing",)),
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_due_schedule_waits_while_billing_cannot_be_reached(sender) -> None:
    from missiva_campaign.credits import BillingCredits
    from missiva_campaign.sending import SendPath

    tenant = sender.tenant()
    contact = await sender.create(tenant)
    await sender.consent(tenant, contact.person_key, 1)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, [contact])])
    send_at = datetime.now(UTC) + timedelta(hours=1)
    await sender.stub.ScheduleCampaign(
        pb.ScheduleCampaignRequest(campaign_id=draft.campaign_id, send_at=at(send_at)),
        metadata=sender.md(tenant, scopes=WRITE),
        timeout=10,
    )

    async def token_for(tenant: str) -> str:
        return "unused"

    unreachable = SendPath(
        lambda: sender.app.pool,
        BillingCredits("127.0.0.1:1", token_for),
        batch_size=10,
        batches_per_run=1,
    )
    assert await unreachable.start_due(now=send_at + timedelta(minutes=1)) == 0
    after = await sender.get(tenant, draft.campaign_id)
    assert after.status == pb.CAMPAIGN_STATUS_SCHEDULED
    assert (
        await sender.scalar(
            "SELECT count(*) FROM campaign_recipients WHERE campaign_id = %s", draft.campaign_id
        )
        == 0
    )
