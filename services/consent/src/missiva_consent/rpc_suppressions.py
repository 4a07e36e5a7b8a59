"""Suppressions: add, remove, check, list, import, export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import domain, suppression
from missiva_consent.core import (
    ADDABLE_REASONS,
    MAX_BATCH,
    MAX_IMPORT_BYTES,
    MAX_IMPORT_ERRORS,
    MAX_IMPORT_ROW_BYTES,
    MAX_IMPORT_ROWS,
    STREAM_CHUNK,
)
from missiva_consent.domain import Reason, Source
from missiva_consent.rpc_base import ConsentRpcs
from missiva_consent.store import base as db
from missiva_consent.store import suppressions as suppression_store
from missiva_consent.suppression import SuppressionEntry
from missiva_platform.auth import current_principal_or_none, current_tenant
from missiva_platform.errors import InvalidArgument, NotFound, ResourceExhausted
from missiva_platform.pagination import page_size

LIST_SUPPRESSIONS = "consent.ListSuppressions"


class SuppressionRpcs(ConsentRpcs):
    def _reason(self, value: int, field_name: str) -> Reason:
        if value == 0:
            return Reason.MANUAL
        reason: Reason = domain.from_pb(domain.REASON_PB, value, field_name)
        if reason not in ADDABLE_REASONS:
            raise InvalidArgument.field(field_name, "an erasure goes through a privacy request")
        return reason

    async def AddSuppression(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, email = self.svc.person_key(request.person)
        reason = self._reason(request.reason, "reason")
        domain.check_text(request.note, "note", limit=500)

        async def work(conn: db.Conn) -> pb.AddSuppressionResponse:
            purpose_id = ""
            if request.purpose_id:
                purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
                purpose_id = purpose.purpose_id
            principal = current_principal_or_none()
            entry, _ = await suppression_store.add_suppression(
                conn,
                SuppressionEntry(
                    scope=account,
                    person_key=person_key,
                    reason=reason,
                    purpose_id=purpose_id,
                    source=Source.ADMIN,
                    source_detail=principal.subject if principal else "",
                    note=request.note,
                    email=email,
                ),
            )
            return pb.AddSuppressionResponse(suppression=entry.to_pb())

        return await self._once("AddSuppression", request, pb.AddSuppressionResponse, work)

    async def RemoveSuppression(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        reason = domain.from_pb(domain.REASON_PB, request.reason, "reason")
        domain.check_text(request.note, "note", limit=500)

        async def work(conn: db.Conn) -> pb.RemoveSuppressionResponse:
            purpose_id = ""
            if request.purpose_id:
                purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
                purpose_id = purpose.purpose_id
            entry = await suppression_store.find_suppression(
                conn, account, person_key, reason, purpose_id
            )
            if entry is None:
                raise NotFound("this person is not suppressed for that reason in this account")
            suppression.check_removable(entry)
            principal = current_principal_or_none()
            still = await suppression_store.remove_suppression(
                conn, entry, note=request.note, removed_by=principal.subject if principal else ""
            )
            return pb.RemoveSuppressionResponse(still_suppressed=still)

        return await self._once("RemoveSuppression", request, pb.RemoveSuppressionResponse, work)

    async def CheckSuppression(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        async with self.pool.connection() as conn:
            entries = await suppression_store.suppressions_of_person(conn, account, person_key)
        return pb.CheckSuppressionResponse(
            suppressed=bool(entries), suppressions=[e.to_pb(reveal=bool(e.scope)) for e in entries]
        )

    async def ListSuppressions(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        limit = page_size(request.page_size)
        reason = (
            domain.from_pb(domain.REASON_PB, request.reason, "reason") if request.reason else None
        )
        bound = (account, reason or "")
        position = self.svc.pages.read(
            request.page_token, LIST_SUPPRESSIONS, (int,), bound_to=bound
        )
        before = position[0] if position else 2**62
        async with self.pool.connection() as conn:
            found = await suppression_store.list_suppressions(
                conn, account, reason=reason, before=before, limit=limit + 1
            )
        reply = pb.ListSuppressionsResponse(suppressions=[e.to_pb() for e in found[:limit]])
        if len(found) > limit:
            reply.next_page_token = self.svc.pages.issue(
                LIST_SUPPRESSIONS, [found[limit - 1].entry_id], bound_to=bound
            )
        return reply

    async def ImportSuppressions(self, request_iterator: Any, context: Any) -> Any:
        account = current_tenant()
        combined = pb.ImportSuppressionsRequest()
        first, received = True, 0
        # Each row is checked as it arrives: an oversized row or stream ends the call before
        # the rest of it is read.
        async for chunk in request_iterator:
            received += chunk.ByteSize()
            if received > MAX_IMPORT_BYTES:
                raise ResourceExhausted(
                    f"rows: an import is at most {MAX_IMPORT_BYTES // (1024 * 1024)} MiB: "
                    "split it into several imports"
                )
            if first:
                combined.reason, combined.idempotency_key = chunk.reason, chunk.idempotency_key
                first = False
            for row in chunk.rows:
                index = len(combined.rows)
                if index >= MAX_IMPORT_ROWS:
                    raise InvalidArgument.field(
                        "rows", f"at most {MAX_IMPORT_ROWS} rows per import"
                    )
                if row.ByteSize() > MAX_IMPORT_ROW_BYTES:
                    raise InvalidArgument.field(
                        f"rows[{index}]",
                        f"row {row.row_number or index + 1} is larger than "
                        f"{MAX_IMPORT_ROW_BYTES} bytes",
                    )
                combined.rows.append(row)
        reason = self._reason(combined.reason, "reason")
        principal = current_principal_or_none()

        async def work(conn: db.Conn) -> pb.ImportSuppressionsResponse:
            reply = pb.ImportSuppressionsResponse(received=len(combined.rows))
            valid: list[tuple[str, str, str]] = []
            for row in combined.rows:
                try:
                    email = row.email.strip()
                    person_key = self.svc.keys.person_key(email, "email")
                    domain.check_text(row.note, "note", limit=500)
                except InvalidArgument as exc:
                    reply.rejected += 1
                    if len(reply.errors) < MAX_IMPORT_ERRORS:
                        reply.errors.add(row_number=row.row_number, message=exc.message)
                    continue
                valid.append((person_key, email, row.note))
            reply.added = await suppression_store.import_suppressions(
                conn,
                scope=account,
                reason=reason,
                source_detail=principal.subject if principal else "",
                rows=valid,
            )
            reply.already_suppressed = len(valid) - reply.added
            return reply

        return await self._once("ImportSuppressions", combined, pb.ImportSuppressionsResponse, work)

    async def ExportSuppressions(self, request: Any, context: Any) -> AsyncIterator[Any]:
        account = current_tenant()
        if request.chunk_size < 0:
            raise InvalidArgument.field("chunk_size", "must not be negative")
        chunk = min(request.chunk_size or STREAM_CHUNK, MAX_BATCH)
        reason = (
            domain.from_pb(domain.REASON_PB, request.reason, "reason") if request.reason else None
        )
        before = 2**62
        while True:
            # One page per short-lived pooled connection, yielded outside it (see
            # StreamCheckConsent): a slow reader holds no connection.
            async with self.pool.connection() as conn:
                found = await suppression_store.list_suppressions(
                    conn, account, reason=reason, before=before, limit=chunk
                )
            if not found:
                return
            yield pb.ExportSuppressionsResponse(suppressions=[e.to_pb() for e in found])
            before = found[-1].entry_id
