"""Segments: the saved ones with their counts, a rule builder with a live count (to create a
segment or edit a saved one), the trash.

The builder's rows and campaign's rule tree are ``segment_rules.py``. Rows are added and
removed by posting the form (``action=add`` / ``action=remove-<n>``): without JavaScript the
page comes back with the rows changed, with HTMX only the rows are swapped. The live count is
campaign's ``PreviewSegment`` for the form as it stands; its field violations
(``rule_tree_json.all[2].value``) land under their row.

The fields and operators offered are campaign's (``ListSegmentFields``, its compiler's
whitelist). Nothing is checked here: what campaign refuses is shown as campaign says it.
Editing loads the segment (``GetSegment``) into the rows and saves with ``UpdateSegment``; a
tree the rows cannot hold (written over the API) keeps its rules, and only the name changes.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_gateway.web.account import MAX_FORM_BYTES, form_of
from missiva_gateway.web.app_pages import campaign_stub
from missiva_gateway.web.context import Caller, Web
from missiva_gateway.web.problems import FormProblem, form_problem
from missiva_gateway.web.render import gettext_for, page
from missiva_gateway.web.segment_rules import (
    Builder,
    Row,
    aliases_of,
    builder_of,
    choices,
    split_problem,
)

SAMPLE = 5
COUNTED = 20  # segments counted on the list page (one PreviewSegment each)
COUNT_SECONDS = 2.0  # a count slower than this shows "—" rather than holding the page


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
            "updated": _("The segment is updated."),
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
        segment: Any = None,
        fixed_tree: str = "",
    ) -> Response[str]:
        _ = gettext_for(request)
        lists: list[tuple[str, str]] = []
        fields: list[tuple[str, str]] = []
        ops: list[tuple[str, str]] = []
        if template != "segment_preview.html":
            lists, described = await web.gather(
                self._lists(web, caller), self._described(web, caller)
            )
            fields, ops = choices(described, _)
        return page(
            request,
            template,
            status=status,
            title=_("Edit the segment") if segment is not None else _("New segment"),
            lists=lists,
            builder=builder,
            fields=fields,
            ops=ops,
            segment=segment,
            fixed_tree=fixed_tree,
            action=f"/app/segments/{segment.segment_id}/edit" if segment else "/app/segments/new",
            problem=problem,
            row_problems=rows_problems or {},
            preview=preview,
            partial=template == "segment_rules.html",
            key=key or str(uuid.uuid4()),
        )

    async def _described(self, web: Web, caller: Caller) -> Any:
        return await campaign_stub(web).ListSegmentFields(
            pb.ListSegmentFieldsRequest(), metadata=caller.metadata, timeout=web.timeout
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
        reply = await campaign_stub(web).GetSegment(
            pb.GetSegmentRequest(segment_id=segment_id),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        return reply.segment

    @get("/app/segments/{segment_id:str}/edit")
    async def edit(
        self, segment_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        """The builder with the saved segment's rows (or its fixed rules and the name)."""
        caller = await web.signed_in(request)
        segment, described = await web.gather(
            self._find(web, caller, segment_id[:64]), self._described(web, caller)
        )
        tree = json.loads(segment.rule_tree_json)
        builder = builder_of(segment.name, tree, aliases_of(described))
        fixed = ""
        if builder is None:
            builder = Builder(name=segment.name, rows=[Row()])
            fixed = json.dumps(tree, indent=2, ensure_ascii=False)
        return await self._builder(request, web, caller, builder, segment=segment, fixed_tree=fixed)

    @post("/app/segments/{segment_id:str}/edit", request_max_body_size=MAX_FORM_BYTES)
    async def update(
        self, segment_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        """Save with UpdateSegment; or, for add / remove-<n> / count, the form again."""
        caller = await web.signed_in(request)
        segment = await self._find(web, caller, segment_id[:64])
        form = await form_of(request)
        builder = Builder.of(form)
        action = form.get("action", "save")
        fixed = json.dumps(json.loads(segment.rule_tree_json), indent=2, ensure_ascii=False)
        keep_rules = form.get("keep_rules") == "1"
        if action != "save" and not keep_rules:
            builder.act(action)
            preview, problem, rows = await self._preview(web, caller, builder)
            return await self._builder(
                request, web, caller, builder, problem=problem, rows_problems=rows,
                preview=preview, segment=segment,
            )  # fmt: skip
        paths = ["name"] if keep_rules else ["name", "rule_tree_json"]
        try:
            await campaign_stub(web).UpdateSegment(
                pb.UpdateSegmentRequest(
                    segment=pb.Segment(
                        segment_id=segment.segment_id,
                        name=builder.name,
                        rule_tree_json="" if keep_rules else builder.tree_json(),
                    ),
                    update_mask=FieldMask(paths=paths),
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem, rows = split_problem(exc)
            if problem.status == 404 or problem.status >= 500:
                raise
            return await self._builder(
                request, web, caller, builder, problem=problem, rows_problems=rows,
                status=problem.status, segment=segment, fixed_tree=fixed if keep_rules else "",
            )  # fmt: skip
        return Redirect("/app/segments?done=updated", status_code=303)

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
