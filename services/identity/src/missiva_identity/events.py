"""What identity consumes, and examples of what it emits (for ``tests/contract``).

- ``consent.document.published``: the platform's legal document versions. A materially
  changed Terms or Privacy version in force makes every user who accepted an earlier version
  accept it again at their next sign-in (``store.pending_documents``); a material change of any
  platform document queues a notice email to every user from its ``notice_at``
  (``legal_notices``).
- ``cmd.identity.export_person_data`` / ``cmd.identity.erase_person_data``: the asynchronous
  privacy contract; the reply goes to consent's work queue in the same transaction.

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
from missiva.privacy.v1 import events_pb2 as privacy_events
from missiva.privacy.v1 import privacy_service_pb2
from missiva_identity import legal_notices, mail, store
from missiva_identity.config import IdentitySettings
from missiva_identity.domain import Acceptance
from missiva_identity.privacy import IdentityPrivacy
from missiva_platform.bus import ConsumerSpec
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.outbox import add_event
from missiva_platform.privacy import Erasure, Person
from missiva_platform.streams import command_subject, commands_stream, events_stream

Handler = Callable[[Any, EventEnvelope, Any], Awaitable[None]]

DOCUMENT_PUBLISHED = "consent.document.published"
EXPORT_PERSON_DATA = command_subject("identity", "export_person_data")
ERASE_PERSON_DATA = command_subject("identity", "erase_person_data")
EXPORT_REPLY = command_subject("consent", "record_export_reply")
ERASURE_REPLY = command_subject("consent", "record_erasure_reply")


def consumer_spec(subject: str) -> ConsumerSpec:
    if subject == DOCUMENT_PUBLISHED:
        return ConsumerSpec(
            stream=events_stream("consent").name,
            durable="identity_legal_documents",
            filter_subject=DOCUMENT_PUBLISHED,
            service="identity",
        )
    return ConsumerSpec(
        stream=commands_stream("identity").name,
        durable=f"identity_{subject.rsplit('.', 1)[-1]}",
        filter_subject=subject,
        service="identity",
    )


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


def _person(command: Any, envelope: EventEnvelope) -> Person:
    ref = command.person
    return Person(
        request_id=command.request_id,
        person_key=ref.person_key,
        email=ref.email if ref.HasField("email") else None,
        user_id=ref.user_id if ref.HasField("user_id") else None,
        tenant_id=envelope.tenant_id,
    )


def exported(request_id: str, sections: list[Any], tenant_id: str) -> EventEnvelope:
    reply = privacy_events.PersonDataExported(
        request_id=request_id,
        service="identity",
        sections=[
            privacy_service_pb2.DataSection(
                name=s.name, description=s.description, media_type=s.media_type, content=s.content
            )
            for s in sections
        ],
    )
    return mail.command(reply, subject=EXPORT_REPLY, tenant_id=tenant_id)


def erased(request_id: str, erasure: Erasure, tenant_id: str) -> EventEnvelope:
    reply = privacy_events.PersonDataErased(request_id=request_id, service="identity")
    for category, count in sorted(erasure.erased.items()):
        reply.erased.add(category=category, count=count)
    for kept in erasure.retained:
        item = reply.retained.add(
            category=kept.category,
            reason=kept.reason,
            legal_basis=kept.legal_basis,  # type: ignore[arg-type]
        )
        if kept.until is not None:
            item.retained_until.FromDatetime(kept.until)
    return mail.command(reply, subject=ERASURE_REPLY, tenant_id=tenant_id)


def privacy_handlers(settings: IdentitySettings) -> dict[str, Handler]:
    privacy = IdentityPrivacy(settings, lambda: None)

    async def export(conn: Any, envelope: EventEnvelope, msg: Any) -> None:
        command = unpack(envelope, privacy_events.ExportPersonDataCommand)
        sections = await privacy.export_in(conn, _person(command, envelope))
        await add_event(conn, exported(command.request_id, sections, envelope.tenant_id))

    async def erase(conn: Any, envelope: EventEnvelope, msg: Any) -> None:
        command = unpack(envelope, privacy_events.ErasePersonDataCommand)
        erasure = await privacy.erase_in(conn, _person(command, envelope))
        await add_event(conn, erased(command.request_id, erasure, envelope.tenant_id))

    return {EXPORT_PERSON_DATA: export, ERASE_PERSON_DATA: erase}


def handlers(settings: IdentitySettings) -> dict[str, Handler]:
    return {
        DOCUMENT_PUBLISHED: legal_documents_handler(settings.platform_account_id),
        **privacy_handlers(settings),
    }


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
        exported(
            "0195a6a0-5555-7ef0-b123-456789abcdef",
            [DataSection("profile", "your user profile", b"{}")],
            "",
        ),
        erased("0195a6a0-5555-7ef0-b123-456789abcdef", erasure, ""),
    ]
