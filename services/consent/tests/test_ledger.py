"""The ledger: append-only at the database, hash-chained per person, with its projection."""

import asyncio

import grpc
import psycopg
import pytest

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.consent.v1 import events_pb2
from missiva_consent.domain import GENESIS
from missiva_consent.verify_proof import entry_hash

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_recording_consent_appends_a_chained_entry_with_its_proof(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    record = await consent.grant(tenant, email, purpose.purpose_id)
    assert record.person_key == consent.key(email)
    assert record.action == pb.CONSENT_ACTION_GRANTED
    assert record.resulting_status == pb.CONSENT_STATUS_GRANTED
    assert record.legal_basis == types_pb2.LEGAL_BASIS_CONSENT
    assert record.source == pb.CONSENT_SOURCE_FORM
    assert record.checkbox_text == "Yes, send me the newsletter"
    assert (record.policy_document_id, record.policy_version) == ("privacy", "2026-01")
    assert record.user_agent == "Firefox/140"
    assert len(record.ip_hash) == 64
    assert "203.0.113.7" not in record.ip_hash
    assert (record.sequence, record.previous_hash, record.version) == (1, GENESIS, 1)
    second = await consent.grant(tenant, email, purpose.purpose_id)
    assert second.sequence == 2
    assert second.previous_hash == record.entry_hash

    rows = await consent.sql(
        "SELECT count(*) FROM consent_ledger WHERE account_id = %s AND person_key = %s",
        tenant,
        record.person_key,
    )
    assert rows == [(2,)]
    check = await consent.check(tenant, email, purpose.purpose_id)
    assert check.allowed
    assert check.status == pb.CONSENT_STATUS_GRANTED
    assert check.version == 2
    [event] = await consent.events(
        "consent.purpose.granted",
        lambda e: (
            e.aggregate_id == f"{tenant}:{record.person_key}:{purpose.purpose_id}"
            and e.aggregate_version == 1
        ),
    )
    granted = events_pb2.ConsentGranted()
    event.payload.Unpack(granted)
    assert granted.record_id == record.record_id
    assert event.tenant_id == tenant
    assert email not in event.SerializeToString().decode("latin-1")


@pytest.mark.parametrize("statement", ["UPDATE consent_ledger SET checkbox_text = 'x'",
                                       "DELETE FROM consent_ledger",
                                       "TRUNCATE consent_ledger"])  # fmt: skip
async def test_the_database_refuses_to_change_or_delete_ledger_entries(consent, statement):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)
    # As the table's owner (the service's own role): the trigger binds the owner too.
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        await consent.sql(statement)
    assert (
        await consent.scalar("SELECT count(*) FROM consent_ledger WHERE account_id = %s", tenant)
        == 1
    )


async def test_concurrent_appends_for_one_person_never_fork_the_chain(consent):
    tenant, email = consent.tenant(), consent.email()
    purposes = [await consent.purpose(tenant, f"topic-{i}") for i in range(4)]
    await asyncio.gather(
        *(consent.grant(tenant, email, purposes[i % 4].purpose_id) for i in range(20))
    )
    rows = await consent.sql(
        "SELECT seq, prev_hash, entry_hash FROM consent_ledger "
        "WHERE account_id = %s AND person_key = %s ORDER BY seq",
        tenant,
        consent.key(email),
    )
    assert [r[0] for r in rows] == list(range(1, 21))
    previous = GENESIS
    for _, prev_hash, this_hash in rows:
        assert prev_hash == previous
        previous = this_hash


async def test_entry_hash_is_sha256_of_the_canonical_form(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)
    proof = await consent.stub.ExportProof(
        pb.ExportProofRequest(person=consent.person(email)), metadata=consent.md(tenant), timeout=10
    )
    import json

    [entry] = json.loads(proof.bundle_json)["entries"]
    assert entry_hash(entry) == entry["entry_hash"] == proof.records[0].entry_hash


