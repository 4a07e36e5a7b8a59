"""Import RPCs: ``ImportContacts`` (a client stream of CSV bytes or rows), ``GetImport``
(progress while it runs), ``CancelImport`` and ``DownloadImportReport`` (the rejected rows).

Rows are validated as they arrive (``import_rows.py``) and merged a chunk at a time
(``store/imports.py``): every chunk commits its contacts, its memberships, its rejected rows,
its events (``ContactsImported`` with the contacts it created, ``RecordImportedConsentsCommand``
to consent, each split into parts to stay under NATS's payload limit) and
the import's progress together. An import is resumable: send the same file again with
``options.import_id`` (or the same ``idempotency_key``); the lines already merged are skipped,
so a crash, a dropped stream or a second run creates no duplicate. A cancellation takes effect
at the next chunk; what was merged before stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import domain, import_events, import_rows
from missiva_campaign.core import CampaignCore, current_actor, new_id, timestamp
from missiva_campaign.store import imports, lists
from missiva_platform.auth import current_tenant
from missiva_platform.errors import FailedPrecondition, InvalidArgument, NotFound

IMPORT_NOT_FOUND = "import not found"
MAX_COLLECTED_BY_CHARS = 200
MAX_CONSENT_TEXT_CHARS = 5000
MAX_REPORTED_ERRORS = 100
REPORT_PAGE = 5000
DUPLICATE = "duplicate of an earlier row of this import (the first row of an address wins)"
STATUSES = {
    "running": pb.IMPORT_STATUS_RUNNING,
    "completed": pb.IMPORT_STATUS_COMPLETED,
    "cancelled": pb.IMPORT_STATUS_CANCELLED,
    "interrupted": pb.IMPORT_STATUS_INTERRUPTED,
}


class Stopped(Exception):
    """The import was cancelled while this stream ran."""


def import_pb(row: dict[str, Any]) -> pb.ContactImport:
    return pb.ContactImport(
        import_id=row["id"],
        status=STATUSES[row["status"]],
        rows_read=row["rows_read"],
        total_rows=row["total_rows"],
        good=row["good"],
        bad=row["bad"],
        created=row["created"],
        updated=row["updated"],
        skipped=row["skipped"],
        consent_mode=row["consent_mode"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        finished_at=timestamp(row["finished_at"]),
    )


def check_options(options: pb.ImportOptions) -> dict[str, Any]:
    """The import's settings from its options; INVALID_ARGUMENT naming the field."""
    settings: dict[str, Any] = {
        "tags": domain.tags("options.tags", options.tags),
        "types": import_rows.attribute_types(options.attribute_types),
        "list_id": domain.contact_id("options.list_id", options.list_id)
        if options.list_id
        else None,
        "purpose_id": domain.purpose_id("options.purpose_id", options.purpose_id)
        if options.purpose_id
        else "",
    }
    for source, target in options.column_mapping.items():
        if target:
            import_rows.check_target(f"options.column_mapping[{source!r}]", target)
    if options.total_rows < 0:
        raise InvalidArgument.field("options.total_rows", "must not be negative")
    domain.text(
        "options.consent_source_detail", options.consent_source_detail, limit=MAX_COLLECTED_BY_CHARS
    )
    has_proof = options.HasField("consent_proof")
    if options.require_double_opt_in:
        if has_proof:
            raise InvalidArgument.field(
                "options.consent_proof",
                "give either a proof of prior consent or require_double_opt_in, not both",
            )
        settings["consent_mode"] = "double_opt_in"
        return settings
    if not has_proof:
        raise InvalidArgument.field(
            "options.consent_proof",
            "is required: declare who collected the consent, when and with which text, or set"
            " require_double_opt_in to ask every contact to confirm",
        )
    proof = options.consent_proof
    domain.text(
        "options.consent_proof.collected_by",
        proof.collected_by,
        limit=MAX_COLLECTED_BY_CHARS,
        required=True,
    )
    if not proof.consent_text.strip():
        raise InvalidArgument.field(
            "options.consent_proof.consent_text", "is required: the text people agreed to"
        )
    if len(proof.consent_text) > MAX_CONSENT_TEXT_CHARS or "\x00" in proof.consent_text:
        raise InvalidArgument.field(
            "options.consent_proof.consent_text",
            f"must be text of at most {MAX_CONSENT_TEXT_CHARS} characters",
        )
    if not proof.HasField("given_at"):
        raise InvalidArgument.field("options.consent_proof.given_at", "is required")
    if proof.given_at.ToDatetime(tzinfo=UTC) > datetime.now(UTC):
        raise InvalidArgument.field("options.consent_proof.given_at", "is in the future")
    settings["consent_mode"] = "proof"
    return settings


