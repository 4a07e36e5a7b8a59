"""What billing does with identity's, delivery's and campaign's events, over the real bus:
the once-only free grant, commits per sent message (replays commit once), releases when a
campaign ends, the low-balance warning once per crossing."""

from __future__ import annotations

import uuid

import pytest

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva.billing.v1 import events_pb2 as billing_events
from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva.identity.v1 import identity_service_pb2 as identity_pb
from missiva_platform.events import EventEnvelope, envelope, unpack

pytestmark = pytest.mark.asyncio(loop_scope="module")


def sent(
    tenant: str, reservation_id: str, message_id: str | None = None, **fields
) -> EventEnvelope:
    message_id = message_id or str(uuid.uuid4())
    return envelope(
        delivery_events.MessageSent(
            message_id=message_id,
            campaign_id="c-1",
            category=types_pb2.EMAIL_CATEGORY_MARKETING,
            credit_reservation_id=reservation_id,
            **fields,
        ),
        subject="delivery.message.sent",
        tenant_id=tenant,
        producer="delivery",
        aggregate_id=message_id,
    )


def campaign_end(tenant: str, campaign_id: str, sent_count: int, *, cancelled: bool = False):
    if cancelled:
        payload = campaign_events.CampaignCancelled(
            campaign_id=campaign_id, sent_count=sent_count, reason="changed my mind"
        )
        subject = "campaign.campaign.cancelled"
    else:
        payload = campaign_events.CampaignCompleted(campaign_id=campaign_id, sent_count=sent_count)
        subject = "campaign.campaign.completed"
    return envelope(
        payload, subject=subject, tenant_id=tenant, producer="campaign", aggregate_id=campaign_id
    )


async def _committed(billing, reservation_id: str) -> int:
    return await billing.scalar(
        "SELECT committed FROM credit_reservations WHERE reservation_id = %s", reservation_id
    )


async def test_a_new_account_gets_500_free_credits_once(billing):
    tenant = billing.tenant()
    event = billing.user_registered(tenant)
    await billing.publish(event)

    async def granted():
        return (await billing.balance(tenant)).available == 500

    assert await billing.until(granted)
    # the same event again (a redelivery is dropped by the inbox), and identity sending the
    # fact again with a new event id: the grant is keyed by the account
    await billing.publish(event)
    await billing.publish(billing.user_registered(tenant))
    marker = billing.tenant()
    await billing.publish(billing.user_registered(marker))  # consumed after the two above
    assert await billing.until(lambda: _has_grant(billing, marker))
    assert (await billing.balance(tenant)).available == 500
    grants = await billing.sql(
        "SELECT kind, amount, grant_key FROM credit_ledger WHERE account_id = %s", tenant
    )
    assert grants == [("grant", 500, "plan:free")]


async def _has_grant(billing, tenant: str) -> bool:
    return bool(await billing.scalar("SELECT 1 FROM credit_ledger WHERE account_id = %s", tenant))


async def test_an_invited_member_grants_nothing(billing):
    tenant = billing.tenant()
    await billing.publish(billing.user_registered(tenant, role=identity_pb.MEMBER_ROLE_MEMBER))
    marker = billing.tenant()
    await billing.publish(billing.user_registered(marker))
    assert await billing.until(lambda: _has_grant(billing, marker))
    assert not await _has_grant(billing, tenant)


