"""Campaign's contact imports: the consents of each merged chunk
(``cmd.consent.record_imported_consents``, one command per part of a chunk, each in the
consumer's transaction with its inbox row: a part is applied once, whatever order they come in).

- With the account's proof of a prior consent, each person gets a GRANT entry in their
  ledger chain: source IMPORT, the import id, the line and who collected it as the source
  detail, the text agreed to as the checkbox text, and the declared time as when it was given.
  So ``ExportProof`` shows where every imported contact came from.
- With ``double_opt_in``, each person gets a pending subscription and a confirmation email,
  as ``StartDoubleOptIn`` does: no active subscription until they confirm.
- An import never overrides what the person said since: someone who withdrew, objected or
  is restricted for the purpose is left as they are; a bounced or complaining address gets
  no confirmation email.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva_consent import domain
from missiva_consent.domain import Action, Basis, Change, Evidence, Reason, Source, State, Status
from missiva_consent.store import double_opt_ins, ledger, purposes, suppressions
from missiva_platform.bus import ConsumerSpec
from missiva_platform.errors import FailedPrecondition
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.streams import command_subject

if TYPE_CHECKING:
    from missiva_consent.core import ConsentCore

log = logging.getLogger(__name__)

SUBJECT = command_subject("consent", "record_imported_consents")
# What an import may not override.
KEPT = (Status.WITHDRAWN, Status.OBJECTED, Status.RESTRICTED)


def consumer_spec() -> ConsumerSpec:
    return ConsumerSpec(
        stream="CONSENT_COMMANDS",
        durable="consent-record-imported-consents",
        filter_subject=SUBJECT,
        service="consent",
    )


class ImportedConsents:
    """The handler, with the service (its link keys sign the confirmation links)."""

    def __init__(self, service: ConsentCore) -> None:
        self.svc = service

    async def handle(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        command = unpack(event, campaign_events.RecordImportedConsentsCommand)
        account = event.tenant_id
        if not account or not command.purpose_id:
            log.warning("imported consents without an account or a purpose; dropped")
            return
        purpose = await purposes.find_purpose(conn, account, command.purpose_id)
        if purpose is None or not purpose.active:
            log.warning("imported consents for an unknown or retired purpose; dropped")
            return
        if command.double_opt_in:
            await self._double_opt_in(conn, account, purpose, command)
            return
        if purpose.double_opt_in or purpose.legal_basis is Basis.CONTRACT:
            # A proof cannot stand in for the confirmation such a purpose needs (and a
            # contract purpose takes no consent): the import should ask for double opt-in.
            log.warning("imported proofs for a purpose that takes no direct grant; dropped")
            return
        given = (
            command.given_at.ToDatetime(UTC)
            if command.HasField("given_at")
            else event.occurred_at.ToDatetime(UTC)
        )
        for consent in command.consents:
            if not consent.person_key or await self._kept(
                conn, account, consent.person_key, purpose
            ):
                continue
            evidence = Evidence(
                source=Source.IMPORT,
                source_detail=(
                    f"import:{command.import_id} line:{consent.line}"
                    f" collected by: {command.collected_by}"
                )[:500],
                checkbox_text=command.consent_text,
                occurred_at=given,
            )
            try:
                async with conn.transaction():  # one refused person leaves the others
                    await self.svc.append(
                        conn, account, consent.person_key, [Change(Action.GRANT, evidence, purpose)]
                    )
            except FailedPrecondition as exc:
                log.warning("an imported consent was refused", extra={"reason": str(exc)})

    async def _kept(self, conn: Any, account: str, person_key: str, purpose: Any) -> bool:
        states = await ledger.person_states(conn, account, person_key)
        return states.get(purpose.purpose_id, State()).shown in KEPT

    async def _double_opt_in(self, conn: Any, account: str, purpose: Any, command: Any) -> None:
        now = datetime.now(UTC)
        expires = now + timedelta(days=self.svc.settings.confirmation_link_days)
        for consent in command.consents:
            if not consent.person_key or not consent.email:
                continue
            if await self._kept(conn, account, consent.person_key, purpose):
                continue
            blocked = [
                e
                for e in await suppressions.suppressions_of_person(
                    conn, account, consent.person_key
                )
                if e.reason in (Reason.HARD_BOUNCE, Reason.COMPLAINT)
            ]
            if blocked:
                continue
            row: dict[str, Any] = {
                "confirmation_id": domain.new_id(),
                "account_id": account,
                "person_key": consent.person_key,
                "email": consent.email,
                "to_name": consent.display_name or None,
                "purpose_ids": [purpose.purpose_id],
                "source": str(Source.IMPORT),
                "source_detail": f"import:{command.import_id} line:{consent.line}",
                "checkbox_text": command.consent_text,
                "document_id": "",
                "document_version": "",
                "ip_hash": "",
                "user_agent": "",
                "locale": consent.locale or "",
                "started_at": now,
                "link_expires_at": expires,
            }
            await double_opt_ins.insert_double_opt_in(conn, row)
            await self.svc.queue_confirmation(conn, row, [purpose.name], expires)
