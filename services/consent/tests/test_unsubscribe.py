"""One-click unsubscribe (RFC 8058): withdraw, suppress and publish in one transaction."""

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.consent.v1 import events_pb2
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva_platform import metrics

from .conftest import PLATFORM

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETTINGS = {"unsubscribe_abuse_threshold": 3}


async def tokens(consent, tenant, email, purpose_id="", campaign="camp-1"):
    return await consent.stub.IssueLinkTokens(
        pb.IssueLinkTokensRequest(
            person=consent.person(email), purpose_id=purpose_id, campaign_id=campaign
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )


def unsubscribe(consent, token, ip="198.51.100.9", **extra):
    return consent.stub.Unsubscribe(
        pb.UnsubscribeRequest(
            token=token,
            one_click=True,
            client=types_pb2.ClientContext(ip_address=ip, user_agent="mail-client"),
            **extra,
        ),
        timeout=10,
    )


async def snapshot(consent, tenant, person_key, purpose_id, events_expected=0):
    ledger = await consent.scalar(
        "SELECT count(*) FROM consent_ledger WHERE account_id = %s AND person_key = %s",
        tenant,
        person_key,
    )
    state = await consent.scalar(
        "SELECT status FROM consent_states WHERE account_id = %s AND person_key = %s "
        "AND purpose_id = %s",
        tenant,
        person_key,
        purpose_id,
    )
    suppressions = await consent.sql(
        "SELECT reason, purpose_id FROM suppressions WHERE scope = %s AND person_key = %s",
        tenant,
        person_key,
    )
    events = await consent.events(
        "consent.purpose.withdrawn",
        lambda e: e.aggregate_id == f"{tenant}:{person_key}:{purpose_id}",
        want=max(events_expected, 1),
        # Waits for the events it expects, and a while longer for any that should not exist.
        timeout=10.0 if events_expected else 1.0,
    )
    return ledger, state, suppressions, len(events)


async def test_unsubscribing_changes_state_suppression_and_event_in_one_transaction(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)
    person_key = consent.key(email)
    links = await tokens(consent, tenant, email, purpose.purpose_id)
    assert links.unsubscribe_url.endswith(links.unsubscribe_token)
    before = await snapshot(consent, tenant, person_key, purpose.purpose_id)
    assert before == (1, "granted", [], 0)

    # Make the last step of the transaction (the suppression entry) fail: nothing may remain.
    await consent.sql(
        "CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'injected failure'; END; $$"
    )
    await consent.sql(
        "CREATE TRIGGER fail_once BEFORE INSERT ON suppressions "
        "FOR EACH ROW EXECUTE FUNCTION fail_once()"
    )
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await unsubscribe(consent, links.unsubscribe_token)
        assert err.value.code() is grpc.StatusCode.INTERNAL
    finally:
        await consent.sql("DROP TRIGGER fail_once ON suppressions")
        await consent.sql("DROP FUNCTION fail_once()")
    assert await snapshot(consent, tenant, person_key, purpose.purpose_id) == before

    reply = await unsubscribe(consent, links.unsubscribe_token)
    assert list(reply.purpose_ids) == [purpose.purpose_id]
    assert not reply.already_unsubscribed
    assert reply.preferences_token
    after = await snapshot(consent, tenant, person_key, purpose.purpose_id, events_expected=1)
    assert after == (2, "withdrawn", [("unsubscribed", purpose.purpose_id)], 1)
    check = await consent.check(tenant, email, purpose.purpose_id)
    assert not check.allowed
    assert check.suppressed

    [event] = await consent.events(
        "consent.purpose.withdrawn",
        lambda e: e.aggregate_id == f"{tenant}:{person_key}:{purpose.purpose_id}",
    )
    withdrawn = events_pb2.ConsentWithdrawn()
    event.payload.Unpack(withdrawn)
    assert withdrawn.campaign_id == "camp-1"
    assert withdrawn.source == pb.CONSENT_SOURCE_UNSUBSCRIBE_LINK
    assert event.aggregate_version == 2

    # Replaying the same link changes nothing: no entry, no event, no new suppression.
    replay = await unsubscribe(consent, links.unsubscribe_token)
    assert replay.already_unsubscribed
    assert await snapshot(consent, tenant, person_key, purpose.purpose_id, 1) == after
    late = await consent.events(
        "consent.purpose.withdrawn",
        lambda e: e.aggregate_id == f"{tenant}:{person_key}:{purpose.purpose_id}",
        want=2,
        timeout=1.0,
    )
    assert len(late) == 1  # still the one event of the first unsubscribe
    # No confirmation email is ever sent after an opt-out.
    mails = await consent.commands(lambda c: command_for(c) == person_key, timeout=0.5)
    assert mails == []


def command_for(envelope):
    command = delivery_events.SendTransactionalCommand()
    envelope.payload.Unpack(command)
    return command.person_key


async def test_unsubscribing_from_everything_spares_only_system_mail(consent):
    email = consent.email()
    links = await tokens(consent, PLATFORM, email)
    reply = await unsubscribe(consent, links.unsubscribe_token)
    assert sorted(reply.purpose_names) == ["Offers and news", "Product updates"]
    state = await consent.stub.GetConsentState(
        pb.GetConsentStateRequest(person=consent.person(email)),
        metadata=consent.md(PLATFORM),
        timeout=10,
    )
    allowed = {p.purpose_key: p.allowed for p in state.purposes}
    assert allowed == {"system": True, "product_update": False, "marketing": False}
    suppressions = await consent.sql(
        "SELECT reason, purpose_id FROM suppressions WHERE scope = %s AND person_key = %s",
        PLATFORM,
        consent.key(email),
    )
    assert suppressions == [("unsubscribed", "")]


async def test_a_purpose_link_can_still_unsubscribe_from_everything_when_asked(consent):
    tenant, email = consent.tenant(), consent.email()
    first, second = await consent.purpose(tenant, "a-list"), await consent.purpose(tenant, "b-list")
    for purpose in (first, second):
        await consent.grant(tenant, email, purpose.purpose_id)
    links = await tokens(consent, tenant, email, first.purpose_id)
    reply = await unsubscribe(consent, links.unsubscribe_token, all_purposes=True)
    assert sorted(reply.purpose_ids) == sorted([first.purpose_id, second.purpose_id])
    assert not (await consent.check(tenant, email, second.purpose_id)).allowed


async def test_the_ip_is_kept_only_as_a_salted_hash(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    links = await tokens(consent, tenant, email, purpose.purpose_id)
    await unsubscribe(consent, links.unsubscribe_token, ip="192.0.2.44")
    [(ip_hash,)] = await consent.sql("SELECT ip_hash FROM link_hits WHERE account_id = %s", tenant)
    assert len(ip_hash) == 64
    assert "192.0.2.44" not in ip_hash
    dump = await consent.sql(
        "SELECT ip_hash, user_agent FROM consent_ledger WHERE account_id = %s", tenant
    )
    assert all("192.0.2.44" not in value for row in dump for value in row)


async def test_many_unsubscribes_from_one_ip_raise_a_flag_but_are_honoured(consent):
    tenant = consent.tenant()
    purpose = await consent.purpose(tenant)
    name = "missiva_consent_unsubscribe_ip_flagged_total"
    flagged_before = metrics.registry().get_sample_value(name) or 0.0
    emails = [consent.email() for _ in range(4)]
    for email in emails:
        await consent.grant(tenant, email, purpose.purpose_id)
        links = await tokens(consent, tenant, email, purpose.purpose_id)
        await unsubscribe(consent, links.unsubscribe_token, ip="203.0.113.250")
    for email in emails:
        assert not (await consent.check(tenant, email, purpose.purpose_id)).allowed
    assert (metrics.registry().get_sample_value(name) or 0.0) - flagged_before == 2
    [(people,)] = await consent.sql(
        "SELECT distinct_people FROM ip_review_flags f JOIN link_hits h USING (ip_hash) "
        "WHERE h.account_id = %s LIMIT 1",
        tenant,
    )
    assert people >= 3


async def test_a_damaged_expired_or_foreign_token_is_refused(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)
    links = await tokens(consent, tenant, email, purpose.purpose_id)
    cases = {
        links.unsubscribe_token[:-3] + "AAA": grpc.StatusCode.INVALID_ARGUMENT,
        links.preferences_token: grpc.StatusCode.INVALID_ARGUMENT,  # another link's token
        "": grpc.StatusCode.INVALID_ARGUMENT,
        consent.keyring.sign(
            "unsubscribe",
            {"a": tenant, "k": consent.key(email), "u": purpose.purpose_id},
            ttl=timedelta(days=1),
            now=datetime.now(UTC) - timedelta(days=2),
        ): grpc.StatusCode.FAILED_PRECONDITION,
    }
    for token, code in cases.items():
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await unsubscribe(consent, token)
        assert err.value.code() is code
        assert "link" in err.value.details() or "required" in err.value.details()
    assert (await consent.check(tenant, email, purpose.purpose_id)).allowed


async def test_a_link_for_one_account_cannot_touch_another(consent):
    owner, other, email = consent.tenant(), consent.tenant(), consent.email()
    purpose = await consent.purpose(owner)
    await consent.grant(owner, email, purpose.purpose_id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tokens(consent, other, email, purpose.purpose_id)
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    # A token whose account claim was edited no longer verifies.
    links = await tokens(consent, owner, email, purpose.purpose_id)
    version, kid, _payload, mac = links.unsubscribe_token.split(".")
    forged = consent.keyring.sign("unsubscribe", {"a": other, "k": consent.key(email)})
    forged_payload = forged.split(".")[2]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await unsubscribe(consent, f"{version}.{kid}.{forged_payload}.{mac}")
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (await consent.check(owner, email, purpose.purpose_id)).allowed


async def test_system_mail_gets_no_unsubscribe_link(consent):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tokens(consent, PLATFORM, consent.email(), "system")
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "SYSTEM" in err.value.details()
