"""The inbound SMTP server end to end: a report delivered over SMTP to a message's VERP
address changes the ledger, emits the event, and (through consent's own handler, on a
consent database) suppresses the address, or does not."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosmtplib
import pytest
import pytest_asyncio
from psycopg import AsyncConnection

from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import events_pb2
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_consent.__main__ import build as consent_build
from missiva_consent.config import ConsentSettings
from missiva_consent.events import HANDLERS as CONSENT_HANDLERS
from missiva_delivery.retention import RULES
from missiva_delivery.verp import Verp
from missiva_platform.devstack.ports import free_port
from missiva_platform.events import unpack
from missiva_platform.retention import run_retention
from missiva_platform.secrets import TOKEN_KEYRING_FILE, load_token_keyring

pytestmark = pytest.mark.asyncio(loop_scope="module")

BOUNCE_DOMAIN = "bounces.missiva.test"
SETTINGS = {
    "inbound_smtp_port": free_port(),
    "bounce_domain": BOUNCE_DOMAIN,
    "soft_bounce_limit": 2,
    "inbound_max_message_bytes": 200_000,
    "reputation_min_sent": 20,
}


def report(name: str, *, verp: str, rcpt: str) -> bytes:
    """A sample of ``tests/data/reports`` (see test_bounce_reports.py) about ``rcpt``."""
    text = (Path(__file__).parent / "data" / "reports" / name).read_text()
    return text.replace("@@VERP@@", verp).replace("@@RCPT@@", rcpt).encode()


@pytest.fixture(scope="module")
def verp(secrets_dir) -> Verp:
    return Verp(load_token_keyring(secrets_dir[TOKEN_KEYRING_FILE]), BOUNCE_DOMAIN)


@pytest.fixture(scope="module")
def consent_db(make_database, nats_url) -> str:
    probe = consent_build(
        ConsentSettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url)
    )
    return make_database(probe.migration_sets, "delivery_inbound_consent")


@pytest_asyncio.fixture(loop_scope="module")
async def smtp(delivery):
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=SETTINGS["inbound_smtp_port"], timeout=5)
    for _ in range(50):  # the worker starts once the service serves
        try:
            await client.connect()
            break
        except (aiosmtplib.SMTPConnectError, OSError):
            await asyncio.sleep(0.1)
    yield client
    with contextlib.suppress(Exception):
        await client.quit()


async def sent_message(delivery, tenant: str, prefix: str = "person", **fields) -> tuple[str, str]:
    address = delivery.address(prefix)
    reply = await delivery.send(delivery.request(address, **fields), tenant)
    status = await delivery.until(reply.message_id, tenant)
    assert status.message.status == pb.MESSAGE_STATUS_SENT
    return reply.message_id, address


async def deliver(smtp, verp, message_id: str, sample: str, address: str) -> tuple[int, str]:
    to = verp.address(message_id)
    raw = report(sample, verp=to, rcpt=address)
    errors, response = await smtp.sendmail("", [to], raw)
    assert not errors
    return 250, response


async def consent_suppressed(url: str, event) -> list[tuple]:
    """Run consent's handler of the event on its database; its suppressions of the person."""
    payload = unpack(event, events_pb2.MessageBounced)
    async with await AsyncConnection.connect(url) as conn:
        async with conn.transaction():
            await CONSENT_HANDLERS[event.event_type](conn, event, None)
        cur = await conn.execute(
            "SELECT scope, reason FROM suppressions WHERE person_key = %s ORDER BY scope",
            (payload.person_key,),
        )
        return list(await cur.fetchall())


