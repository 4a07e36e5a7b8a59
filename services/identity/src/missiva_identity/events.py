"""What identity consumes, and examples of what it emits (for ``tests/contract``).

- ``consent.document.published``: the platform's legal document versions. A materially
  changed Terms or Privacy version in force makes every user who accepted an earlier version
  accept it again at their next sign-in (``store.pending_documents``); a material change of any
  platform document queues a notice email to every user from its ``notice_at``
  (``legal_notices``).
- ``cmd.identity.export_person_data`` / ``cmd.identity.erase_person_data``: the asynchronous
  privacy contract, served by the kit (``missiva_platform.privacy``) over ``IdentityPrivacy``;
  the reply goes to consent's work queue in the same transaction.

``HANDLERS`` (subject → handler) is what the app registers and what the contract tests
replay; ``EXAMPLES()`` returns envelopes built by the builders the service emits with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import events_pb2 as consent_events
from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_identity import SERVICE_NAME, legal_notices, mail, store
from missiva_identity.config import IdentitySettings
from missiva_identity.domain import Acceptance
from missiva_identity.privacy import IdentityPrivacy
from missiva_platform.bus import ConsumerSpec
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.privacy import (
    Erasure,
    command_consumer,
    command_handlers,
    erase_subject,
    erasure_reply,
    export_reply,
    export_subject,
)
from missiva_platform.streams import events_stream

Handler = Callable[[Any, EventEnvelope, Any], Awaitable[None]]

DOCUMENT_PUBLISHED = "consent.document.published"
EXPORT_PERSON_DATA = export_subject("identity")
ERASE_PERSON_DATA = erase_subject("identity")


def consumer_spec(subject: str) -> ConsumerSpec:
    if subject == DOCUMENT_PUBLISHED:
        return ConsumerSpec(
            stream=events_stream("consent").name,
            durable="identity_legal_documents",
            filter_subject=DOCUMENT_PUBLISHED,
            service="identity",
        )
    return command_consumer(SERVICE_NAME, subject)


# ---------------------------------------------------------------------------- legal documents


def legal_documents_handler(platform_account_id: str) -> Handler:
    """Stores the platform's own document versions and the notices of material changes
    (accounts' documents are not ours: their contacts are campaign's)."""

    async def on_document_published(conn: Any, envelope: EventEnvelope, msg: Any) -> None:
        doc = unpack(envelope, consent_events.LegalDocumentPublished)
        if doc.account_id and doc.account_id != platform_account_id:
            return
        effective = (
            doc.effective_at.ToDatetime(tzinfo=UTC)
            if doc.HasField("effective_at")
            else envelope.occurred_at.ToDatetime(tzinfo=UTC)
        )
        document = {
            "document_id": doc.document_id,
            "version": doc.version,
            "kind": int(doc.kind),
            "title": doc.title,
            "url": doc.url,
            # Not in the event today: read if consent adds it, else the gateway shows its own.
            "checkbox_text": str(getattr(doc, "checkbox_text", "")),
            "summary_of_changes": doc.summary_of_changes,
            "material": doc.material,
            "effective_at": effective,
        }
        await store.save_document(conn, document)
        # A material change: our users get the notice email from notice_at (send-legal-notices).
        notice_at = doc.notice_at.ToDatetime(tzinfo=UTC) if doc.HasField("notice_at") else None
        await legal_notices.record_notice(conn, {**document, "notice_at": notice_at})

    return on_document_published


# ---------------------------------------------------------------------------- privacy commands


def privacy_handlers(settings: IdentitySettings) -> dict[str, Handler]:
    """The kit's privacy command handlers over identity's part of the contract; its
    ``export_in``/``erase_in`` run in the consumer's transaction, with the reply."""
    return command_handlers(SERVICE_NAME, IdentityPrivacy(settings, lambda: None))


def own_handlers(settings: IdentitySettings) -> dict[str, Handler]:
    """What identity registers itself (``add_privacy_service`` registers the privacy ones)."""
    return {DOCUMENT_PUBLISHED: legal_documents_handler(settings.platform_account_id)}


def handlers(settings: IdentitySettings) -> dict[str, Handler]:
    """Every subject identity consumes and its handler (what the contract tests replay)."""
    return {**own_handlers(settings), **privacy_handlers(settings)}


HANDLERS: dict[str, Handler] = handlers(IdentitySettings(database_url="postgresql://x@h/x"))


# ---------------------------------------------------------------------------- examples


def EXAMPLES() -> list[EventEnvelope]:
    """One envelope of each event and command identity emits, from the production builders."""
    from missiva_platform.privacy import DataSection, Retained

    account, user, by = (
        "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d",
        "0195a3c2-4b80-7e55-8a11-2f3e4d5c6b7a",
        "0195a3c2-4b81-7e55-8a11-2f3e4d5c6b7b",
    )
    person = "ab" * 32
    now = datetime.now(UTC)
    accepted = [
        Acceptance("terms", "2025-01", "I accept the Terms of Service"),
        Acceptance("privacy", "2025-01", "I have read the Privacy Policy"),
    ]
    ip, agent = "cd" * 32, "Mozilla/5.0"
    erasure = Erasure(
        erased={"users": 1, "accounts": 1},
        retained=[
            Retained(
                "security_audit_log",
                "kept for 365 days",
                types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST,
                now + timedelta(days=365),
            )
        ],
    )
    return [
        mail.user_registered(
            user_id=user,
            account_id=account,
            person_key=person,
            accepted=accepted,
            accepted_at=now,
            marketing_opt_in=True,
            marketing_checkbox_text="Send me Missiva's news",
            locale="en",
            role=pb.MEMBER_ROLE_PRIMARY_ADMIN,
            ip_pseudonym=ip,
            user_agent=agent,
        ),
        mail.user_registered(
            user_id=by,
            account_id=account,
            person_key="ef" * 32,
            accepted=accepted,
            accepted_at=now,
            locale="it",
            role=pb.MEMBER_ROLE_MEMBER,
            ip_pseudonym=ip,
            user_agent=agent,
        ),
        mail.user_verified(user_id=user, account_id=account, person_key=person),
        mail.user_email_changed(
            user_id=user,
            account_id=account,
            old_person_key=person,
            new_person_key="12" * 32,
            changed_at=now,
        ),
        mail.legal_accepted(
            user_id=user,
            account_id=account,
            person_key=person,
            accepted=accepted[:1],
            accepted_at=now,
            ip_pseudonym=ip,
            user_agent=agent,
        ),
        mail.member_removed(
            account_id=account, user_id=by, removed_by=user, restorable_until=now + timedelta(30)
        ),
        mail.member_restored(account_id=account, user_id=by, restored_by=user),
        mail.deletion_requested(
            account_id=account, requested_by=user, purge_after=now + timedelta(days=30)
        ),
        mail.account_restored(account_id=account, restored_by=user),
        mail.account_erased(account_id=account, user_ids=[user, by], person_keys=[person]),
        mail.email(
            template="verify_email",
            to="ada@example.org",
            name="Ada",
            locale="en",
            person_key=person,
            tenant_id=account,
            variables={"verification_url": "https://missiva.example/verify-email?token=mev_x"},
        ),
        export_reply(
            SERVICE_NAME,
            "0195a6a0-5555-7ef0-b123-456789abcdef",
            [DataSection("profile", "your user profile", b"{}")],
            "",
        ),
        erasure_reply(SERVICE_NAME, "0195a6a0-5555-7ef0-b123-456789abcdef", erasure, ""),
    ]
