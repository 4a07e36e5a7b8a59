"""The recipient's data pages, reached from the my-data link of a received message.

=========================================  ==============================================
``GET  /my-data/{token}``                  the recipient's data page: ask for a copy, or
                                           erasure; changes nothing
``POST /my-data/{token}``                  opens the export or erasure request
``GET  /my-data/export/{token}``           the finished privacy export, as a download
=========================================  ==============================================
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.privacy.v1 import privacy_service_pb2 as privacy_pb
from missiva_gateway.backends import Backends
from missiva_gateway.config import GatewaySettings
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

_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]")
EXPORT_TIMEOUT_SECONDS = 120.0  # a whole export stream, however large

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
            request=request,
            title=_("Your data"),
            opened=_request_view(reply.privacy_request, _),
            sender=sender,
        )

    # -- privacy export ----------------------------------------------------------------------

    @get("/my-data/export/{token:str}")
    async def export(self, token: FromPath[str], backends: NamedDependency[Backends]) -> Stream:
        """The finished export as a JSON download, streamed from consent whatever its size."""
        call = backends.consent().StreamPrivacyExport(
            pb.StreamPrivacyExportRequest(token=token), timeout=EXPORT_TIMEOUT_SECONDS
        )
        first = await call.read()  # a refused token fails here, before any byte is sent
        if first is grpc.aio.EOF:
            raise HTTPException(status_code=502, detail="consent sent an empty export")
        name = _FILE_NAME.sub("_", first.file_name)[:100] or "missiva-export.json"

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
