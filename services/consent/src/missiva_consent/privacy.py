"""Consent's part of the privacy contract: export and erase what it holds on a person.

Erasure removes addresses and personal fields (pending double opt-ins with their address,
the address kept beside suppression entries, link IP hashes) but keeps the ledger, keyed by
the person key: it is the burden of proof of consent (GDPR Art. 7(1)) and is append-only.
An ERASED suppression entry keeps the person from ever being mailed again.

One of our own users (a request naming ``user_id``, which only a self-request does) is every
person key they have had: a changed address changes the key, and the ledger stays under the
key of its time. The request itself carries one key, the current one (``PersonRef`` has one
``person_key``), and every service is asked once; consent widens it here with the user's
older keys (``dsar_store.user_person_keys``, fed by ``identity.user.email_changed``), since
consent is where history under an old key lives. Identity finds the user by ``user_id``
whatever their address; the other services hold contacts, not our users. Erasing a user
also drops the links between their keys, once they have served the erasure.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from missiva.common.v1 import types_pb2
from missiva_consent.domain import Reason, Source
from missiva_consent.store import base as db
from missiva_consent.store import ledger as ledger_store
from missiva_consent.store import people as people_store
from missiva_consent.store import privacy_requests as dsar_store
from missiva_consent.store import suppressions as suppression_store
from missiva_consent.suppression import SuppressionEntry
from missiva_platform.errors import InvalidArgument
from missiva_platform.privacy import DataSection, Erasure, Person, PrivacyHandler, Retained

if TYPE_CHECKING:
    from missiva_consent.core import ConsentCore

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
    def __init__(self, service: ConsentCore) -> None:
        self.svc = service

    async def _keys(self, conn: db.Conn, person: Person) -> list[str]:
        """The person's keys: the request's, and for one of our users every key they have
        had (the request's first)."""
        keys = []
        if person.person_key:
            keys.append(person.person_key)
        elif person.email:
            keys.append(self.svc.keys.person_key(person.email))
        if person.user_id:  # one of our users: every key consent recorded them under
            keys += await dsar_store.user_person_keys(conn, self.svc.platform, person.user_id)
        elif not keys:
            raise InvalidArgument.field("person", "consent needs the person_key (or the email)")
        return db.unique(keys)

    async def export(self, person: Person) -> list[DataSection]:
        async with self.svc.pool.connection() as conn:
            return await self.export_in(conn, person)

    async def erase(self, person: Person) -> Erasure:
        async with self.svc.pool.connection() as conn, conn.transaction():
            return await self.erase_in(conn, person)

    async def export_in(self, conn: db.Conn, person: Person) -> list[DataSection]:
        """The export, read on ``conn`` (the caller's transaction)."""
        keys = await self._keys(conn, person)
        if not keys:
            return []  # a user consent never recorded anything for
        data: dict[str, list[Any]] = {name: [] for name in SECTIONS}
        for key in keys:
            for name, items in (
                await people_store.export_person(conn, key, person.tenant_id)
            ).items():
                data[name] += items
        return [
            DataSection(
                name=name,
                description=SECTIONS[name],
                content=json.dumps(data[name], ensure_ascii=False, indent=1).encode("utf-8"),
            )
            for name in SECTIONS
        ]

    async def erase_in(self, conn: db.Conn, person: Person) -> Erasure:
        """The erasure, written on ``conn`` (the caller's transaction)."""
        keys = await self._keys(conn, person)
        if not keys:
            return Erasure()
        erased: dict[str, int] = {}
        added = 0
        for key in keys:
            for category, count in (
                await people_store.erase_person(conn, key, person.tenant_id)
            ).items():
                erased[category] = erased.get(category, 0) + count
            accounts = (
                await ledger_store.accounts_of_person(conn, key)
                if person.all_accounts
                else [person.tenant_id]
            )
            for account in accounts:
                _, created = await suppression_store.add_suppression(
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
        if person.user_id:
            erased["person_key_links"] = await dsar_store.forget_user_keys(
                conn, user_ids=[person.user_id]
            )
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
