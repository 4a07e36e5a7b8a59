"""The ledger: record, withdraw, restrict, lift; state, checks (one, batch, stream); proof."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import domain, legal
from missiva_consent.core import (
    CHANGE_SOURCES,
    GRANT_SOURCES,
    MAX_BATCH,
    MAX_STREAM_KEYS,
    STREAM_CHUNK,
    utc_now,
)
from missiva_consent.domain import Action, Change, State
from missiva_consent.rpc_base import ConsentRpcs
from missiva_consent.store import base as db
from missiva_consent.store import digests as digest_store
from missiva_consent.store import documents as document_store
from missiva_consent.store import ledger as ledger_store
from missiva_consent.store import suppressions as suppression_store
from missiva_platform.auth import current_tenant
from missiva_platform.errors import InvalidArgument, NotFound

log = logging.getLogger(__name__)


class LedgerRpcs(ConsentRpcs):
    async def RecordConsent(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        evidence = self.svc.evidence(
            request.evidence, allowed=GRANT_SOURCES, account_id=account, now=utc_now(), grant=True
        )

        async def work(conn: db.Conn) -> pb.RecordConsentResponse:
            purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
            entries = await self.svc.append(
                conn, account, person_key, [Change(Action.GRANT, evidence, purpose)]
            )
            return pb.RecordConsentResponse(record=entries[0].to_pb())

        return await self._once("RecordConsent", request, pb.RecordConsentResponse, work)

    async def _change_all(
        self, request: Any, method: str, response_type: Any, action_of: Any, only: Any
    ) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        evidence = self.svc.evidence(
            request.evidence, allowed=CHANGE_SOURCES, account_id=account, now=utc_now(), grant=False
        )

        async def work(conn: db.Conn) -> Any:
            if request.purpose_id:
                targets = [await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")]
            else:
                targets = [p for p in await self.svc.purposes(conn, account) if only(p)]
            changes = [Change(action_of(p), evidence, p) for p in targets]
            entries = await self.svc.append(conn, account, person_key, changes)
            return response_type(records=[e.to_pb() for e in entries])

        return await self._once(method, request, response_type, work)

    async def WithdrawConsent(self, request: Any, context: Any) -> Any:
        domain.check_text(request.reason, "reason", limit=500)
        return await self._change_all(
            request,
            "WithdrawConsent",
            pb.WithdrawConsentResponse,
            domain.withdrawal_action,
            lambda p: p.changeable,
        )

    async def RestrictProcessing(self, request: Any, context: Any) -> Any:
        return await self._change_all(
            request,
            "RestrictProcessing",
            pb.RestrictProcessingResponse,
            lambda p: Action.RESTRICT,
            lambda p: True,
        )

    async def LiftRestriction(self, request: Any, context: Any) -> Any:
        return await self._change_all(
            request,
            "LiftRestriction",
            pb.LiftRestrictionResponse,
            lambda p: Action.LIFT,
            lambda p: True,
        )

    async def GetConsentState(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        async with self.pool.connection() as conn:
            purposes = await self.svc.purposes(conn, account)
            states = await ledger_store.person_states(conn, account, person_key)
            entries = await suppression_store.suppressions_of_person(conn, account, person_key)
        reply = pb.GetConsentStateResponse(suppressed=bool(entries))
        for purpose in purposes:
            state = states.get(purpose.purpose_id, State())
            suppressed = any(
                domain.suppression_applies(e.reason, e.purpose_id, purpose) for e in entries
            )
            item = reply.purposes.add(
                purpose_id=purpose.purpose_id,
                purpose_key=purpose.key,
                status=domain.STATUS_PB[state.shown],
                allowed=domain.allowed(purpose, state, suppressed),
                version=state.version,
            )
            if state.since is not None:
                item.changed_at.FromDatetime(state.since)
        return reply

    async def CheckConsent(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        async with self.pool.connection() as conn:
            purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
            checks = await self.svc.check(conn, purpose, [person_key])
        return pb.CheckConsentResponse(check=checks[0])

    def _keys(self, keys: Sequence[str]) -> list[str]:
        for index, key in enumerate(keys):
            domain.check_person_key(key, f"person_keys[{index}]")
        return list(keys)

    async def BatchCheckConsent(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        if len(request.person_keys) > MAX_BATCH:
            raise InvalidArgument.field("person_keys", f"at most {MAX_BATCH} per call")
        keys = self._keys(request.person_keys)
        async with self.pool.connection() as conn:
            purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
            checks = await self.svc.check(conn, purpose, keys) if keys else []
        return pb.BatchCheckConsentResponse(checks=checks)

    async def StreamCheckConsent(self, request: Any, context: Any) -> AsyncIterator[Any]:
        account = current_tenant()
        if request.chunk_size < 0:
            raise InvalidArgument.field("chunk_size", "must not be negative")
        chunk = min(request.chunk_size or STREAM_CHUNK, MAX_BATCH)
        if len(request.person_keys) > MAX_STREAM_KEYS:
            raise InvalidArgument.field(
                "person_keys", f"at most {MAX_STREAM_KEYS} per call (or none: every person)"
            )
        keys = self._keys(request.person_keys)
        # Each page on a short-lived pooled connection, the message yielded outside it: a
        # reader that stops reading holds no connection (pages are keyset-paged, so a change
        # between two pages shows in the later one, as it would a moment later).
        async with self.pool.connection() as conn:
            purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
        if keys:
            for start in range(0, len(keys), chunk):
                async with self.pool.connection() as conn:
                    checks = await self.svc.check(conn, purpose, keys[start : start + chunk])
                yield pb.StreamCheckConsentResponse(checks=checks)
            return
        after = ""
        while True:
            async with self.pool.connection() as conn:
                part = await ledger_store.keys_with_state(conn, purpose, after=after, limit=chunk)
                checks = await self.svc.check(conn, purpose, part) if part else []
            if not part:
                return
            yield pb.StreamCheckConsentResponse(checks=checks)
            after = part[-1]

    async def ExportProof(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        async with self.pool.connection() as conn:
            entries = await ledger_store.person_entries(conn, account, person_key)
            if not entries:
                raise NotFound("nothing is recorded for this person in this account")
            digest = None
            try:
                digest = await digest_store.inclusion(
                    conn, account, person_key, entries[0].recorded_at
                )
            except digest_store.DigestMismatch:
                log.error("consent ledger integrity check failed", extra={"account_id": account})
                raise
            referenced = {(e.document_id, e.document_version) for e in entries if e.document_id}
            documents = []
            for document_id, version in sorted(referenced):
                found = await document_store.document_version(
                    conn, [self.svc.platform, account], document_id, version, "en"
                )
                if found is not None:
                    documents.append(found)
        if request.purpose_id:
            shown = [
                e
                for e in entries
                if e.purpose_id == request.purpose_id or e.purpose_key == request.purpose_id
            ]
        else:
            shown = entries
        bundle = legal.ProofBundle(
            account_id=account,
            person_key=person_key,
            entries=entries,
            digest=digest,
            documents=[
                {"document_id": d.document_id, "version": d.version, "locale": d.locale,
                 "body_sha256": d.body_sha256, "checkbox_text": d.checkbox_text, "url": d.url}
                for d in documents
            ],
        )  # fmt: skip
        return pb.ExportProofResponse(
            records=[e.to_pb() for e in shown],
            documents=[d.to_pb(with_body=False) for d in documents],
            bundle_json=json.dumps(bundle.to_json_dict(utc_now()), ensure_ascii=False, indent=1),
        )