async def test_an_unknown_user_dsn_bounces_hard_and_consent_suppresses(
    delivery, smtp, verp, consent_db
) -> None:
    tenant = delivery.tenant()
    message_id, address = await sent_message(delivery, tenant)
    await deliver(smtp, verp, message_id, "postfix_user_unknown.eml", address)

    status = await delivery.status(message_id, tenant)
    assert status.message.status == pb.MESSAGE_STATUS_BOUNCED
    assert status.message.bounce_type == pb.BOUNCE_TYPE_HARD
    assert status.message.last_smtp_response.startswith("550 5.1.1")
    assert address not in status.message.last_smtp_response
    assert "dsn 5.1.1" in status.events[-1].detail
    [event] = await delivery.events("delivery.message.bounced", message_id)
    bounced = unpack(event, events_pb2.MessageBounced)
    assert bounced.bounce_type == pb.BOUNCE_TYPE_HARD
    assert bounced.source == pb.FEEDBACK_SOURCE_DSN
    assert bounced.status_code == "5.1.1"
    assert event.tenant_id == tenant
    # Consent's own consumer suppresses the person, in the account and platform-wide.
    assert await consent_suppressed(consent_db, event) == [
        ("", "hard_bounce"),
        (tenant, "hard_bounce"),
    ]
    # Delivery's own list stops even SYSTEM mail to the address now.
    again = await delivery.send(delivery.request(address), tenant)
    assert again.status == pb.MESSAGE_STATUS_SUPPRESSED


async def test_a_policy_block_is_blocked_and_suppresses_nothing(
    delivery, smtp, verp, consent_db
) -> None:
    tenant = delivery.tenant()
    message_id, address = await sent_message(delivery, tenant)
    await deliver(smtp, verp, message_id, "gmail_blocked_unsolicited.eml", address)
    status = await delivery.status(message_id, tenant)
    assert status.message.status == pb.MESSAGE_STATUS_BOUNCED
    assert status.message.bounce_type == pb.BOUNCE_TYPE_BLOCKED
    [event] = await delivery.events("delivery.message.bounced", message_id)
    assert unpack(event, events_pb2.MessageBounced).bounce_type == pb.BOUNCE_TYPE_BLOCKED
    assert await consent_suppressed(consent_db, event) == []
    key = delivery.key(address)
    assert (
        await delivery.scalar("SELECT count(*) FROM suppressions WHERE person_key = %s", key) == 0
    )
    assert (
        await delivery.scalar(
            "SELECT recipient_domain FROM bounce_records WHERE message_id = %s", message_id
        )
        == "example.org"
    )
    # The address stays good: the next message goes out.
    await sent_message(delivery, tenant, person_key=key, to_address=address)


async def test_the_same_report_twice_is_applied_once(delivery, smtp, verp) -> None:
    tenant = delivery.tenant()
    message_id, address = await sent_message(delivery, tenant)
    for _ in range(2):
        await deliver(smtp, verp, message_id, "microsoft_recipient_not_found.eml", address)
    assert (
        await delivery.scalar(
            "SELECT count(*) FROM bounce_records WHERE message_id = %s", message_id
        )
        == 1
    )
    await delivery.events("delivery.message.bounced", message_id, want=1)
    history = (await delivery.status(message_id, tenant)).events
    assert [e.status for e in history].count(pb.MESSAGE_STATUS_BOUNCED) == 1


async def test_soft_bounces_in_a_row_become_hard(delivery, smtp, verp) -> None:
    tenant = delivery.tenant()
    first, address = await sent_message(delivery, tenant)
    await deliver(smtp, verp, first, "gmail_over_quota.eml", address)
    status = await delivery.status(first, tenant)
    assert status.message.bounce_type == pb.BOUNCE_TYPE_SOFT
    key = delivery.key(address)
    assert (
        await delivery.scalar("SELECT count(*) FROM suppressions WHERE person_key = %s", key) == 0
    )
    # The second in a row (SOFT_BOUNCE_LIMIT is 2 here) is hard, and suppresses.
    second, _ = await sent_message(delivery, tenant, person_key=key, to_address=address)
    await deliver(smtp, verp, second, "microsoft_mailbox_full.eml", address)
    status = await delivery.status(second, tenant)
    assert status.message.bounce_type == pb.BOUNCE_TYPE_HARD
    assert "2 soft bounces in a row" in status.events[-1].detail
    [event] = await delivery.events("delivery.message.bounced", second)
    assert unpack(event, events_pb2.MessageBounced).bounce_type == pb.BOUNCE_TYPE_HARD


