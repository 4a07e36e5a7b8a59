"""Purposes: create, list, update (key, kind and legal basis are fixed)."""

from __future__ import annotations

from typing import Any

from google.protobuf import field_mask_pb2

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import domain
from missiva_consent.domain import Basis
from missiva_consent.rpc_base import ConsentRpcs
from missiva_consent.store import base as db
from missiva_consent.store import purposes as purpose_store
from missiva_platform.auth import current_tenant
from missiva_platform.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from missiva_platform.pagination import page_size


def _mask_paths(mask: field_mask_pb2.FieldMask) -> set[str]:
    return {path.removeprefix("purpose.") for path in mask.paths}


LIST_PURPOSES = "consent.ListPurposes"


class PurposeRpcs(ConsentRpcs):
    async def CreatePurpose(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        purpose = domain.purpose_from_pb(request.purpose, account)

        async def work(conn: db.Conn) -> pb.CreatePurposeResponse:
            if account == self.svc.platform:
                await self.svc.ensure_platform()
            created = await purpose_store.insert_purpose(conn, purpose)
            if created is None:
                raise AlreadyExists(f"purpose.key: the account already has {purpose.key!r}")
            return pb.CreatePurposeResponse(purpose=created.to_pb())

        return await self._once("CreatePurpose", request, pb.CreatePurposeResponse, work)

    async def ListPurposes(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        limit = page_size(request.page_size)
        bound = (account, request.show_archived)
        position = self.svc.pages.read(request.page_token, LIST_PURPOSES, (str,), bound_to=bound)
        after = position[0] if position else ""
        async with self.pool.connection() as conn:
            if account == self.svc.platform:
                await self.svc.ensure_platform()
            found = await purpose_store.list_purposes(
                conn, account, archived=request.show_archived, after=after, limit=limit + 1
            )
        reply = pb.ListPurposesResponse(purposes=[p.to_pb() for p in found[:limit]])
        if len(found) > limit:
            reply.next_page_token = self.svc.pages.issue(
                LIST_PURPOSES, [found[limit - 1].key], bound_to=bound
            )
        return reply

    async def UpdatePurpose(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        paths = _mask_paths(request.update_mask)
        if not paths:
            raise InvalidArgument.field("update_mask", "name the fields to update")
        frozen = paths - domain.UPDATABLE_PURPOSE_FIELDS
        if frozen:
            raise InvalidArgument.field(
                "update_mask",
                f"cannot change {', '.join(sorted(frozen))} (key, kind and legal "
                "basis are fixed: consent was given for them)",
            )
        new = request.purpose
        async with self.pool.connection() as conn, conn.transaction():
            current = await self.svc.purpose(conn, account, new.purpose_id, "purpose.purpose_id")
            changes: dict[str, Any] = {}
            if "name" in paths:
                changes["name"] = domain.check_text(
                    new.name, "purpose.name", limit=200, required=True
                )
            if "description" in paths:
                changes["description"] = domain.check_text(new.description, "purpose.description")
            if "double_opt_in" in paths:
                if new.double_opt_in and current.legal_basis is Basis.CONTRACT:
                    raise InvalidArgument.field(
                        "purpose.double_opt_in", "not for a contract purpose"
                    )
                changes["double_opt_in"] = new.double_opt_in
            if paths & {"frequency_cap_count", "frequency_cap_days", "max_emails_per_month"}:
                count, days = domain.frequency_cap(new)
                changes["frequency_cap_count"], changes["frequency_cap_days"] = count, days
            if "state" in paths:
                if new.state not in (pb.PURPOSE_STATE_ACTIVE, pb.PURPOSE_STATE_ARCHIVED):
                    raise InvalidArgument.field("purpose.state", "must be ACTIVE or ARCHIVED")
                if current.legal_basis is Basis.CONTRACT and new.state == pb.PURPOSE_STATE_ARCHIVED:
                    raise FailedPrecondition("a contract purpose cannot be archived")
                changes["state"] = "active" if new.state == pb.PURPOSE_STATE_ACTIVE else "archived"
            from dataclasses import replace

            updated = await purpose_store.update_purpose(conn, replace(current, **changes))
        return pb.UpdatePurposeResponse(purpose=updated.to_pb())
