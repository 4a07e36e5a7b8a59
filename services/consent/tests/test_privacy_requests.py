"""Data-subject requests: who may open and read them, the commands and events they produce,
the services' answers, the export bundle, the gauge and retention (dsar.py)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import nats.js.errors
import pytest

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.privacy.v1 import events_pb2 as privacy_events
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_consent import links
from missiva_consent.retention import rules
from missiva_platform import metrics
from missiva_platform.auth import CallerKind
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.privacy import (
    ERASURE_REPLY,
    EXPORT_REPLY,
    DataSection,
    Erasure,
    Retained,
    erasure_reply,
    export_reply,
)
from missiva_platform.retention import run_retention, travel

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXPORT, ERASE = ppb.PRIVACY_REQUEST_KIND_EXPORT, ppb.PRIVACY_REQUEST_KIND_ERASE
OTHERS = ("identity", "campaign", "delivery", "billing")  # not running in this module


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def error_of(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def open_for(consent, tenant: str, email: str, kind: int = EXPORT, **extra: Any) -> Any:
    metadata = extra.pop("metadata", None) or consent.md(tenant)
    reply = await consent.stub.OpenPrivacyRequest(
        pb.OpenPrivacyRequestRequest(person=consent.person(email), kind=kind, **extra),
        metadata=metadata,
        timeout=10,
    )
    return reply.privacy_request


async def get(consent, tenant: str, request_id: str) -> pb.PrivacyRequest:
    reply = await consent.stub.GetPrivacyRequest(
        pb.GetPrivacyRequestRequest(request_id=request_id), metadata=consent.md(tenant), timeout=10
    )
    return reply.privacy_request


async def until(consent, tenant: str, request_id: str, check: Any, timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await get(consent, tenant, request_id)
        if check(found) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


def answered(found: pb.PrivacyRequest) -> set[str]:
    return {s.service for s in found.services if s.completed}


async def export_answer(consent, tenant: str, request_id: str, service: str, text: str) -> None:
    sections = [DataSection("things", f"what {service} holds", json.dumps({"t": text}).encode())]
    await consent.publish(EXPORT_REPLY, export_reply(service, request_id, sections, tenant))


async def complete_export(consent, tenant: str, email: str) -> pb.PrivacyRequest:
    opened = await open_for(consent, tenant, email)
    for service in OTHERS:
        await export_answer(consent, tenant, opened.request_id, service, f"{service} data")
    found = await until(
        consent,
        tenant,
        opened.request_id,
        lambda r: r.status == pb.PRIVACY_REQUEST_STATUS_COMPLETED,
    )
    assert found.status == pb.PRIVACY_REQUEST_STATUS_COMPLETED
    return found


async def command_for(consent, service: str, verb: str, request_id: str) -> EventEnvelope:
    """The latest command on ``cmd.<service>.<verb>`` (nobody consumes it in this module),
    once the relay has published the one of ``request_id``."""
    stream = f"{service.upper()}_COMMANDS"
    message = (
        privacy_events.ExportPersonDataCommand
        if verb == "export_person_data"
        else privacy_events.ErasePersonDataCommand
    )
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        with contextlib.suppress(nats.js.errors.NotFoundError):  # none published yet
            msg = await consent.nc.jetstream().get_last_msg(stream, f"cmd.{service}.{verb}")
            command = EventEnvelope.FromString(msg.data)
            if unpack(command, message).request_id == request_id:
                return command
        assert asyncio.get_running_loop().time() < deadline, "the command was not published"
        await asyncio.sleep(0.1)


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


# ------------------------------------------------------------------------------ opening


async def test_an_admin_opens_an_export_and_every_service_is_asked_without_the_address_in_events(
    consent, caplog
):
    tenant, email = consent.tenant(), consent.email()
    caplog.set_level(logging.INFO)
    client = types_pb2.ClientContext(ip_address="198.51.100.23", user_agent="Firefox")

    opened = await open_for(consent, tenant, email, client=client)

    assert opened.status == pb.PRIVACY_REQUEST_STATUS_IN_PROGRESS
    assert opened.kind == EXPORT
    assert opened.person.person_key == consent.key(email)
    assert not opened.person.HasField("email")
    due = opened.due_at.ToDatetime(UTC) - opened.opened_at.ToDatetime(UTC)
    assert due == timedelta(days=30)
    assert [s.service for s in opened.services] == [
        "identity", "consent", "campaign", "delivery", "billing"
    ]  # fmt: skip
    assert not any(s.completed for s in opened.services)
    assert opened.export_url == ""
    [(ip_hash, requested_by)] = await consent.sql(
        "SELECT ip_hash, requested_by FROM privacy_requests WHERE request_id = %s",
        opened.request_id,
    )
    assert ip_hash
    assert "198.51.100.23" not in ip_hash
    assert requested_by == "account_user:user-1"
    [event] = await consent.events(
        "consent.privacy_request.opened",
        lambda e: unpack(e, privacy_events.PrivacyRequestOpened).request_id == opened.request_id,
    )
    assert event.tenant_id == tenant
    assert email.encode() not in event.SerializeToString()
    command = await command_for(consent, "billing", "export_person_data", opened.request_id)
    asked = unpack(command, privacy_events.ExportPersonDataCommand)
    assert (asked.request_id, asked.service) == (opened.request_id, "billing")
    assert asked.person.email == email  # commands may carry it: deleted once acknowledged
    assert command.tenant_id == tenant
    assert email not in caplog.text


async def test_consent_answers_its_own_command_over_the_bus(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)

    opened = await open_for(consent, tenant, email, kind=ERASE)

    found = await until(consent, tenant, opened.request_id, lambda r: "consent" in answered(r))
    [own] = [s for s in found.services if s.service == "consent"]
    assert own.completed
    assert {item.category for item in own.retained} == {"consent_history", "suppressions"}
    assert found.status == pb.PRIVACY_REQUEST_STATUS_IN_PROGRESS  # the others are not running
    check = await consent.check(tenant, email, purpose.purpose_id)
    assert check.suppressed
    assert not check.allowed


async def test_the_same_idempotency_key_opens_one_request(consent):
    tenant, email = consent.tenant(), consent.email()

    first = await open_for(consent, tenant, email, idempotency_key="dsar-1")
    again = await open_for(consent, tenant, email, idempotency_key="dsar-1")
    err = await error_of(open_for(consent, tenant, consent.email(), idempotency_key="dsar-1"))

    assert again.request_id == first.request_id
    assert (
        await consent.scalar("SELECT count(*) FROM privacy_requests WHERE account_id = %s", tenant)
        == 1
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_bad_requests_are_refused_with_a_clear_reason(consent):
    tenant, email = consent.tenant(), consent.email()
    stub = consent.stub

    async def refused(request: pb.OpenPrivacyRequestRequest, metadata: Any = ()) -> Any:
        return await error_of(stub.OpenPrivacyRequest(request, metadata=metadata, timeout=10))

    person = consent.person(email)
    admin = consent.md(tenant)
    cases = [
        (pb.OpenPrivacyRequestRequest(person=person), admin, grpc.StatusCode.INVALID_ARGUMENT,
         "kind"),
        (pb.OpenPrivacyRequestRequest(kind=EXPORT), admin, grpc.StatusCode.INVALID_ARGUMENT,
         "person"),
        (pb.OpenPrivacyRequestRequest(person=types_pb2.PersonRef(email="nope"), kind=EXPORT),
         admin, grpc.StatusCode.INVALID_ARGUMENT, "email"),
        (pb.OpenPrivacyRequestRequest(person=person, kind=EXPORT), (),
         grpc.StatusCode.UNAUTHENTICATED, "verification_token"),
        (pb.OpenPrivacyRequestRequest(person=person, kind=EXPORT),
         consent.md(tenant, roles=("member",)), grpc.StatusCode.PERMISSION_DENIED, "admin"),
        (pb.OpenPrivacyRequestRequest(person=person, kind=EXPORT),
         consent.md(tenant, kind=CallerKind.SERVICE, subject="billing"),
         grpc.StatusCode.PERMISSION_DENIED, "services"),
        (pb.OpenPrivacyRequestRequest(person=person, kind=EXPORT),
         bearer(consent.issuer.token(tenant_id=tenant, kind=CallerKind.API_KEY, roles=(),
                                     scopes=("consent:read",))),
         grpc.StatusCode.PERMISSION_DENIED, "privacy:write"),
        (pb.OpenPrivacyRequestRequest(person=types_pb2.PersonRef(user_id="someone-else"),
                                      kind=EXPORT),
         admin, grpc.StatusCode.PERMISSION_DENIED, "yourself"),
        (pb.OpenPrivacyRequestRequest(person=person, kind=EXPORT, verification_token="v1.x.y.z"),
         (), grpc.StatusCode.INVALID_ARGUMENT, "verification_token"),
    ]  # fmt: skip
    for request, metadata, code, word in cases:
        err = await refused(request, metadata)
        assert err.code() == code, (request, err.details())
        assert word in err.details(), err.details()
    assert (
        await consent.scalar("SELECT count(*) FROM privacy_requests WHERE account_id = %s", tenant)
        == 0
    )


async def test_an_api_key_with_the_privacy_scope_opens_and_reads(consent):
    tenant, email = consent.tenant(), consent.email()
    key = bearer(
        consent.issuer.token(
            tenant_id=tenant,
            kind=CallerKind.API_KEY,
            subject="key-1",
            roles=(),
            scopes=("privacy:write", "privacy:read"),
        )
    )

    opened = await open_for(consent, tenant, email, kind=ERASE, metadata=key)
    listed = await consent.stub.ListPrivacyRequests(
        pb.ListPrivacyRequestsRequest(), metadata=key, timeout=10
    )

    assert [r.request_id for r in listed.privacy_requests] == [opened.request_id]
    assert (
        await consent.scalar(
            "SELECT requested_by FROM privacy_requests WHERE request_id = %s", opened.request_id
        )
        == "api_key:key-1"
    )


# ------------------------------------------------------------------------------ the subject


async def test_the_data_subject_opens_and_follows_a_request_with_their_my_data_token(consent):
    tenant, email = consent.tenant(), consent.email()
    token = consent.keyring.sign(links.MY_DATA, {"a": tenant, "k": consent.key(email)})
    stranger = consent.keyring.sign(links.MY_DATA, {"a": tenant, "k": consent.key(consent.email())})

    reply = await consent.stub.OpenPrivacyRequest(
        pb.OpenPrivacyRequestRequest(kind=ERASE, verification_token=token), timeout=10
    )
    opened = reply.privacy_request
    seen = await consent.stub.GetPrivacyRequest(
        pb.GetPrivacyRequestRequest(request_id=opened.request_id, verification_token=token),
        timeout=10,
    )
    hidden = await error_of(
        consent.stub.GetPrivacyRequest(
            pb.GetPrivacyRequestRequest(request_id=opened.request_id, verification_token=stranger),
            timeout=10,
        )
    )
    mismatch = await error_of(
        consent.stub.OpenPrivacyRequest(
            pb.OpenPrivacyRequestRequest(
                kind=ERASE, verification_token=token, person=consent.person(consent.email())
            ),
            timeout=10,
        )
    )
    wrong_link = await error_of(
        consent.stub.OpenPrivacyRequest(
            pb.OpenPrivacyRequestRequest(
                kind=ERASE,
                verification_token=consent.keyring.sign(
                    links.UNSUBSCRIBE, {"a": tenant, "k": consent.key(email)}
                ),
            ),
            timeout=10,
        )
    )

    assert opened.person.person_key == consent.key(email)
    assert seen.privacy_request.request_id == opened.request_id
    assert await get(consent, tenant, opened.request_id)  # the account's admin sees it too
    assert hidden.code() == grpc.StatusCode.NOT_FOUND
    assert mismatch.code() == grpc.StatusCode.PERMISSION_DENIED
    assert wrong_link.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        await consent.scalar(
            "SELECT requested_by FROM privacy_requests WHERE request_id = %s", opened.request_id
        )
        == "data_subject"
    )


async def test_one_of_our_users_asks_about_themselves_platform_wide(consent):
    account = consent.tenant()
    user = consent.md(account, roles=("member",), subject="user-self-1")

    reply = await consent.stub.OpenPrivacyRequest(
        pb.OpenPrivacyRequestRequest(
            kind=EXPORT, person=types_pb2.PersonRef(user_id="user-self-1")
        ),
        metadata=user,
        timeout=10,
    )
    opened = reply.privacy_request
    own = await consent.stub.GetPrivacyRequest(
        pb.GetPrivacyRequestRequest(request_id=opened.request_id), metadata=user, timeout=10
    )
    admin_err = await error_of(get(consent, account, opened.request_id))
    operators = await consent.stub.ListPrivacyRequests(
        pb.ListPrivacyRequestsRequest(), metadata=consent.md("platform-acct"), timeout=10
    )
    command = await command_for(consent, "identity", "export_person_data", opened.request_id)

    assert opened.person.user_id == "user-self-1"
    assert own.privacy_request.request_id == opened.request_id
    assert admin_err.code() == grpc.StatusCode.NOT_FOUND  # Missiva's own, not the account's
    assert opened.request_id in {r.request_id for r in operators.privacy_requests}
    assert command.tenant_id == ""  # every account's data
    assert unpack(command, privacy_events.ExportPersonDataCommand).person.user_id == "user-self-1"


# ------------------------------------------------------------------------------ tenants, lists


async def test_an_account_never_sees_another_accounts_requests(consent):
    a, b = consent.tenant(), consent.tenant()
    mine = await open_for(consent, a, consent.email())
    await open_for(consent, b, consent.email())

    err = await error_of(get(consent, b, mine.request_id))
    listed = await consent.stub.ListPrivacyRequests(
        pb.ListPrivacyRequestsRequest(), metadata=consent.md(b), timeout=10
    )
    member = await error_of(
        consent.stub.ListPrivacyRequests(
            pb.ListPrivacyRequestsRequest(), metadata=consent.md(a, roles=("member",)), timeout=10
        )
    )

    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert mine.request_id not in {r.request_id for r in listed.privacy_requests}
    assert len(listed.privacy_requests) == 1
    assert member.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_list_is_oldest_due_first_in_pages_and_filtered_by_status(consent):
    tenant = consent.tenant()
    ids = [(await open_for(consent, tenant, consent.email())).request_id for _ in range(3)]
    done = await complete_export(consent, tenant, consent.email())

    async def page(size: int, token: str = "", status: int = 0) -> Any:
        return await consent.stub.ListPrivacyRequests(
            pb.ListPrivacyRequestsRequest(page_size=size, page_token=token, status=status),
            metadata=consent.md(tenant),
            timeout=10,
        )

    first = await page(2)
    second = await page(2, first.next_page_token)
    completed = await page(10, status=pb.PRIVACY_REQUEST_STATUS_COMPLETED)
    bad = await error_of(page(2, "not-a-token"))

    both = [*first.privacy_requests, *second.privacy_requests]
    listed = [r.request_id for r in both]
    assert listed == [*ids, done.request_id]
    assert second.next_page_token == ""
    due = [r.due_at.ToDatetime() for r in both]
    assert due == sorted(due)
    assert [r.request_id for r in completed.privacy_requests] == [done.request_id]
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT


# ------------------------------------------------------------------------------ answers


async def test_every_answer_completes_the_request_and_the_bundle_holds_every_section(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)

    found = await complete_export(consent, tenant, email)
    bundle = await consent.stub.DownloadPrivacyExport(
        pb.DownloadPrivacyExportRequest(token=token_of(found.export_url)), timeout=10
    )

    assert found.completed_at.seconds
    assert answered(found) == {"consent", *OTHERS}
    assert found.export_url.startswith(f"{consent.app.settings.public_base_url}/my-data/export/")
    document = json.loads(bundle.content)
    parts = {p["service"]: p["sections"] for p in document["services"]}
    assert set(parts) == {"consent", *OTHERS}
    assert parts["identity"][0]["content"] == {"t": "identity data"}
    history = next(s for s in parts["consent"] if s["name"] == "consent_history")["content"]
    assert history[0]["purpose_key"] == "newsletter"
    assert bundle.media_type == "application/json"
    assert bundle.expires_at.ToDatetime(UTC) > datetime.now(UTC) + timedelta(days=29)
    sealed = await consent.sql(
        "SELECT sealed FROM privacy_export_parts WHERE request_id = %s", found.request_id
    )
    assert len(sealed) == 5
    assert not any(b"identity data" in bytes(s) or b"newsletter" in bytes(s) for (s,) in sealed)
    [event] = await consent.events(
        "consent.privacy_request.completed",
        lambda e: unpack(e, privacy_events.PrivacyRequestCompleted).request_id == found.request_id,
    )
    done = unpack(event, privacy_events.PrivacyRequestCompleted)
    assert sorted(done.services) == sorted({"consent", *OTHERS})


async def test_a_repeated_or_foreign_answer_changes_nothing(consent):
    tenant, email = consent.tenant(), consent.email()
    found = await complete_export(consent, tenant, email)
    before = {s.service: s.completed_at.ToDatetime() for s in found.services}

    await export_answer(consent, tenant, found.request_id, "identity", "a second, different one")
    await consent.publish(  # another account's service cannot answer this request
        EXPORT_REPLY,
        export_reply("campaign", found.request_id, [], consent.tenant()),
    )
    await consent.publish(  # nor an erasure answer to an export
        ERASURE_REPLY, erasure_reply("billing", found.request_id, Erasure(), tenant)
    )
    await asyncio.sleep(2.5)  # a consumer fetch cycle

    again = await get(consent, tenant, found.request_id)
    bundle = await consent.stub.DownloadPrivacyExport(
        pb.DownloadPrivacyExportRequest(token=token_of(again.export_url)), timeout=10
    )
    assert {s.service: s.completed_at.ToDatetime() for s in again.services} == before
    assert again.completed_at == found.completed_at
    parts = {p["service"]: p["sections"] for p in json.loads(bundle.content)["services"]}
    assert parts["identity"][0]["content"] == {"t": "identity data"}
    completions = await consent.events(
        "consent.privacy_request.completed",
        lambda e: unpack(e, privacy_events.PrivacyRequestCompleted).request_id == found.request_id,
        want=2,
        timeout=1,
    )
    assert len(completions) == 1


async def test_an_erasure_shows_what_each_service_erased_and_kept(consent):
    tenant, email = consent.tenant(), consent.email()
    opened = await open_for(consent, tenant, email, kind=ERASE)
    kept = Retained("invoices", "kept 10 years (tax law)", types_pb2.LEGAL_BASIS_LEGAL_OBLIGATION)
    for service in OTHERS:
        erasure = Erasure(erased={"records": 2}, retained=[kept] if service == "billing" else [])
        await consent.publish(
            ERASURE_REPLY, erasure_reply(service, opened.request_id, erasure, tenant)
        )

    found = await until(
        consent,
        tenant,
        opened.request_id,
        lambda r: r.status == pb.PRIVACY_REQUEST_STATUS_COMPLETED,
    )

    assert found.status == pb.PRIVACY_REQUEST_STATUS_COMPLETED
    billing = next(s for s in found.services if s.service == "billing")
    assert [(e.category, e.count) for e in billing.erased] == [("records", 2)]
    assert billing.retained[0].reason == "kept 10 years (tax law)"
    assert found.export_url == ""


# ------------------------------------------------------------------------------ download


async def test_the_download_needs_a_valid_token_of_a_finished_export(consent):
    tenant = consent.tenant()
    pending = await open_for(consent, tenant, consent.email())
    early = consent.keyring.sign("privacy_export", {"r": pending.request_id})
    expired = consent.keyring.sign(
        "privacy_export",
        {"r": pending.request_id},
        ttl=timedelta(seconds=1),
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    wrong_purpose = consent.keyring.sign(links.PREFERENCES, {"r": pending.request_id})

    async def refused(token: str) -> grpc.aio.AioRpcError:
        return await error_of(
            consent.stub.DownloadPrivacyExport(
                pb.DownloadPrivacyExportRequest(token=token), timeout=10
            )
        )

    assert (await refused("")).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await refused(wrong_purpose)).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await refused(expired)).code() == grpc.StatusCode.FAILED_PRECONDITION
    not_yet = await refused(early)
    assert not_yet.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not complete" in not_yet.details()


# ------------------------------------------------------------------------------ gauge, retention


async def test_the_gauge_counts_open_requests_by_age(consent):
    tenant = consent.tenant()
    await open_for(consent, tenant, consent.email())
    requests = consent.app.services[0].servicer.privacy_requests

    await requests.refresh_metrics()

    open_now = await consent.scalar(
        "SELECT count(*) FROM privacy_requests WHERE completed_at IS NULL"
    )
    registry = metrics.registry()
    assert (
        registry.get_sample_value("missiva_consent_privacy_requests_open", {"age": "under_7d"})
        == open_now
    )
    assert (
        registry.get_sample_value("missiva_consent_privacy_requests_open", {"age": "overdue"}) == 0
    )
    oldest = registry.get_sample_value("missiva_consent_privacy_request_oldest_open_seconds")
    assert oldest is not None
    assert oldest > 0


async def test_retention_deletes_the_export_after_30_days_and_the_record_after_3_years(consent):
    tenant = consent.tenant()
    client = types_pb2.ClientContext(ip_address="198.51.100.24")
    found = await complete_export(consent, tenant, consent.email())
    await consent.sql(
        "UPDATE privacy_requests SET ip_hash = 'h' WHERE request_id = %s", found.request_id
    )
    stuck = await open_for(consent, tenant, consent.email(), client=client)
    await export_answer(consent, tenant, stuck.request_id, "identity", "never finished")
    await until(consent, tenant, stuck.request_id, lambda r: {"identity", "consent"} <= answered(r))
    every = rules(consent.app.settings)

    async def parts(request_id: str) -> int:
        return await consent.scalar(
            "SELECT count(*) FROM privacy_export_parts WHERE request_id = %s", request_id
        )

    await run_retention(consent.url, every, now=travel(days=29))
    assert await parts(found.request_id) == 5
    await run_retention(consent.url, every, now=travel(days=31))
    assert await parts(found.request_id) == 0
    assert await parts(stuck.request_id) == 2  # still open: kept until 90 days
    gone = await error_of(
        consent.stub.DownloadPrivacyExport(
            pb.DownloadPrivacyExportRequest(token=token_of(found.export_url)), timeout=10
        )
    )
    assert gone.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "expired" in gone.details()
    assert (await get(consent, tenant, found.request_id)).export_url == ""

    await run_retention(consent.url, every, now=travel(days=91))
    assert await parts(stuck.request_id) == 0
    assert (
        await consent.scalar(
            "SELECT count(*) FROM privacy_requests WHERE request_id = ANY(%s::uuid[])"
            " AND ip_hash IS NOT NULL",
            [found.request_id, stuck.request_id],
        )
        == 0
    )

    await run_retention(consent.url, every, now=travel(days=1094))
    assert await get(consent, tenant, found.request_id)  # the proof of having answered
    await run_retention(consent.url, every, now=travel(days=1096))
    assert (await error_of(get(consent, tenant, found.request_id))).code() == (
        grpc.StatusCode.NOT_FOUND
    )
    assert await get(consent, tenant, stuck.request_id)  # never completed: kept, and visible


# ------------------------------------------------------------------------------ extension


def extend(consent, tenant: str, request_id: str, days: int = 30, reason: str = "", **md: Any):
    return consent.stub.ExtendPrivacyRequest(
        pb.ExtendPrivacyRequestRequest(request_id=request_id, days=days, reason=reason),
        metadata=consent.md(tenant, **md),
        timeout=10,
    )


async def test_an_admin_extends_a_request_once_with_a_reason_the_person_sees(consent):
    tenant, email = consent.tenant(), consent.email()
    opened = await open_for(consent, tenant, email)
    reason = "Your request covers several years of history across many lists."

    reply = await extend(consent, tenant, opened.request_id, 60, reason)

    extended = reply.privacy_request
    added = extended.due_at.ToDatetime() - opened.due_at.ToDatetime()
    assert added == timedelta(days=60)
    assert extended.extension_reason == reason
    assert (await get(consent, tenant, opened.request_id)).extension_reason == reason
    again = await error_of(extend(consent, tenant, opened.request_id, 10, "more"))
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "once" in again.details()
    assert (await get(consent, tenant, opened.request_id)).due_at == extended.due_at


async def test_an_extension_needs_days_a_reason_an_admin_and_an_unfinished_request(consent):
    tenant, email = consent.tenant(), consent.email()
    opened = await open_for(consent, tenant, email)
    cases = {
        "days": extend(consent, tenant, opened.request_id, 61, "busy"),
        "zero": extend(consent, tenant, opened.request_id, 0, "busy"),
        "reason": extend(consent, tenant, opened.request_id, 10, "   "),
        "id": extend(consent, tenant, "not-a-request", 10, "busy"),
    }
    codes = {name: (await error_of(call)).code() for name, call in cases.items()}
    assert codes == {
        "days": grpc.StatusCode.INVALID_ARGUMENT,
        "zero": grpc.StatusCode.INVALID_ARGUMENT,
        "reason": grpc.StatusCode.INVALID_ARGUMENT,
        "id": grpc.StatusCode.INVALID_ARGUMENT,
    }
    member = await error_of(extend(consent, tenant, opened.request_id, 10, "busy", roles=()))
    assert member.code() == grpc.StatusCode.PERMISSION_DENIED

    finished = await complete_export(consent, tenant, consent.email())
    done = await error_of(extend(consent, tenant, finished.request_id, 10, "busy"))
    assert done.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "finished" in done.details()

    await consent.sql(
        "UPDATE privacy_requests SET due_at = now() - interval '1 day' WHERE request_id = %s",
        opened.request_id,
    )
    late = await error_of(extend(consent, tenant, opened.request_id, 10, "busy"))
    assert late.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "passed" in late.details()


async def test_another_account_cannot_extend_a_request(consent):
    a, b = consent.tenant(), consent.tenant()
    opened = await open_for(consent, a, consent.email())

    err = await error_of(extend(consent, b, opened.request_id, 10, "busy"))

    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert (await get(consent, a, opened.request_id)).extension_reason == ""


async def test_an_export_past_one_messages_size_streams_in_pieces(consent):
    """Four services' answers near the bus limit: a bundle no single gRPC message may carry."""
    tenant, email = consent.tenant(), consent.email()
    opened = await open_for(consent, tenant, email)
    # Binary attachments near the bus limit each (900 kB): base64 in the bundle, 1.2 MB each.
    blobs = {service: os.urandom(900_000) for service in OTHERS}
    for service in OTHERS:
        sections = [DataSection("files", "what it keeps", blobs[service], "image/png")]
        await consent.publish(
            EXPORT_REPLY, export_reply(service, opened.request_id, sections, tenant)
        )
    found = await until(
        consent, tenant, opened.request_id,
        lambda r: r.status == pb.PRIVACY_REQUEST_STATUS_COMPLETED,
    )  # fmt: skip
    token = token_of(found.export_url)

    with pytest.raises(grpc.aio.AioRpcError) as too_big:
        await consent.stub.DownloadPrivacyExport(pb.DownloadPrivacyExportRequest(token=token))
    assert too_big.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "StreamPrivacyExport" in str(too_big.value.details())

    pieces = [
        piece
        async for piece in consent.stub.StreamPrivacyExport(
            pb.StreamPrivacyExportRequest(token=token), timeout=30
        )
    ]
    assert len(pieces) >= 5
    assert all(len(p.chunk) <= 1024 * 1024 for p in pieces)
    streamed = b"".join(p.chunk for p in pieces)
    assert pieces[0].total_bytes == len(streamed) > 4 * 1024 * 1024
    assert pieces[0].file_name == f"missiva-export-{opened.request_id}.json"
    bundle = json.loads(streamed)
    assert {s["service"] for s in bundle["services"]} >= set(OTHERS)
    for part in bundle["services"]:
        if part["service"] in OTHERS:
            [section] = part["sections"]
            assert base64.b64decode(section["content_base64"]) == blobs[part["service"]]

    refused = consent.stub.StreamPrivacyExport(pb.StreamPrivacyExportRequest(token="v1.x.y.z"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in refused:
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
