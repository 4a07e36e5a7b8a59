"""The campaign lane: SendBatch → one ledger row per (campaign, contact) → rendered, checked
against the suppression replica right before sending, sent with the campaign headers."""

from __future__ import annotations

import asyncio
import urllib.parse

import pytest

from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import events_pb2
from missiva_delivery import batches
from missiva_platform.events import unpack

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _text(received) -> str:
    for part in received.message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_content()
    raise AssertionError("no text part")


async def test_a_batch_becomes_one_sent_message_per_recipient(delivery) -> None:
    tenant = delivery.tenant()
    addresses = [delivery.address() for _ in range(5)]
    event, campaign_id = delivery.batch(tenant, addresses)
    await delivery.publish_to("cmd.delivery.send_batch", event)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=5)
    assert [r[3] for r in rows] == ["sent"] * 5
    lane = await delivery.sql(
        "SELECT DISTINCT lane, priority, credit_reservation_id FROM messages"
        " WHERE campaign_id = %s", campaign_id,
    )  # fmt: skip
    command = unpack(event, batches.campaign_events.SendBatch)
    assert lane == [("campaign", batches.PRIORITY_CAMPAIGN, command.credit_reservation_id)]
    for address in addresses:
        [received] = delivery.sink.for_address(address)
        assert received.message["Subject"] == "News for Zoë"
        # The envelope sender is the row's VERP address on the bounce domain.
        assert received.mail_from.startswith("bounce+")
        assert received.mail_from.endswith("@" + delivery.app.settings.bounce_domain)
        assert "Hello Zoë" in _text(received)
    # The event billing commits a credit from, and campaign's statistics count.
    [sent] = await delivery.events("delivery.message.sent", rows[0][0])
    payload = unpack(sent, events_pb2.MessageSent)
    assert payload.campaign_id == campaign_id
    assert payload.credit_reservation_id == command.credit_reservation_id
    assert payload.person_key == rows[0][2]
    assert payload.contact_id == rows[0][1]
    assert "@example.org" not in sent.SerializeToString().decode("latin-1")
    # Final rows hold no address and no merge data.
    sealed = await delivery.sql(
        "SELECT count(*) FROM messages WHERE campaign_id = %s"
        " AND (to_address_enc IS NOT NULL OR payload_enc IS NOT NULL)", campaign_id,
    )  # fmt: skip
    assert sealed == [(0,)]


async def test_a_redelivered_batch_inserts_and_sends_nothing_twice(delivery) -> None:
    tenant = delivery.tenant()
    addresses = [delivery.address("defer1") for _ in range(3)]  # each deferred once first
    event, campaign_id = delivery.batch(tenant, addresses)
    await delivery.publish_to("cmd.delivery.send_batch", event)
    # The same batch again, as a producer retry (new event id), and once more later.
    for _ in range(2):
        again, _ = delivery.batch(tenant, addresses, campaign_id=campaign_id)
        again.payload.CopyFrom(event.payload)
        await delivery.publish_to("cmd.delivery.send_batch", again)
        await asyncio.sleep(0.3)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=3)
    assert len(rows) == 3
    assert {r[3] for r in rows} == {"sent"}
    for address in addresses:
        assert len(delivery.sink.for_address(address)) == 1
    ids = {
        r[0]
        for r in await delivery.sql(
            "SELECT rfc822_message_id FROM messages WHERE campaign_id = %s", campaign_id
        )
    }
    received = {delivery.sink.for_address(a)[0].message["Message-ID"] for a in addresses}
    assert received == ids  # the ledger's stable Message-IDs


async def test_the_template_is_compiled_once_per_campaign_revision(delivery) -> None:
    tenant = delivery.tenant()
    before = delivery.app_core.renders.compilations
    first, campaign_id = delivery.batch(tenant, [delivery.address() for _ in range(3)])
    second, _ = delivery.batch(
        tenant, [delivery.address() for _ in range(3)], campaign_id=campaign_id, batch_id="0002"
    )
    for event in (first, second):
        await delivery.publish_to("cmd.delivery.send_batch", event)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=6)
    assert {r[3] for r in rows} == {"sent"}
    assert delivery.app_core.renders.compilations == before + 1


async def _replica_has(delivery, person_key: str, seconds: float = 120.0) -> None:
    """Wait until consent's suppression reached delivery's replica. The stream is shared with
    every module before this one, so on a loaded machine the replica may first have a backlog
    of other modules' events to apply: the wait is long, and ends as soon as the row is there."""
    deadline = asyncio.get_running_loop().time() + seconds
    query = "SELECT count(*) FROM consent_blocks WHERE person_key = %s AND active"
    while not await delivery.scalar(query, person_key):
        assert asyncio.get_running_loop().time() < deadline, "the suppression never arrived"
        await asyncio.sleep(0.05)


