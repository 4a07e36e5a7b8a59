"""The send path end to end, with billing running beside campaign: the one-statement
snapshot (consent, unsubscriptions, suppressions, frequency caps, exclusions), credits
reserved first (not enough: the campaign stays a draft and says how many are missing),
batches to delivery with merge fields and the template compiled once, delivery's outcomes
completing the campaign (never simply "completed" when sends failed), pause / resume /
cancel as events, statistics, and the snapshot anonymised six months after the send."""

from __future__ import annotations

import grpc
import pytest
from campaign_testkit import status_details
from sending_testkit import PURPOSE

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import events_pb2
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import events_pb2 as consent_events
from missiva.delivery.v1 import delivery_service_pb2 as delivery_pb
from missiva.delivery.v1 import events_pb2 as delivery
from missiva_campaign.retention import RULES
from missiva_platform.events import envelope
from missiva_platform.retention import run_retention, travel

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETTINGS = {"send_batch_size": 2, "send_batches_per_run": 1}


def outcome(tenant: str, message, subject: str):
    return envelope(message, subject=subject, tenant_id=tenant, producer="delivery")


async def people(sender, tenant: str, n: int) -> list[pb.Contact]:
    return [await sender.create(tenant, first_name=f"P{i}", attributes={"city": "Roma"})
            for i in range(n)]  # fmt: skip


async def test_the_snapshot_leaves_out_the_unsubscribed_suppressed_capped_and_excluded(
    sender,
) -> None:
    tenant = sender.tenant()
    a, b, c, d, e, f = await people(sender, tenant, 6)
    for contact in (a, b, c, e, f):
        await sender.consent(tenant, contact.person_key, 1)
    # b unsubscribes (consent's event); d never consented; e is suppressed; f is excluded.
    await sender.consent(tenant, b.person_key, 2, granted=False)
    await sender.publish(
        envelope(
            consent_events.ContactSuppressed(
                person_key=e.person_key, reason=consent_pb.SUPPRESSION_REASON_HARD_BOUNCE
            ),
            subject="consent.contact.suppressed", tenant_id=tenant, producer="consent",
            aggregate_id=f"{tenant}:{e.person_key}", aggregate_version=1,
        )
    )  # fmt: skip
    await sender.until(
        lambda: sender.scalar("SELECT 1 FROM suppressions WHERE person_key = %s", e.person_key)
    )
    await sender.grant(tenant, 100)
    # c already got a campaign this week; the cap is one per 7 days for the purpose.
    first = await sender.draft(tenant, [await sender.list_with(tenant, [c])])
    sent_first = await sender.send_now(tenant, first.campaign_id)
    assert sent_first.recipient_count == 1
    await sender.sql(
        "INSERT INTO frequency_caps (account_id, purpose_id, max_messages, window_days)"
        " VALUES (%s, %s, 1, 7)",
        tenant, PURPOSE,
    )  # fmt: skip

    everyone = await sender.list_with(tenant, [a, b, c, d, e, f])
    excluded = await sender.list_with(tenant, [f])
    draft = await sender.draft(tenant, [everyone], excluded_list_ids=[excluded])
    reply = await sender.send_now(tenant, draft.campaign_id)
    assert reply.recipient_count == 1
    assert reply.campaign.status == pb.CAMPAIGN_STATUS_SENDING
    chosen = await sender.sql(
        "SELECT contact_id::text FROM campaign_recipients WHERE campaign_id = %s",
        draft.campaign_id,
    )
    assert chosen == [(a.contact_id,)]
    # Credits were held at billing for exactly the snapshot, under the campaign's reference.
    assert (1, f"campaign:{draft.campaign_id}") in await sender.reservations(tenant)
    started = await sender.event(
        "campaign.campaign.started", draft.campaign_id, events_pb2.CampaignStarted
    )
    assert started.recipient_count == 1
    assert started.excluded_count == 4  # b, c, d, e (f was never in the audience)


