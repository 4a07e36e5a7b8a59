"""Segments: the saved ones with their counts, a rule builder with a live count, the trash.

The builder is rows of (field, operator, value) joined by *all* or *any*, optionally negated;
it becomes campaign's JSON rule tree (``{"all": [{"field", "op", "value"}, ...]}``, wrapped
in ``{"not": ...}``). Rows are added and removed by posting the form (``action=add`` /
``action=remove-<n>``): without JavaScript the page comes back with the rows changed, with
HTMX only the rows are swapped. The live count is campaign's ``PreviewSegment`` for the form
as it stands; its field violations (``rule_tree_json.all[2].value``) land under their row.

The fields offered are campaign's whitelist (``missiva_campaign.segments.ALLOWED_FIELDS``;
no RPC describes them, a test keeps the two equal) plus its ``has_tag`` and ``in_list``
rules. Nothing is
checked here: what campaign refuses is shown as campaign says it.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_gateway.errors import problem_of
from missiva_gateway.web.account import MAX_FORM_BYTES, form_of
from missiva_gateway.web.app_pages import campaign_stub
from missiva_gateway.web.context import Caller, Web
from missiva_gateway.web.problems import FormProblem, form_problem
from missiva_gateway.web.render import gettext_for, page

N_ = str
# Campaign's whitelisted contact fields (segments.FIELDS), then attributes and tags.
FIELDS = (
    ("email", N_("Email address")),
    ("first_name", N_("First name")),
    ("last_name", N_("Last name")),
    ("locale", N_("Language (locale)")),
    ("timezone", N_("Time zone")),
    ("source", N_("Source")),
    ("created_at", N_("Created")),
    ("updated_at", N_("Updated")),
    ("last_interaction_at", N_("Last interaction")),
    ("inactive_since", N_("Inactive since")),
)
ATTRIBUTE = "attributes"
TAG = "has_tag"
LIST = "in_list"
OPS = (
    ("equals", N_("is")),
    ("differs", N_("is not")),
    ("greater", N_("is greater than")),
    ("less", N_("is less than")),
    ("contains", N_("contains")),
    ("exists", N_("is set")),
    ("in", N_("is one of (comma-separated)")),
)
MAX_ROWS = 30
SAMPLE = 5
COUNTED = 20  # segments counted on the list page (one PreviewSegment each)
COUNT_SECONDS = 2.0  # a count slower than this shows "—" rather than holding the page
_ROW_PATH = re.compile(r"^(?:segment\.)?rule_tree_json(?:\.not)?\.(?:all|any)\[(\d+)\]")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass
class Row:
    field: str = "email"
    key: str = ""  # the attribute's key, for field == "attributes"
    list_id: str = ""  # for field == "in_list"
    op: str = "equals"
    value: str = ""


@dataclass
class Builder:
    """The form as posted: a name, the rows, how they combine."""

    name: str
    rows: list[Row]
    combine: str = "all"
    negate: bool = False

    @classmethod
    def of(cls, form: dict[str, str]) -> Builder:
        try:
            count = min(max(int(form.get("rows", "1")), 0), MAX_ROWS)
        except ValueError:
            count = 1
        rows = [
            Row(
                field=form.get(f"field_{i}", "email"),
                key=form.get(f"key_{i}", "").strip(),
                list_id=form.get(f"list_{i}", "").strip(),
                op=form.get(f"op_{i}", "equals"),
                value=form.get(f"value_{i}", ""),
            )
            for i in range(count)
        ]
        return cls(
            name=form.get("name", ""),
            rows=rows or [Row()],
            combine="any" if form.get("combine") == "any" else "all",
            negate=form.get("negate") == "1",
        )

    def act(self, action: str) -> None:
        """Add a row, or remove one (the last one left is emptied, not removed)."""
        if action == "add" and len(self.rows) < MAX_ROWS:
            self.rows.append(Row())
        elif action.startswith("remove-") and action[7:].isdigit():
            index = int(action[7:])
            if 0 <= index < len(self.rows):
                del self.rows[index]
            if not self.rows:
                self.rows.append(Row())

    def tree(self) -> dict[str, Any]:
        tree: dict[str, Any] = {self.combine: [rule(r) for r in self.rows]}
        return {"not": tree} if self.negate else tree

    def tree_json(self) -> str:
        return json.dumps(self.tree(), ensure_ascii=False, separators=(",", ":"))


def rule(row: Row) -> dict[str, Any]:
    """One row as a node of the tree."""
    if row.field == TAG:
        return {"has_tag": row.value.strip()}
    if row.field == LIST:
        return {"in_list": row.list_id}
    name = f"attributes.{row.key}" if row.field == ATTRIBUTE else row.field
    node: dict[str, Any] = {"field": name, "op": row.op}
    if row.op == "exists":
        return node
    typed = row.field == ATTRIBUTE
    if row.op == "in":
        node["value"] = [value_of(v.strip(), typed) for v in row.value.split(",") if v.strip()]
    else:
        node["value"] = value_of(row.value.strip() if typed else row.value, typed)
    return node


def value_of(text: str, typed: bool) -> Any:
    """A value as typed; for an attribute, a number or true/false is that, not text."""
    if typed:
        if _NUMBER.match(text):
            return float(text) if "." in text else int(text)
        if text in ("true", "false"):
            return text == "true"
    return text


def row_problems(raw: list[tuple[str, str]]) -> dict[int, str]:
    """Violations by row index (``raw``: the backend's (path, description) pairs)."""
    found: dict[int, str] = {}
    for path, description in raw:
        matched = _ROW_PATH.match(path)
        if matched:
            found.setdefault(int(matched.group(1)), description)
    return found


def split_problem(exc: grpc.aio.AioRpcError) -> tuple[FormProblem, dict[int, str]]:
    """The refusal as the form's problem (the name, the general message) and per row."""
    raw = [(v.field, v.description) for v in problem_of(exc).fields]
    rows = row_problems(raw)
    problem = form_problem(exc, {"segment.name": "name"})
    unplaced = [f"{p}: {d}" for p, d in raw if not _ROW_PATH.match(p) and p != "segment.name"]
    problem.other = bool(unplaced) or not (rows or problem.fields)
    if unplaced:
        problem.message = "; ".join(unplaced)
    problem.fields = {k: v for k, v in problem.fields.items() if k == "name"}
    return problem, rows


class SegmentPages(Controller):
    """``/app/segments``: list, builder, live count, a segment's contacts, trash."""

    include_in_schema = False

    @get("/app/segments")
    async def segments(
        self,
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
        done: FromQuery[str] = "",
    ) -> Any:
        caller = await web.signed_in(request)
        return await self._list(request, web, caller, done=done)

    async def _list(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        *,
        done: str = "",
        problem: str = "",
        status: int = 200,
    ) -> Response[str]:
        stub, md = campaign_stub(web), caller.metadata
        live, trash = await web.gather(
            stub.ListSegments(
                pb.ListSegmentsRequest(page_size=100), metadata=md, timeout=web.timeout
            ),
            stub.ListSegments(
                pb.ListSegmentsRequest(page_size=100, in_trash=True),
                metadata=md,
                timeout=web.timeout,
            ),
        )
        counts = await web.gather(
            *(self._count(web, caller, s.rule_tree_json) for s in live.segments[:COUNTED])
        )
        _ = gettext_for(request)
        notices = {
            "created": _("The segment is saved."),
            "deleted": _("The segment is in the trash."),
            "restored": _("The segment is restored."),
        }
        return page(
            request,
            "segments.html",
            status=status,
            title=_("Segments"),
            segments=list(live.segments),
            counts=dict(zip([s.segment_id for s in live.segments], counts, strict=False)),
            trash=list(trash.segments),
            notice=notices.get(done, ""),
            problem=problem,
        )

    async def _count(self, web: Web, caller: Caller, tree: str) -> int | None:
        try:
            reply = await campaign_stub(web).PreviewSegment(
                pb.PreviewSegmentRequest(rule_tree_json=tree, sample_size=1),
                metadata=caller.metadata,
                timeout=min(web.timeout, COUNT_SECONDS),
            )
        except grpc.aio.AioRpcError:
            return None  # shown as "—": the count is a convenience of this page
        return int(reply.matching_count)

    async def _builder(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        builder: Builder,
        *,
        template: str = "segment_new.html",
        problem: FormProblem | None = None,
        rows_problems: dict[int, str] | None = None,
        preview: Any = None,
        key: str = "",
        status: int = 200,
    ) -> Response[str]:
        lists = await self._lists(web, caller) if template != "segment_preview.html" else []
        _ = gettext_for(request)
        return page(
            request,
            template,
            status=status,
            title=_("New segment"),
            lists=lists,
            builder=builder,
            fields=[(v, _(t)) for v, t in FIELDS]
            + [(ATTRIBUTE, _("Attribute…")), (TAG, _("Has the tag")), (LIST, _("Is on the list"))],
            ops=[(v, _(t)) for v, t in OPS],
            problem=problem,
            row_problems=rows_problems or {},
            preview=preview,
            partial=template == "segment_rules.html",
            key=key or str(uuid.uuid4()),
        )

    async def _lists(self, web: Web, caller: Caller) -> list[tuple[str, str]]:
        reply = await campaign_stub(web).ListLists(
            pb.ListListsRequest(page_size=100), metadata=caller.metadata, timeout=web.timeout
        )
        return [(x.list_id, x.name) for x in reply.lists]

    @get("/app/segments/new")
    async def new(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        return await self._builder(request, web, caller, Builder(name="", rows=[Row()]))

    @post("/app/segments/new", request_max_body_size=MAX_FORM_BYTES)
    async def create(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        """Save; or, for ``action`` add / remove-<n> / count, the form again (no JavaScript)."""
        caller = await web.signed_in(request)
        form = await form_of(request)
        builder = Builder.of(form)
        action = form.get("action", "save")
        key = form.get("idempotency_key", "")[:64]
        if action != "save":
            builder.act(action)
            preview, problem, rows = await self._preview(web, caller, builder)
            return await self._builder(
                request,
                web,
                caller,
                builder,
                problem=problem,
                rows_problems=rows,
                preview=preview,
                key=key,
            )
        try:
            await campaign_stub(web).CreateSegment(
                pb.CreateSegmentRequest(
                    segment=pb.Segment(name=builder.name, rule_tree_json=builder.tree_json()),
                    idempotency_key=key,
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem, rows = split_problem(exc)
            if problem.status >= 500:
                raise
            return await self._builder(
                request, web, caller, builder, problem=problem, rows_problems=rows, key=key,
                status=problem.status,
            )  # fmt: skip
        return Redirect("/app/segments?done=created", status_code=303)

    async def _preview(
        self, web: Web, caller: Caller, builder: Builder
    ) -> tuple[Any, FormProblem | None, dict[int, str]]:
        try:
            reply = await campaign_stub(web).PreviewSegment(
                pb.PreviewSegmentRequest(rule_tree_json=builder.tree_json(), sample_size=SAMPLE),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem, rows = split_problem(exc)
            if problem.status >= 500:
                raise
            return None, problem, rows
        return reply, None, {}

    @post("/app/segments/rules", request_max_body_size=MAX_FORM_BYTES)
    async def rules(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        """HTMX: the rows after adding or removing one, and the count for them."""
        caller = await web.signed_in(request)
        form = await form_of(request)
        builder = Builder.of(form)
        builder.act(form.get("action", ""))
        preview, problem, rows = await self._preview(web, caller, builder)
        return await self._builder(
            request, web, caller, builder, template="segment_rules.html", problem=problem,
            rows_problems=rows, preview=preview,
        )  # fmt: skip

    @post("/app/segments/preview", request_max_body_size=MAX_FORM_BYTES)
    async def preview(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        """HTMX: the live count and sample, with each row's violation (out of band)."""
        caller = await web.signed_in(request)
        builder = Builder.of(await form_of(request))
        preview, problem, rows = await self._preview(web, caller, builder)
        return await self._builder(
            request, web, caller, builder, template="segment_preview.html", problem=problem,
            rows_problems=rows, preview=preview,
        )  # fmt: skip

    @get("/app/segments/{segment_id:str}")
    async def segment(
        self,
        segment_id: FromPath[str],
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
        page_token: FromQuery[str] = "",
    ) -> Any:
        """A saved segment: its rules and its contacts (campaign compiles it again)."""
        caller = await web.signed_in(request)
        stub = campaign_stub(web)
        found = await stub.ListContacts(
            pb.ListContactsRequest(
                segment_id=segment_id[:64], page_size=50, page_token=page_token[:2048]
            ),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        segment = await self._find(web, caller, segment_id[:64])
        if segment is None:
            raise NotFoundException()
        _ = gettext_for(request)
        return page(
            request,
            "segment.html",
            title=segment.name,
            segment=segment,
            tree=json.dumps(json.loads(segment.rule_tree_json), indent=2, ensure_ascii=False),
            contacts=list(found.contacts),
            next_page_token=found.next_page_token,
        )

    async def _find(self, web: Web, caller: Caller, segment_id: str) -> Any:
        token = ""
        for _ in range(20):  # ListSegments is the only read of a segment (no GetSegment)
            reply = await campaign_stub(web).ListSegments(
                pb.ListSegmentsRequest(page_size=100, page_token=token),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
            for segment in reply.segments:
                if segment.segment_id == segment_id:
                    return segment
            token = reply.next_page_token
            if not token:
                return None
        return None

    @post("/app/segments/{segment_id:str}/{action:str}", request_max_body_size=MAX_FORM_BYTES)
    async def act(
        self,
        segment_id: FromPath[str],
        action: FromPath[str],
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
    ) -> Any:
        """Delete (to the trash) or restore."""
        caller = await web.signed_in(request)
        stub, sid = campaign_stub(web), segment_id[:64]
        try:
            if action == "delete":
                await stub.DeleteSegment(
                    pb.DeleteSegmentRequest(segment_id=sid),
                    metadata=caller.metadata,
                    timeout=web.timeout,
                )
            elif action == "restore":
                await stub.RestoreSegment(
                    pb.RestoreSegmentRequest(segment_id=sid),
                    metadata=caller.metadata,
                    timeout=web.timeout,
                )
            else:
                raise NotFoundException()
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc)
            if problem.status in (404,) or problem.status >= 500:
                raise
            return await self._list(
                request, web, caller, problem=problem.general, status=problem.status
            )
        return Redirect(f"/app/segments?done={action}d", status_code=303)
