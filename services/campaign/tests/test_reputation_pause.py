"""Delivery's reputation guard pauses a sending campaign through campaign's own consumer:
the same state change and ``campaign.campaign.paused`` event as PauseCampaign, the rates as
the reason; a campaign that is not sending is left alone."""

from __future__ import annotations

import pytest
from sending_testkit import Sending

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import events_pb2
from missiva.delivery.v1 import events_pb2 as delivery
from missiva_platform.events import EventEnvelope, envelope

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETTINGS = {"send_batch_size": 2, "send_batches_per_run": 1}


def alert(tenant: str, campaign_id: str, **fields) -> EventEnvelope:
    message = delivery.CampaignReputationAlerted(
        campaign_id=campaign_id, signal=delivery.REPUTATION_SIGNAL_BOUNCE_RATE, sent=400,
        bounced=30, bounce_rate=0.075, bounce_threshold=0.05, complaint_threshold=0.003,
        **fields,
    )  # fmt: skip
    return envelope(message, subject="delivery.campaign.reputation_alerted", tenant_id=tenant,
                    producer="delivery", aggregate_id=campaign_id)  # fmt: skip


async def sending_campaign(sender: Sending, tenant: str) -> str:
    contacts = [await sender.create(tenant, first_name=f"P{i}") for i in range(2)]
    for contact in contacts:
        await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 10)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, contacts)])
    await sender.send_now(tenant, draft.campaign_id)
    return draft.campaign_id


async def test_an_alert_pauses_a_sending_campaign(sender: Sending) -> None:
    tenant = sender.tenant()
    campaign_id = await sending_campaign(sender, tenant)
    await sender.publish(alert(tenant, campaign_id))
    paused = await sender.event("campaign.campaign.paused", campaign_id, events_pb2.CampaignPaused)
    assert paused.reason.startswith("Paused by the reputation guard: bounce rate 7.5% over 5.0%")
    assert paused.paused_by_user_id == ""
    row = await sender.get(tenant, campaign_id)
    assert row.status == pb.CAMPAIGN_STATUS_PAUSED
    assert "reputation guard" in row.pause_reason


async def test_another_accounts_alert_and_a_cancelled_campaign_are_left_alone(
    sender: Sending,
) -> None:
    tenant = sender.tenant()
    campaign_id = await sending_campaign(sender, tenant)
    foreign = alert(sender.tenant(), campaign_id)  # not this campaign's account
    await sender.publish(foreign)
    md = sender.md(tenant, scopes=("campaigns:write",))
    await sender.stub.CancelCampaign(pb.CancelCampaignRequest(campaign_id=campaign_id),
                                     metadata=md, timeout=10)  # fmt: skip
    late = alert(tenant, campaign_id)
    await sender.publish(late)
    # Both alerts were handled (the inbox has them) and neither paused anything.
    ids = [foreign.event_id, late.event_id]
    await sender.until(lambda: sender.scalar(
        "SELECT count(*) = 2 OR NULL FROM kit_inbox WHERE event_id = ANY(%s::uuid[])", ids
    ))  # fmt: skip
    assert (await sender.get(tenant, campaign_id)).status == pb.CAMPAIGN_STATUS_CANCELLED
