"""The suppression list: per account and platform-wide, permanent, imported and exported."""

import asyncio

import grpc
import pytest

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.delivery.v1 import delivery_service_pb2
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva_platform.events import envelope

pytestmark = pytest.mark.asyncio(loop_scope="module")


def add(consent, tenant, email, reason=pb.SUPPRESSION_REASON_MANUAL, **extra):
    return consent.stub.AddSuppression(
        pb.AddSuppressionRequest(
            person=consent.person(email), reason=reason, note="asked by phone", **extra
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )


async def wait_for(condition, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_a_suppressed_person_is_not_mailed_and_an_entry_is_added_once(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)
    first = await add(consent, tenant, email)
    assert first.suppression.email == email
    assert first.suppression.reason == pb.SUPPRESSION_REASON_MANUAL
    again = await add(consent, tenant, email)
    assert again.suppression.created_at == first.suppression.created_at
    check = await consent.stub.CheckSuppression(
        pb.CheckSuppressionRequest(person=consent.person(email)),
        metadata=consent.md(tenant),
        timeout=10,
    )
    assert check.suppressed
    assert len(check.suppressions) == 1
    consent_check = await consent.check(tenant, email, purpose.purpose_id)
    assert consent_check.suppressed
    assert not consent_check.allowed
    events = await consent.events(
        "consent.contact.suppressed", lambda e: e.tenant_id == tenant, timeout=3
    )
    assert len(events) == 1


async def test_manual_entries_can_be_lifted_but_unsubscriptions_cannot(consent):
    tenant, email = consent.tenant(), consent.email()
    await add(consent, tenant, email)
    await add(consent, tenant, email, reason=pb.SUPPRESSION_REASON_UNSUBSCRIBED)
    removed = await consent.stub.RemoveSuppression(
        pb.RemoveSuppressionRequest(
            person=consent.person(email), reason=pb.SUPPRESSION_REASON_MANUAL, note="mistake"
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )
    assert removed.still_suppressed
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.RemoveSuppression(
            pb.RemoveSuppressionRequest(
                person=consent.person(email), reason=pb.SUPPRESSION_REASON_UNSUBSCRIBED
            ),
            metadata=consent.md(tenant),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "unsubscribed" in err.value.details()
    assert (
        await consent.scalar("SELECT count(*) FROM suppression_removals WHERE scope = %s", tenant)
        == 1
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.RemoveSuppression(
            pb.RemoveSuppressionRequest(
                person=consent.person(email), reason=pb.SUPPRESSION_REASON_MANUAL
            ),
            metadata=consent.md(tenant, roles=("member",)),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_bad_suppression_requests_are_refused(consent):
    tenant = consent.tenant()
    for request, field in (
        (pb.AddSuppressionRequest(person=types_pb2.PersonRef(email="not-an-address")), "email"),
        (
            pb.AddSuppressionRequest(
                person=types_pb2.PersonRef(email=consent.email()),
                reason=pb.SUPPRESSION_REASON_ERASED,
            ),
            "reason",
        ),
        (pb.AddSuppressionRequest(person=types_pb2.PersonRef(person_key="xyz")), "person_key"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await consent.stub.AddSuppression(request, metadata=consent.md(tenant), timeout=10)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.ListSuppressions(
            pb.ListSuppressionsRequest(page_token="@@"), metadata=consent.md(tenant), timeout=10
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    listed = await consent.stub.ListSuppressions(
        pb.ListSuppressionsRequest(), metadata=consent.md(tenant), timeout=10
    )
    assert list(listed.suppressions) == []


async def test_listing_pages_through_the_list_newest_first(consent):
    tenant = consent.tenant()
    emails = [consent.email() for _ in range(5)]
    for email in emails:
        await add(consent, tenant, email)
    seen, token = [], ""
    while True:
        page = await consent.stub.ListSuppressions(
            pb.ListSuppressionsRequest(page_size=2, page_token=token),
            metadata=consent.md(tenant),
            timeout=10,
        )
        seen += [s.email for s in page.suppressions]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(emails))


async def test_import_and_export_stream_the_list(consent):
    tenant = consent.tenant()
    emails = [consent.email() for _ in range(6)]
    await add(consent, tenant, emails[0])

    async def chunks():
        yield pb.ImportSuppressionsRequest(
            reason=pb.SUPPRESSION_REASON_MANUAL,
            idempotency_key="import-1",
            rows=[
                pb.SuppressionImportRow(row_number=i + 1, email=e) for i, e in enumerate(emails[:3])
            ],
        )
        yield pb.ImportSuppressionsRequest(
            rows=[
                pb.SuppressionImportRow(row_number=4, email="broken"),
                *[
                    pb.SuppressionImportRow(row_number=5 + i, email=e)
                    for i, e in enumerate(emails[3:])
                ],
            ]
        )

    reply = await consent.stub.ImportSuppressions(chunks(), metadata=consent.md(tenant), timeout=20)
    assert (reply.received, reply.added, reply.already_suppressed, reply.rejected) == (7, 5, 1, 1)
    assert reply.errors[0].row_number == 4
    assert "email" in reply.errors[0].message
    replay = await consent.stub.ImportSuppressions(
        chunks(), metadata=consent.md(tenant), timeout=20
    )
    assert replay == reply

    exported = [
        s.email
        async for chunk in consent.stub.ExportSuppressions(
            pb.ExportSuppressionsRequest(chunk_size=4), metadata=consent.md(tenant), timeout=10
        )
        for s in chunk.suppressions
    ]
    assert sorted(exported) == sorted(emails)


async def test_another_tenant_cannot_see_or_lift_an_accounts_suppressions(consent):
    owner, other, email = consent.tenant(), consent.tenant(), consent.email()
    await add(consent, owner, email)
    check = await consent.stub.CheckSuppression(
        pb.CheckSuppressionRequest(person=consent.person(email)),
        metadata=consent.md(other),
        timeout=10,
    )
    assert not check.suppressed
    listed = await consent.stub.ListSuppressions(
        pb.ListSuppressionsRequest(), metadata=consent.md(other), timeout=10
    )
    assert list(listed.suppressions) == []
    exported = [
        c async for c in consent.stub.ExportSuppressions(
            pb.ExportSuppressionsRequest(), metadata=consent.md(other), timeout=10
        )
    ]  # fmt: skip
    assert exported == []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.RemoveSuppression(
            pb.RemoveSuppressionRequest(
                person=consent.person(email), reason=pb.SUPPRESSION_REASON_MANUAL
            ),
            metadata=consent.md(other),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    still = await consent.stub.CheckSuppression(
        pb.CheckSuppressionRequest(person=consent.person(email)),
        metadata=consent.md(owner),
        timeout=10,
    )
    assert still.suppressed


async def test_hard_bounces_and_complaints_suppress_in_the_account_and_platform_wide(consent):
    tenant, other = consent.tenant(), consent.tenant()
    bounced, complained, soft = consent.email(), consent.email(), consent.email()
    events = [
        (
            "delivery.message.bounced",
            delivery_events.MessageBounced(
                message_id="m-1",
                person_key=consent.key(bounced),
                bounce_type=delivery_service_pb2.BOUNCE_TYPE_HARD,
            ),
        ),
        (
            "delivery.message.bounced",
            delivery_events.MessageBounced(
                message_id="m-2",
                person_key=consent.key(soft),
                bounce_type=delivery_service_pb2.BOUNCE_TYPE_SOFT,
            ),
        ),
        (
            "delivery.message.complained",
            delivery_events.MessageComplained(
                message_id="m-3", person_key=consent.key(complained), feedback_type="abuse"
            ),
        ),
    ]
    for subject, message in events:
        event = envelope(message, subject=subject, tenant_id=tenant, producer="delivery")
        await consent.publish(subject, event)
        await consent.publish(subject, event)  # redelivered: applied once

    async def both_suppressed():
        rows = await consent.sql(
            "SELECT count(*) FROM suppressions WHERE person_key IN (%s, %s)",
            consent.key(bounced),
            consent.key(complained),
        )
        return rows[0][0] == 4

    await wait_for(both_suppressed)
    rows = await consent.sql(
        "SELECT scope, reason, source, source_detail FROM suppressions "
        "WHERE person_key = %s ORDER BY scope",
        consent.key(bounced),
    )
    assert rows == [("", "hard_bounce", "delivery_feedback", "m-1"),
                    (tenant, "hard_bounce", "delivery_feedback", "m-1")]  # fmt: skip
    assert (
        await consent.scalar(
            "SELECT count(*) FROM suppressions WHERE person_key = %s", consent.key(soft)
        )
        == 0
    )
    # Another account sees that the address is suppressed platform-wide, not why in detail.
    check = await consent.stub.CheckSuppression(
        pb.CheckSuppressionRequest(person=consent.person(complained)),
        metadata=consent.md(other),
        timeout=10,
    )
    assert check.suppressed
    [entry] = check.suppressions
    assert entry.platform_wide
    assert entry.reason == pb.SUPPRESSION_REASON_COMPLAINT
    assert entry.source_detail == ""
    assert entry.email == ""
    # A platform-wide entry stops even SYSTEM mail, and no account can lift it.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.RemoveSuppression(
            pb.RemoveSuppressionRequest(
                person=consent.person(complained), reason=pb.SUPPRESSION_REASON_COMPLAINT
            ),
            metadata=consent.md(tenant),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
