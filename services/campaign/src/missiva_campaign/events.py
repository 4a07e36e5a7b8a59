"""What campaign consumes, and examples of what it emits (for the contract tests).

Consumed:
- consent's ``SendDocumentNoticeCommand`` (``notices.py``): one SYSTEM notice per contact per
  (document, version), in batches; also campaign's own continuations of it.
- consent's suppressions (``consent.contact.suppressed`` / ``.unsuppressed``): a local
  projection, keyed like consent's suppression aggregate, the highest aggregate version
  winning. Document notices read it (a hard bounce, complaint or erasure stops them) and so
  does a contact's ``suppressed`` flag.
- consent's ``consent.purpose.*`` events (``consents.py``): the consent projection an audience
  reads, ordered by aggregate version, its lag a metric.
- identity's account erasure: every row of the account goes (segments and imports too).

Emitted by imports (``import_events.py``), per merged chunk: ``ContactsImported`` and
``RecordImportedConsentsCommand`` to consent (each in parts under a byte budget).

Each handler runs inside the kit's transaction together with the inbox row, so an event is
applied once even when JetStream redelivers it. ``HANDLERS`` (subject → handler) is what the
app registers and what ``tests/contract`` replays; ``EXAMPLES()`` returns envelopes built by
the same code that emits them in production.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from missiva.campaign.v1 import events_pb2
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2
from missiva.consent.v1 import events_pb2 as consent_events
from missiva.identity.v1 import events_pb2 as identity_events
from missiva_campaign import (
    SERVICE_NAME,
    campaign_events,
    consents,
    import_events,
    outgoing,
    reputation,
    sender_domains,
    statistics,
)
from missiva_campaign.config import CampaignSettings
from missiva_campaign.notices import DocumentNotices
from missiva_campaign.privacy import CampaignPrivacy
from missiva_campaign.sending import SendPath
from missiva_campaign.store import campaigns as campaign_store
from missiva_campaign.store import consents as consent_store
from missiva_campaign.store import contacts, suppressions
from missiva_campaign.store import imports as import_store
from missiva_campaign.store import segments as segment_store
from missiva_campaign.store import templates as template_store
from missiva_platform.bus import ConsumerSpec
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.privacy import (
    DataSection,
    Erasure,
    Retained,
    command_handlers,
    erasure_reply,
    export_reply,
)
from missiva_platform.streams import SEND_DOCUMENT_NOTICE

log = logging.getLogger(__name__)

Handler = Callable[[Any, EventEnvelope, Any], Awaitable[None]]

CONTACT_SUPPRESSED = "consent.contact.suppressed"
CONTACT_UNSUPPRESSED = "consent.contact.unsuppressed"
ACCOUNT_ERASED = "identity.account.erased"

# Subjects consumed, and the stream each lives in (one durable consumer per subject).
SUBJECTS = {
    SEND_DOCUMENT_NOTICE: "CAMPAIGN_COMMANDS",
    **{subject: "CONSENT_EVENTS" for subject in consents.HANDLERS},
    CONTACT_SUPPRESSED: "CONSENT_EVENTS",
    CONTACT_UNSUPPRESSED: "CONSENT_EVENTS",
    ACCOUNT_ERASED: "IDENTITY_EVENTS",
    campaign_events.EMIT_BATCHES: "CAMPAIGN_COMMANDS",
    **{subject: "DELIVERY_EVENTS" for subject in statistics.HANDLERS},
    reputation.REPUTATION_ALERTED: "DELIVERY_EVENTS",
    **{subject: "DELIVERY_EVENTS" for subject in sender_domains.HANDLERS},
}

REASONS = {
    consent_service_pb2.SUPPRESSION_REASON_UNSUBSCRIBED: "unsubscribed",
    consent_service_pb2.SUPPRESSION_REASON_HARD_BOUNCE: "hard_bounce",
    consent_service_pb2.SUPPRESSION_REASON_COMPLAINT: "complaint",
    consent_service_pb2.SUPPRESSION_REASON_MANUAL: "manual",
    consent_service_pb2.SUPPRESSION_REASON_ERASED: "erased",
}


# The kit's consumer handles a fetched batch of messages in one transaction: at most this many
# notice batches are in flight, so one transaction holds at most this many times
# DOCUMENT_NOTICE_BATCH_SIZE contacts (and a failing command does not hold up the others).
NOTICE_MAX_ACK_PENDING = 4


def consumer_spec(subject: str) -> ConsumerSpec:
    return ConsumerSpec(
        stream=SUBJECTS[subject],
        durable="campaign-" + subject.removeprefix("cmd.").replace(".", "-"),
        filter_subject=subject,
        service=SERVICE_NAME,
        max_ack_pending=NOTICE_MAX_ACK_PENDING if subject == SEND_DOCUMENT_NOTICE else 1000,
    )


async def contact_suppressed(conn: Any, event: EventEnvelope, msg: Any) -> None:
    """Consent suppressed a person: in one account, or platform-wide (empty tenant)."""
    entry = unpack(event, consent_events.ContactSuppressed)
    reason = REASONS.get(entry.reason)
    scope = "" if entry.platform_wide else event.tenant_id
    if not entry.person_key or reason is None or (not scope and not entry.platform_wide):
        log.warning("consent.contact.suppressed without a person, reason or scope; skipped")
        return
    await suppressions.apply(
        conn,
        scope=scope,
        person_key=entry.person_key,
        reason=reason,
        purpose_id=entry.purpose_id,
        active=True,
        version=event.aggregate_version,
    )


async def contact_unsuppressed(conn: Any, event: EventEnvelope, msg: Any) -> None:
    """Consent lifted one entry (the envelope's tenant is its scope; empty: platform-wide)."""
    entry = unpack(event, consent_events.ContactUnsuppressed)
    reason = REASONS.get(entry.reason)
    if not entry.person_key or reason is None:
        log.warning("consent.contact.unsuppressed without a person or reason; skipped")
        return
    await suppressions.apply(
        conn,
        scope=event.tenant_id,
        person_key=entry.person_key,
        reason=reason,
        purpose_id=entry.purpose_id,
        active=False,
        version=event.aggregate_version,
    )


async def account_erased(conn: Any, event: EventEnvelope, msg: Any) -> None:
    """Identity erased an account: its contacts, lists, notices and consent copies go."""
    erased = unpack(event, identity_events.AccountErased)
    if not erased.account_id:
        log.warning("identity.account.erased without an account id; skipped")
        return
    purged = await contacts.purge_account(conn, erased.account_id)
    purged["consent_states"] = await consent_store.purge_account(conn, erased.account_id)
    purged["segments"] = await segment_store.purge_account(conn, erased.account_id)
    purged["imports"] = await import_store.purge_account(conn, erased.account_id)
    purged["campaigns"] = await campaign_store.purge_account(conn, erased.account_id)
    purged["templates"] = await template_store.purge_account(conn, erased.account_id)
    purged["sender_domains"] = await sender_domains.purge_account(conn, erased.account_id)
    log.info("campaign purged an erased account", extra={"rows": sum(purged.values())})


def own_handlers(settings: CampaignSettings) -> dict[str, Handler]:
    """What campaign registers itself (``add_privacy_service`` registers the privacy ones)."""
    return {
        SEND_DOCUMENT_NOTICE: DocumentNotices(settings.document_notice_batch_size),
        CONTACT_SUPPRESSED: contact_suppressed,
        CONTACT_UNSUPPRESSED: contact_unsuppressed,
        **consents.HANDLERS,
        ACCOUNT_ERASED: account_erased,
        campaign_events.EMIT_BATCHES: SendPath(
            lambda: None,
            None,
            batch_size=settings.send_batch_size,
            batches_per_run=settings.send_batches_per_run,
        ).emit,
        **statistics.HANDLERS,
        **reputation.HANDLERS,
        **sender_domains.HANDLERS,
    }


def handlers(settings: CampaignSettings) -> dict[str, Handler]:
    """Every subject campaign consumes and its handler (what the contract tests replay)."""
    privacy = command_handlers(SERVICE_NAME, CampaignPrivacy(lambda: None))
    return {**own_handlers(settings), **privacy}


HANDLERS: dict[str, Handler] = handlers(CampaignSettings(database_url="postgresql://x@h/x"))


# ---------------------------------------------------------------------------- examples


def EXAMPLES() -> list[EventEnvelope]:
    """One envelope of each event and command campaign emits, from the production builders."""
    account = "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d"
    now = datetime.now(UTC)
    row: dict[str, Any] = {
        "id": "0195a4e1-3333-7cde-8f01-23456789abcd",
        "account_id": account,
        "person_key": "ab" * 32,
        "email": "grace@example.org",
        "first_name": "Grace",
        "last_name": "Hopper",
        "source": "api",
        "version": 1,
    }
    notice = events_pb2.SendDocumentNoticeCommand(
        document_id="privacy-notice",
        version="2026-04",
        kind=consent_service_pb2.DOCUMENT_KIND_ACCOUNT_PRIVACY_NOTICE,
        title="Privacy notice",
        locale="en",
        url="https://bottegarossi.example/privacy",
        summary_of_changes="We added a sub-processor.",
        locales=["en", "it"],
        fallback_locale="en",
    )
    notice.published_at.FromDatetime(now)
    notice.effective_at.FromDatetime(now + timedelta(days=14))
    erasure = Erasure(
        erased={"contacts": 1},
        retained=[
            Retained(
                "suppression_list",
                "kept so the address is never mailed again",
                types_pb2.LEGAL_BASIS_LEGAL_OBLIGATION,
            )
        ],
    )
    return [
        outgoing.contact_created(row),
        outgoing.contact_created(row, ["0195a4e2-9999-7234-b567-89abcdef0123"]),
        outgoing.contact_updated({**row, "version": 2}, ["first_name"]),
        outgoing.contact_updated(
            {**row, "person_key": "cd" * 32, "version": 3}, ["email"], previous_person_key="ab" * 32
        ),
        outgoing.contact_deleted({**row, "version": 4}),
        outgoing.document_notice_email(account, notice, row, "en"),
        outgoing.notice_continuation(account, notice, row["id"]),
        export_reply(
            SERVICE_NAME,
            "0195a6a0-5555-7ef0-b123-456789abcdef",
            [DataSection("contacts", "your contact records", b"[]")],
            account,
        ),
        erasure_reply(SERVICE_NAME, "0195a6a0-5555-7ef0-b123-456789abcdef", erasure, account),
        *import_examples(account, row, now),
        *campaign_examples(account, now),
    ]


def import_examples(account: str, row: dict[str, Any], now: datetime) -> list[EventEnvelope]:
    """An import's consents: with the declared proof, and as double opt-ins."""
    imported = {**row, "contact_id": row["id"], "line": 2, "locale": "it-IT"}
    made = import_events.example_import("proof", now)
    chunk = import_events.contacts_imported(
        account, made["id"], 1, [(row["id"], row["person_key"])],
        ["0195a4e2-9999-7234-b567-89abcdef0123"],
    )  # fmt: skip
    return [*chunk] + [
        event
        for mode in ("proof", "double_opt_in")
        for event in import_events.imported_consents(
            account, import_events.example_import(mode, now - timedelta(days=30)), 1, [imported]
        )
    ]


def campaign_examples(account: str, now: datetime) -> list[EventEnvelope]:
    """The campaign lifecycle events and the send path's commands."""
    from missiva_campaign import rendering
    from missiva_campaign.starters import STARTERS

    compiled = rendering.compile_template(
        rendering.Source(**{k: STARTERS["starter-en"][k] for k in
                            ("subject", "preheader", "html_body", "text_body")})
    )  # fmt: skip
    row: dict[str, Any] = {
        "id": "0195a4e0-2222-7bcd-9ef0-123456789abc",
        "account_id": account,
        "version": 3,
        "category": "marketing",
        "purpose_id": "0195a3d0-1111-7abc-8def-0123456789ab",
        "template_id": "starter-en",
        "recipient_count": 4115,
        "excluded_count": 12,
        "batch_count": 9,
        "from_name": "Bottega Rossi",
        "from_address": "news@bottegarossi.example",
        "reply_to": "info@bottegarossi.example",
        "sender_domain_id": "0195a4e4-bbbb-7456-d789-abcdef012345",
        "credit_reservation_id": "0195a4e5-cccc-7567-e89a-bcdef0123456",
        "compiled_subject": compiled.subject,
        "compiled_preheader": compiled.preheader,
        "compiled_html": compiled.html_body,
        "compiled_text": compiled.text_body,
        "compiled_revision": 1,
    }
    recipient = events_pb2.Recipient(
        contact_id="0195a4e1-3333-7cde-8f01-23456789abcd",
        person_key="ab" * 32,
        email="grace@example.org",
        merge_fields={"first_name": "Grace", "attributes.city": "Roma"},
        engagement_tracking=True,
    )
    user = "0195a3c2-4b80-7e55-8a11-2f3e4d5c6b7a"
    return [
        campaign_events.scheduled(row, now + timedelta(days=1)),
        campaign_events.started(row),
        campaign_events.paused(row, "Checking the links.", user),
        campaign_events.resumed(row, user),
        campaign_events.completed(row, 4100, 12, 3),
        campaign_events.cancelled(row, "Wrong date in the subject line.", user, 4100),
        campaign_events.cancelled(row, "Cancelled before the first batch.", user, 0),
        campaign_events.emit_batches(row, 2),
        campaign_events.send_batch(row, "000000001", [recipient]),
    ]
