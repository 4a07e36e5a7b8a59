"""Importing contacts from a CSV file: upload, map the columns, watch the progress bar, get
the bad-rows report.

The file is held in this replica's memory between the upload and the start (at most
``MAX_UPLOAD_BYTES``, forgotten after ``UPLOAD_TTL_SECONDS`` or once imported), then streamed
to campaign's ``ImportContacts`` in chunks of ``ROWS_PER_CHUNK`` rows by a background task;
the page polls ``/app/import/{id}/progress`` with HTMX. Campaign's RPC names its import only
in its final answer, so while it runs the bar counts the rows handed to campaign over the
stream (which campaign reads as it merges them); the final figures are campaign's own.
A gateway with several replicas needs sticky sessions for this page.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_gateway.errors import problem_of
from missiva_gateway.web.app_pages import campaign_stub
from missiva_gateway.web.context import Caller, Web
from missiva_gateway.web.problems import FormProblem, form_problem
from missiva_gateway.web.render import gettext_for, page

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_TTL_SECONDS = 3600.0
MAX_UPLOADS = 64
ROWS_PER_CHUNK = 100
START_WAIT_SECONDS = 1.5  # how long the start waits for campaign to refuse the options
TARGETS = ("email", "first_name", "last_name", "locale", "timezone", "tags")
_GUESS = {
    "email": ("email", "e-mail", "mail", "email address", "indirizzo email"),
    "first_name": ("first_name", "first name", "firstname", "given name", "nome"),
    "last_name": ("last_name", "last name", "lastname", "surname", "family name", "cognome"),
    "locale": ("locale", "language", "lingua"),
    "timezone": ("timezone", "time zone", "fuso orario"),
    "tags": ("tags", "tag"),
}
_ATTRIBUTE = re.compile(r"[^a-z0-9_]+")
OPTION_FIELDS = {
    "options.list_id": "list_id",
    "options.consent_proof.collected_by": "collected_by",
    "options.consent_proof.given_at": "given_at",
    "options.consent_proof.consent_text": "consent_text",
    "options.consent_proof": "consent_mode",
    "options.purpose_id": "list_id",
    "options.column_mapping": "mapping",
    "csv_chunk": "mapping",
}


@dataclass
class Upload:
    """One uploaded file and, once started, its import."""

    owner: str
    name: str
    lines: list[bytes]  # the header first
    columns: list[str]
    created: float = field(default_factory=time.monotonic)
    state: str = "mapping"  # mapping → running → done | failed
    sent: int = 0
    reply: Any = None
    problem: Any = None
    task: asyncio.Task[None] | None = None
    form: dict[str, str] = field(default_factory=dict)  # the mapping form last started

    @property
    def total(self) -> int:
        return max(0, len(self.lines) - 1)


class Imports:
    """The uploads of this replica."""

    def __init__(self) -> None:
        self.uploads: dict[str, Upload] = {}

    def add(self, upload: Upload) -> str:
        now = time.monotonic()
        for key, item in list(self.uploads.items()):
            if now - item.created > UPLOAD_TTL_SECONDS and item.state != "running":
                del self.uploads[key]
        if len(self.uploads) >= MAX_UPLOADS:
            for key in [k for k, v in self.uploads.items() if v.state != "running"][:8]:
                del self.uploads[key]
        key = secrets.token_urlsafe(12)
        self.uploads[key] = upload
        return key

    def get(self, owner: str, key: str) -> Upload:
        upload = self.uploads.get(key)
        if upload is None or upload.owner != owner:
            raise NotFoundException()
        return upload


def owner_of(caller: Caller) -> str:
    return f"{caller.account.account.account_id}:{caller.session.session_id}"


def guess(column: str) -> str:
    name = column.strip().lower()
    for target, names in _GUESS.items():
        if name in names:
            return target
    slug = _ATTRIBUTE.sub("_", name).strip("_")[:40]
    return f"attributes.{slug}" if slug and slug[0].isalpha() else ""


def split_lines(data: bytes) -> list[bytes]:
    """The file's records (a quoted field may hold a line break), each ending in a newline."""
    text = data.decode("utf-8-sig")
    out, buffer = [], io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for record in csv.reader(io.StringIO(text)):
        if not any(cell.strip() for cell in record):
            continue
        writer.writerow(record)
        out.append(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
    return out


async def run_import(web: Web, caller: Caller, upload: Upload, options: pb.ImportOptions) -> None:
    """Stream the file to campaign, counting what it has been handed."""
    call = campaign_stub(web).ImportContacts(metadata=caller.metadata, timeout=3600)
    try:
        first = True
        for start in range(0, len(upload.lines), ROWS_PER_CHUNK):
            chunk = b"".join(upload.lines[start : start + ROWS_PER_CHUNK])
            request = pb.ImportContactsRequest(csv_chunk=chunk)
            if first:
                request.options.CopyFrom(options)
                first = False
            await call.write(request)
            upload.sent = max(0, min(upload.total, start + ROWS_PER_CHUNK - 1))
        await call.done_writing()
        upload.reply = await call
        upload.sent = upload.total
        upload.state = "done"
    except grpc.aio.AioRpcError as exc:
        upload.problem = exc
        upload.state = "failed"
    except asyncio.CancelledError:
        call.cancel()
        upload.state = "failed"
        raise
    finally:
        upload.lines = upload.lines if upload.state != "done" else []


def _options_refused(upload: Upload) -> FormProblem | None:
    """Campaign's refusal of the import's options (a field of the mapping form at fault,
    nothing imported), when that is how the import ended."""
    if upload.state != "failed" or upload.problem is None or not upload.lines:
        return None
    problem = form_problem(upload.problem, OPTION_FIELDS)
    return problem if problem.fields and problem.status < 500 else None


class ImportPages(Controller):
    """``/app/import``: upload, mapping, progress, report."""

    include_in_schema = False

    async def _lists(self, web: Web, caller: Caller) -> list[Any]:
        reply = await campaign_stub(web).ListLists(
            pb.ListListsRequest(page_size=100), metadata=caller.metadata, timeout=web.timeout
        )
        return list(reply.lists)

    @get("/app/import")
    async def upload_page(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        await web.signed_in(request)
        _ = gettext_for(request)
        return page(request, "import_upload.html", title=_("Import contacts"), problem=None)

    @post("/app/import", request_max_body_size=MAX_UPLOAD_BYTES + 64 * 1024)
    async def upload(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        _ = gettext_for(request)
        form = await request.form()
        file = form.get("file")
        problem = None
        lines: list[bytes] = []
        if file is None or isinstance(file, str):
            problem = FormProblem(400, _("Choose a CSV file."), {"file": _("Choose a CSV file.")})
        else:
            data = await file.read()
            try:
                lines = split_lines(data)
            except (UnicodeDecodeError, csv.Error):
                message = _("This file is not a CSV file in UTF-8.")
                problem = FormProblem(400, message, {"file": message})
            if problem is None and len(lines) < 2:
                message = _("The file needs a header line and at least one contact.")
                problem = FormProblem(400, message, {"file": message})
        if problem is not None:
            return page(
                request,
                "import_upload.html",
                status=400,
                title=_("Import contacts"),
                problem=problem,
            )
        columns = next(csv.reader([lines[0].decode()]))
        name = getattr(file, "filename", "") or "contacts.csv"
        key = web.imports.add(Upload(owner_of(caller), name[:100], lines, columns))
        return await self._mapping(request, web, caller, key, None, {})

    async def _mapping(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        key: FromPath[str],
        problem: FormProblem | None,
        values: dict[str, str],
        status: int = 200,
    ) -> Response[str]:
        upload = web.imports.get(owner_of(caller), key)
        _ = gettext_for(request)
        sample = next(csv.reader([upload.lines[1].decode()])) if upload.total else []
        columns = [
            {
                "index": i,
                "name": name,
                "guess": values.get(f"map_{i}", guess(name)),
                "sample": sample[i] if i < len(sample) else "",
            }
            for i, name in enumerate(upload.columns)
        ]
        return page(
            request,
            "import_mapping.html",
            status=status,
            title=_("Match the columns"),
            key=key,
            upload=upload,
            columns=columns,
            targets=TARGETS,
            lists=await self._lists(web, caller),
            problem=problem,
            values=values,
            today=datetime.now(UTC).date().isoformat(),
        )

    @post("/app/import/{key:str}/start", request_max_body_size=256 * 1024)
    async def start(
        self, key: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        upload = web.imports.get(owner_of(caller), key)
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if upload.state == "mapping" or (upload.state == "failed" and upload.lines):
            mapping = {}
            for index, column in enumerate(upload.columns):
                target = form.get(f"map_{index}", "").strip()
                mapping[column] = target  # "" ignores the column
            options = pb.ImportOptions(
                list_id=form.get("list_id", ""),
                column_mapping=mapping,
                total_rows=upload.total,
                idempotency_key=str(uuid.uuid4()),
                consent_source_detail=upload.name,
            )
            if form.get("consent_mode") == "double_opt_in":
                options.require_double_opt_in = True
            else:
                given = Timestamp()
                try:
                    day = datetime.fromisoformat(form.get("given_at", "")).replace(tzinfo=UTC)
                    given.FromDatetime(day)
                    options.consent_proof.given_at.CopyFrom(given)
                except ValueError:
                    pass
                options.consent_proof.collected_by = form.get("collected_by", "")
                options.consent_proof.consent_text = form.get("consent_text", "")
            upload.state, upload.problem, upload.sent, upload.form = "running", None, 0, form
            upload.task = asyncio.create_task(run_import(web, caller, upload, options))
            await asyncio.wait({upload.task}, timeout=START_WAIT_SECONDS)
            if upload.state == "failed" and upload.problem is not None:
                problem = form_problem(upload.problem, OPTION_FIELDS)
                upload.state = "mapping"
                if problem.status >= 500:
                    raise upload.problem
                return await self._mapping(
                    request, web, caller, key, problem, form, status=problem.status
                )
        return self._progress_page(request, key, upload)

    def _progress_page(
        self, request: Request[Any, Any, Any], key: str, upload: Upload
    ) -> Response[str]:
        _ = gettext_for(request)
        return page(
            request,
            "import_progress.html",
            title=_("Importing"),
            key=key,
            upload=upload,
            problem=self._problem(upload),
        )

    def _problem(self, upload: Upload) -> str:
        return problem_of(upload.problem).message if upload.problem is not None else ""

    @get("/app/import/{key:str}/mapping")
    async def mapping_again(
        self, key: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        """The mapping form again, with campaign's refusal of the options under their fields
        when it came after the start had stopped waiting (a slow answer)."""
        caller = await web.signed_in(request)
        upload = web.imports.get(owner_of(caller), key)
        problem = _options_refused(upload)
        if problem is not None:
            upload.state = "mapping"
            return await self._mapping(
                request, web, caller, key, problem, upload.form, status=problem.status
            )
        if upload.state != "mapping":
            return Redirect(f"/app/import/{key}/progress-page", status_code=303)
        return await self._mapping(request, web, caller, key, None, upload.form)

    @get("/app/import/{key:str}/progress-page")
    async def progress_page(
        self, key: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        return self._progress_page(request, key, web.imports.get(owner_of(caller), key))

    @get("/app/import/{key:str}/progress")
    async def progress(
        self, key: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        upload = web.imports.get(owner_of(caller), key)
        if _options_refused(upload) is not None:  # back to the form, the violations under it
            return Response("", headers={"HX-Redirect": f"/app/import/{key}/mapping"})
        return page(
            request,
            "import_progress_part.html",
            title="",
            key=key,
            upload=upload,
            problem=self._problem(upload),
        )

    @get("/app/import/report/{import_id:str}")
    async def report(
        self, import_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Stream:
        caller = await web.signed_in(request)
        call = campaign_stub(web).DownloadImportReport(
            pb.DownloadImportReportRequest(import_id=import_id[:64]),
            metadata=caller.metadata,
            timeout=120,
        )
        first = await call.read()  # a refusal fails here, as a page

        async def pieces() -> AsyncIterator[bytes]:
            if first is not grpc.aio.EOF:
                yield first.csv_chunk
                while (piece := await call.read()) is not grpc.aio.EOF:
                    yield piece.csv_chunk

        return Stream(
            pieces(),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": (
                    f'attachment; filename="import-{import_id[:36]}-bad-rows.csv"'
                )
            },
        )
