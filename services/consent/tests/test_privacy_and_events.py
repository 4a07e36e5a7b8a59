"""Our own users' sign-up proof from identity, the privacy contract, and retention."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.identity.v1 import events_pb2 as identity_events
from missiva.identity.v1 import identity_service_pb2
from missiva.privacy.v1 import privacy_service_pb2
from missiva_consent.retention import RULES
from missiva_platform.auth import CallerKind
from missiva_platform.events import envelope
from missiva_platform.retention import run_retention, travel

from .conftest import PLATFORM

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def eventually(condition, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


def registered(person_key, *, marketing, user_id="user-1"):
    accepted_at = timestamp_pb2.Timestamp()
    accepted_at.FromDatetime(datetime.now(UTC) - timedelta(seconds=5))
    message = identity_events.UserRegistered(
        user_id=user_id,
        account_id="their-account",
        person_key=person_key,
        acceptances=[
            identity_service_pb2.DocumentAcceptance(
                document_id="terms", version="2026-01", checkbox_text="I accept the Terms",
                accepted_at=accepted_at, accepted=True,
            ),
            identity_service_pb2.DocumentAcceptance(
                document_id="privacy", version="2026-01", checkbox_text="I read the Privacy notice",
                accepted_at=accepted_at, accepted=True,
            ),
        ],
        marketing_opt_in=marketing,
        marketing_checkbox_text="Send me offers (optional)",
        ip_pseudonym="ab" * 32,
        user_agent="Firefox/141",
    )  # fmt: skip
    return envelope(
        message, subject="identity.user.registered", tenant_id="their-account", producer="identity"
    )


async def test_a_sign_up_records_acceptances_and_marketing_counts_once_the_address_is_verified(
    consent,
):
    opted_in, opted_out, early = consent.email(), consent.email(), consent.email()
    event = registered(consent.key(opted_in), marketing=True)
    await consent.publish("identity.user.registered", event)
    await consent.publish("identity.user.registered", event)  # redelivery: applied once
    await consent.publish(
        "identity.user.registered", registered(consent.key(opted_out), marketing=False)
    )

    async def recorded(count, *emails):
        async def check():
            keys = [consent.key(e) for e in emails]
            found = await consent.scalar(
                "SELECT count(*) FROM consent_ledger WHERE person_key = ANY(%s)", keys
            )
            return found == count

        return check

    await eventually(await recorded(5, opted_in, opted_out))
    rows = await consent.sql(
        "SELECT account_id, action, purpose_key, document_id, checkbox_text, source, ip_hash, "
        "source_detail FROM consent_ledger WHERE person_key = %s ORDER BY seq",
        consent.key(opted_in),
    )
    assert [r[1:5] for r in rows] == [
        ("accept", "", "terms", "I accept the Terms"),
        ("accept", "", "privacy", "I read the Privacy notice"),
        ("request", "marketing", "", "Send me offers (optional)"),
    ]
    assert {r[0] for r in rows} == {PLATFORM}
    assert {(r[5], r[6], r[7]) for r in rows} == {("sign_up", "ab" * 32, "user:user-1")}

    async def marketing(email):
        state = await consent.stub.GetConsentState(
            pb.GetConsentStateRequest(person=consent.person(email)),
            metadata=consent.md(PLATFORM),
            timeout=10,
        )
        return {p.purpose_key: (p.status, p.allowed) for p in state.purposes}["marketing"]

    assert await marketing(opted_in) == (pb.CONSENT_STATUS_PENDING, False)
    assert await marketing(opted_out) == (pb.CONSENT_STATUS_NOT_RECORDED, False)

    def verified(email):
        message = identity_events.UserEmailVerified(
            user_id="user-1", account_id="their-account", person_key=consent.key(email)
        )
        return envelope(
            message, subject="identity.user.verified", tenant_id="their-account",
            producer="identity",
        )  # fmt: skip

    await consent.publish("identity.user.verified", verified(opted_in))
    await eventually(await recorded(4, opted_in))
    assert await marketing(opted_in) == (pb.CONSENT_STATUS_GRANTED, True)
    # A verification processed before its sign-up still counts.
    await consent.publish("identity.user.verified", verified(early))
    await eventually(lambda: consent.scalar(
        "SELECT count(*) FROM verified_users WHERE person_key = %s", consent.key(early)
    ))  # fmt: skip
    await consent.publish(
        "identity.user.registered", registered(consent.key(early), marketing=True)
    )
    await eventually(await recorded(4, early))
    assert await marketing(early) == (pb.CONSENT_STATUS_GRANTED, True)


async def test_contact_changes_void_pending_confirmations_and_account_erasure_purges(consent):
    from missiva.campaign.v1 import events_pb2 as campaign_events

    tenant = consent.tenant()
    news = await consent.purpose(tenant, "news", double_opt_in=True)
    deleted, moved = consent.email(), consent.email()
    for email in (deleted, moved):
        await consent.stub.StartDoubleOptIn(
            pb.StartDoubleOptInRequest(
                person=consent.person(email),
                purpose_ids=[news.purpose_id],
                evidence=consent.form_evidence(),
            ),
            metadata=consent.md(tenant),
            timeout=10,
        )
    await consent.grant(tenant, consent.email(), (await consent.purpose(tenant)).purpose_id)
    for subject, message in (
        ("campaign.contact.deleted",
         campaign_events.ContactDeleted(contact_id="c1", person_key=consent.key(deleted))),
        ("campaign.contact.updated",
         campaign_events.ContactUpdated(contact_id="c2", person_key="cd" * 32,
                                        previous_person_key=consent.key(moved))),
    ):  # fmt: skip
        await consent.publish(
            subject, envelope(message, subject=subject, tenant_id=tenant, producer="campaign")
        )

    async def voided():
        left = await consent.scalar(
            "SELECT count(*) FROM double_opt_ins WHERE account_id = %s", tenant
        )
        return left == 0

    await eventually(voided)
    ledger_before = await consent.scalar(
        "SELECT count(*) FROM consent_ledger WHERE account_id = %s", tenant
    )
    erased = identity_events.AccountErased(account_id=tenant)
    await consent.publish(
        "identity.account.erased",
        envelope(erased, subject="identity.account.erased", tenant_id=tenant, producer="identity"),
    )

    async def purged():
        return not await consent.scalar(
            "SELECT count(*) FROM purposes WHERE account_id = %s", tenant
        )

    await eventually(purged)
    assert (
        await consent.scalar("SELECT count(*) FROM consent_states WHERE account_id = %s", tenant)
        == 0
    )
    assert (
        await consent.scalar("SELECT count(*) FROM consent_ledger WHERE account_id = %s", tenant)
        == ledger_before
    )


def service_md(consent, tenant=""):
    return consent.md(tenant, kind=CallerKind.SERVICE, subject="identity", roles=())


async def test_export_gives_the_person_everything_consent_holds(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)
    await consent.stub.AddSuppression(
        pb.AddSuppressionRequest(person=consent.person(email), purpose_id=purpose.purpose_id),
        metadata=consent.md(tenant),
        timeout=10,
    )
    reply = await consent.privacy.ExportPersonData(
        privacy_service_pb2.ExportPersonDataRequest(
            request_id="dsar-1", person=types_pb2.PersonRef(person_key=consent.key(email))
        ),
        metadata=service_md(consent, tenant),
        timeout=10,
    )
    sections = {s.name: json.loads(s.content) for s in reply.sections}
    assert set(sections) == {"consent_state", "consent_history", "suppressions", "double_opt_ins"}
    assert [e["action"] for e in sections["consent_history"]] == ["grant"]
    assert sections["suppressions"][0]["email"] == email
    other = await consent.privacy.ExportPersonData(
        privacy_service_pb2.ExportPersonDataRequest(
            request_id="dsar-2", person=types_pb2.PersonRef(person_key=consent.key(email))
        ),
        metadata=service_md(consent, consent.tenant()),
        timeout=10,
    )
    assert all(json.loads(s.content) == [] for s in other.sections)


async def test_erasure_removes_addresses_but_keeps_the_pseudonymised_proof(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    news = await consent.purpose(tenant, "doi-news", double_opt_in=True)
    await consent.grant(tenant, email, purpose.purpose_id)
    await consent.stub.AddSuppression(
        pb.AddSuppressionRequest(person=consent.person(email)),
        metadata=consent.md(tenant),
        timeout=10,
    )
    await consent.stub.StartDoubleOptIn(
        pb.StartDoubleOptInRequest(
            person=consent.person(email),
            purpose_ids=[news.purpose_id],
            evidence=consent.form_evidence(),
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )
    reply = await consent.privacy.ErasePersonData(
        privacy_service_pb2.ErasePersonDataRequest(
            request_id="dsar-3", person=types_pb2.PersonRef(person_key=consent.key(email))
        ),
        metadata=service_md(consent, tenant),
        timeout=10,
    )
    erased = {e.category: e.count for e in reply.erased}
    assert erased["pending_double_opt_ins"] == 1
    assert erased["suppression_addresses"] == 1
    retained = {r.category: r.legal_basis for r in reply.retained}
    assert retained["consent_history"] == types_pb2.LEGAL_BASIS_LEGAL_OBLIGATION
    key = consent.key(email)
    assert (
        await consent.scalar("SELECT count(*) FROM consent_ledger WHERE person_key = %s", key) == 1
    )
    dump = await consent.sql("SELECT * FROM suppressions WHERE person_key = %s", key)
    assert dump
    assert all(email not in str(row) for row in dump)
    assert ("erased",) in await consent.sql(
        "SELECT reason FROM suppressions WHERE person_key = %s", key
    )
    assert not (await consent.check(tenant, email, purpose.purpose_id)).allowed


async def test_the_privacy_contract_refuses_users_and_requests_without_a_person(consent):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.privacy.ErasePersonData(
            privacy_service_pb2.ErasePersonDataRequest(
                request_id="x", person=types_pb2.PersonRef(person_key="a" * 64)
            ),
            metadata=consent.md(consent.tenant()),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.privacy.ExportPersonData(
            privacy_service_pb2.ExportPersonDataRequest(request_id="x"),
            metadata=service_md(consent),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_retention_deletes_ip_hashes_salts_and_pending_requests_but_never_the_ledger(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)
    links = await consent.stub.IssueLinkTokens(
        pb.IssueLinkTokensRequest(person=consent.person(email), purpose_id=purpose.purpose_id),
        metadata=consent.md(tenant),
        timeout=10,
    )
    await consent.stub.Unsubscribe(
        pb.UnsubscribeRequest(
            token=links.unsubscribe_token, client=types_pb2.ClientContext(ip_address="192.0.2.1")
        ),
        timeout=10,
    )
    await consent.sql(
        "INSERT INTO ip_review_flags (ip_hash, day, distinct_people) VALUES ('f', now(), 30)"
    )

    async def counts():
        tables = ("link_hits", "ip_review_flags", "ip_hash_salts", "consent_ledger",
                  "suppressions")  # fmt: skip
        return {t: await consent.scalar(f"SELECT count(*) FROM {t}") for t in tables}

    before = await counts()
    assert before["link_hits"] >= 1
    assert before["ip_hash_salts"] == 1
    await run_retention(consent.url, RULES, now=travel(days=89))
    assert await counts() == before
    await run_retention(consent.url, RULES, now=travel(days=91))
    after = await counts()
    assert after["link_hits"] == 0
    assert after["ip_review_flags"] == 0
    assert after["consent_ledger"] == before["consent_ledger"]
    assert after["suppressions"] == before["suppressions"]
    # The salt lives until 90 days after its year ends.
    year_end = datetime(datetime.now(UTC).year + 1, 1, 1, tzinfo=UTC)
    await run_retention(consent.url, RULES, now=year_end + timedelta(days=89))
    assert await consent.scalar("SELECT count(*) FROM ip_hash_salts") == 1
    await run_retention(consent.url, RULES, now=year_end + timedelta(days=91))
    assert await consent.scalar("SELECT count(*) FROM ip_hash_salts") == 0
    await run_retention(consent.url, RULES, now=travel(days=366))
    assert await consent.scalar("SELECT count(*) FROM suppression_removals") == 0