async def test_sent_messages_commit_once_each_even_when_replayed_or_resent(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    held = await billing.reserve(tenant, 10, reference="campaign:c-1")
    events = [sent(tenant, held.reservation_id) for _ in range(3)]
    for event in events:
        await billing.publish(event)

    async def three():
        return await _committed(billing, held.reservation_id) == 3

    assert await billing.until(three)
    for event in events:  # replayed with the same event ids
        await billing.publish(event)
    first = unpack(events[0], delivery_events.MessageSent)
    resend = sent(tenant, held.reservation_id, first.message_id, resend=True)  # new event id
    await billing.publish(resend)
    fourth = sent(tenant, held.reservation_id)
    await billing.publish(fourth)

    async def four():
        return await _committed(billing, held.reservation_id) == 4

    assert await billing.until(four)
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (490, 6)
    assert await billing.ledger_sums(tenant) == (490, 6)
    commits = await billing.scalar(
        "SELECT count(*) FROM credit_ledger WHERE account_id = %s AND kind = 'commit'", tenant
    )
    assert commits == 4


async def test_mail_without_a_reservation_is_not_charged(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    held = await billing.reserve(tenant, 5)
    await billing.publish(sent(tenant, ""))  # transactional mail
    await billing.publish(sent(tenant, held.reservation_id))
    assert await billing.until(lambda: _is(billing, held.reservation_id, committed=1))
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (495, 4)


async def _is(billing, reservation_id: str, **expected) -> bool:
    rows = await billing.sql(
        "SELECT committed, released, status FROM credit_reservations WHERE reservation_id = %s",
        reservation_id,
    )
    row = dict(zip(("committed", "released", "status"), rows[0], strict=True))
    return all(row[k] == v for k, v in expected.items())


async def test_a_completed_campaign_releases_what_it_did_not_send(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    campaign = str(uuid.uuid4())
    held = await billing.reserve(tenant, 10, reference=f"campaign:{campaign}")
    for _ in range(3):
        await billing.publish(sent(tenant, held.reservation_id))
    assert await billing.until(lambda: _is(billing, held.reservation_id, committed=3))
    # campaign reports 5 sent: 2 events are still on their way, so 2 stay held, 5 go back
    await billing.publish(campaign_end(tenant, campaign, 5))
    assert await billing.until(
        lambda: _is(billing, held.reservation_id, released=5, status="settling")
    )
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (495, 2)
    for _ in range(2):
        await billing.publish(sent(tenant, held.reservation_id))
    assert await billing.until(
        lambda: _is(billing, held.reservation_id, committed=5, status="closed")
    )
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (495, 0)
    assert await billing.ledger_sums(tenant) == (495, 0)


async def test_a_cancelled_campaign_releases_every_reservation_it_held(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    campaign = str(uuid.uuid4())
    first = await billing.reserve(tenant, 20, reference=f"campaign:{campaign}")
    second = await billing.reserve(tenant, 30, reference=f"campaign:{campaign}")
    other = await billing.reserve(tenant, 7, reference="campaign:another")
    await billing.publish(sent(tenant, first.reservation_id))
    assert await billing.until(lambda: _is(billing, first.reservation_id, committed=1))
    event = campaign_end(tenant, campaign, 1, cancelled=True)
    await billing.publish(event)
    assert await billing.until(lambda: _is(billing, second.reservation_id, status="closed"))
    assert await _is(billing, first.reservation_id, committed=1, released=19, status="closed")
    assert await _is(billing, other.reservation_id, released=0, status="open")
    await billing.publish(event)  # replayed: nothing more
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (500 - 1 - 7, 7)


async def test_a_send_after_its_reservation_closed_is_charged_from_available(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    campaign = str(uuid.uuid4())
    held = await billing.reserve(tenant, 10, reference=f"campaign:{campaign}")
    await billing.publish(campaign_end(tenant, campaign, 0, cancelled=True))
    assert await billing.until(lambda: _is(billing, held.reservation_id, status="closed"))
    await billing.publish(sent(tenant, held.reservation_id))  # was already in flight

    async def charged():
        return (await billing.balance(tenant)).available == 499

    assert await billing.until(charged)
    assert await billing.ledger_sums(tenant) == (499, 0)


async def test_low_balance_is_announced_once_per_crossing(billing):
    tenant = billing.tenant()
    await billing.grant(tenant, 500)  # threshold: 50
    first = await billing.reserve(tenant, 440)  # 60 left: above
    await billing.reserve(tenant, 15)  # 45 left: crossed
    await billing.reserve(tenant, 5)  # 40 left: still below, no second warning
    [event] = await billing.events("billing.credits.low", tenant, want=2, timeout=3)
    low = unpack(event, billing_events.CreditsLow)
    assert (low.available, low.threshold) == (45, 50)
    assert event.aggregate_id == tenant
    await billing.stub.ReleaseCredits(  # back above the threshold: re-armed
        pb.ReleaseCreditsRequest(
            reservation_id=first.reservation_id, idempotency_key=billing.key()
        ),
        metadata=billing.service(tenant),
        timeout=10,
    )
    await billing.reserve(tenant, 450)  # 30 left: a new crossing
    events = await billing.events("billing.credits.low", tenant, want=2)
    assert [unpack(e, billing_events.CreditsLow).available for e in events] == [45, 30]
