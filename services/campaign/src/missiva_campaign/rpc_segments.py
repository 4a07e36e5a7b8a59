"""Segment RPCs: save, read, update, list, preview (a live count and a sample), the trash,
and the compiler's whitelist for rule builders (ListSegmentFields).

The rule tree is validated and compiled by ``segments.py`` (a whitelist of fields, every
value a parameter, the account filter added by the compiler); a saved segment keeps the
tree, which is compiled again at each use, so a fix to the compiler applies to it.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from psycopg import errors as pg_errors

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import domain, segments
from missiva_campaign.core import CampaignCore, contact_pb, new_id, now, timestamp
from missiva_campaign.store import lists
from missiva_campaign.store import segments as segment_store
from missiva_platform.auth import current_tenant
from missiva_platform.errors import AlreadyExists, FailedPrecondition, NotFound
from missiva_platform.idempotency import run_once

SEGMENT_NOT_FOUND = "segment not found"
MAX_SEGMENT_NAME_CHARS = 200
DEFAULT_SAMPLE = 10
MAX_SAMPLE = 50
UPDATABLE = ("name", "rule_tree_json")


def segment_pb(row: dict[str, Any]) -> pb.Segment:
    segment = pb.Segment(
        segment_id=row["id"],
        name=row["name"],
        rule_tree_json=json.dumps(row["rule_tree"], ensure_ascii=False, separators=(",", ":")),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        deleted_at=timestamp(row["deleted_at"]),
    )
    if row["deleted_at"] is not None:
        segment.restorable_until.FromDatetime(
            (row["deleted_at"] + domain.TRASH_WINDOW).astimezone(UTC)
        )
    return segment


def compile_request(text: str, tenant: str, root: str = segments.ROOT) -> segments.Compiled:
    return segments.compile_tree(segments.parse(text, root), tenant, root)


async def check_lists(conn: Any, tenant: str, compiled: segments.Compiled) -> None:
    """Every list a tree names is the account's (another account's list is NOT_FOUND)."""
    if not compiled.list_ids:
        return
    missing = set(await lists.missing(conn, tenant, [i for _, i in compiled.list_ids]))
    for path, list_id in compiled.list_ids:
        if list_id in missing:
            raise NotFound(f"{path}: list not found: {list_id}")


class SegmentRpcs:
    """CreateSegment, GetSegment, UpdateSegment, ListSegments, ListSegmentFields,
    PreviewSegment, DeleteSegment, RestoreSegment."""

    core: CampaignCore

    async def CreateSegment(self, request: pb.CreateSegmentRequest, context: Any) -> Any:
        tenant = current_tenant()
        given = request.segment
        name = domain.text("segment.name", given.name, limit=MAX_SEGMENT_NAME_CHARS, required=True)
        root = "segment.rule_tree_json"
        tree = segments.parse(given.rule_tree_json, root)
        compiled = segments.compile_tree(tree, tenant, root)
        row = {"id": new_id(), "account_id": tenant, "name": name, "rule_tree": tree}

        async def work(conn: Any) -> pb.CreateSegmentResponse:
            await check_lists(conn, tenant, compiled)
            try:
                created = await segment_store.create(conn, row)
            except segment_store.DuplicateName:
                raise AlreadyExists(
                    "segment.name: the account already has a segment of this name"
                ) from None
            return pb.CreateSegmentResponse(segment=segment_pb(created))

        return await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="CreateSegment",
            request=request,
            response_type=pb.CreateSegmentResponse,
            work=work,
        )

    async def GetSegment(self, request: pb.GetSegmentRequest, context: Any) -> Any:
        tenant = current_tenant()
        segment_id = domain.contact_id("segment_id", request.segment_id)
        async with self.core.pool.connection() as conn:
            row = await segment_store.get(conn, tenant, segment_id)
        if row is None:
            raise NotFound(SEGMENT_NOT_FOUND)
        return pb.GetSegmentResponse(segment=segment_pb(row))

    async def UpdateSegment(self, request: pb.UpdateSegmentRequest, context: Any) -> Any:
        tenant = current_tenant()
        given = request.segment
        segment_id = domain.contact_id("segment.segment_id", given.segment_id)
        paths = list(dict.fromkeys(request.update_mask.paths))
        if not paths:
            raise segments.InvalidArgument.field(
                "update_mask", "is required (name, rule_tree_json)"
            )
        for path in paths:
            if path not in UPDATABLE:
                raise segments.InvalidArgument.field(
                    "update_mask", f"{path} is not updatable; these are: " + ", ".join(UPDATABLE)
                )
        changes: dict[str, Any] = {}
        compiled = None
        if "name" in paths:
            changes["name"] = domain.text(
                "segment.name", given.name, limit=MAX_SEGMENT_NAME_CHARS, required=True
            )
        if "rule_tree_json" in paths:
            root = "segment.rule_tree_json"
            changes["rule_tree"] = segments.parse(given.rule_tree_json, root)
            compiled = segments.compile_tree(changes["rule_tree"], tenant, root)
        async with self.core.pool.connection() as conn, conn.transaction():
            if await segment_store.get(conn, tenant, segment_id) is None:
                raise NotFound(SEGMENT_NOT_FOUND)
            if compiled is not None:
                await check_lists(conn, tenant, compiled)
            try:
                row = await segment_store.update(conn, tenant, segment_id, changes)
            except segment_store.DuplicateName:
                raise AlreadyExists(
                    "segment.name: the account already has a segment of this name"
                ) from None
        if row is None:
            raise NotFound(SEGMENT_NOT_FOUND)
        return pb.UpdateSegmentResponse(segment=segment_pb(row))

    async def ListSegmentFields(self, request: pb.ListSegmentFieldsRequest, context: Any) -> Any:
        return pb.ListSegmentFieldsResponse(
            fields=[
                pb.SegmentField(name=f.name, kind=f.kind, operators=f.operators)
                for f in segments.fields()
            ],
            operators=[
                pb.SegmentOperator(
                    name=o.name, aliases=o.aliases, no_value=o.no_value, list_value=o.list_value
                )
                for o in segments.operators()
            ],
            rules=segments.rule_kinds(),
            consent_states=segments.CONSENT_STATES,
        )

    async def ListSegments(self, request: pb.ListSegmentsRequest, context: Any) -> Any:
        tenant = current_tenant()
        size = domain.page_size("page_size", request.page_size)
        digest = domain.filter_digest("segments", request.in_trash)
        after = domain.decode_page_token("page_token", request.page_token, digest)
        since = now() - domain.TRASH_WINDOW if request.in_trash else None
        async with self.core.pool.connection() as conn:
            rows = await segment_store.page(
                conn, tenant, after=after, limit=size + 1, trash_since=since
            )
        more = len(rows) > size
        rows = rows[:size]
        token = domain.encode_page_token(rows[-1]["id"], digest) if more else ""
        return pb.ListSegmentsResponse(
            segments=[segment_pb(r) for r in rows], next_page_token=token
        )

    async def PreviewSegment(self, request: pb.PreviewSegmentRequest, context: Any) -> Any:
        tenant = current_tenant()
        if request.sample_size < 0:
            raise segments.InvalidArgument.field("sample_size", "must not be negative")
        limit = min(request.sample_size or DEFAULT_SAMPLE, MAX_SAMPLE)
        compiled = compile_request(request.rule_tree_json, tenant)
        try:
            async with self.core.pool.connection() as conn:
                await check_lists(conn, tenant, compiled)
                total, rows = await segment_store.preview(conn, compiled, limit)
        except pg_errors.QueryCanceled:
            raise FailedPrecondition(
                "the segment took too long to count: narrow it with a tag, a list or an"
                " attribute equality"
            ) from None
        return pb.PreviewSegmentResponse(matching_count=total, sample=[contact_pb(r) for r in rows])

    async def DeleteSegment(self, request: pb.DeleteSegmentRequest, context: Any) -> Any:
        tenant = current_tenant()
        segment_id = domain.contact_id("segment_id", request.segment_id)
        async with self.core.pool.connection() as conn, conn.transaction():
            row = await segment_store.trash(conn, tenant, segment_id)
        if row is None:
            raise NotFound(SEGMENT_NOT_FOUND)
        return pb.DeleteSegmentResponse(segment=segment_pb(row))

    async def RestoreSegment(self, request: pb.RestoreSegmentRequest, context: Any) -> Any:
        tenant = current_tenant()
        segment_id = domain.contact_id("segment_id", request.segment_id)
        since = now() - domain.TRASH_WINDOW
        try:
            async with self.core.pool.connection() as conn, conn.transaction():
                row = await segment_store.restore(conn, tenant, segment_id, since=since)
        except segment_store.DuplicateName:
            raise AlreadyExists(
                "segment_id: a live segment has this segment's name; rename that one first"
            ) from None
        if row is None:
            raise NotFound(SEGMENT_NOT_FOUND)
        return pb.RestoreSegmentResponse(segment=segment_pb(row))
