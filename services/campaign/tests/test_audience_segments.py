"""Segments in a campaign's audience: the snapshot is one statement over the campaign's lists
and the contacts its segments match (each segment compiled with its account filter), with
the consent projection, suppressions and exclusions applied; another account's contacts
never join, however well they match, and a segment deleted since the draft stops the send."""

from __future__ import annotations

import uuid

import grpc
import pytest
from campaign_testkit import status_details

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import events_pb2 as consent_events
from missiva_platform.events import envelope

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def segment(sender, tenant: str, rule: str) -> str:
    reply = await sender.stub.CreateSegment(
        pb.CreateSegmentRequest(segment=pb.Segment(name=uuid.uuid4().hex, rule_tree_json=rule)),
        metadata=sender.md(tenant, scopes=("segments:write",)),
        timeout=10,
    )
    return reply.segment.segment_id


async def suppress(sender, tenant: str, key: str) -> None:
    await sender.publish(
        envelope(
            consent_events.ContactSuppressed(
                person_key=key, reason=consent_pb.SUPPRESSION_REASON_COMPLAINT
            ),
            subject="consent.contact.suppressed", tenant_id=tenant, producer="consent",
            aggregate_id=f"{tenant}:{key}", aggregate_version=1,
        )
    )  # fmt: skip
    await sender.until(
        lambda: sender.scalar("SELECT 1 FROM suppressions WHERE person_key = %s", key)
    )


async def chosen(sender, campaign_id: str) -> set[str]:
    rows = await sender.sql(
        "SELECT contact_id::text FROM campaign_recipients WHERE campaign_id = %s", campaign_id
    )
    return {r[0] for r in rows}


async def test_lists_and_segments_make_one_audience_with_consent_and_suppressions(sender) -> None:
    tenant, other = sender.tenant(), sender.tenant()
    vip = {"tags": ["vip"]}
    on_list = await sender.create(tenant, **vip)  # on the list and in the segment: once
    only_segment = await sender.create(tenant, **vip)
    only_list = await sender.create(tenant)
    withdrew = await sender.create(tenant, **vip)
    suppressed = await sender.create(tenant, **vip)
    await sender.create(tenant, **vip)  # in the segment, with no consent at all
    outsider = await sender.create(tenant)  # neither on the list nor in the segment
    for contact in (on_list, only_segment, only_list, withdrew, suppressed, outsider):
        await sender.consent(tenant, contact.person_key, 1)
    await sender.consent(tenant, withdrew.person_key, 2, granted=False)
    await suppress(sender, tenant, suppressed.person_key)
    # Another account's VIP, with consent there: the segment's tree matches it, the account
    # filter of the compiled segment does not.
    theirs = await sender.create(other, **vip)
    await sender.consent(other, theirs.person_key, 1)

    listed = await sender.list_with(tenant, [on_list, only_list])
    vips = await segment(sender, tenant, '{"has_tag": "vip"}')
    await sender.grant(tenant, 100)
    draft = await sender.draft(tenant, [listed], segment_ids=[vips])
    assert list(draft.segment_ids) == [vips]
    reply = await sender.send_now(tenant, draft.campaign_id)
    assert reply.recipient_count == 3
    assert await chosen(sender, draft.campaign_id) == {
        on_list.contact_id, only_segment.contact_id, only_list.contact_id,
    }  # fmt: skip
    started = await sender.get(tenant, draft.campaign_id)
    assert started.status == pb.CAMPAIGN_STATUS_SENDING


async def test_a_segment_only_audience_honours_excluded_lists(sender) -> None:
    tenant = sender.tenant()
    romans = [await sender.create(tenant, attributes={"city": "Roma"}) for _ in range(3)]
    milanese = await sender.create(tenant, attributes={"city": "Milano"})
    for contact in (*romans, milanese):
        await sender.consent(tenant, contact.person_key, 1)
    rome = await segment(
        sender, tenant, '{"field": "attributes.city", "op": "equals", "value": "Roma"}'
    )
    excluded = await sender.list_with(tenant, [romans[0]])
    await sender.grant(tenant, 100)
    draft = await sender.draft(tenant, [], segment_ids=[rome], excluded_list_ids=[excluded])
    reply = await sender.send_now(tenant, draft.campaign_id)
    assert reply.recipient_count == 2
    assert await chosen(sender, draft.campaign_id) == {romans[1].contact_id, romans[2].contact_id}


async def test_two_segments_bind_their_own_values(sender) -> None:
    tenant = sender.tenant()
    a = await sender.create(tenant, attributes={"city": "Roma"}, tags=["x"])
    b = await sender.create(tenant, attributes={"city": "Torino"})
    c = await sender.create(tenant, attributes={"city": "Bari"})
    for contact in (a, b, c):
        await sender.consent(tenant, contact.person_key, 1)
    first = await segment(sender, tenant, '{"all": [{"has_tag": "x"}, {"field": "attributes.city",'
                          ' "op": "in", "value": ["Roma", "Napoli"]}]}')  # fmt: skip
    second = await segment(
        sender, tenant, '{"field": "attributes.city", "op": "equals", "value": "Torino"}'
    )
    await sender.grant(tenant, 100)
    draft = await sender.draft(tenant, [], segment_ids=[first, second])
    reply = await sender.send_now(tenant, draft.campaign_id)
    assert reply.recipient_count == 2
    assert await chosen(sender, draft.campaign_id) == {a.contact_id, b.contact_id}


async def test_a_segment_deleted_since_the_draft_stops_the_send_and_names_it(sender) -> None:
    tenant = sender.tenant()
    contact = await sender.create(tenant, tags=["gone"])
    await sender.consent(tenant, contact.person_key, 1)
    doomed = await segment(sender, tenant, '{"has_tag": "gone"}')
    await sender.grant(tenant, 10)
    draft = await sender.draft(tenant, [], segment_ids=[doomed])
    await sender.stub.DeleteSegment(
        pb.DeleteSegmentRequest(segment_id=doomed),
        metadata=sender.md(tenant, scopes=("segments:write",)),
        timeout=10,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sender.send_now(tenant, draft.campaign_id)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert doomed in caught.value.details()
    fields = [v.subject for d in status_details(caught.value) for v in d.violations]
    assert fields == ["campaign.segment_ids[0]"]
    after = await sender.get(tenant, draft.campaign_id)
    assert after.status == pb.CAMPAIGN_STATUS_DRAFT
    assert await chosen(sender, draft.campaign_id) == set()
    assert await sender.reservations(tenant) == []


async def test_a_deleted_campaign_takes_its_snapshot_with_it(sender) -> None:
    """The snapshot has no foreign key (its per-row check cost a million-row snapshot three
    quarters of its time); a trigger keeps the cascade."""
    tenant = sender.tenant()
    contact = await sender.create(tenant)
    await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 10)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, [contact])])
    await sender.send_now(tenant, draft.campaign_id)
    assert await chosen(sender, draft.campaign_id) == {contact.contact_id}
    await sender.sql("DELETE FROM campaigns WHERE id = %s", draft.campaign_id)
    assert await chosen(sender, draft.campaign_id) == set()
