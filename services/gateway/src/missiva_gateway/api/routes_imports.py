"""Contact imports: a CSV body streamed into campaign's ``ImportContacts``, progress, the
bad-rows report.

The upload is never held whole: each piece of the request body, as the server receives
it, goes on as the next ``csv_chunk`` of the client stream, and campaign reads rows as they
arrive. A body over ``API_IMPORT_MAX_BYTES`` stops the upload with a 413 (the rows merged
until then stay, and the import is resumable with ``import_id``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import PathParameter, QueryParameter
from litestar.response import Stream

from missiva.campaign.v1 import campaign_service_pb2 as cpb
from missiva_gateway.api import models_audience as m
from missiva_gateway.api.convert import stamp
from missiva_gateway.api.problems import ApiError, FieldViolation
from missiva_gateway.api.routing import PROBLEMS, CtxDep, IdempotencyKey

PathId = Annotated[str, PathParameter(min_length=1, max_length=64, description="Import id.")]
Text = Annotated[
    str | None,
    QueryParameter(max_length=2000, description="Proof: the exact text the people agreed to."),
]
IMPORT_FIELDS = {
    "options.consent_proof.collected_by": "consent_collected_by",
    "options.consent_proof.given_at": "consent_given_at",
    "options.consent_proof.consent_text": "consent_text",
    "options.consent_proof": "consent_text",  # no proof at all: the text is what is missing
    "options.column_mapping": "column",
    "options.attribute_types": "attribute_type",
    "options.tags": "tag",
    "options.": "",
    "csv_chunk": "body",
}


class CsvUpload(Operation):
    """The import operation's request body: a CSV file (documented by hand: the handler
    reads the raw stream, which Litestar cannot describe)."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="The CSV file, UTF-8, header line first (streamed, never held whole).",
            content={
                "text/csv": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.STRING, description="CSV text.")
                )
            },
        )