class ImportRun:
    """One stream of one import: parses, validates and merges chunk by chunk."""

    def __init__(self, core: CampaignCore, tenant: str, row: dict[str, Any]) -> None:
        self.core = core
        self.tenant = tenant
        self.row = row
        self.options = json_format.ParseDict(row["options"], pb.ImportOptions())
        settings = check_options(self.options)
        self.validator = import_rows.Validator(None, settings["types"], settings["tags"])
        self.records = import_rows.CsvRecords()
        self.mode = ""
        self.header_seen = False
        self.lines_done = int(row["lines_done"])
        self.pending: list[import_rows.Contact | import_rows.Rejected] = []
        self.seen: dict[str, int] = {}
        self.last_line = self.lines_done
        # The chunk being merged while the next one is read (at most one at a time, in order).
        self.merging: asyncio.Task[None] | None = None
        self.next_row = 0
        self.chunk_rows = core.settings.import_chunk_rows
        self.message_budget = core.settings.import_message_bytes

    async def take(self, request: pb.ImportContactsRequest) -> None:
        if request.csv_chunk and request.rows:
            raise InvalidArgument.field("rows", "send either CSV bytes or rows, not both")
        if request.csv_chunk:
            self._mode("csv", "csv_chunk")
            for record in self.records.feed(request.csv_chunk):
                await self._record(record)
        for index, given in enumerate(request.rows):
            self._mode("rows", f"rows[{index}]")
            self.next_row = max(self.next_row + 1, given.row_number)
            values = {"email": given.email, "first_name": given.first_name}
            values["last_name"] = given.last_name
            values["tags"] = ";".join(given.tags)
            for key, text in given.attributes.items():
                values[f"attributes.{key}"] = text
            await self._add(self.next_row, lambda v=values: self.validator.values(self.next_row, v))

    def _mode(self, mode: str, field: str) -> None:
        if self.mode and self.mode != mode:
            raise InvalidArgument.field(field, "an import sends either CSV bytes or rows, not both")
        self.mode = mode

    async def _record(self, record: import_rows.Record) -> None:
        if not self.header_seen:
            if record.cells is None:
                raise InvalidArgument.field("csv_chunk", f"the header line {record.problem}")
            if not record.cells:
                return
            self.header_seen = True
            self.validator.columns = import_rows.resolve_columns(
                record.cells, self.options.column_mapping
            )
            self.last_line = max(self.last_line, record.line)
            return
        await self._add(record.line, lambda: self.validator.record(record))

    async def _add(self, line: int, check: Any) -> None:
        if line <= self.lines_done:
            return  # merged by an earlier run of this import
        item = check()
        if item is None:
            return
        if isinstance(item, import_rows.Contact):
            first = self.seen.get(item.email_key)
            if first is not None:
                item = import_rows.Rejected(line, "email", f"{DUPLICATE}: line {first}")
            else:
                self.seen[item.email_key] = line
        self.pending.append(item)
        self.last_line = line
        if len(self.pending) >= self.chunk_rows:
            await self.settle()
            items, last = self._split()
            self.merging = asyncio.ensure_future(self._merge_chunk(items, last))

    async def finish(self) -> None:
        for record in self.records.finish():
            await self._record(record)
        if self.mode == "csv" and not self.header_seen and self.lines_done == 0:
            raise InvalidArgument.field("csv_chunk", "the CSV is empty: no header line")
        await self.flush(final=True)

    def _split(self) -> tuple[list[import_rows.Contact | import_rows.Rejected], int]:
        items, self.pending, self.seen = self.pending, [], {}
        return items, self.last_line

    async def settle(self) -> None:
        """Wait for the chunk being merged (its failure is this stream's). A stream cancelled
        meanwhile does not cancel the merge: the chunk commits whole (see ``abandon``)."""
        task = self.merging
        if task is not None:
            await asyncio.shield(task)
            self.merging = None

    async def abandon(self) -> None:
        """The stream ends badly: let the chunk in hand commit or roll back, then stop."""
        task, self.merging = self.merging, None
        if task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(task)

    async def flush(self, *, final: bool = False) -> None:
        """Merge what is pending after the chunk in hand (the import's progress with it)."""
        await self.settle()
        items, last = self._split()
        if items or final:
            await self._merge_chunk(items, last, final=final)

    async def _merge_chunk(
        self,
        items: list[import_rows.Contact | import_rows.Rejected],
        last_line: int,
        *,
        final: bool = False,
    ) -> None:
        """Merge one chunk in one transaction, with the import's progress."""
        async with self.core.pool.connection() as conn, conn.transaction():
            locked = await imports.get(conn, self.tenant, self.row["id"], lock=True)
            assert locked is not None
            if locked["status"] == "cancelled":
                self.row = locked
                raise Stopped
            done = int(locked["lines_done"])
            items = [i for i in items if i.line > done]  # another stream merged those
            good = [i for i in items if isinstance(i, import_rows.Contact)]
            bad = [i for i in items if isinstance(i, import_rows.Rejected)]
            outcomes = await self._merge(conn, good) if good else []
            errors = [(b.line, b.field, b.reason) for b in bad]
            errors += [(o.line, "email", DUPLICATE) for o in outcomes if o.outcome == "duplicate"]
            await imports.add_errors(conn, self.row["id"], errors)
            created = [o for o in outcomes if o.outcome == "merged" and o.inserted]
            merged = [o for o in outcomes if o.outcome == "merged"]
            chunk = int(locked["chunks"]) + 1
            events = []
            if created:
                events += import_events.contacts_imported(
                    self.tenant,
                    self.row["id"],
                    chunk,
                    [(o.contact_id, o.person_key) for o in created],
                    [self.row["list_id"]] if self.row["list_id"] else [],
                    budget=self.message_budget,
                )
            consents = [vars(o) for o in merged if not o.refused]
            if consents:
                events += import_events.imported_consents(
                    self.tenant, locked, chunk, consents, budget=self.message_budget
                )
            await imports.add_outbox(conn, events)
            duplicates = sum(1 for o in outcomes if o.outcome == "duplicate")
            self.row = await imports.advance(
                conn,
                self.row["id"],
                {
                    "lines_done": max(done, last_line),
                    "rows": len(items),
                    "good": len(good) - duplicates,
                    "bad": len(errors),
                    "created": len(created),
                    "updated": len(merged) - len(created),
                    "skipped": sum(1 for o in outcomes if o.outcome == "skipped"),
                },
            )
            if final:
                self.row = (
                    await imports.set_status(
                        conn, self.tenant, self.row["id"], "completed", only_from=("running",)
                    )
                    or self.row
                )
        self.lines_done = max(self.lines_done, int(self.row["lines_done"]))

    async def _merge(self, conn: Any, good: list[import_rows.Contact]) -> list[imports.Outcome]:
        rows = [
            (
                c.line,
                new_id(),
                c.email,
                c.email_key,
                self.core.person_key(domain.Address(c.email, c.email_key)),
                c.first_name,
                c.last_name,
                c.locale,
                c.timezone,
                c.attributes_json,
                c.tags,
            )
            for c in good
        ]
        await imports.stage(conn, rows)
        return await imports.merge(
            conn,
            {
                "account": self.tenant,
                "import": self.row["id"],
                "import_text": self.row["id"],
                "actor_kind": self.row["actor_kind"],
                "actor_id": self.row["actor_id"],
                "update_existing": self.options.update_existing,
                "list": self.row["list_id"],
                "purpose": self.row["purpose_id"],
            },
        )


