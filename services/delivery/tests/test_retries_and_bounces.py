"""Temporary refusals defer with backoff, hard bounces suppress, a crashed claim is resent."""

from __future__ import annotations

import asyncio

import pytest

from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import events_pb2
from missiva_platform import metrics
from missiva_platform.events import unpack

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_421_defers_then_the_message_is_sent(delivery) -> None:
    address = delivery.address("defer2")
    reply = await delivery.send(delivery.request(address))
    status = await delivery.until(reply.message_id)
    assert status.message.status == pb.MESSAGE_STATUS_SENT
    assert status.message.attempts == 3
    assert delivery.sink.rcpt_attempts[address] == 3
    assert len(delivery.sink.for_address(address)) == 1
    history = [e.status for e in status.events]
    assert history.count(pb.MESSAGE_STATUS_DEFERRED) == 2
    deferred = [e for e in status.events if e.status == pb.MESSAGE_STATUS_DEFERRED]
    assert all(e.detail.startswith("421") for e in deferred)
    events = await delivery.events("delivery.message.deferred", reply.message_id, want=2)
    assert [unpack(e, events_pb2.MessageDeferred).attempt for e in events] == [1, 2]


async def test_a_deferred_message_fails_once_it_has_tried_too_long(delivery) -> None:
    address = delivery.address("defer1000")
    reply = await delivery.send(delivery.request(address))
    await delivery.until(
        reply.message_id, done=lambda r: r.message.status == pb.MESSAGE_STATUS_DEFERRED
    )
    # Travel: the message was queued 73 hours ago (the default gives up after 72).
    await delivery.sql(
        "UPDATE messages SET queued_at = queued_at - interval '73 hours' WHERE id = %s",
        reply.message_id,
    )
    status = await delivery.until(reply.message_id)
    assert status.message.status == pb.MESSAGE_STATUS_BOUNCED
    assert status.message.bounce_type == pb.BOUNCE_TYPE_SOFT
    assert status.message.last_smtp_response.startswith("421")
    # A soft bounce does not suppress the address.
    assert (
        await delivery.scalar(
            "SELECT count(*) FROM suppressions WHERE person_key = %s", delivery.key(address)
        )
        == 0
    )


async def test_a_hard_bounce_suppresses_even_system_mail(delivery) -> None:
    address = delivery.address("nouser")
    reply = await delivery.send(delivery.request(address))
    status = await delivery.until(reply.message_id)
    assert status.message.status == pb.MESSAGE_STATUS_BOUNCED
    assert status.message.bounce_type == pb.BOUNCE_TYPE_HARD
    assert status.message.last_smtp_response.startswith("550 5.1.1")
    assert address not in status.message.last_smtp_response  # the reply is kept without it
    [bounced] = await delivery.events("delivery.message.bounced", reply.message_id)
    payload = unpack(bounced, events_pb2.MessageBounced)
    assert payload.status_code == "5.1.1"
    assert payload.bounce_type == pb.BOUNCE_TYPE_HARD
    assert address not in payload.diagnostic

    again = await delivery.send(delivery.request(address))
    assert again.status == pb.MESSAGE_STATUS_SUPPRESSED
    final = await delivery.status(again.message_id)
    assert "hard_bounce" in final.message.last_smtp_response
    marketing = await delivery.send(
        delivery.request(address, category=types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE)
    )
    assert marketing.status == pb.MESSAGE_STATUS_SUPPRESSED
    assert delivery.sink.rcpt_attempts[address] == 1


async def test_an_opt_out_stops_other_mail_but_not_system_mail(delivery) -> None:
    address = delivery.address()
    await delivery.sql(
        "INSERT INTO suppressions (person_key, tenant_id, reason) VALUES (%s, '', 'consent')",
        delivery.key(address),
    )
    blocked = await delivery.send(
        delivery.request(address, category=types_pb2.EMAIL_CATEGORY_MARKETING)
    )
    assert blocked.status == pb.MESSAGE_STATUS_SUPPRESSED
    system = await delivery.send(delivery.request(address))
    assert (await delivery.until(system.message_id)).message.status == pb.MESSAGE_STATUS_SENT
    assert len(delivery.sink.for_address(address)) == 1