async def test_a_delivered_message_between_soft_bounces_breaks_the_row(
    delivery, smtp, verp
) -> None:
    tenant = delivery.tenant()
    first, address = await sent_message(delivery, tenant)
    await deliver(smtp, verp, first, "postfix_mailbox_full.eml", address)
    key = delivery.key(address)
    between, _ = await sent_message(delivery, tenant, person_key=key, to_address=address)
    # Sent two days ago and never bounced: it was delivered.
    await delivery.sql(
        "UPDATE messages SET sent_at = now() - interval '2 days' WHERE id = %s", between
    )
    await delivery.sql(
        "UPDATE messages SET sent_at = now() - interval '3 days', updated_at = now() -"
        " interval '3 days' WHERE id = %s",
        first,
    )
    last, _ = await sent_message(delivery, tenant, person_key=key, to_address=address)
    await deliver(smtp, verp, last, "postfix_mailbox_full.eml", address)
    status = await delivery.status(last, tenant)
    assert status.message.bounce_type == pb.BOUNCE_TYPE_SOFT


async def test_a_delayed_notice_only_records(delivery, smtp, verp) -> None:
    tenant = delivery.tenant()
    message_id, address = await sent_message(delivery, tenant)
    await deliver(smtp, verp, message_id, "postfix_delayed.eml", address)
    assert (await delivery.status(message_id, tenant)).message.status == pb.MESSAGE_STATUS_SENT
    assert (
        await delivery.scalar("SELECT kind FROM bounce_records WHERE message_id = %s", message_id)
        == "delayed"
    )


async def test_a_complaint_marks_the_message_and_stops_marketing_mail_only(
    delivery, smtp, verp, consent_db
) -> None:
    tenant = delivery.tenant()
    message_id, address = await sent_message(delivery, tenant)
    await deliver(smtp, verp, message_id, "arf_abuse.eml", address)
    status = await delivery.status(message_id, tenant)
    assert status.message.status == pb.MESSAGE_STATUS_COMPLAINED
    [event] = await delivery.events("delivery.message.complained", message_id)
    complained = unpack(event, events_pb2.MessageComplained)
    assert complained.feedback_type == "abuse"
    assert complained.source == pb.FEEDBACK_SOURCE_ARF
    key = delivery.key(address)
    marketing = await delivery.send(
        delivery.request(address, category=types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE), tenant
    )
    assert marketing.status == pb.MESSAGE_STATUS_SUPPRESSED
    system = await delivery.send(delivery.request(address, person_key=key), tenant)
    assert system.status == pb.MESSAGE_STATUS_QUEUED


async def test_only_our_verp_addresses_are_accepted(delivery, smtp, verp) -> None:
    await smtp.ehlo()
    await smtp.mail("")
    for stranger in (
        "postmaster@example.org",
        f"someone@{BOUNCE_DOMAIN}",
        "bounce+aaaaaaaaaaaaaaaaaaaaaaaaaa.k1.aaaaaaaaaaaaaaaa@" + BOUNCE_DOMAIN,
        verp.address("0195a3e0-5555-7abc-8def-0123456789ab").replace(BOUNCE_DOMAIN, "x.test"),
    ):
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await smtp.rcpt(stranger)
        assert refused.value.code == 550
    await smtp.rset()


async def test_a_report_over_the_size_cap_is_refused(delivery, smtp, verp) -> None:
    tenant = delivery.tenant()
    message_id, address = await sent_message(delivery, tenant)
    to = verp.address(message_id)
    raw = report("postfix_user_unknown.eml", verp=to, rcpt=address) + b"x" * 300_000
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await smtp.sendmail("", [to], raw)
    assert refused.value.code == 552
    assert (await delivery.status(message_id, tenant)).message.status == pb.MESSAGE_STATUS_SENT
    with contextlib.suppress(Exception):
        await smtp.quit()
    await smtp.connect()


async def test_an_auto_reply_is_accepted_and_changes_nothing(delivery, smtp, verp) -> None:
    tenant = delivery.tenant()
    message_id, address = await sent_message(delivery, tenant)
    await deliver(smtp, verp, message_id, "auto_reply_vacation.eml", address)
    assert (await delivery.status(message_id, tenant)).message.status == pb.MESSAGE_STATUS_SENT


