"""Campaign's pause, resumption and cancellation reach rows already handed to delivery: a
pause holds them (also those of batches arriving after it), a resumption sends them, a
cancellation fails them without sending; the newest campaign version wins."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva_platform.events import envelope

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Slow sending, so a pause lands while rows are still waiting.
SETTINGS = {"smtp_global_rate": 40.0, "suppression_check_size": 5}


async def publish(delivery, tenant: str, message, subject: str, version: int) -> None:
    """Campaign's event ``message`` at aggregate ``version`` (the campaign row's)."""
    event = envelope(message, subject=subject, tenant_id=tenant, producer="campaign",
                     aggregate_id=message.campaign_id, aggregate_version=version)  # fmt: skip
    await delivery.publish_to(subject, event)


async def _counts(delivery, campaign_id: str) -> dict[str, int]:
    rows = await delivery.sql(
        "SELECT status, count(*) FROM messages WHERE campaign_id = %s GROUP BY status",
        campaign_id,
    )
    return {str(s): int(n) for s, n in rows}


async def _settled(delivery, campaign_id: str, want: int) -> dict[str, int]:
    """The counts once nothing is being sent any more (held rows are 'queued')."""
    for _ in range(300):
        counts = await _counts(delivery, campaign_id)
        if sum(counts.values()) >= want and not counts.get("sending"):
            await asyncio.sleep(0.3)
            again = await _counts(delivery, campaign_id)
            if again == counts:
                return counts
        await asyncio.sleep(0.1)
    return await _counts(delivery, campaign_id)


async def test_a_pause_holds_waiting_rows_and_a_resumption_sends_them(delivery) -> None:
    tenant = delivery.tenant()
    addresses = [delivery.address() for _ in range(60)]
    event, campaign_id = delivery.batch(tenant, addresses)
    await delivery.publish_to("cmd.delivery.send_batch", event)
    while len([a for a in addresses if delivery.sink.for_address(a)]) < 5:
        await asyncio.sleep(0.05)
    paused = campaign_events.CampaignPaused(campaign_id=campaign_id, reason="typo")
    await publish(delivery, tenant, paused, "campaign.campaign.paused", 3)
    counts = await _settled(delivery, campaign_id, 60)
    held = counts.get("queued", 0)
    assert held > 10, counts  # most were waiting: held, not sent
    assert counts.get("sent", 0) + held == 60
    sent_while_paused = len([a for a in addresses if delivery.sink.for_address(a)])
    # A batch of the same campaign arriving after the pause is held too.
    late, _ = delivery.batch(tenant, [delivery.address()], campaign_id=campaign_id,
                             batch_id="0002")  # fmt: skip
    await delivery.publish_to("cmd.delivery.send_batch", late)
    counts = await _settled(delivery, campaign_id, 61)
    assert counts.get("queued", 0) == held + 1
    assert len([a for a in addresses if delivery.sink.for_address(a)]) == sent_while_paused
    # An older event (a stale resumption) changes nothing; the current one resumes.
    stale = campaign_events.CampaignResumed(campaign_id=campaign_id)
    await publish(delivery, tenant, stale, "campaign.campaign.resumed", 2)
    await asyncio.sleep(0.5)
    assert (await _counts(delivery, campaign_id)).get("queued", 0) == held + 1
    await publish(delivery, tenant, stale, "campaign.campaign.resumed", 4)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=61, timeout=60)
    assert {r[3] for r in rows} == {"sent"}
    for address in addresses:
        assert len(delivery.sink.for_address(address)) == 1


async def test_a_cancellation_fails_what_is_not_sent_and_what_comes_after(delivery) -> None:
    tenant = delivery.tenant()
    addresses = [delivery.address() for _ in range(60)]
    event, campaign_id = delivery.batch(tenant, addresses)
    await delivery.publish_to("cmd.delivery.send_batch", event)
    while len([a for a in addresses if delivery.sink.for_address(a)]) < 5:
        await asyncio.sleep(0.05)
    cancelled = campaign_events.CampaignCancelled(campaign_id=campaign_id, reason="wrong list")
    await publish(delivery, tenant, cancelled, "campaign.campaign.cancelled", 5)
    late, _ = delivery.batch(tenant, [delivery.address()], campaign_id=campaign_id,
                             batch_id="0002")  # fmt: skip
    await asyncio.sleep(0.3)
    await delivery.publish_to("cmd.delivery.send_batch", late)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=61, timeout=60)
    counts = {s: sum(1 for r in rows if r[3] == s) for s in {r[3] for r in rows}}
    assert counts.get("failed", 0) > 10, counts
    assert counts.get("sent", 0) + counts["failed"] == 61
    sent = len([a for a in addresses if delivery.sink.for_address(a)])
    assert sent == counts.get("sent", 0)
    reasons = await delivery.sql(
        "SELECT DISTINCT failure_reason FROM messages WHERE campaign_id = %s AND status ="
        " 'failed'", campaign_id,
    )  # fmt: skip
    assert reasons == [("not sent: the campaign was cancelled",)]
    # A resumption after a cancellation does not bring it back.
    resumed = campaign_events.CampaignResumed(campaign_id=campaign_id)
    await publish(delivery, tenant, resumed, "campaign.campaign.resumed", 9)
    await asyncio.sleep(0.5)
    assert (
        await delivery.scalar(
            "SELECT state FROM campaign_holds WHERE campaign_id = %s", campaign_id
        )
        == "cancelled"
    )


async def test_a_deleted_contact_gets_nothing_from_a_batch_already_handed_over(delivery) -> None:
    tenant = delivery.tenant()
    addresses = [delivery.address() for _ in range(40)]
    event, campaign_id = delivery.batch(tenant, addresses)
    gone = addresses[-1]
    contact_id = str(uuid.uuid5(uuid.NAMESPACE_URL, gone))
    deleted = campaign_events.ContactDeleted(contact_id=contact_id, person_key=delivery.key(gone))
    # Paused first, so the rows wait while the deletion arrives.
    await publish(delivery, tenant, campaign_events.CampaignPaused(campaign_id=campaign_id),
                  "campaign.campaign.paused", 1)  # fmt: skip
    await asyncio.sleep(0.3)
    await delivery.publish_to("cmd.delivery.send_batch", event)
    await _settled(delivery, campaign_id, 40)
    await delivery.publish_to(
        "campaign.contact.deleted",
        envelope(deleted, subject="campaign.contact.deleted", tenant_id=tenant,
                 producer="campaign"),
    )  # fmt: skip
    for _ in range(100):
        if await delivery.scalar(
            "SELECT status FROM messages WHERE campaign_id = %s AND contact_id = %s",
            campaign_id, contact_id,
        ) == "failed":  # fmt: skip
            break
        await asyncio.sleep(0.05)
    await publish(delivery, tenant, campaign_events.CampaignResumed(campaign_id=campaign_id),
                  "campaign.campaign.resumed", 2)  # fmt: skip
    rows = await delivery.campaign_rows(tenant, campaign_id, want=40, timeout=60)
    status = {r[1]: r[3] for r in rows}
    assert status.pop(contact_id) == "failed"
    assert set(status.values()) == {"sent"}
    assert delivery.sink.for_address(gone) == []