class ImportRpcs:
    """ImportContacts, GetImport, CancelImport, DownloadImportReport."""

    core: CampaignCore

    async def _open(self, tenant: str, options: pb.ImportOptions) -> dict[str, Any]:
        """The import to run: the one named (resumed) or a new one."""
        async with self.core.pool.connection() as conn, conn.transaction():
            if options.import_id:
                import_id = domain.contact_id("options.import_id", options.import_id)
                row = await imports.get(conn, tenant, import_id)
                if row is None:
                    raise NotFound(f"options.import_id: {IMPORT_NOT_FOUND}")
                return row
            settings = check_options(options)
            if options.idempotency_key:
                found = await imports.by_key(conn, tenant, options.idempotency_key)
                if found is not None:
                    return found
            purpose = settings["purpose_id"]
            if settings["list_id"]:
                listed = await lists.get(conn, tenant, settings["list_id"])
                if listed is None:
                    raise NotFound(f"options.list_id: list not found: {settings['list_id']}")
                purpose = purpose or listed["purpose_id"]
            if not purpose:
                raise InvalidArgument.field(
                    "options.purpose_id",
                    "is required when no list is given: consent is per purpose",
                )
            actor = current_actor()
            stored = json_format.MessageToDict(options)
            stored.pop("importId", None)
            row = {
                "id": new_id(),
                "account_id": tenant,
                "idempotency_key": domain.text(
                    "options.idempotency_key", options.idempotency_key, limit=200
                ),
                "options": stored,
                "consent_mode": settings["consent_mode"],
                "list_id": settings["list_id"],
                "purpose_id": purpose,
                "total_rows": options.total_rows,
                "actor_kind": actor.kind,
                "actor_id": actor.id,
            }
            created = await imports.create(conn, row)
            if created is None:  # another call with the key won the race
                again = await imports.by_key(conn, tenant, options.idempotency_key)
                assert again is not None
                return again
            return created

    async def _summary(self, tenant: str, row: dict[str, Any]) -> pb.ImportContactsResponse:
        async with self.core.pool.connection() as conn:
            errors = await imports.errors_page(conn, row["id"], after=0, limit=MAX_REPORTED_ERRORS)
        return pb.ImportContactsResponse(
            import_id=row["id"],
            received=row["rows_read"],
            created=row["created"],
            updated=row["updated"],
            skipped=row["skipped"],
            rejected=row["bad"],
            errors=[pb.ImportRowError(row_number=e[0], field=e[1], message=e[2]) for e in errors],
            **{"import": import_pb(row)},
        )

    async def ImportContacts(
        self, request_iterator: AsyncIterator[pb.ImportContactsRequest], context: Any
    ) -> Any:
        tenant = current_tenant()
        stream = aiter(request_iterator)
        first = await anext(stream, None)
        if first is None or not first.HasField("options"):
            raise InvalidArgument.field("options", "the first chunk must carry the options")
        row = await self._open(tenant, first.options)
        if row["status"] == "completed":
            return await self._summary(tenant, row)  # the file again: nothing to do twice
        if row["status"] == "cancelled":
            raise FailedPrecondition("this import was cancelled; start a new one")
        async with self.core.pool.connection() as conn, conn.transaction():
            row = (
                await imports.set_status(
                    conn, tenant, row["id"], "running", only_from=("running", "interrupted")
                )
                or row
            )
        run = ImportRun(self.core, tenant, row)
        try:
            await run.take(first)
            async for request in stream:
                if request.HasField("options"):
                    raise InvalidArgument.field("options", "only the first chunk carries options")
                await run.take(request)
            await run.finish()
        except Stopped:
            return await self._summary(tenant, run.row)
        except InvalidArgument:
            # Rows read before the bad input are kept, then the import waits to be resumed.
            with contextlib.suppress(Stopped):
                await run.flush()
            await self._interrupt(tenant, row["id"])
            raise
        except BaseException:
            await run.abandon()
            await asyncio.shield(self._interrupt(tenant, row["id"]))
            raise
        return await self._summary(tenant, run.row)

    async def _interrupt(self, tenant: str, import_id: str) -> None:
        with contextlib.suppress(Exception):
            async with self.core.pool.connection() as conn, conn.transaction():
                await imports.set_status(
                    conn, tenant, import_id, "interrupted", only_from=("running",)
                )

    async def _import(self, tenant: str, import_id: str) -> dict[str, Any]:
        import_id = domain.contact_id("import_id", import_id)
        async with self.core.pool.connection() as conn:
            row = await imports.get(conn, tenant, import_id)
        if row is None:
            raise NotFound(IMPORT_NOT_FOUND)
        return row

    async def GetImport(self, request: pb.GetImportRequest, context: Any) -> Any:
        row = await self._import(current_tenant(), request.import_id)
        return pb.GetImportResponse(**{"import": import_pb(row)})

    async def CancelImport(self, request: pb.CancelImportRequest, context: Any) -> Any:
        tenant = current_tenant()
        row = await self._import(tenant, request.import_id)
        async with self.core.pool.connection() as conn, conn.transaction():
            changed = await imports.set_status(
                conn, tenant, row["id"], "cancelled", only_from=("running", "interrupted")
            )
        if changed is None:
            raise FailedPrecondition(f"the import is {row['status']}: nothing to cancel")
        return pb.CancelImportResponse(**{"import": import_pb(changed)})

    async def DownloadImportReport(
        self, request: pb.DownloadImportReportRequest, context: Any
    ) -> Any:
        row = await self._import(current_tenant(), request.import_id)
        yield pb.DownloadImportReportResponse(csv_chunk=b"line,field,reason\r\n")
        after = 0
        while True:
            async with self.core.pool.connection() as conn:
                page = await imports.errors_page(conn, row["id"], after=after, limit=REPORT_PAGE)
            if not page:
                return
            yield pb.DownloadImportReportResponse(csv_chunk=report_csv(page))
            after = page[-1][0]


def report_csv(errors: list[tuple[int, str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line, field, reason in errors:
        writer.writerow([line, field, reason])
    return out.getvalue().encode()
