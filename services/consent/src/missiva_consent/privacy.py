"""Consent's part of the privacy contract: export and erase what it holds on a person.

Erasure removes addresses and personal fields (pending double opt-ins with their address,
the address kept beside suppression entries, link IP hashes) but keeps the ledger, keyed by
the person key: it is the burden of proof of consent (GDPR Art. 7(1)) and is append-only.
An ERASED suppression entry keeps the person from ever being mailed again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from missiva.common.v1 import types_pb2
from missiva_consent import dsar_store, store
from missiva_consent.domain import Reason, Source, SuppressionEntry
from missiva_platform.errors import InvalidArgument
from missiva_platform.privacy import DataSection, Erasure, Person, PrivacyHandler, Retained

if TYPE_CHECKING:
    from missiva_consent.servicer import ConsentService

SECTIONS = {
    "consent_state": "Your current choice for every purpose (topic or kind of email).",
    "consent_history": (
        "Every consent, withdrawal and objection recorded for you, with the text you were "
        "shown, the policy version, the source, a pseudonym of your IP address and your "
        "browser's user agent, each entry hash-chained to the previous one."
    ),
    "suppressions": "Whether and why you are on a do-not-mail list.",
    "double_opt_ins": "Subscriptions waiting for (or given) your confirmation by email.",
}


class ConsentPrivacy(PrivacyHandler):
    def __init__(self, service: ConsentService) -> None:
        self.svc = service

    async def _key(self, conn: store.Conn, person: Person) -> str:
        if person.person_key:
            return person.person_key
        if person.email:
            return self.svc.keys.person_key(person.email)
        if person.user_id:  # one of our users: the key their sign-up was recorded under
            return await dsar_store.user_person_key(conn, self.svc.platform, person.user_id)
        raise InvalidArgument.field("person", "consent needs the person_key (or the email)")

    async def export(self, person: Person) -> list[DataSection]:
        async with self.svc.pool.connection() as conn:
            return await self.export_in(conn, person)

    async def erase(self, person: Person) -> Erasure:
        async with self.svc.pool.connection() as conn, conn.transaction():
            return await self.erase_in(conn, person)

    async def export_in(self, conn: store.Conn, person: Person) -> list[DataSection]:
        """The export, read on ``conn`` (the caller's transaction)."""
        key = await self._key(conn, person)
        if not key:
            return []  # a user consent never recorded anything for
        data = await store.export_person(conn, key, person.tenant_id)
        return [
            DataSection(
                name=name,
                description=SECTIONS[name],
                content=json.dumps(data[name], ensure_ascii=False, indent=1).encode("utf-8"),
            )
            for name in SECTIONS
        ]

    async def erase_in(self, conn: store.Conn, person: Person) -> Erasure:
        """The erasure, written on ``conn`` (the caller's transaction)."""
        key = await self._key(conn, person)
        if not key:
            return Erasure()
        erased = await store.erase_person(conn, key, person.tenant_id)
        accounts = (
            [person.tenant_id] if person.tenant_id else await store.accounts_of_person(conn, key)
        )
        added = 0
        for account in accounts:
            _, created = await store.add_suppression(
                conn,
                SuppressionEntry(
                    scope=account,
                    person_key=key,
                    reason=Reason.ERASED,
                    source=Source.PRIVACY_REQUEST,
                    source_detail=person.request_id,
                ),
            )
            added += int(created)
        erased["erased_suppression_entries_added"] = added
        return Erasure(
            erased=erased,
            retained=[
                Retained(
                    category="consent_history",
                    reason=(
                        "The record of your consents and withdrawals is the proof the law asks "
                        "us to keep (GDPR Art. 7(1)); it is kept under a keyed hash of your "
                        "address, without the address itself, and cannot be changed."
                    ),
                    legal_basis=types_pb2.LEGAL_BASIS_LEGAL_OBLIGATION,
                ),
                Retained(
                    category="suppressions",
                    reason=(
                        "A do-not-mail entry under the same keyed hash (no address) makes sure "
                        "you are never emailed again, including after a re-import."
                    ),
                    legal_basis=types_pb2.LEGAL_BASIS_LEGAL_OBLIGATION,
                ),
            ],
        )