async def test_a_policy_block_fails_without_suppressing(delivery) -> None:
    address = delivery.address("blocked")
    reply = await delivery.send(delivery.request(address))
    status = await delivery.until(reply.message_id)
    assert status.message.status == pb.MESSAGE_STATUS_FAILED
    assert status.message.last_smtp_response.startswith("550 5.7.1")
    assert (
        await delivery.scalar(
            "SELECT count(*) FROM suppressions WHERE person_key = %s", delivery.key(address)
        )
        == 0
    )


async def test_a_claim_left_by_a_dead_sender_is_resent_with_the_same_message_id(delivery) -> None:
    address = delivery.address("defer1000")
    reply = await delivery.send(delivery.request(address))
    await delivery.until(
        reply.message_id, done=lambda r: r.message.status == pb.MESSAGE_STATUS_DEFERRED
    )
    rfc822 = (await delivery.status(reply.message_id)).message.rfc822_message_id
    # A sender claimed it and died mid-send: the row says 'sending' with an old claim. Now
    # the server accepts the address.
    delivery.sink.rcpt_attempts[address] = 10_000  # past its 1000 refusals
    # Only while deferred (no sender holds it then: a claim makes it 'sending').
    moved = []
    while not moved:
        moved = await delivery.sql(
            "UPDATE messages SET status = 'sending', claimed_at = now() - interval '1 hour'"
            " WHERE id = %s AND status = 'deferred' RETURNING id",
            reply.message_id,
        )
    status = await delivery.until(reply.message_id)
    assert status.message.status == pb.MESSAGE_STATUS_SENT
    assert status.message.rfc822_message_id == rfc822
    assert (
        await delivery.scalar("SELECT resends FROM messages WHERE id = %s", reply.message_id) == 1
    )
    [received] = delivery.sink.for_address(address)
    assert received.message["Message-ID"] == rfc822
    [sent] = await delivery.events("delivery.message.sent", reply.message_id)
    assert unpack(sent, events_pb2.MessageSent).resend is True


async def test_senders_sharing_the_queue_send_each_message_once(delivery) -> None:
    from missiva_delivery.sender import Sender

    core = delivery.app.services[0].servicer.core
    extra = [Sender(core) for _ in range(2)]  # two more replicas' senders
    addresses = [delivery.address() for _ in range(30)]
    replies = [await delivery.send(delivery.request(a)) for a in addresses]
    await asyncio.gather(*(sender.drain() for sender in extra))
    for reply in replies:
        assert (await delivery.until(reply.message_id)).message.status == pb.MESSAGE_STATUS_SENT
    for address in addresses:
        assert len(delivery.sink.for_address(address)) == 1
    for sender in extra:
        await sender.close()


async def test_metrics_count_outcomes_by_lane(delivery) -> None:
    registry = metrics.registry()

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(f"missiva_delivery_{name}", labels) or 0.0

    sent_before = value("messages_sent_total", lane="transactional")
    deferred_before = value("messages_deferred_total", lane="transactional")
    reply = await delivery.send(delivery.request(delivery.address("defer1")))
    await delivery.until(reply.message_id)
    assert value("messages_sent_total", lane="transactional") == sent_before + 1
    assert value("messages_deferred_total", lane="transactional") == deferred_before + 1
    depth = registry.get_sample_value(
        "missiva_delivery_queue_depth_messages", {"lane": "transactional", "state": "queued"}
    )
    assert depth is not None


async def test_an_address_that_cannot_be_decrypted_fails_the_message(delivery) -> None:
    address = delivery.address("defer1000")
    reply = await delivery.send(delivery.request(address))
    await delivery.until(
        reply.message_id, done=lambda r: r.message.status == pb.MESSAGE_STATUS_DEFERRED
    )
    moved = []
    while not moved:  # only while deferred: no sender holds it then
        moved = await delivery.sql(
            "UPDATE messages SET to_address_enc = '\\x01ff'::bytea"
            " WHERE id = %s AND status = 'deferred' RETURNING id",
            reply.message_id,
        )
    status = await delivery.until(reply.message_id)
    assert status.message.status == pb.MESSAGE_STATUS_FAILED
    assert "cannot decrypt the address" in status.message.last_smtp_response
