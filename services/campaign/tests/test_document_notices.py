"""Consent's SendDocumentNoticeCommand: one SYSTEM notice per contact per (document, version),
in the contact's locale or the fallback; an unsubscription does not stop it, a hard bounce, a
complaint or an erasure (consent's suppression events) does; batches resume after a failure
and a command sent twice tells nobody twice. The emails are read from delivery's work queue."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from campaign_testkit import command

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import events_pb2
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import events_pb2 as consent_events
from missiva_campaign import outgoing
from missiva_platform import metrics
from missiva_platform.streams import SEND_DOCUMENT_NOTICE

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETTINGS = {"document_notice_batch_size": 2}  # several batches even for a small account
EFFECTIVE = datetime(2026, 5, 1, tzinfo=UTC)


def notice(locale: str, *, version: str = "2026-04", locales=("en", "it")) -> Any:
    message = events_pb2.SendDocumentNoticeCommand(
        document_id="privacy-notice",
        version=version,
        kind=consent_pb.DOCUMENT_KIND_ACCOUNT_PRIVACY_NOTICE,
        title={"en": "Privacy notice", "it": "Informativa privacy"}[locale],
        locale=locale,
        url=f"https://shop.example/{locale}/privacy",
        summary_of_changes="A new sub-processor.",
        locales=list(locales),
        fallback_locale=locales[0],
    )
    message.published_at.FromDatetime(EFFECTIVE - timedelta(days=20))
    message.effective_at.FromDatetime(EFFECTIVE)
    return message


def suppressed(tenant: str, key: str, reason: int, *, platform: bool = False, version: int = 1):
    scope = "" if platform else tenant
    return command(
        consent_events.ContactSuppressed(person_key=key, reason=reason, platform_wide=platform),
        "consent.contact.suppressed",
        scope,
        aggregate_id=f"{scope or 'platform'}:{key}:suppression:{reason}:",
        aggregate_version=version,
    )


async def wait_for(campaign, statement: str, *params: Any, want: Any = True) -> None:
    for _ in range(100):
        if await campaign.scalar(statement, *params) == want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{statement} never returned {want!r}")


def counted(outcome: str) -> float:
    value = metrics.registry().get_sample_value(
        "missiva_campaign_document_notices_total", {"outcome": outcome}
    )
    return value or 0.0


def of(tenant: str):
    """Campaign's notices to ``tenant`` (other services' mail may share the work queue)."""

    def notice_of_tenant(c) -> bool:  # type: ignore[no-untyped-def]
        parts = c.idempotency_key.split(":")
        return len(parts) > 2 and parts[2] == tenant

    return notice_of_tenant


async def test_each_contact_gets_one_notice_in_its_locale(campaign) -> None:
    tenant = campaign.tenant()
    en = await campaign.create(tenant, locale="en-GB", first_name="Ada", last_name="Byron")
    it = await campaign.create(tenant, locale="it-IT")
    pt = await campaign.create(tenant, locale="pt")  # no Portuguese text: the fallback
    nobody = await campaign.create(tenant)  # no locale: the fallback
    unsubscribed = await campaign.create(tenant, locale="it")
    bounced = await campaign.create(tenant, locale="en")
    complained = await campaign.create(tenant, locale="it")
    erased = await campaign.create(tenant)
    trashed = await campaign.create(tenant)
    await campaign.stub.DeleteContact(
        pb.DeleteContactRequest(contact_id=trashed.contact_id), metadata=campaign.md(tenant)
    )
    other_account = await campaign.create(campaign.tenant(), locale="en")

    await campaign.publish(
        suppressed(tenant, unsubscribed.person_key, consent_pb.SUPPRESSION_REASON_UNSUBSCRIBED)
    )
    await campaign.publish(
        suppressed(
            tenant, bounced.person_key, consent_pb.SUPPRESSION_REASON_HARD_BOUNCE, platform=True
        )
    )
    await campaign.publish(
        suppressed(tenant, complained.person_key, consent_pb.SUPPRESSION_REASON_COMPLAINT)
    )
    await campaign.publish(
        suppressed(tenant, erased.person_key, consent_pb.SUPPRESSION_REASON_ERASED)
    )
    await wait_for(
        campaign,
        "SELECT count(*) FROM suppressions WHERE active AND person_key = ANY(%s)",
        [unsubscribed.person_key, bounced.person_key, complained.person_key, erased.person_key],
        want=4,
    )

    before = {o: counted(o) for o in ("queued", "already_sent", "suppressed")}
    for locale in ("en", "it"):
        await campaign.publish(command(notice(locale), SEND_DOCUMENT_NOTICE, tenant))
    mails = await campaign.mail(of(tenant), want=5, settle=1.5)
    assert counted("queued") - before["queued"] == 5
    assert counted("suppressed") - before["suppressed"] == 3  # bounced, complained, erased

    by_contact = {m.idempotency_key.rsplit(":", 1)[1]: m for m in mails}
    assert len(mails) == len(by_contact) == 5
    assert {k: m.locale for k, m in by_contact.items()} == {
        en.contact_id: "en",
        it.contact_id: "it",
        pt.contact_id: "en",
        nobody.contact_id: "en",
        unsubscribed.contact_id: "it",  # SYSTEM mail: an unsubscription does not stop it
    }
    ada = by_contact[en.contact_id]
    assert ada.template_key == outgoing.DOCUMENT_NOTICE_TEMPLATE == "campaign.document_notice"
    assert ada.category == types_pb2.EMAIL_CATEGORY_SYSTEM
    assert ada.to_address == en.email
    assert ada.to_name == "Ada Byron"
    assert ada.person_key == en.person_key
    assert ada.requested_by == "campaign"
    assert dict(ada.variables) == {
        "document_id": "privacy-notice",
        "document_kind": "account_privacy_notice",
        "document_title": "Privacy notice",
        "version": "2026-04",
        "effective_date": "2026-05-01",
        "effective_at": "2026-05-01T00:00:00Z",
        "published_date": "2026-04-11",
        "document_url": "https://shop.example/en/privacy",
        "summary_of_changes": "A new sub-processor.",
        "first_name": "Ada",
        "last_name": "Byron",
        "display_name": "Ada Byron",
    }
    assert set(ada.variables) == set(outgoing.DOCUMENT_NOTICE_VARIABLES)
    assert by_contact[it.contact_id].variables["document_title"] == "Informativa privacy"
    assert other_account.contact_id not in by_contact

    # The same commands again (consent queued them twice, or with new event ids): nobody is
    # told twice.
    for locale in ("en", "it"):
        await campaign.publish(command(notice(locale), SEND_DOCUMENT_NOTICE, tenant))
    for _ in range(100):  # both commands handled: every contact found already told
        if counted("already_sent") - before["already_sent"] >= 5:
            break
        await asyncio.sleep(0.1)
    assert counted("already_sent") - before["already_sent"] == 5
    again = await campaign.mail(of(tenant), want=6, timeout=1)
    assert len(again) == 5
    sent = await campaign.scalar(
        "SELECT count(*) FROM document_notices_sent WHERE account_id = %s", tenant
    )
    assert sent == 5


async def test_a_new_version_is_a_new_notice(campaign) -> None:
    tenant = campaign.tenant()
    contact = await campaign.create(tenant, locale="en")
    await campaign.publish(command(notice("en", version="v1"), SEND_DOCUMENT_NOTICE, tenant))
    await campaign.publish(command(notice("en", version="v2"), SEND_DOCUMENT_NOTICE, tenant))
    mails = await campaign.mail(of(tenant), want=2, settle=1.0)
    assert sorted(m.variables["version"] for m in mails) == ["v1", "v2"]
    assert {m.to_address for m in mails} == {contact.email}


async def test_a_failure_mid_run_resumes_without_doubling(campaign, monkeypatch) -> None:
    tenant = campaign.tenant()
    made = [await campaign.create(tenant, locale="en") for _ in range(7)]
    real = outgoing.document_notice_email
    calls = {"n": 0, "failed": 0}

    def flaky(account_id: str, *args: Any) -> Any:
        if account_id == tenant:
            calls["n"] += 1
            if calls["n"] == 4 and not calls["failed"]:  # inside the second batch of two
                calls["failed"] += 1
                raise RuntimeError("injected failure")
        return real(account_id, *args)

    monkeypatch.setattr(outgoing, "document_notice_email", flaky)
    await campaign.publish(command(notice("en"), SEND_DOCUMENT_NOTICE, tenant))
    mails = await campaign.mail(of(tenant), want=7, timeout=20, settle=1.5)
    assert calls["failed"] == 1  # the second batch failed once and was redone
    assert sorted(m.to_address for m in mails) == sorted(c.email for c in made)
    assert len({m.idempotency_key for m in mails}) == 7


async def test_a_malformed_command_is_not_applied(campaign) -> None:
    tenant = campaign.tenant()
    await campaign.create(tenant, locale="en")
    bad = notice("en")
    bad.resume_after_contact_id = "not-an-id"
    await campaign.publish(command(bad, SEND_DOCUMENT_NOTICE, tenant))
    await campaign.publish(command(notice("en"), SEND_DOCUMENT_NOTICE, ""))  # no tenant
    mails = await campaign.mail(of(tenant), want=1, timeout=3)
    assert mails == []


async def test_suppressions_follow_the_latest_version(campaign) -> None:
    tenant = campaign.tenant()
    contact = await campaign.create(tenant)
    key, reason = contact.person_key, consent_pb.SUPPRESSION_REASON_MANUAL
    lifted = command(
        consent_events.ContactUnsuppressed(person_key=key, reason=reason),
        "consent.contact.unsuppressed",
        tenant,
        aggregate_id=f"{tenant}:{key}:suppression:manual:",
        aggregate_version=2,
    )
    await campaign.publish(lifted)
    await wait_for(campaign, "SELECT NOT active FROM suppressions WHERE person_key = %s", key)
    await campaign.publish(suppressed(tenant, key, reason, version=1))  # late and older
    barrier = campaign.key(campaign.email())  # handled after it, by the same consumer
    await campaign.publish(suppressed(tenant, barrier, reason))
    await wait_for(campaign, "SELECT active FROM suppressions WHERE person_key = %s", barrier)
    assert (
        await campaign.scalar("SELECT active FROM suppressions WHERE person_key = %s", key) is False
    )
    await campaign.publish(suppressed(tenant, key, reason, version=3))
    await wait_for(
        campaign, "SELECT aggregate_version FROM suppressions WHERE person_key = %s", key, want=3
    )
    got = await campaign.stub.GetContact(
        pb.GetContactRequest(contact_id=contact.contact_id), metadata=campaign.md(tenant)
    )
    assert got.contact.suppressed
