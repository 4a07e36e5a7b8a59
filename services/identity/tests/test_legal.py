"""Materially changed legal documents: accepted again at the next sign-in."""

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import nats
from identity_testkit import PASSWORD, events_of, rpc_error

from missiva.consent.v1 import events_pb2 as consent_events
from missiva.identity.v1 import events_pb2
from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_platform.events import envelope, unpack
from missiva_platform.outbox import headers_for


async def publish_document(identity, version: str, *, material: bool, effective: datetime) -> None:
    doc = consent_events.LegalDocumentPublished(
        document_id="terms",
        kind=1,
        version=version,
        title="Terms of service",
        url=f"https://missiva.example/terms/{version}",
        material=material,
        summary_of_changes="New liability clause",
        account_id="platform",
    )
    doc.effective_at.FromDatetime(effective)
    event = envelope(doc, subject="consent.document.published", tenant_id="", producer="consent")
    await identity.js.publish(
        "consent.document.published", event.SerializeToString(), headers=headers_for(event)
    )


async def wait_documents(identity, count: int) -> None:
    for _ in range(100):
        [(found,)] = await identity.sql("SELECT count(*) FROM legal_documents")
        if found >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the published document never arrived")


async def test_a_material_change_in_force_must_be_accepted_at_the_next_login(identity):
    user = await identity.user()
    now = datetime.now(UTC)
    await publish_document(identity, "2025-01", material=False, effective=now - timedelta(days=30))
    await publish_document(identity, "2026-06", material=True, effective=now + timedelta(days=14))
    await wait_documents(identity, 2)
    # Announced but not yet in force (the 14 days' notice): nothing to accept yet.
    assert (await identity.login(user.email)).tokens.access_token

    await identity.sql("UPDATE legal_documents SET effective_at = now() WHERE version = '2026-06'")
    reply = await identity.login(user.email)
    challenge = reply.legal_acceptance_required
    assert [(d.document_id, d.version) for d in challenge.documents] == [("terms", "2026-06")]
    assert challenge.documents[0].summary_of_changes == "New liability clause"

    stale = pb.DocumentAcceptance(
        document_id="terms", version="2025-01", checkbox_text="I accept", accepted=True
    )
    err = await rpc_error(
        identity.stub.AcceptLegalDocuments(
            pb.AcceptLegalDocumentsRequest(
                challenge_token=challenge.challenge_token, acceptances=[stale]
            )
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    unticked = pb.DocumentAcceptance(
        document_id="terms", version="2026-06", checkbox_text="I accept"
    )
    err = await rpc_error(
        identity.stub.AcceptLegalDocuments(
            pb.AcceptLegalDocumentsRequest(
                challenge_token=challenge.challenge_token, acceptances=[unticked]
            )
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    unticked.accepted = True
    done = await identity.stub.AcceptLegalDocuments(
        pb.AcceptLegalDocumentsRequest(
            challenge_token=challenge.challenge_token, acceptances=[unticked]
        )
    )
    assert done.tokens.access_token
    assert (await identity.login(user.email, PASSWORD)).tokens.access_token  # accepted once

    accepted = [
        unpack(e, events_pb2.LegalAcceptanceRecorded)
        for e in await events_of(identity.js, "identity.legal.accepted")
        if e.tenant_id == user.account_id
    ]
    assert [(a.document_id, a.version) for a in accepted[0].acceptances] == [("terms", "2026-06")]
    err = await rpc_error(
        identity.stub.AcceptLegalDocuments(
            pb.AcceptLegalDocumentsRequest(
                challenge_token=challenge.challenge_token, acceptances=[unticked]
            )
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_documents_of_other_accounts_are_not_the_platforms(identity):
    user = await identity.user()
    doc = consent_events.LegalDocumentPublished(
        document_id="terms", version="shop-2", material=True, account_id="some-shop"
    )
    doc.effective_at.FromDatetime(datetime.now(UTC) - timedelta(days=1))
    event = envelope(doc, subject="consent.document.published", tenant_id="", producer="consent")
    await identity.js.publish(
        "consent.document.published", event.SerializeToString(), headers=headers_for(event)
    )
    await publish_document(identity, "2025-01", material=False, effective=datetime.now(UTC))
    await wait_documents(identity, 1)
    [(versions,)] = await identity.sql("SELECT array_agg(version) FROM legal_documents")
    assert versions == ["2025-01"]
    assert (await identity.login(user.email)).tokens.access_token


async def test_sign_up_with_an_outdated_version_is_refused(identity):
    await publish_document(
        identity, "2026-09", material=True, effective=datetime.now(UTC) - timedelta(days=1)
    )
    await wait_documents(identity, 1)
    err = await rpc_error(identity.sign_up())
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "terms" in err.details()
    assert nats  # the bus is real: the consumer read it from the consent events stream