async def test_a_suppressed_person_is_not_sent_and_uses_no_credit(delivery) -> None:
    tenant = delivery.tenant()
    kept, gone = delivery.address(), delivery.address()
    await delivery.publish_to("consent.contact.suppressed", delivery.suppression(tenant, gone))
    await _replica_has(delivery, delivery.key(gone))
    event, campaign_id = delivery.batch(tenant, [kept, gone])
    await delivery.publish_to("cmd.delivery.send_batch", event)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=2)
    status = {r[2]: r[3] for r in rows}
    assert status == {delivery.key(kept): "sent", delivery.key(gone): "suppressed"}
    assert delivery.sink.for_address(gone) == []
    gone_id = next(r[0] for r in rows if r[2] == delivery.key(gone))
    [failed] = await delivery.events("delivery.message.failed", gone_id)
    payload = unpack(failed, events_pb2.MessageFailed)
    assert payload.suppressed
    assert "unsubscribed" in payload.reason
    # No MessageSent: billing commits credits from MessageSent only.
    assert await delivery.events("delivery.message.sent", gone_id, want=0) == []


async def test_another_accounts_suppression_does_not_stop_this_one(delivery) -> None:
    tenant, other = delivery.tenant(), delivery.tenant()
    address = delivery.address()
    await delivery.publish_to("consent.contact.suppressed", delivery.suppression(other, address))
    await asyncio.sleep(0.3)
    event, campaign_id = delivery.batch(tenant, [address])
    await delivery.publish_to("cmd.delivery.send_batch", event)
    [row] = await delivery.campaign_rows(tenant, campaign_id, want=1)
    assert row[3] == "sent"


async def test_a_recipient_with_a_bad_address_fails_with_the_reason(delivery) -> None:
    tenant = delivery.tenant()
    good = delivery.address()
    event, campaign_id = delivery.batch(tenant, [good, "two words@example.org"])
    await delivery.publish_to("cmd.delivery.send_batch", event)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=2)
    assert sorted(r[3] for r in rows) == ["failed", "sent"]
    reason = await delivery.scalar(
        "SELECT failure_reason FROM messages WHERE campaign_id = %s AND status = 'failed'",
        campaign_id,
    )
    assert "email is not an email address" in reason


async def test_the_unsubscribe_link_is_a_token_the_consent_pages_accept(delivery) -> None:
    """Signed with the shared keyring for consent's purpose and claims (LinkScope)."""
    from missiva_consent.links import UNSUBSCRIBE, LinkScope

    tenant = delivery.tenant()
    address = delivery.address()
    event, campaign_id = delivery.batch(tenant, [address])
    await delivery.publish_to("cmd.delivery.send_batch", event)
    await delivery.campaign_rows(tenant, campaign_id, want=1)
    [received] = delivery.sink.for_address(address)
    header = received.message["List-Unsubscribe"]
    https = header.split(",")[0].strip().strip("<>")
    assert https.startswith(delivery.app.settings.public_base_url + "/unsubscribe/")
    token = urllib.parse.urlsplit(https).path.rsplit("/", 1)[1]
    claims = delivery.app_core.keyring.verify(token, UNSUBSCRIBE)
    scope = LinkScope.from_claims(claims)
    assert scope.account_id == tenant
    assert scope.person_key == delivery.key(address)
    assert scope.purpose_id == "0195a3d0-1111-7abc-8def-0123456789ab"
    assert scope.campaign_id == campaign_id
    assert token in _text(received)  # the body's link is the same page


async def test_consents_suppression_stops_non_system_transactional_mail_not_system(
    delivery,
) -> None:
    tenant = delivery.tenant()
    address = delivery.address()
    await delivery.publish_to("consent.contact.suppressed", delivery.suppression(tenant, address))
    await _replica_has(delivery, delivery.key(address))
    news = await delivery.send(
        delivery.request(address, category=types_pb2.EMAIL_CATEGORY_MARKETING), tenant
    )
    system = await delivery.send(delivery.request(address), tenant)
    assert (await delivery.until(news.message_id, tenant)).message.status == (
        pb.MESSAGE_STATUS_SUPPRESSED
    )
    assert (await delivery.until(system.message_id, tenant)).message.status == (
        pb.MESSAGE_STATUS_SENT
    )
    assert len(delivery.sink.for_address(address)) == 1