async def test_not_enough_credits_keeps_the_draft_and_says_how_many_are_missing(sender) -> None:
    tenant = sender.tenant()
    contacts = await people(sender, tenant, 3)
    for contact in contacts:
        await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 1)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, contacts)])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sender.send_now(tenant, draft.campaign_id)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "2 missing" in caught.value.details()
    kinds = [v.type for d in status_details(caught.value) for v in getattr(d, "violations", [])]
    assert "CREDITS_INSUFFICIENT" in kinds
    after = await sender.get(tenant, draft.campaign_id)
    assert after.status == pb.CAMPAIGN_STATUS_DRAFT
    assert after.missing_credits == 2
    assert "not enough credits" in after.last_error
    assert (
        await sender.scalar(
            "SELECT count(*) FROM campaign_recipients WHERE campaign_id = %s", draft.campaign_id
        )
        == 0
    )
    assert await sender.reservations(tenant) == []
    # After a top-up the same draft sends.
    await sender.grant(tenant, 5)
    assert (await sender.send_now(tenant, draft.campaign_id)).recipient_count == 3
    # A second call (a retry with another key, or a double click) never sends twice.
    again = await sender.send_now(tenant, draft.campaign_id)
    assert again.recipient_count == 3
    assert len(await sender.reservations(tenant)) == 1
    assert (
        await sender.scalar(
            "SELECT count(*) FROM campaign_recipients WHERE campaign_id = %s", draft.campaign_id
        )
        == 3
    )


async def test_batches_carry_the_compiled_template_and_outcomes_complete_the_campaign(
    sender,
) -> None:
    tenant = sender.tenant()
    contacts = await people(sender, tenant, 3)
    for contact in contacts:
        await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 10)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, contacts)])
    await sender.send_now(tenant, draft.campaign_id)
    batches = await sender.batches(draft.campaign_id, 3)
    assert [len(b.recipients) for b in batches] == [2, 1]  # SEND_BATCH_SIZE 2
    first = batches[0]
    assert first.content.template_id == "starter-en"
    assert "{{ unsubscribe_url }}" in first.content.html_body  # delivery fills the links
    assert "<style" not in first.content.html_body
    assert first.content.text_body
    assert {b.content.html_body for b in batches} == {first.content.html_body}
    assert first.credit_reservation_id
    assert first.sender.from_address == "news@bottega.example"
    by_contact = {r.contact_id: r for b in batches for r in b.recipients}
    assert set(by_contact) == {c.contact_id for c in contacts}
    assert by_contact[contacts[0].contact_id].merge_fields["attributes.city"] == "Roma"
    assert by_contact[contacts[0].contact_id].email == contacts[0].email

    # Two sent; the third bounces in the SMTP transaction and is never sent: it failed.
    for contact in contacts[:2]:
        await sender.publish(outcome(tenant, delivery.MessageSent(
            message_id=f"m-{contact.contact_id}", campaign_id=draft.campaign_id,
            contact_id=contact.contact_id, person_key=contact.person_key,
        ), "delivery.message.sent"))  # fmt: skip
    await sender.publish(outcome(tenant, delivery.MessageBounced(
        message_id="m-x", campaign_id=draft.campaign_id, person_key=contacts[2].person_key,
        bounce_type=delivery_pb.BOUNCE_TYPE_HARD,
    ), "delivery.message.bounced"))  # fmt: skip
    done = await sender.event(
        "campaign.campaign.completed", draft.campaign_id, events_pb2.CampaignCompleted
    )
    assert (done.sent_count, done.failed_count) == (2, 1)
    after = await sender.get(tenant, draft.campaign_id)
    assert after.status == pb.CAMPAIGN_STATUS_COMPLETED_WITH_FAILURES
    assert (after.sent_count, after.failed_count) == (2, 1)

    # Statistics: opens and clicks; only a tracked person counts towards the unique figures.
    key = contacts[0].person_key
    for anonymous in (False, False, True):
        await sender.publish(outcome(tenant, delivery.MessageOpened(
            campaign_id=draft.campaign_id, person_key="" if anonymous else key,
            anonymous=anonymous,
        ), "delivery.message.opened"))  # fmt: skip
    await sender.publish(outcome(tenant, delivery.LinkClicked(
        campaign_id=draft.campaign_id, person_key=key, position=2, url="https://x.example/a",
    ), "delivery.link.clicked"))  # fmt: skip

    async def stats():
        reply = await sender.stub.GetCampaignStats(
            pb.GetCampaignStatsRequest(campaign_id=draft.campaign_id),
            metadata=sender.md(tenant, scopes=("campaigns:read",)),
            timeout=10,
        )
        return reply.stats if reply.stats.clicks == 1 and reply.stats.opens == 3 else None

    got = await sender.until(stats)
    assert (got.recipients, got.sent, got.hard_bounces, got.failed) == (3, 2, 1, 1)
    # No tracking consent in this account: opens count only as anonymous totals.
    assert (got.unique_opens, got.unique_clicks) == (0, 0)
    assert [(link.position, link.clicks) for link in got.links] == [(2, 1)]
    assert sum(p.sent for p in got.series) == 2

    # Six months after the send ended the snapshot no longer says who got it; counts stay.
    named = (
        "SELECT count(*) FROM campaign_recipients WHERE campaign_id = %s AND person_key IS NOT NULL"
    )
    await run_retention(sender.url, RULES, now=travel(170))
    assert await sender.scalar(named, draft.campaign_id) == 3
    await run_retention(sender.url, RULES, now=travel(183))
    assert (
        await sender.scalar(
            "SELECT count(*) FROM campaign_recipients WHERE campaign_id = %s"
            " AND (person_key IS NOT NULL OR contact_id IS NOT NULL)",
            draft.campaign_id,
        )
        == 0
    )
    kept = await sender.stub.GetCampaignStats(
        pb.GetCampaignStatsRequest(campaign_id=draft.campaign_id),
        metadata=sender.md(tenant, scopes=("campaigns:read",)),
        timeout=10,
    )
    assert (kept.stats.recipients, kept.stats.sent, kept.stats.opens) == (3, 2, 3)


