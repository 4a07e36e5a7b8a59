"""The recipient's data pages, reached from the my-data link of a received message.

=========================================  ==============================================
``GET  /my-data/{token}``                  the recipient's data page: ask for a copy, or
                                           erasure; changes nothing
``POST /my-data/{token}``                  opens the export or erasure request
``GET  /my-data/{token}/correct``          the contact fields the sender holds that the
                                           recipient may correct (campaign's GetMyContact)
``POST /my-data/{token}/correct``          saves the correction (CorrectMyContact)
``GET  /my-data/export/{token}``           the finished privacy export, as a download
                                           (JSON; ``?format=csv``: one CSV file)
=========================================  ==============================================
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import field_mask_pb2
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from missiva.campaign.v1 import campaign_service_pb2 as campaign_pb
from missiva.campaign.v1 import campaign_service_pb2_grpc
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.privacy.v1 import privacy_service_pb2 as privacy_pb
from missiva_gateway.backends import Backends
from missiva_gateway.config import GatewaySettings
from missiva_gateway.errors import problem_of
from missiva_gateway.export_csv import export_csv
from missiva_gateway.public import (
    MAX_FORM_BYTES,
    N_,
    PublicPageHeaders,
    _client,
    _form,
    _when,
    error_page,
    gettext_of,
    render,
)
from missiva_gateway.senders import MY_DATA, describe, safe_link, sender_view
from missiva_gateway.web.service_text import localise

_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]")
EXPORT_TIMEOUT_SECONDS = 120.0  # a whole export stream, however large
MAX_CSV_SOURCE_BYTES = 32 * 1024 * 1024  # the CSV is built in memory from the parsed JSON

REQUEST_STATUS = {
    pb.PRIVACY_REQUEST_STATUS_OPEN: N_("in progress"),
    pb.PRIVACY_REQUEST_STATUS_IN_PROGRESS: N_("in progress"),
    pb.PRIVACY_REQUEST_STATUS_COMPLETED: N_("done"),
    pb.PRIVACY_REQUEST_STATUS_REJECTED: N_("refused"),
}


def _request_view(item: Any, _: Any) -> dict[str, Any]:
    erase = item.kind == privacy_pb.PRIVACY_REQUEST_KIND_ERASE
    return {
        "request_id": item.request_id,
        "kind": _("deletion of your data") if erase else _("a copy of your data"),
        "status": _(REQUEST_STATUS.get(item.status, N_("in progress"))),
        "done": item.status == pb.PRIVACY_REQUEST_STATUS_COMPLETED,
        "due": _when(item.due_at),
        "export_url": safe_link(item.export_url),
        "reason": item.rejection_reason,
    }


async def _as_csv(call: Any, first: Any, name: str) -> Response[str]:
    """The whole export read (it must be parsed: at most ``MAX_CSV_SOURCE_BYTES``), as CSV."""
    if first.total_bytes > MAX_CSV_SOURCE_BYTES:
        call.cancel()
        raise HTTPException(
            status_code=413, detail="this export is too large for CSV: download the JSON file"
        )
    parts = [first.chunk]
    size = len(first.chunk)
    while (piece := await call.read()) is not grpc.aio.EOF:
        size += len(piece.chunk)
        if size > MAX_CSV_SOURCE_BYTES:
            call.cancel()
            raise HTTPException(status_code=413, detail="this export is too large for CSV")
        parts.append(piece.chunk)
    stem = name.removesuffix(".json")
    return Response(
        export_csv(b"".join(parts)),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{stem}.csv"'},
    )


CORRECTABLE = ("first_name", "last_name", "locale", "timezone")


def _campaign(backends: Backends) -> Any:
    return campaign_service_pb2_grpc.CampaignServiceStub(backends.channel("campaign"))


def _correct_page(
    request: Request[Any, Any, Any],
    link: Any,
    token: str,
    *,
    found: bool,
    values: dict[str, str],
    problems: dict[str, str] | None = None,
    problem: str = "",
    notice: str = "",
    status: int = 200,
) -> Response[str]:
    _ = gettext_of(request)
    return render(
        "my_data_correct.html",
        request=request,
        status=status,
        title=_("Correct your details"),
        found=found,
        values=values,
        problems={k: localise(v, _) for k, v in (problems or {}).items()},
        problem=localise(problem, _),
        notice=notice,
        back=f"/my-data/{token}",
        sender=sender_view(link.sender),
    )


class MyDataPagesController(Controller):
    """The recipient's privacy requests (export, erasure) and the export download."""

    include_in_schema = False
    middleware = [PublicPageHeaders()]
    exception_handlers = {grpc.RpcError: error_page, Exception: error_page}

    @get("/my-data/{token:str}")
    async def my_data_page(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        request_id: FromQuery[str] = "",
    ) -> Response[str]:
        """What the recipient may ask of the sender; with ``request_id``, that request's state."""
        _ = gettext_of(request)
        link = await describe(backends, token, MY_DATA)
        opened = None
        if request_id:
            reply = await backends.consent().GetPrivacyRequest(
                pb.GetPrivacyRequestRequest(request_id=request_id[:64], verification_token=token),
                timeout=backends.call_timeout,
            )
            opened = _request_view(reply.privacy_request, _)
        return render(
            "my_data.html",
            correct_url=f"/my-data/{token}/correct",
            request=request,
            title=_("Your data"),
            opened=opened,
            sender=sender_view(link.sender),
        )

    @post("/my-data/{token:str}", status_code=200, request_max_body_size=MAX_FORM_BYTES)
    async def open_privacy_request(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        """Open the export or the erasure: consent answers within 30 days (usually minutes)."""
        fields = await _form(request)
        kind = {
            "export": privacy_pb.PRIVACY_REQUEST_KIND_EXPORT,
            "erase": privacy_pb.PRIVACY_REQUEST_KIND_ERASE,
        }.get(next(iter(fields.get("kind", [])), ""), privacy_pb.PRIVACY_REQUEST_KIND_UNSPECIFIED)
        _ = gettext_of(request)
        sender = sender_view((await describe(backends, token, MY_DATA)).sender)
        if kind == privacy_pb.PRIVACY_REQUEST_KIND_ERASE and "yes" not in fields.get("sure", []):
            return render(
                "my_data.html",
                correct_url=f"/my-data/{token}/correct",
                sender=sender,
                request=request,
                title=_("Your data"),
                opened=None,
                status=400,
                problem=_(
                    "Tick the box to confirm that everything this sender holds on you "
                    "may be deleted."
                ),
            )
        digest = hashlib.sha256(f"{token}:{kind}".encode()).hexdigest()[:32]
        reply = await backends.consent().OpenPrivacyRequest(
            pb.OpenPrivacyRequestRequest(
                kind=kind,
                verification_token=token,
                client=_client(request, settings),
                idempotency_key=digest,
            ),
            timeout=backends.call_timeout,
        )
        return render(
            "my_data.html",
            correct_url=f"/my-data/{token}/correct",
            request=request,
            title=_("Your data"),
            opened=_request_view(reply.privacy_request, _),
            sender=sender,
        )

    # -- correcting one's own details (GDPR Art. 16) ------------------------------------------

    @get("/my-data/{token:str}/correct")
    async def correct_page(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
    ) -> Response[str]:
        """The contact fields the sender holds that the recipient may correct; changes nothing."""
        link = await describe(backends, token, MY_DATA)
        held = await _campaign(backends).GetMyContact(
            campaign_pb.GetMyContactRequest(token=token), timeout=backends.call_timeout
        )
        values = {name: getattr(held.fields, name) for name in CORRECTABLE}
        return _correct_page(request, link, token, found=held.found, values=values)

    @post("/my-data/{token:str}/correct", status_code=200, request_max_body_size=MAX_FORM_BYTES)
    async def correct(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
    ) -> Response[str]:
        """Save the corrected fields (campaign checks the token and every value)."""
        fields = await _form(request)
        link = await describe(backends, token, MY_DATA)
        values = {name: next(iter(fields.get(name, [])), "")[:500] for name in CORRECTABLE}
        call = campaign_pb.CorrectMyContactRequest(
            token=token,
            fields=campaign_pb.MyContactFields(**values),
            update_mask=field_mask_pb2.FieldMask(paths=list(CORRECTABLE)),
        )
        _ = gettext_of(request)
        try:
            reply = await _campaign(backends).CorrectMyContact(call, timeout=backends.call_timeout)
        except grpc.RpcError as exc:
            problem = problem_of(exc)
            if problem.status not in (400, 404):
                raise
            if problem.status == 404:
                return _correct_page(request, link, token, found=False, values=values, status=404)
            by_field = {
                f.field.removeprefix("fields."): f.description
                for f in problem.fields
                if f.field.removeprefix("fields.") in CORRECTABLE
            }
            others = [
                f.description
                for f in problem.fields
                if f.field.removeprefix("fields.") not in CORRECTABLE
            ]
            return _correct_page(
                request,
                link,
                token,
                found=True,
                values=values,
                problems=by_field,
                problem="; ".join(others) or ("" if by_field else problem.message),
                status=400,
            )
        saved = {name: getattr(reply.fields, name) for name in CORRECTABLE}
        notice = _("Your details are corrected.") if reply.changed_fields else _("Nothing changed.")
        return _correct_page(request, link, token, found=True, values=saved, notice=notice)

    # -- privacy export ----------------------------------------------------------------------

    @get("/my-data/export/{token:str}")
    async def export(
        self,
        token: FromPath[str],
        backends: NamedDependency[Backends],
        format: FromQuery[str] = "",
    ) -> Stream | Response[str]:
        """The finished export as a JSON download, streamed from consent whatever its size;
        with ``?format=csv``, the same data as one CSV file (``export_csv``)."""
        call = backends.consent().StreamPrivacyExport(
            pb.StreamPrivacyExportRequest(token=token), timeout=EXPORT_TIMEOUT_SECONDS
        )
        first = await call.read()  # a refused token fails here, before any byte is sent
        if first is grpc.aio.EOF:
            raise HTTPException(status_code=502, detail="consent sent an empty export")
        name = _FILE_NAME.sub("_", first.file_name)[:100] or "missiva-export.json"
        if format == "csv":
            return await _as_csv(call, first, name)

        async def pieces() -> AsyncIterator[bytes]:
            yield first.chunk
            while (piece := await call.read()) is not grpc.aio.EOF:
                yield piece.chunk

        return Stream(
            pieces(),
            media_type=first.media_type or "application/json",
            headers={
                "content-disposition": f'attachment; filename="{name}"',
                "content-length": str(first.total_bytes),
            },
        )