# -- the reputation guard ---------------------------------------------------------------------


async def campaign_sent(delivery, tenant: str, campaign_id: str, n: int) -> list[str]:
    """``n`` campaign messages marked sent just now (the campaign lane's rows, made here)."""
    ids = [str(uuid.uuid4()) for _ in range(n)]
    for mid in ids:
        await delivery.sql(
            "INSERT INTO messages (id, tenant_id, idempotency_key, lane, category, campaign_id,"
            " contact_id, person_key, rfc822_message_id, status, attempts, sent_at)"
            " VALUES (%s, %s, %s, 'campaign', 2, %s, %s, %s, %s, 'sent', 1, now())",
            mid, tenant, f"c:{mid}", campaign_id, str(uuid.uuid4()), uuid.uuid4().hex * 2,
            f"<{mid}@test>",
        )  # fmt: skip
    return ids


async def alerts(delivery, campaign_id: str, seconds: float = 2.0) -> list:
    from missiva_platform.testing import harness as kit

    return await kit.stream_events(
        delivery.nc.jetstream(), "DELIVERY_EVENTS", "delivery.campaign.reputation_alerted",
        lambda e: e.aggregate_id == campaign_id, want=10, seconds=seconds,
    )  # fmt: skip


async def test_one_bounce_of_three_does_not_trip_the_guard(delivery, smtp, verp) -> None:
    tenant, campaign = delivery.tenant(), str(uuid.uuid4())
    ids = await campaign_sent(delivery, tenant, campaign, 3)
    await deliver(smtp, verp, ids[0], "postfix_user_unknown.eml", "a@example.org")
    assert (await delivery.status(ids[0], tenant)).message.status == pb.MESSAGE_STATUS_BOUNCED
    assert await alerts(delivery, campaign) == []


async def test_a_bounce_rate_over_five_percent_alerts_once(delivery, smtp, verp) -> None:
    tenant, campaign = delivery.tenant(), str(uuid.uuid4())
    ids = await campaign_sent(delivery, tenant, campaign, 40)
    # 2 of 40 is 5%: not over. A block counts as a bounce: 3 of 40 is 7.5%.
    await deliver(smtp, verp, ids[0], "gmail_no_such_user.eml", "a@example.org")
    await deliver(smtp, verp, ids[1], "postfix_no_such_domain.eml", "b@example.org")
    assert await alerts(delivery, campaign, seconds=1.0) == []
    await deliver(smtp, verp, ids[2], "microsoft_outlook_block.eml", "c@example.org")
    # A soft bounce does not count, and once alerted the next window starts at the alert.
    await deliver(smtp, verp, ids[3], "gmail_over_quota.eml", "d@example.org")
    await deliver(smtp, verp, ids[4], "exim_user_unknown.eml", "e@example.org")
    [event] = await alerts(delivery, campaign)
    tripped = unpack(event, events_pb2.CampaignReputationAlerted)
    assert tripped.signal == events_pb2.REPUTATION_SIGNAL_BOUNCE_RATE
    assert (tripped.sent, tripped.bounced, tripped.complained) == (40, 3, 0)
    assert tripped.bounce_rate == pytest.approx(0.075)
    assert tripped.bounce_threshold == pytest.approx(0.05)
    assert event.tenant_id == tenant


async def test_a_complaint_rate_over_the_threshold_alerts(delivery, smtp, verp) -> None:
    tenant, campaign = delivery.tenant(), str(uuid.uuid4())
    ids = await campaign_sent(delivery, tenant, campaign, 25)
    await deliver(smtp, verp, ids[0], "arf_abuse.eml", "a@example.org")
    [event] = await alerts(delivery, campaign)
    tripped = unpack(event, events_pb2.CampaignReputationAlerted)
    assert tripped.signal == events_pb2.REPUTATION_SIGNAL_COMPLAINT_RATE
    assert tripped.complained == 1


# -- privacy and retention of the reports ----------------------------------------------------