async def test_pause_resume_and_cancel_are_events(sender) -> None:
    tenant = sender.tenant()
    contacts = await people(sender, tenant, 2)
    for contact in contacts:
        await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 10)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, contacts)])
    await sender.send_now(tenant, draft.campaign_id)
    md = sender.md(tenant, scopes=("campaigns:write",))
    paused = await sender.stub.PauseCampaign(
        pb.PauseCampaignRequest(campaign_id=draft.campaign_id, reason="Checking links"),
        metadata=md, timeout=10,
    )  # fmt: skip
    assert paused.campaign.status == pb.CAMPAIGN_STATUS_PAUSED
    assert paused.campaign.pause_reason == "Checking links"
    event = await sender.event(
        "campaign.campaign.paused", draft.campaign_id, events_pb2.CampaignPaused
    )
    assert event.reason == "Checking links"
    resumed = await sender.stub.ResumeCampaign(
        pb.ResumeCampaignRequest(campaign_id=draft.campaign_id), metadata=md, timeout=10
    )
    assert resumed.campaign.status == pb.CAMPAIGN_STATUS_SENDING
    await sender.event("campaign.campaign.resumed", draft.campaign_id, events_pb2.CampaignResumed)
    cancelled = await sender.stub.CancelCampaign(
        pb.CancelCampaignRequest(campaign_id=draft.campaign_id, reason="Wrong date"),
        metadata=md, timeout=10,
    )  # fmt: skip
    assert cancelled.campaign.status == pb.CAMPAIGN_STATUS_CANCELLED
    event = await sender.event(
        "campaign.campaign.cancelled", draft.campaign_id, events_pb2.CampaignCancelled
    )
    assert event.reason == "Wrong date"
    assert (
        await sender.scalar(
            "SELECT count(*) FROM campaign_recipients WHERE campaign_id = %s AND status = 'queued'",
            draft.campaign_id,
        )
        == 0
    )
    # A cancelled campaign cannot be paused or sent again.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sender.stub.PauseCampaign(
            pb.PauseCampaignRequest(campaign_id=draft.campaign_id), metadata=md, timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_paused_chain_emits_nothing_more(sender) -> None:
    """The run that finds the campaign paused does nothing (its row lock orders the two)."""
    tenant = sender.tenant()
    contacts = await people(sender, tenant, 1)
    await sender.consent(tenant, contacts[0].person_key, 1)
    await sender.grant(tenant, 10)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, contacts)])
    await sender.send_now(tenant, draft.campaign_id)
    await sender.batches(draft.campaign_id, 1)
    row = await sender.sql("SELECT generation FROM campaigns WHERE id = %s", draft.campaign_id)
    await sender.sql(
        "UPDATE campaign_recipients SET status = 'queued' WHERE campaign_id = %s",
        draft.campaign_id,
    )
    await sender.stub.PauseCampaign(
        pb.PauseCampaignRequest(campaign_id=draft.campaign_id),
        metadata=sender.md(tenant, scopes=("campaigns:write",)), timeout=10,
    )  # fmt: skip
    from missiva_campaign.campaign_events import emit_batches

    run = emit_batches({"id": draft.campaign_id, "account_id": tenant}, row[0][0])
    await sender.publish(run)
    await sender.until(
        lambda: sender.scalar("SELECT 1 FROM kit_inbox WHERE event_id = %s", run.event_id)
    )
    assert (
        await sender.scalar(
            "SELECT status FROM campaign_recipients WHERE campaign_id = %s", draft.campaign_id
        )
        == "queued"
    )


