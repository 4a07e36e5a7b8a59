"""What delivery holds on a person, for the privacy contract: the send log (by person key)
and the suppression entries."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from missiva.common.v1 import types_pb2
from missiva_delivery.store import bounces, hooks, messages, online, suppressions, tracking
from missiva_platform.crypto import DecryptionError
from missiva_platform.privacy import DataSection, Erasure, Person, Retained

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


class DeliveryPrivacy:
    def __init__(self, core: DeliveryCore) -> None:
        self.core = core

    async def export(self, person: Person) -> list[DataSection]:
        async with self.core.pool.connection() as conn:
            return await self.export_in(conn, person)

    async def erase(self, person: Person) -> Erasure:
        async with self.core.pool.connection() as conn, conn.transaction():
            return await self.erase_in(conn, person)

    async def export_in(self, conn: Any, person: Person) -> list[DataSection]:
        """The export, on ``conn`` (the bus consumer's transaction, or the RPC's)."""
        if not person.person_key:
            return []
        rows = await messages.for_person(conn, person.person_key, person.tenant_id)
        entries = await suppressions.for_person(conn, person.person_key)
        blocks = [
            b for b in await suppressions.blocks_of_person(conn, person.person_key)
            if not person.tenant_id or b["tenant_id"] in (person.tenant_id, "")
        ]  # fmt: skip
        log = []
        for row in rows:
            address = (
                self.core.open_address(row["id"], row["to_address_enc"])
                if row["to_address_enc"] is not None
                else None
            )
            log.append(
                {
                    "message_id": row["id"],
                    "account_id": row["tenant_id"],
                    "template": row["template_key"],
                    "campaign_id": row["campaign_id"],
                    "subject": row["subject"],
                    "status": row["status"],
                    "attempts": row["attempts"],
                    "last_smtp_reply": row["last_smtp_reply"],
                    "queued_at": _when(row["queued_at"]),
                    "sent_at": _when(row["sent_at"]),
                    "to_address": address,  # held only until the message is final
                }
            )
        sections = []
        if log:
            sections.append(
                DataSection(
                    "delivery.send_log",
                    "Emails sent to you and what the receiving server answered (90 days)",
                    json.dumps(log, ensure_ascii=False).encode(),
                )
            )
        feedback = await bounces.for_person(conn, person.person_key, person.tenant_id)
        if feedback["bounce_records"]:
            sections.append(
                DataSection(
                    "delivery.bounce_reports",
                    "Bounce and spam reports about emails sent to you (90 days)",
                    json.dumps(feedback["bounce_records"], ensure_ascii=False).encode(),
                )
            )
        if feedback["provider_events"]:
            sections.append(
                DataSection(
                    "delivery.provider_events",
                    "What our email provider reported about emails sent to you (18 months)",
                    json.dumps(feedback["provider_events"], ensure_ascii=False).encode(),
                )
            )
        sent_out = await hooks.for_person(conn, person.person_key, person.tenant_id)
        if sent_out:
            for item in sent_out:
                item["created_at"] = _when(item["created_at"])
                item["body"] = json.loads(item["body"])
            sections.append(
                DataSection(
                    "delivery.webhook_deliveries",
                    "Events about you sent to the sender's own systems (webhooks, 30 days)",
                    json.dumps(sent_out, ensure_ascii=False).encode(),
                )
            )
        copies = await self._online_copies(conn, person)
        if copies:
            sections.append(
                DataSection(
                    "delivery.view_online",
                    "What the emails sent to you said about you, kept for their 'View online'"
                    f" page ({self.core.settings.view_online_days} days after each was sent)",
                    json.dumps(copies, ensure_ascii=False).encode(),
                )
            )
        engagement = await tracking.for_person(conn, person.person_key, person.tenant_id)
        if engagement:
            sections.append(
                DataSection(
                    "delivery.engagement",
                    "Opens and clicks of emails sent to you, kept because you allowed engagement"
                    " tracking (18 months)",
                    json.dumps(engagement, ensure_ascii=False).encode(),
                )
            )
        if entries and not person.tenant_id:
            sections.append(
                DataSection(
                    "delivery.suppressions",
                    "Why your address is not mailed (e.g. it bounced)",
                    json.dumps(entries, ensure_ascii=False).encode(),
                )
            )
        if blocks:
            sections.append(
                DataSection(
                    "delivery.consent_blocks",
                    "The unsubscriptions and withdrawals the sender checks before each email",
                    json.dumps(blocks, ensure_ascii=False).encode(),
                )
            )
        return sections

    async def _online_copies(self, conn: Any, person: Person) -> list[dict[str, Any]]:
        copies = []
        for row in await online.for_person(conn, person.person_key, person.tenant_id):
            try:
                payload = self.core.open_payload(row["message_id"], row["payload_enc"])
            except DecryptionError:  # its key was retired: nothing readable is held
                payload = {}
            copies.append(
                {
                    "message_id": row["message_id"],
                    "account_id": row["tenant_id"],
                    "campaign_id": row["campaign_id"],
                    "sent_at": _when(row["sent_at"]),
                    "to_name": payload.get("to_name", ""),
                    "merge_fields": payload.get("fields", {}),
                }
            )
        return copies

    async def erase_in(self, conn: Any, person: Person) -> Erasure:
        """The send log's rows of the person (of the caller's account when it names one);
        a hard-bounce suppression stays, as a keyed hash."""
        if not person.person_key:
            return Erasure()
        copies = await online.erase_person(conn, person.person_key, person.tenant_id)
        erased = await messages.erase_person(conn, person.person_key, person.tenant_id)
        reports = await bounces.erase_person(conn, person.person_key, person.tenant_id)
        engagement = await tracking.erase_person(conn, person.person_key, person.tenant_id)
        kept = await suppressions.for_person(conn, person.person_key)
        result = Erasure(erased={"delivery.send_log": erased} if erased else {})
        hooked = await hooks.erase_person(conn, person.person_key, person.tenant_id)
        if hooked:
            result.erased["delivery.webhook_deliveries"] = hooked
        if engagement:
            result.erased["delivery.engagement"] = engagement
        if copies:
            result.erased["delivery.view_online"] = copies
        if await suppressions.blocks_of_person(conn, person.person_key):
            result.retained.append(
                Retained(
                    category="delivery.consent_blocks",
                    legal_basis=types_pb2.LEGAL_BASIS_LEGAL_OBLIGATION,
                    reason=(
                        "consent's unsubscriptions, as a keyed hash, so the person is not mailed"
                        " against their wish; lifted only by consent"
                    ),
                )
            )
        names = {"bounce_records": "delivery.bounce_reports",
                 "provider_events": "delivery.provider_events"}  # fmt: skip
        result.erased.update({names[k]: n for k, n in reports.items() if n})
        if kept:
            result.retained.append(
                Retained(
                    category="delivery.suppressions",
                    legal_basis=types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST,
                    reason=(
                        "a suppressed address (hard bounce) is kept as a keyed hash so it is "
                        "never mailed again"
                    ),
                )
            )
        return result