def consent_md(delivery, tenant: str = ""):
    return delivery.md(tenant, subject="consent", scopes=("*",))


async def test_reports_are_exported_and_erased_with_the_person(delivery, smtp, verp) -> None:
    tenant = delivery.tenant()
    message_id, address = await sent_message(delivery, tenant)
    await deliver(smtp, verp, message_id, "postfix_spamhaus_block.eml", address)
    key = delivery.key(address)
    person = types_pb2.PersonRef(person_key=key)
    exported = await delivery.privacy.ExportPersonData(
        ppb.ExportPersonDataRequest(request_id=f"x-{key[:8]}", person=person),
        metadata=consent_md(delivery, tenant), timeout=10,
    )  # fmt: skip
    sections = {s.name: json.loads(s.content) for s in exported.sections}
    [record] = sections["delivery.bounce_reports"]
    assert (record["message_id"], record["bounce_class"]) == (message_id, "blocked")
    assert address not in json.dumps(record)
    erased = await delivery.privacy.ErasePersonData(
        ppb.ErasePersonDataRequest(request_id=f"e-{key[:8]}", person=person),
        metadata=consent_md(delivery, tenant), timeout=10,
    )  # fmt: skip
    assert {e.category: e.count for e in erased.erased}["delivery.bounce_reports"] == 1
    assert (
        await delivery.scalar("SELECT count(*) FROM bounce_records WHERE person_key = %s", key) == 0
    )


async def test_reports_are_kept_90_days_and_provider_events_18_months(delivery, smtp, verp) -> None:
    tenant = delivery.tenant()
    message_id, address = await sent_message(delivery, tenant)
    await deliver(smtp, verp, message_id, "postfix_delayed.eml", address)
    event_id = f"evt-{uuid.uuid4()}"
    await delivery.sql(
        "INSERT INTO provider_events (provider, event_id, event_type, payload_digest, outcome,"
        " signed_at, person_key) VALUES ('generic', %s, 'bounce', 'd', 'applied', now(), %s)",
        event_id, delivery.key(address),
    )  # fmt: skip
    now = datetime.now(UTC)
    reports = "SELECT count(*) FROM bounce_records WHERE message_id = %s"
    events = "SELECT count(*) FROM provider_events WHERE event_id = %s"
    await run_retention(delivery.url, RULES, now=now + timedelta(days=89))
    assert await delivery.scalar(reports, message_id) == 1
    await run_retention(delivery.url, RULES, now=now + timedelta(days=91))
    assert await delivery.scalar(reports, message_id) == 0
    assert await delivery.scalar(events, event_id) == 1
    await run_retention(delivery.url, RULES, now=now + timedelta(days=547))
    assert await delivery.scalar(events, event_id) == 1
    await run_retention(delivery.url, RULES, now=now + timedelta(days=549))
    assert await delivery.scalar(events, event_id) == 0


async def test_a_taken_port_is_retried_until_it_is_free(delivery) -> None:
    from missiva_delivery.inbound import InboundServer

    core = delivery.app.services[0].servicer.core  # DeliveryServicer holds the core
    server = InboundServer(core, core.feedback)
    stopping = asyncio.Event()
    # The module's own server holds the port: this one keeps trying, then stops cleanly.
    task = asyncio.create_task(server.run(stopping))
    await asyncio.sleep(1.5)
    assert server.server is None
    stopping.set()
    await asyncio.wait_for(task, 5)


async def test_a_sender_domains_return_path_is_accepted_too(delivery, smtp, verp) -> None:
    tenant = delivery.tenant()
    message_id, address = await sent_message(delivery, tenant)
    to = verp.address(message_id).replace(BOUNCE_DOMAIN, "bounces.news.example.com")
    raw = report("postfix_user_unknown.eml", verp=to, rcpt=address)
    errors, _ = await smtp.sendmail("", [to], raw)
    assert not errors
    status = await delivery.status(message_id, tenant)
    assert status.message.bounce_type == pb.BOUNCE_TYPE_HARD
    # Another label is no return path of ours.
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await smtp.sendmail("", [to.replace("@bounces.", "@mail.")], raw)