async def test_late_outcomes_move_a_completed_campaign_to_and_from_failures(sender) -> None:
    tenant = sender.tenant()
    contacts = await people(sender, tenant, 1)
    (contact,) = contacts
    await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 10)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, contacts)])
    await sender.send_now(tenant, draft.campaign_id)
    await sender.batches(draft.campaign_id, 1)
    await sender.publish(outcome(tenant, delivery.MessageSent(
        message_id="m-1", campaign_id=draft.campaign_id, contact_id=contact.contact_id,
        person_key=contact.person_key,
    ), "delivery.message.sent"))  # fmt: skip
    done = await sender.event(
        "campaign.campaign.completed", draft.campaign_id, events_pb2.CampaignCompleted
    )
    assert (done.sent_count, done.failed_count, done.suppressed_count) == (1, 0, 0)

    async def status_is(want: int):
        return (await sender.get(tenant, draft.campaign_id)).status == want

    await sender.until(lambda: status_is(pb.CAMPAIGN_STATUS_COMPLETED))
    # Deferred after the send: not simply completed any more, and the count shows it.
    await sender.publish(outcome(tenant, delivery.MessageDeferred(
        message_id="m-1", campaign_id=draft.campaign_id, person_key=contact.person_key,
        attempt=1,
    ), "delivery.message.deferred"))  # fmt: skip
    await sender.until(lambda: status_is(pb.CAMPAIGN_STATUS_COMPLETED_WITH_FAILURES))
    assert (await sender.get(tenant, draft.campaign_id)).deferred_count == 1
    # Delivered after all: completed again.
    await sender.publish(outcome(tenant, delivery.MessageDelivered(
        message_id="m-1", campaign_id=draft.campaign_id, person_key=contact.person_key,
    ), "delivery.message.delivered"))  # fmt: skip
    await sender.until(lambda: status_is(pb.CAMPAIGN_STATUS_COMPLETED))
    # Another account's outcome for this campaign id changes nothing.
    other = sender.tenant()
    foreign = outcome(other, delivery.MessageBounced(
        message_id="m-1", campaign_id=draft.campaign_id, person_key=contact.person_key,
        bounce_type=delivery_pb.BOUNCE_TYPE_HARD,
    ), "delivery.message.bounced")  # fmt: skip
    marker = outcome(tenant, delivery.MessageComplained(
        message_id="m-1", campaign_id=draft.campaign_id, person_key=contact.person_key,
    ), "delivery.message.complained")  # fmt: skip
    for event in (foreign, marker):
        await sender.publish(event)
    for event in (foreign, marker):
        await sender.until(
            lambda e=event: sender.scalar("SELECT 1 FROM kit_inbox WHERE event_id = %s", e.event_id)
        )
    stats = await sender.stub.GetCampaignStats(
        pb.GetCampaignStatsRequest(campaign_id=draft.campaign_id),
        metadata=sender.md(tenant, scopes=("campaigns:read",)),
        timeout=10,
    )
    assert (stats.stats.delivered, stats.stats.deferred, stats.stats.complaints) == (1, 1, 1)
    assert stats.stats.hard_bounces == 0  # the other account's bounce was ignored


