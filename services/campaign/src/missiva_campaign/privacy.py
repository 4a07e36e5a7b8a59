"""Campaign's part of the privacy contract: a person's contact rows (in one account, or in
every account when the request is about one of our users), and the notices sent to them.

On the bus, ``export_in``/``erase_in`` run in the consumer's transaction with the reply.
Erasure deletes the contact rows outright (the trash too) and the copy of the person's consent
states (consent keeps the ledger, pseudonymised); each erased contact's
``ContactDeleted`` goes out in the same transaction, so delivery drops what it still holds
queued. Consent keeps an "erased" suppression, which campaign mirrors to never mail the person.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from missiva_campaign import outgoing
from missiva_campaign.store import consents, contacts, notices, recipients, suppressions
from missiva_campaign.store import forms as form_store
from missiva_platform.outbox import add_events
from missiva_platform.privacy import DataSection, Erasure, Person, Retained

CONTACT_FIELDS = (
    "id",
    "account_id",
    "email",
    "first_name",
    "last_name",
    "locale",
    "timezone",
    "attributes",
    "tags",
    "list_ids",
    "source",
    "source_detail",
    "created_at",
    "updated_at",
    "last_interaction_at",
    "deleted_at",
)


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class CampaignPrivacy:
    """``PrivacyHandler`` over campaign's tables (gRPC and bus)."""

    def __init__(self, pool_of: Callable[[], AsyncConnectionPool | None]) -> None:
        self._pool_of = pool_of

    @property
    def pool(self) -> AsyncConnectionPool:
        pool = self._pool_of()
        if pool is None:
            raise RuntimeError("the service is not started")
        return pool

    async def export(self, person: Person) -> list[DataSection]:
        async with self.pool.connection() as conn, conn.transaction():
            return await self.export_in(conn, person)

    async def erase(self, person: Person) -> Erasure:
        async with self.pool.connection() as conn, conn.transaction():
            return await self.erase_in(conn, person)

    async def export_in(self, conn: Any, person: Person) -> list[DataSection]:
        if not person.person_key:
            return []  # a request by user id only: campaign holds no user records
        rows = await contacts.of_person(conn, person.person_key, person.tenant_id)
        received = await recipients.of_person(conn, person.person_key, person.tenant_id)
        campaigns_section = DataSection(
            "campaigns_received",
            "the campaigns sent to you (or about to be), and what became of each message",
            json.dumps(
                [{k: _json(v) for k, v in r.items()} for r in received],
                ensure_ascii=False,
                sort_keys=True,
            ).encode(),
        )
        submitted = await form_store.of_person(conn, person.person_key, person.tenant_id)
        extra = [campaigns_section] if received else []
        if submitted:
            extra.append(
                DataSection(
                    "form_submissions",
                    "the subscribe forms you filled in, and whether you confirmed",
                    json.dumps(
                        [{k: _json(v) for k, v in r.items()} for r in submitted],
                        ensure_ascii=False,
                        sort_keys=True,
                    ).encode(),
                )
            )
        if not rows:
            return extra
        sent = await notices.of_contacts(conn, [r["id"] for r in rows])
        people = [{k: _json(r[k]) for k in CONTACT_FIELDS} for r in rows]
        told = [{k: _json(v) for k, v in n.items()} for n in sent]
        cur = await conn.execute(
            "SELECT contact_id::text AS contact_id, fields, corrected_at"
            " FROM contact_rectifications WHERE contact_id = ANY(%s::uuid[]) ORDER BY id",
            ([r["id"] for r in rows],),
        )
        corrected = [
            {"contact_id": c, "fields": list(f), "corrected_at": _json(t)}
            for c, f, t in await cur.fetchall()
        ]
        if corrected:
            extra.append(
                DataSection(
                    "rectifications",
                    "the corrections you made to your details yourself: which fields, and when",
                    json.dumps(corrected, ensure_ascii=False, sort_keys=True).encode(),
                )
            )
        return [
            DataSection(
                "contacts",
                "your contact records at the businesses that mail you through Missiva: address,"
                " names, locale, time zone, custom attributes, tags and how you were added",
                json.dumps(people, ensure_ascii=False, sort_keys=True).encode(),
            ),
            DataSection(
                "document_notices",
                "the notices of privacy notice changes sent to you",
                json.dumps(told, ensure_ascii=False, sort_keys=True).encode(),
            ),
            *extra,
        ]

    async def erase_in(self, conn: Any, person: Person) -> Erasure:
        erasure = Erasure()
        if not person.person_key:
            return erasure
        rows = await contacts.of_person(conn, person.person_key, person.tenant_id)
        if rows:
            sent = await notices.of_contacts(conn, [r["id"] for r in rows])
            await contacts.delete_ids(conn, [r["id"] for r in rows])  # notices cascade
            await add_events(conn, [outgoing.contact_deleted(r) for r in rows])
            erasure.erased["contacts"] = len(rows)
            if sent:
                erasure.erased["document_notices"] = len(sent)
        submissions = await form_store.forget_person(conn, person.person_key, person.tenant_id)
        if submissions:
            erasure.erased["form_submissions"] = submissions
        forgotten = await recipients.forget_person(conn, person.person_key, person.tenant_id)
        if forgotten:
            erasure.erased["campaign_recipients"] = forgotten
        states = await consents.forget_person(conn, person.person_key, person.tenant_id)
        if states:
            erasure.erased["consent_states"] = states
        if await suppressions.of_person(conn, person.person_key, person.tenant_id):
            erasure.retained.append(
                Retained(
                    "suppression_list",
                    "the keyed hash of the address stays on the suppression list (a copy of"
                    " consent's), so the address is never mailed again",
                )
            )
        return erasure