def _pairs(name: str, items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ApiError.field(name, f"{item!r} is not key=value")
        out[key] = value
    return out


class ImportsController(Controller):
    """Contact imports (scopes `contacts:read`, `contacts:write`)."""

    path = "/imports"
    tags = ["imports"]

    @post(
        "/",
        responses=PROBLEMS,
        summary="Import contacts from CSV",
        operation_class=CsvUpload,  # its body limit is its router's (API_IMPORT_MAX_BYTES)
    )
    async def import_contacts(
        self,
        ctx: CtxDep,
        request: Request[Any, Any, Any],
        list_id: Annotated[
            str | None, QueryParameter(max_length=64, description="List to add every contact to.")
        ] = None,
        tag: Annotated[
            list[str] | None,
            QueryParameter(description="Tags to add to every contact (repeatable)."),
        ] = None,
        update_existing: Annotated[
            bool, QueryParameter(description="Update contacts that exist already.")
        ] = False,
        require_double_opt_in: Annotated[
            bool, QueryParameter(description="Ask each contact to confirm by double opt-in.")
        ] = False,
        consent_source_detail: Annotated[
            str | None,
            QueryParameter(max_length=500, description="Where the consent was collected."),
        ] = None,
        consent_collected_by: Annotated[
            str | None,
            QueryParameter(max_length=500, description="Proof: who collected the consent."),
        ] = None,
        consent_given_at: Annotated[
            datetime | None,
            QueryParameter(description="Proof: when it was given (the latest date)."),
        ] = None,
        consent_text: Text = None,
        purpose_id: Annotated[
            str | None,
            QueryParameter(
                max_length=64, description="Purpose of the consents; the list's by default."
            ),
        ] = None,
        total_rows: Annotated[
            int,
            QueryParameter(
                ge=0, le=100_000_000, description="Rows in the file, for progress; 0 unknown."
            ),
        ] = 0,
        import_id: Annotated[
            str | None,
            QueryParameter(
                max_length=64, description="Resume this import: send the file again from its start."
            ),
        ] = None,
        column: Annotated[
            list[str] | None,
            QueryParameter(
                description=(
                    "Column mapping `Header=field` (`email`, `first_name`,"
                    " `attributes.city`, or empty to ignore); repeatable."
                )
            ),
        ] = None,
        attribute_type: Annotated[
            list[str] | None,
            QueryParameter(
                description="`key=type` (`text`, `number`, `boolean`, `date`); repeatable."
            ),
        ] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> m.ImportResult:
        """Stream a CSV file into campaign's `ImportContacts`. Consent: a proof
        (`consent_collected_by`, `consent_given_at`, `consent_text`) or double opt-in.
        `consent_text` is the exact text the people agreed to."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("text/csv", "text/plain", "application/octet-stream"):
            raise ApiError(
                415,
                "send the file as the body with Content-Type: text/csv",
                errors=[FieldViolation("Content-Type", "must be text/csv")],
            )
        proof = None
        if consent_collected_by or consent_given_at or consent_text:
            proof = cpb.ImportConsentProof(
                collected_by=consent_collected_by or "",
                given_at=stamp(consent_given_at) if consent_given_at else None,
                consent_text=consent_text or "",
            )
        options = cpb.ImportOptions(
            list_id=list_id or "",
            tags=tag or [],
            update_existing=update_existing,
            consent_source_detail=consent_source_detail or "",
            require_double_opt_in=require_double_opt_in,
            idempotency_key=ctx.idempotency(idempotency_key),
            import_id=import_id or "",
            column_mapping=_pairs("column", column),
            attribute_types=_pairs("attribute_type", attribute_type),
            consent_proof=proof,
            total_rows=total_rows,
            purpose_id=purpose_id or "",
        )
        call = ctx.stub("campaign").ImportContacts(
            metadata=ctx.caller.metadata, timeout=ctx.import_timeout
        )
        try:
            await call.write(cpb.ImportContactsRequest(options=options))
            async for piece in request.stream():
                if piece:
                    await call.write(cpb.ImportContactsRequest(csv_chunk=piece))
            await call.done_writing()
        except HTTPException as exc:  # over the body limit (413), or the client went away
            call.cancel()
            raise ApiError(
                exc.status_code,
                "the file is over this gateway's import limit; split it, or resume the"
                " import with import_id",
            ) from None
        except (asyncio.InvalidStateError, grpc.RpcError):
            pass  # the service ended the call early: its status is read below
        try:
            reply = await call
        except grpc.aio.AioRpcError as exc:
            raise ctx.problem(exc, IMPORT_FIELDS) from None
        return m.ImportResult.from_pb(reply)

    @get("/{import_id:str}", responses=PROBLEMS, summary="Import progress")
    async def get_import(self, ctx: CtxDep, import_id: PathId) -> m.ContactImport:
        """An import's state and progress."""
        reply = await ctx.call("campaign", "GetImport", cpb.GetImportRequest(import_id=import_id))
        return m.ContactImport.from_pb(getattr(reply, "import"))

    @post("/{import_id:str}/cancel", status_code=200, responses=PROBLEMS, summary="Cancel")
    async def cancel_import(self, ctx: CtxDep, import_id: PathId) -> m.ContactImport:
        """Stop a running or interrupted import; the rows merged before stay. An import that
        has ended is a 409."""
        reply = await ctx.call(
            "campaign", "CancelImport", cpb.CancelImportRequest(import_id=import_id)
        )
        return m.ContactImport.from_pb(getattr(reply, "import"))

    @get(
        "/{import_id:str}/report",
        responses=PROBLEMS,
        summary="Bad-rows report",
        media_type="text/csv",
        response_description="CSV `line,field,reason`, one line per rejected row.",
    )
    async def import_report(self, ctx: CtxDep, import_id: PathId) -> Response[Any]:
        """The rejected rows as CSV, streamed from campaign's `DownloadImportReport`."""
        stream = ctx.stub("campaign").DownloadImportReport(
            cpb.DownloadImportReportRequest(import_id=import_id),
            metadata=ctx.caller.metadata,
            timeout=ctx.import_timeout,
        )
        iterator = stream.__aiter__()
        try:  # the first piece before answering: an error is still a problem, not a cut body
            first = await iterator.__anext__()
        except StopAsyncIteration:
            first = cpb.DownloadImportReportResponse()
        except grpc.aio.AioRpcError as exc:
            raise ctx.problem(exc) from None

        async def pieces() -> AsyncIterator[bytes]:
            yield first.csv_chunk
            async for piece in iterator:
                yield piece.csv_chunk

        return Stream(
            pieces(),
            media_type="text/csv",
            headers={
                "content-disposition": f'attachment; filename="import-{import_id}-errors.csv"',
                "cache-control": "no-store",
            },
        )
