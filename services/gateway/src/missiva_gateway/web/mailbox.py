"""The embedded platform's mailbox: every message the SMTP sink caught, readable like a
mailbox (``SMTP_SINK_DIR``, set by ``missiva up`` only when it runs its own sink; without it
these pages answer 404).

The sink writes one ``.eml`` per recipient envelope. A message's HTML is shown in a
sandboxed frame with its own strict policy (``frames.py``); its headers are listed, with
the DKIM result (dkimpy; "not signed" when there is no signature). A message that offers
RFC 8058 one-click unsubscribe gets a button that posts exactly what a mailbox provider
posts. The mailbox shows every account's mail: it is a development tool of the embedded
platform, never configured in production.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import urllib.parse
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from missiva_gateway.web.context import Web
from missiva_gateway.web.frames import frame_response
from missiva_gateway.web.render import gettext_for, page

_NAME = re.compile(r"^[0-9T]{15,24}-[0-9a-f]{8}\.eml$")
_LINK = re.compile(r"https?://[^\s<>\"']+")
MAX_LISTED = 300
SHOWN_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Reply-To",
    "Return-Path",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
)


def folder(web: Web) -> Path:
    if not web.settings.smtp_sink_dir:
        raise NotFoundException()
    return Path(web.settings.smtp_sink_dir)


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def summary(path: Path) -> dict[str, str]:
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
    message = email.message_from_bytes(
        head.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0], policy=email.policy.default
    )
    return {
        "name": path.name,
        "from": str(message.get("From", "")),
        "to": str(message.get("To", "")),
        "subject": str(message.get("Subject", "")),
        "date": str(message.get("Date", "")),
    }


def dkim_result(data: bytes) -> str:
    """``pass``, ``fail`` or ``not signed`` (dkimpy; a key lookup waits at most 3 s)."""
    if b"\ndkim-signature:" not in b"\n" + data.split(b"\r\n\r\n", 1)[0].lower():
        return "not signed"
    import dkim

    try:
        return "pass" if dkim.verify(data, timeout=3) else "fail"
    except Exception:  # a malformed signature is a failed one
        return "fail"


def one_click_target(message: EmailMessage, origin: str) -> str:
    """The path of a same-origin RFC 8058 unsubscribe URL, if the message offers one."""
    if "one-click" not in str(message.get("List-Unsubscribe-Post", "")).lower():
        return ""
    for url in re.findall(r"<([^>]+)>", str(message.get("List-Unsubscribe", ""))):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme in ("http", "https") and f"{parts.scheme}://{parts.netloc}" == origin:
            return parts.path
    return ""


class MailboxPages(Controller):
    """``/mailbox``, ``/mailbox/{name}``, ``/mailbox/{name}/html``."""

    include_in_schema = False

    def _read(self, web: Web, name: str) -> bytes:
        if not _NAME.match(name):
            raise NotFoundException()
        path = folder(web) / name
        if not path.is_file():
            raise NotFoundException()
        return path.read_bytes()

    @get("/mailbox")
    async def mailbox(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        web.prepare(request)
        where = folder(web)
        paths = sorted(where.glob("*.eml"), reverse=True)[:MAX_LISTED] if where.is_dir() else []
        messages = await asyncio.to_thread(lambda: [summary(p) for p in paths])
        _ = gettext_for(request)
        return page(request, "mailbox.html", title=_("Mailbox"), messages=messages)

    @get("/mailbox/{name:str}")
    async def message(
        self, name: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Response[str]:
        web.prepare(request)
        data = self._read(web, name)
        message = parse(data)
        text_part = message.get_body(preferencelist=("plain",))
        html_part = message.get_body(preferencelist=("html",))
        text = text_part.get_content() if text_part is not None else ""
        origin = f"{request.url.scheme}://{request.url.netloc}"
        _ = gettext_for(request)
        return page(
            request,
            "mailbox_message.html",
            title=str(message.get("Subject", "")) or _("(no subject)"),
            name=name,
            mail_headers=[(h, str(message.get(h))) for h in SHOWN_HEADERS if message.get(h)],
            all_headers=[(k, str(v)) for k, v in message.items()],
            text=text,
            has_html=html_part is not None,
            links=list(dict.fromkeys(_LINK.findall(text)))[:50],
            dkim=await asyncio.to_thread(dkim_result, data),
            one_click=one_click_target(message, origin),
        )

    @get("/mailbox/{name:str}/html")
    async def html(self, name: FromPath[str], web: NamedDependency[Web]) -> Response[str]:
        message = parse(self._read(web, name))
        part = message.get_body(preferencelist=("html",))
        if part is None:
            raise NotFoundException()
        return frame_response(str(part.get_content()))
