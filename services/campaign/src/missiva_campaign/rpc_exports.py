"""ExportContacts: the account's contacts as CSV, JSON or XLSX, streamed.

The contacts are read in id order a page at a time (keyset: ``id > last``), each page on a
short-lived connection, so neither the rows nor a database transaction are held for the
length of the download; a contact created or deleted while the export runs may or may not
be in it. Each page becomes bytes (``exports.py``) sent in pieces of at most 1 MiB. The
export can be limited to one list or to what one segment matches (compiled at the start).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import domain, exports, segments
from missiva_campaign.core import CampaignCore
from missiva_campaign.store import contacts, lists
from missiva_campaign.store import segments as segment_store
from missiva_platform.auth import current_tenant
from missiva_platform.errors import InvalidArgument, NotFound

EXPORT_PAGE = 2000
FORMATS = {
    pb.EXPORT_FORMAT_CSV: "csv",
    pb.EXPORT_FORMAT_JSON: "json",
    pb.EXPORT_FORMAT_XLSX: "xlsx",
}


class ExportRpcs:
    """ExportContacts."""

    core: CampaignCore

    async def _source(self, tenant: str, request: pb.ExportContactsRequest) -> Any:
        """A function reading the page after an id: all contacts, a list's or a segment's."""
        if request.list_id and request.segment_id:
            raise InvalidArgument.field("segment_id", "give a list_id or a segment_id, not both")
        if request.list_id:
            list_id = domain.contact_id("list_id", request.list_id)
            async with self.core.pool.connection() as conn:
                if await lists.get(conn, tenant, list_id) is None:
                    raise NotFound("list_id: list not found")

            async def of_list(conn: Any, after: str | None) -> list[dict[str, Any]]:
                return await contacts.page(
                    conn, tenant, after=after, limit=EXPORT_PAGE, list_id=list_id
                )

            return of_list
        if request.segment_id:
            segment_id = domain.contact_id("segment_id", request.segment_id)
            async with self.core.pool.connection() as conn:
                found = await segment_store.trees(conn, tenant, [segment_id])
            if not found:
                raise NotFound("segment_id: segment not found")
            compiled = segments.compile_tree(found[segment_id], tenant, "segment_id")

            async def of_segment(conn: Any, after: str | None) -> list[dict[str, Any]]:
                return await segment_store.contact_page(
                    conn, compiled, after=after, limit=EXPORT_PAGE
                )

            return of_segment

        async def everyone(conn: Any, after: str | None) -> list[dict[str, Any]]:
            return await contacts.page(conn, tenant, after=after, limit=EXPORT_PAGE)

        return everyone

    async def ExportContacts(
        self, request: pb.ExportContactsRequest, context: Any
    ) -> AsyncIterator[pb.ExportContactsResponse]:
        tenant = current_tenant()
        kind = FORMATS.get(request.format)  # type: ignore[call-overload]
        if kind is None:
            raise InvalidArgument.field("format", "must be CSV, JSON or XLSX")
        read = await self._source(tenant, request)
        writer = await asyncio.to_thread(exports.writer_for, kind)
        try:
            first = True
            written = 0

            def message(data: bytes) -> pb.ExportContactsResponse:
                nonlocal first
                reply = pb.ExportContactsResponse(chunk=data, contacts=written)
                if first:
                    reply.content_type = exports.CONTENT_TYPES[kind]
                    reply.filename = f"contacts.{kind}"
                    first = False
                return reply

            head = writer.start()
            after: str | None = None
            while True:
                async with self.core.pool.connection() as conn:
                    rows = await read(conn, after)
                if not rows:
                    break
                data = await asyncio.to_thread(writer.page, rows)
                written += len(rows)
                after = rows[-1]["id"]
                if head:
                    data, head = head + data, b""
                for piece in exports.pieces(data):
                    yield message(piece)
            if head:
                yield message(head)
            # The end, a piece at a time (an XLSX workbook is read back from its file).
            ending = writer.finish()
            while (rest := await asyncio.to_thread(_next, ending)) is not None:
                for part in exports.pieces(rest):
                    yield message(part)
            if first:
                yield message(b"")
        finally:
            await asyncio.to_thread(writer.close)


def _next(pieces: Iterator[bytes]) -> bytes | None:
    return next(pieces, None)