async def test_product_updates_go_unless_the_person_refused(sender) -> None:
    """PRODUCT_UPDATE rests on legitimate interest: no recorded consent is enough, a
    withdrawal is not."""
    tenant = sender.tenant()
    silent, refused = await people(sender, tenant, 2)
    await sender.consent(tenant, refused.person_key, 1)
    await sender.consent(tenant, refused.person_key, 2, granted=False)
    await sender.grant(tenant, 10)
    draft = await sender.draft(
        tenant,
        [await sender.list_with(tenant, [silent, refused])],
        category=types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE,
    )
    reply = await sender.send_now(tenant, draft.campaign_id)
    assert reply.recipient_count == 1
    chosen = await sender.sql(
        "SELECT contact_id::text FROM campaign_recipients WHERE campaign_id = %s",
        draft.campaign_id,
    )
    assert chosen == [(silent.contact_id,)]
    (batch,) = await sender.batches(draft.campaign_id, 1)
    assert batch.category == types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE


async def test_messages_delivery_will_never_send_still_complete_the_campaign(sender) -> None:
    tenant = sender.tenant()
    contacts = await people(sender, tenant, 3)
    for contact in contacts:
        await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 10)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, contacts)])
    await sender.send_now(tenant, draft.campaign_id)
    await sender.batches(draft.campaign_id, 3)
    sent, unsubscribed, refused = contacts
    await sender.publish(outcome(tenant, delivery.MessageSent(
        message_id="m-1", campaign_id=draft.campaign_id, contact_id=sent.contact_id,
        person_key=sent.person_key,
    ), "delivery.message.sent"))  # fmt: skip
    # Unsubscribed after the snapshot: delivery found them suppressed right before sending.
    late = outcome(tenant, delivery.MessageFailed(
        message_id="m-2", campaign_id=draft.campaign_id, contact_id=unsubscribed.contact_id,
        person_key=unsubscribed.person_key, reason="suppressed (unsubscribed)", suppressed=True,
    ), "delivery.message.failed")  # fmt: skip
    await sender.publish(late)
    await sender.publish(late)  # redelivered: counted once
    await sender.publish(outcome(tenant, delivery.MessageFailed(
        message_id="m-3", campaign_id=draft.campaign_id, contact_id=refused.contact_id,
        person_key=refused.person_key, reason="refused", smtp_response="550 5.1.1 No such user",
    ), "delivery.message.failed"))  # fmt: skip
    done = await sender.event(
        "campaign.campaign.completed", draft.campaign_id, events_pb2.CampaignCompleted
    )
    assert (done.sent_count, done.suppressed_count, done.failed_count) == (1, 1, 1)
    after = await sender.get(tenant, draft.campaign_id)
    assert after.status == pb.CAMPAIGN_STATUS_COMPLETED_WITH_FAILURES
    stats = await sender.stub.GetCampaignStats(
        pb.GetCampaignStatsRequest(campaign_id=draft.campaign_id),
        metadata=sender.md(tenant, scopes=("campaigns:read",)),
        timeout=10,
    )
    assert (stats.stats.sent, stats.stats.failed, stats.stats.suppressed) == (1, 1, 1)