@pytest.mark.parametrize(
    ("evidence", "field"),
    [
        (pb.ConsentEvidence(source=pb.CONSENT_SOURCE_FORM), "evidence.checkbox_text"),
        (pb.ConsentEvidence(), "evidence.source"),
        (pb.ConsentEvidence(source=pb.CONSENT_SOURCE_IMPORT), "evidence.source_detail"),
        (
            pb.ConsentEvidence(source=pb.CONSENT_SOURCE_CONFIRMATION_LINK, checkbox_text="x"),
            "evidence.source",
        ),
    ],
)
async def test_a_consent_without_its_proof_is_refused_and_nothing_is_lost(consent, evidence, field):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    first = await consent.grant(tenant, email, purpose.purpose_id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.RecordConsent(
            pb.RecordConsentRequest(
                person=consent.person(email), purpose_id=purpose.purpose_id, evidence=evidence
            ),
            metadata=consent.md(tenant),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details()
    state = await consent.check(tenant, email, purpose.purpose_id)
    assert state.allowed
    assert state.version == first.version


async def test_unknown_purposes_and_missing_people_are_refused(consent):
    tenant = consent.tenant()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.grant(tenant, consent.email(), "no-such-purpose")
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.CheckConsent(
            pb.CheckConsentRequest(person=types_pb2.PersonRef(), purpose_id="x"),
            metadata=consent.md(tenant),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "person" in err.value.details()


async def test_withdrawing_appends_a_withdrawal_and_replaying_it_appends_nothing(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)
    request = pb.WithdrawConsentRequest(
        person=consent.person(email),
        purpose_id=purpose.purpose_id,
        evidence=pb.ConsentEvidence(source=pb.CONSENT_SOURCE_ADMIN),
    )
    reply = await consent.stub.WithdrawConsent(request, metadata=consent.md(tenant), timeout=10)
    [record] = reply.records
    assert record.action == pb.CONSENT_ACTION_WITHDRAWN
    assert record.resulting_status == pb.CONSENT_STATUS_WITHDRAWN
    again = await consent.stub.WithdrawConsent(request, metadata=consent.md(tenant), timeout=10)
    assert list(again.records) == []
    check = await consent.check(tenant, email, purpose.purpose_id)
    assert not check.allowed
    assert check.status == pb.CONSENT_STATUS_WITHDRAWN


async def test_an_idempotency_key_appends_one_entry_for_retries(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    request = pb.RecordConsentRequest(
        person=consent.person(email),
        purpose_id=purpose.purpose_id,
        evidence=consent.form_evidence(),
        idempotency_key="retry-1",
    )
    first = await consent.stub.RecordConsent(request, metadata=consent.md(tenant), timeout=10)
    second = await consent.stub.RecordConsent(request, metadata=consent.md(tenant), timeout=10)
    assert first.record.record_id == second.record.record_id
    assert (
        await consent.scalar("SELECT count(*) FROM consent_ledger WHERE account_id = %s", tenant)
        == 1
    )


async def test_system_mail_cannot_be_withdrawn_but_product_updates_can_be_objected_to(consent):
    from .conftest import PLATFORM

    email = consent.email()
    withdraw = pb.WithdrawConsentRequest(
        person=consent.person(email),
        purpose_id="system",
        evidence=pb.ConsentEvidence(source=pb.CONSENT_SOURCE_ADMIN),
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.WithdrawConsent(withdraw, metadata=consent.md(PLATFORM), timeout=10)
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "cannot be turned off" in err.value.details()

    state = await consent.stub.GetConsentState(
        pb.GetConsentStateRequest(person=consent.person(email)),
        metadata=consent.md(PLATFORM),
        timeout=10,
    )
    allowed = {p.purpose_key: p.allowed for p in state.purposes}
    assert allowed == {"system": True, "product_update": True, "marketing": False}

    withdraw.purpose_id = ""  # every purpose that can be turned off
    reply = await consent.stub.WithdrawConsent(withdraw, metadata=consent.md(PLATFORM), timeout=10)
    assert [(r.purpose_key, r.action) for r in reply.records] == [
        ("product_update", pb.CONSENT_ACTION_OBJECTED)
    ]
    state = await consent.stub.GetConsentState(
        pb.GetConsentStateRequest(person=consent.person(email)),
        metadata=consent.md(PLATFORM),
        timeout=10,
    )
    statuses = {p.purpose_key: (p.status, p.allowed) for p in state.purposes}
    assert statuses["product_update"] == (pb.CONSENT_STATUS_OBJECTED, False)
    assert statuses["system"] == (pb.CONSENT_STATUS_NOT_RECORDED, True)


async def test_a_restriction_stops_mail_until_it_is_lifted(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)
    evidence = pb.ConsentEvidence(source=pb.CONSENT_SOURCE_PRIVACY_REQUEST, source_detail="dsar-1")
    restricted = await consent.stub.RestrictProcessing(
        pb.RestrictProcessingRequest(person=consent.person(email), evidence=evidence),
        metadata=consent.md(tenant),
        timeout=10,
    )
    assert [r.resulting_status for r in restricted.records] == [pb.CONSENT_STATUS_RESTRICTED]
    check = await consent.check(tenant, email, purpose.purpose_id)
    assert not check.allowed
    assert check.status == pb.CONSENT_STATUS_RESTRICTED
    lifted = await consent.stub.LiftRestriction(
        pb.LiftRestrictionRequest(person=consent.person(email), evidence=evidence),
        metadata=consent.md(tenant),
        timeout=10,
    )
    assert [r.resulting_status for r in lifted.records] == [pb.CONSENT_STATUS_GRANTED]
    assert (await consent.check(tenant, email, purpose.purpose_id)).allowed


async def test_batch_and_stream_checks_answer_in_order_for_many_people(consent):
    tenant = consent.tenant()
    purpose = await consent.purpose(tenant)
    emails = [consent.email() for _ in range(7)]
    for email in emails[:4]:
        await consent.grant(tenant, email, purpose.purpose_id)
    keys = [consent.key(e) for e in emails]
    reply = await consent.stub.BatchCheckConsent(
        pb.BatchCheckConsentRequest(
            purpose_id=purpose.purpose_id, person_keys=list(reversed(keys))
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )
    assert [c.person_key for c in reply.checks] == list(reversed(keys))
    assert [c.allowed for c in reply.checks] == [False, False, False, True, True, True, True]

    chunks = [
        chunk
        async for chunk in consent.stub.StreamCheckConsent(
            pb.StreamCheckConsentRequest(purpose_id=purpose.purpose_id, chunk_size=3),
            metadata=consent.md(tenant),
            timeout=10,
        )
    ]
    assert [len(c.checks) for c in chunks] == [3, 1]
    assert sorted(c.person_key for chunk in chunks for c in chunk.checks) == sorted(keys[:4])
    explicit = [
        chunk
        async for chunk in consent.stub.StreamCheckConsent(
            pb.StreamCheckConsentRequest(
                purpose_id=purpose.purpose_id, person_keys=keys, chunk_size=5
            ),
            metadata=consent.md(tenant),
            timeout=10,
        )
    ]
    assert [len(c.checks) for c in explicit] == [5, 2]


async def test_bulk_checks_refuse_bad_keys_and_oversized_batches(consent):
    tenant = consent.tenant()
    purpose = await consent.purpose(tenant)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.BatchCheckConsent(
            pb.BatchCheckConsentRequest(purpose_id=purpose.purpose_id, person_keys=["nope"]),
            metadata=consent.md(tenant),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "person_keys[0]" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.BatchCheckConsent(
            pb.BatchCheckConsentRequest(
                purpose_id=purpose.purpose_id, person_keys=["a" * 64] * 1001
            ),
            metadata=consent.md(tenant),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in consent.stub.StreamCheckConsent(
            pb.StreamCheckConsentRequest(purpose_id=purpose.purpose_id, person_keys=["zz"]),
            metadata=consent.md(tenant),
            timeout=10,
        ):
            pass
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_another_tenant_cannot_read_or_change_an_accounts_consents(consent):
    owner, other, email = consent.tenant(), consent.tenant(), consent.email()
    purpose = await consent.purpose(owner)
    await consent.grant(owner, email, purpose.purpose_id)
    for call in (
        consent.stub.RecordConsent(
            pb.RecordConsentRequest(
                person=consent.person(email),
                purpose_id=purpose.purpose_id,
                evidence=consent.form_evidence(),
            ),
            metadata=consent.md(other),
            timeout=10,
        ),
        consent.stub.WithdrawConsent(
            pb.WithdrawConsentRequest(
                person=consent.person(email),
                purpose_id=purpose.purpose_id,
                evidence=pb.ConsentEvidence(source=pb.CONSENT_SOURCE_ADMIN),
            ),
            metadata=consent.md(other),
            timeout=10,
        ),
        consent.stub.CheckConsent(
            pb.CheckConsentRequest(person=consent.person(email), purpose_id=purpose.purpose_id),
            metadata=consent.md(other),
            timeout=10,
        ),
        consent.stub.BatchCheckConsent(
            pb.BatchCheckConsentRequest(
                purpose_id=purpose.purpose_id, person_keys=[consent.key(email)]
            ),
            metadata=consent.md(other),
            timeout=10,
        ),
        consent.stub.RestrictProcessing(
            pb.RestrictProcessingRequest(
                person=consent.person(email),
                purpose_id=purpose.purpose_id,
                evidence=pb.ConsentEvidence(source=pb.CONSENT_SOURCE_ADMIN),
            ),
            metadata=consent.md(other),
            timeout=10,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in consent.stub.StreamCheckConsent(
            pb.StreamCheckConsentRequest(purpose_id=purpose.purpose_id),
            metadata=consent.md(other),
            timeout=10,
        ):
            pass
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    state = await consent.stub.GetConsentState(
        pb.GetConsentStateRequest(person=consent.person(email)),
        metadata=consent.md(other),
        timeout=10,
    )
    assert list(state.purposes) == []
    assert not state.suppressed
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.ExportProof(
            pb.ExportProofRequest(person=consent.person(email)),
            metadata=consent.md(other),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    owner_check = await consent.check(owner, email, purpose.purpose_id)
    assert owner_check.allowed
    assert owner_check.version == 1


async def test_a_service_token_without_an_account_is_refused(consent):
    from missiva_platform.auth import CallerKind

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.GetConsentState(
            pb.GetConsentStateRequest(person=consent.person(consent.email())),
            metadata=consent.md("", kind=CallerKind.SERVICE, subject="campaign"),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
