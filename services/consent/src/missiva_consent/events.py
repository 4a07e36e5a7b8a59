"""What consent consumes, and examples of what it emits (for the contract tests).

Consumed:
- identity's sign-ups, address verifications and legal re-acceptances: our own users' proof
  (in the platform account). A marketing box ticked at sign-up stays pending until the
  address is verified: no active subscription before the address is confirmed.
- identity's address changes of our users: the user's old and new person keys are linked
  (``user_person_keys``), so their requests and consent's export/erasure cover the history
  under every key; the ledger is never rewritten, and later records (from identity's events,
  which carry the current key) land on the new key.
- identity's account erasure: the account's working data goes, the ledger stays.
- delivery's hard bounces and complaints: suppression, in the account and platform-wide.
- campaign's contact deletions and address changes: pending confirmations of the old address
  are voided, so a late click cannot subscribe an address that is no longer the contact's.

Each handler runs inside the kit's transaction together with the inbox row, so an event is
applied once even when JetStream redelivers it. ``HANDLERS`` (subject → handler) is what the
app registers and what ``tests/contract`` replays; ``EXAMPLES()`` returns envelopes built by
the same code that emits them in production.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.delivery.v1 import delivery_service_pb2
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva.identity.v1 import events_pb2 as identity_events
from missiva_consent import domain, dsar, legal, links, notices
from missiva_consent.config import DEFAULT_PLATFORM_ACCOUNT, ConsentSettings
from missiva_consent.domain import Action, Basis, Change, Evidence, Reason, Source, State, Status
from missiva_consent.store import base as db
from missiva_consent.store import double_opt_ins as doi_store
from missiva_consent.store import ledger as ledger_store
from missiva_consent.store import people as people_store
from missiva_consent.store import privacy_requests as dsar_store
from missiva_consent.store import purposes as purpose_store
from missiva_consent.store import suppressions as suppression_store
from missiva_consent.suppression import SuppressionEntry, suppressed_event, unsuppressed_event
from missiva_platform.bus import ConsumerSpec
from missiva_platform.events import EventEnvelope, envelope, unpack
from missiva_platform.privacy import DataSection, Erasure, Retained, erasure_reply, export_reply
from missiva_platform.streams import SEND_TRANSACTIONAL_EMAIL

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

log = logging.getLogger(__name__)

Handler = Callable[[Any, EventEnvelope, Any], Awaitable[None]]

# Subjects consumed, and the stream each lives in (one durable consumer per subject).
SUBJECTS = {
    "identity.user.registered": "IDENTITY_EVENTS",
    "identity.user.verified": "IDENTITY_EVENTS",
    "identity.legal.accepted": "IDENTITY_EVENTS",
    "identity.user.email_changed": "IDENTITY_EVENTS",
    "identity.account.erased": "IDENTITY_EVENTS",
    "delivery.message.bounced": "DELIVERY_EVENTS",
    "delivery.message.complained": "DELIVERY_EVENTS",
    "campaign.contact.deleted": "CAMPAIGN_EVENTS",
    "campaign.contact.updated": "CAMPAIGN_EVENTS",
}


def consumer_spec(subject: str) -> ConsumerSpec:
    return ConsumerSpec(
        stream=SUBJECTS[subject],
        durable="consent-" + subject.split(".", 1)[1].replace(".", "-"),
        filter_subject=subject,
        service="consent",
    )


def _acceptances(acceptances: Iterable[Any], ip: str, agent: str, detail: str) -> list[Change]:
    changes = []
    for acceptance in acceptances:
        if not acceptance.document_id or not acceptance.accepted:
            continue  # only a ticked box is an acceptance
        evidence = Evidence(
            source=Source.SIGN_UP,
            source_detail=detail,
            checkbox_text=acceptance.checkbox_text,
            document_id=acceptance.document_id,
            document_version=acceptance.version,
            ip_hash=ip,
            user_agent=agent,
            occurred_at=(
                acceptance.accepted_at.ToDatetime(UTC)
                if acceptance.HasField("accepted_at")
                else None
            ),
        )
        changes.append(Change(Action.ACCEPT, evidence, legal_basis=Basis.CONTRACT))
    return changes


class ConsentConsumers:
    """The handlers, bound to the platform account they record our own users in."""

    def __init__(self, platform_account_id: str) -> None:
        self.platform = platform_account_id

    def handlers(self) -> dict[str, Handler]:
        return {
            "identity.user.registered": self.user_registered,
            "identity.user.verified": self.user_verified,
            "identity.legal.accepted": self.legal_accepted,
            "identity.user.email_changed": self.user_email_changed,
            "identity.account.erased": self.account_erased,
            "delivery.message.bounced": self.message_bounced,
            "delivery.message.complained": self.message_complained,
            "campaign.contact.deleted": self.contact_deleted,
            "campaign.contact.updated": self.contact_updated,
        }

    async def _marketing(self, conn: Any) -> domain.Purpose:
        purpose = await purpose_store.find_purpose(conn, self.platform, "marketing")
        if purpose is None:  # first event before any RPC: seed in this transaction
            await purpose_store.seed_platform_purposes(conn, self.platform)
            purpose = await purpose_store.find_purpose(conn, self.platform, "marketing")
        assert purpose is not None
        return purpose

    async def user_registered(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """Record a new user's acceptances, and the marketing box as pending until the
        address is verified (or granted at once if the verification came first)."""
        registered = unpack(event, identity_events.UserRegistered)
        if not registered.person_key:
            log.warning("identity.user.registered without a person key; skipped")
            return
        detail = f"user:{registered.user_id}"
        changes = _acceptances(
            registered.acceptances, registered.ip_pseudonym, registered.user_agent, detail
        )
        if registered.marketing_opt_in:
            marketing = await self._marketing(conn)
            evidence = Evidence(
                source=Source.SIGN_UP,
                source_detail=detail,
                checkbox_text=registered.marketing_checkbox_text,
                ip_hash=registered.ip_pseudonym,
                user_agent=registered.user_agent,
                occurred_at=event.occurred_at.ToDatetime(UTC),
            )
            changes.append(Change(Action.REQUEST, evidence, marketing))
            if await doi_store.is_verified(conn, registered.person_key):
                changes.append(Change(Action.CONFIRM, _verified_evidence(detail), marketing))
        if changes:
            await ledger_store.append(conn, self.platform, registered.person_key, changes)

    async def user_verified(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """The user proved they own the address: a pending sign-up marketing box counts now."""
        verified = unpack(event, identity_events.UserEmailVerified)
        if not verified.person_key:
            return
        await doi_store.remember_verified(conn, verified.person_key, verified.user_id)
        marketing = await self._marketing(conn)
        states = await ledger_store.person_states(conn, self.platform, verified.person_key)
        if states.get(marketing.purpose_id, State()).status is Status.PENDING:
            detail = f"user:{verified.user_id}"
            change = Change(Action.CONFIRM, _verified_evidence(detail), marketing)
            await ledger_store.append(conn, self.platform, verified.person_key, [change])

    async def legal_accepted(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """Record a re-acceptance of materially changed documents (platform account)."""
        accepted = unpack(event, identity_events.LegalAcceptanceRecorded)
        if not accepted.person_key:
            return
        changes = _acceptances(
            accepted.acceptances,
            accepted.ip_pseudonym,
            accepted.user_agent,
            f"user:{accepted.user_id}",
        )
        if changes:
            await ledger_store.append(conn, self.platform, accepted.person_key, changes)

    async def user_email_changed(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """Link the user's old and new person keys (idempotent: the inbox, and upserts).

        The ledger stays under the old key (append-only): it is the proof as it was given.
        Identity's later events carry the new key, so new records land there."""
        changed = unpack(event, identity_events.UserEmailChanged)
        if not changed.user_id or not changed.new_person_key:
            log.warning("identity.user.email_changed without a user or a new key; skipped")
            return
        at = (
            changed.changed_at.ToDatetime(UTC)
            if changed.HasField("changed_at")
            else event.occurred_at.ToDatetime(UTC)
        )
        await dsar_store.remember_email_change(
            conn,
            user_id=changed.user_id,
            account_id=changed.account_id or event.tenant_id,
            old_key=changed.old_person_key,
            new_key=changed.new_person_key,
            at=at,
        )

    async def account_erased(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """Purge the account's working data; its ledger (and our users') stays as proof.
        The links between its users' person keys go: nobody is left to ask about them."""
        erased = unpack(event, identity_events.AccountErased)
        if not erased.account_id or erased.account_id == self.platform:
            return
        await dsar_store.forget_user_keys(
            conn, user_ids=list(erased.user_ids), account_id=erased.account_id
        )
        purged = await people_store.purge_account(conn, erased.account_id)
        log.info("consent purged an erased account", extra={"rows": sum(purged.values())})

    async def _suppress(
        self, conn: Any, account: str, person_key: str, reason: Reason, detail: str
    ) -> None:
        # The account's own list, and platform-wide: an address that bounces or complains
        # must not be mailed by any account.
        for scope in db.unique([account, ""]):
            await suppression_store.add_suppression(
                conn,
                SuppressionEntry(
                    scope=scope,
                    person_key=person_key,
                    reason=reason,
                    source=Source.DELIVERY_FEEDBACK,
                    source_detail=detail,
                ),
            )

    async def message_bounced(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        bounced = unpack(event, delivery_events.MessageBounced)
        if bounced.bounce_type != delivery_service_pb2.BOUNCE_TYPE_HARD or not bounced.person_key:
            return  # soft bounces are delivery's to retry
        detail = f"{bounced.message_id} {bounced.status_code}".strip()
        await self._suppress(conn, event.tenant_id, bounced.person_key, Reason.HARD_BOUNCE, detail)

    async def message_complained(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        complained = unpack(event, delivery_events.MessageComplained)
        if not complained.person_key:
            return
        detail = f"{complained.message_id} {complained.feedback_type}".strip()
        await self._suppress(conn, event.tenant_id, complained.person_key, Reason.COMPLAINT, detail)

    async def contact_deleted(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        deleted = unpack(event, campaign_events.ContactDeleted)
        if deleted.person_key and event.tenant_id:
            await doi_store.void_pending(conn, event.tenant_id, deleted.person_key)

    async def contact_updated(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        updated = unpack(event, campaign_events.ContactUpdated)
        previous = updated.previous_person_key
        if previous and previous != updated.person_key and event.tenant_id:
            await doi_store.void_pending(conn, event.tenant_id, previous)


def _verified_evidence(detail: str) -> Evidence:
    return Evidence(source=Source.CONFIRMATION_LINK, source_detail=f"email-verified {detail}")


# What tests/contract replays: the same handlers, with the default platform account.
HANDLERS: dict[str, Handler] = ConsentConsumers(DEFAULT_PLATFORM_ACCOUNT).handlers()


def add_consumers(app: ServiceApp, platform_account_id: str) -> None:
    for subject, handler in ConsentConsumers(platform_account_id).handlers().items():
        app.add_consumer(consumer_spec(subject), handler)


# --------------------------------------------------------------------------- examples


def EXAMPLES() -> list[EventEnvelope]:
    """One envelope of each event and command consent emits, built by the production code."""
    account, person = "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d", "ab" * 32
    now = datetime.now(UTC)
    purpose = domain.Purpose(
        purpose_id="0195a3d0-1111-7abc-8def-0123456789ab",
        account_id=account,
        key="newsletter",
        name="Newsletter",
        description="",
        kind="email",
        category="marketing",
        legal_basis=Basis.CONSENT,
    )
    updates = domain.platform_purposes(account)[1]  # legitimate interest: objections
    found: list[EventEnvelope] = []

    def entry(action: Action, status: Status, version: int, target: domain.Purpose) -> Any:
        return domain.LedgerEntry(
            record_id=domain.new_id(), account_id=account, person_key=person, seq=version,
            purpose_id=target.purpose_id, purpose_key=target.key, action=action,
            resulting_status=status, state_version=version, legal_basis=target.legal_basis,
            source=Source.UNSUBSCRIBE_LINK, source_detail="", campaign_id="camp-1",
            checkbox_text="", document_id="", document_version="", ip_hash="", user_agent="",
            occurred_at=now, recorded_at=now, prev_hash=domain.GENESIS,
        ).sealed()  # fmt: skip

    for action, status, version, target in (
        (Action.GRANT, Status.GRANTED, 1, purpose),
        (Action.WITHDRAW, Status.WITHDRAWN, 2, purpose),
        (Action.OBJECT, Status.OBJECTED, 1, updates),
        (Action.RESTRICT, Status.RESTRICTED, 3, purpose),
        (Action.LIFT, Status.GRANTED, 4, purpose),
    ):
        made = entry(action, status, version, target)
        event = domain.purpose_event(made, target)
        assert event is not None
        subject, message = event
        found.append(
            envelope(
                message,
                subject=subject,
                tenant_id=account,
                producer=db.PRODUCER,
                aggregate_id=domain.state_aggregate(account, person, target.purpose_id),
                aggregate_version=version,
            )
        )
    for suppression in (
        SuppressionEntry(account, person, Reason.UNSUBSCRIBED, purpose.purpose_id,
                         Source.UNSUBSCRIBE_LINK),
        SuppressionEntry("", person, Reason.HARD_BOUNCE, "", Source.DELIVERY_FEEDBACK),
    ):  # fmt: skip
        aggregate = domain.suppression_aggregate(
            suppression.scope, person, suppression.reason, suppression.purpose_id
        )
        found.append(
            envelope(
                suppressed_event(suppression),
                subject=domain.SUPPRESSED_SUBJECT,
                tenant_id=suppression.scope,
                producer=db.PRODUCER,
                aggregate_id=aggregate,
                aggregate_version=1,
            )
        )
    for lifted, still in (
        (SuppressionEntry(account, person, Reason.MANUAL, purpose.purpose_id), True),
        (SuppressionEntry("", person, Reason.MANUAL), False),
    ):
        message = unsuppressed_event(lifted, still)
        found.append(
            envelope(
                message,
                subject=domain.UNSUPPRESSED_SUBJECT,
                tenant_id=lifted.scope,
                producer=db.PRODUCER,
                aggregate_id=domain.suppression_aggregate(
                    lifted.scope, person, lifted.reason, lifted.purpose_id
                ),
                aggregate_version=2,
            )
        )
    for material in (True, False):
        document = legal.Document(
            account_id=account, document_id="terms", version="2026-03" if material else "2026-02",
            locale="en", kind=domain.DocumentKind.TERMS_OF_SERVICE, title="Terms of Service",
            body_markdown="…", body_sha256="0" * 64, url="https://missiva.example/terms",
            checkbox_text="I accept", material=material,
            summary_of_changes="New liability clause" if material else "",
            published_at=now, effective_at=now + timedelta(days=20 if material else 0),
            notice_at=now + timedelta(days=6) if material else None,
        )  # fmt: skip
        found.append(
            envelope(
                legal.published_event(document),
                subject=domain.DOCUMENT_SUBJECT,
                tenant_id=account,
                producer=db.PRODUCER,
                aggregate_id=f"{account}:document:terms",
                aggregate_version=2 if material else 1,
            )
        )
    found.append(
        envelope(
            links.confirmation_command(
                confirmation_id="0195a3d0-2222-7abc-8def-0123456789ab",
                account_id=account,
                person_key=person,
                email="ada@example.org",
                name="Ada",
                locale="it",
                sends=1,
                url="https://missiva.example/confirm/v1.token",
                token="v1.token",  # noqa: S106 - a sample, not a secret
                purposes=["Newsletter"],
                expires=now + timedelta(days=7),
            ),
            subject=SEND_TRANSACTIONAL_EMAIL,
            tenant_id=account,
            producer=db.PRODUCER,
        )
    )
    # An account's privacy notice changes materially: campaign tells its contacts (jobs.py).
    notice = legal.Document(
        account_id=account, document_id="privacy-notice", version="2026-04", locale="de",
        kind=domain.DocumentKind.ACCOUNT_PRIVACY_NOTICE, title="Datenschutzhinweis",
        body_markdown="…", body_sha256="0" * 64,
        url="https://bottegarossi.example/datenschutz", checkbox_text="", material=True,
        summary_of_changes="Neuer Auftragsverarbeiter für den Versand",
        published_at=now, effective_at=now + timedelta(days=20),
        notice_at=now + timedelta(days=6),
    )  # fmt: skip
    found.append(notices.notice_envelope(notice, locales=["en", "de"]))
    # Data-subject requests (dsar.py), and consent's own answers to the privacy commands
    # (the kit's handlers, missiva_platform.privacy).
    found += dsar.examples(ConsentSettings(database_url="postgresql://x@h/x").privacy_service_names)
    erasure = Erasure(
        erased={"pending_double_opt_ins": 1},
        retained=[Retained("consent_history", "proof of consent (GDPR Art. 7(1))")],
    )
    request_id = "0195a6a0-5555-7ef0-b123-456789abcdef"
    sections = [DataSection("consent_state", "your choices", b"[]")]
    found.append(export_reply(db.PRODUCER, request_id, sections, account))
    found.append(erasure_reply(db.PRODUCER, request_id, erasure, account))
    return found
