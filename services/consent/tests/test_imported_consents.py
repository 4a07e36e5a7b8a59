"""Campaign's imported consents: the declared proof lands in each person's ledger (so the
proof export shows the import), a withdrawal is not overridden, a redelivery is applied once,
and a double opt-in import asks each person instead of granting."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva_platform.events import envelope, unpack
from missiva_platform.streams import SEND_TRANSACTIONAL_EMAIL

pytestmark = pytest.mark.asyncio(loop_scope="module")

SUBJECT = "cmd.consent.record_imported_consents"
IMPORT_ID = "0195a4f0-7777-7abc-8def-0123456789ab"


async def eventually(condition, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


def command(tenant, purpose_id, people, *, doi=False, chunk=1):
    message = campaign_events.RecordImportedConsentsCommand(
        import_id=IMPORT_ID,
        purpose_id=purpose_id,
        double_opt_in=doi,
        collected_by="" if doi else "Acme Srl, trade fair stand",
        consent_text="Yes, send me the Acme newsletter.",
        chunk=chunk,
    )
    if not doi:
        message.given_at.FromDatetime(datetime.now(UTC) - timedelta(days=30))
    for line, (key, email) in enumerate(people, start=2):
        message.consents.add(
            contact_id=f"0195a4e1-3333-7cde-8f01-0000000000{line:02d}",
            person_key=key,
            line=line,
            email=email if doi else "",
            locale="it" if doi else "",
        )
    return envelope(
        message, subject=SUBJECT, tenant_id=tenant, producer="campaign",
        aggregate_id=IMPORT_ID, aggregate_version=chunk,
    )  # fmt: skip


async def entries(consent, tenant, email):
    reply = await consent.stub.ExportProof(
        pb.ExportProofRequest(person=consent.person(email)), metadata=consent.md(tenant), timeout=10
    )
    return list(reply.records)


async def test_an_imported_proof_is_in_the_ledger_and_a_withdrawal_stays(consent):
    tenant = consent.tenant()
    purpose = await consent.purpose(tenant)
    fresh, withdrew = consent.email(), consent.email()
    await consent.grant(tenant, withdrew, purpose.purpose_id)
    await consent.stub.WithdrawConsent(
        pb.WithdrawConsentRequest(
            person=consent.person(withdrew),
            purpose_id=purpose.purpose_id,
            evidence=pb.ConsentEvidence(source=pb.CONSENT_SOURCE_ADMIN),
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )
    event = command(
        tenant, purpose.purpose_id, [(consent.key(fresh), fresh), (consent.key(withdrew), withdrew)]
    )
    await consent.publish(SUBJECT, event)
    await consent.publish(SUBJECT, event)  # redelivered: applied once

    async def granted() -> bool:
        return bool(await consent.scalar(
            "SELECT count(*) FROM consent_ledger WHERE account_id = %s AND person_key = %s",
            tenant, consent.key(fresh),
        ))  # fmt: skip

    await eventually(granted)
    [record] = await entries(consent, tenant, fresh)
    assert record.action == pb.CONSENT_ACTION_GRANTED
    assert record.source == pb.CONSENT_SOURCE_IMPORT
    assert record.source_detail.startswith(f"import:{IMPORT_ID} line:2")
    assert "Acme Srl, trade fair stand" in record.source_detail
    assert record.checkbox_text == "Yes, send me the Acme newsletter."
    assert record.occurred_at.ToDatetime(UTC) < datetime.now(UTC) - timedelta(days=29)
    # A second chunk after the first: still one entry for the fresh person.
    await consent.publish(SUBJECT, command(tenant, purpose.purpose_id, [], chunk=2))
    await asyncio.sleep(0.5)
    assert len(await entries(consent, tenant, fresh)) == 1
    actions = [r.action for r in await entries(consent, tenant, withdrew)]
    assert actions == [pb.CONSENT_ACTION_GRANTED, pb.CONSENT_ACTION_WITHDRAWN]


async def test_a_double_opt_in_import_sends_confirmations_and_grants_nothing(consent):
    tenant = consent.tenant()
    purpose = await consent.purpose(tenant, "news", double_opt_in=True)
    email = consent.email()
    await consent.publish(
        SUBJECT, command(tenant, purpose.purpose_id, [(consent.key(email), email)], doi=True)
    )

    def to_person(e):
        if e.event_type != SEND_TRANSACTIONAL_EMAIL or e.tenant_id != tenant:
            return False
        return unpack(e, delivery_events.SendTransactionalCommand).to_address == email

    [sent] = await consent.commands(to_person)
    assert sent.tenant_id == tenant
    state = await consent.stub.GetConsentState(
        pb.GetConsentStateRequest(person=consent.person(email)),
        metadata=consent.md(tenant),
        timeout=10,
    )
    news = next(p for p in state.purposes if p.purpose_id == purpose.purpose_id)
    assert not news.allowed
    assert await consent.scalar(
        "SELECT count(*) FROM double_opt_ins WHERE account_id = %s AND person_key = %s",
        tenant, consent.key(email),
    ) == 1  # fmt: skip


async def test_the_parts_of_a_chunk_each_record_their_people_once(consent):
    """Campaign splits a large chunk into parts (same import and chunk, each its own event id):
    each part is applied, in any order, and a redelivered part adds nothing."""
    tenant = consent.tenant()
    purpose = await consent.purpose(tenant)
    people = [consent.email() for _ in range(5)]
    parts = []
    for number, group in enumerate((people[:2], people[2:4], people[4:]), start=1):
        event = command(tenant, purpose.purpose_id, [(consent.key(e), e) for e in group], chunk=3)
        message = unpack(event, campaign_events.RecordImportedConsentsCommand)
        message.part, message.parts = number, 3
        event.payload.Pack(message)
        parts.append(event)
    assert len({p.event_id for p in parts}) == 3
    for event in (parts[2], parts[0], parts[1]):  # in any order
        await consent.publish(SUBJECT, event)
    # A part sent again past JetStream's duplicate window (another message id): the inbox,
    # keyed by the part's event id, is what keeps it from applying twice.
    await consent.nc.jetstream().publish(
        SUBJECT, parts[0].SerializeToString(), headers={"Nats-Msg-Id": f"again-{uuid.uuid4()}"}
    )

    async def everyone() -> bool:
        return await consent.scalar(
            "SELECT count(DISTINCT person_key) FROM consent_ledger WHERE account_id = %s",
            tenant,
        ) == len(people)  # fmt: skip

    async def all_handled() -> bool:
        info = await consent.nc.jetstream().consumer_info(
            "CONSENT_COMMANDS", "consent-record-imported-consents"
        )
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(everyone)
    await eventually(all_handled)  # the part sent again too
    for email in people:
        [record] = await entries(consent, tenant, email)
        assert record.action == pb.CONSENT_ACTION_GRANTED
        assert record.source == pb.CONSENT_SOURCE_IMPORT
