""" "View online" of campaign mail: ``GET /v/{token}`` shows one message in the browser.

Message bodies are not stored: delivery's ``RenderOnline`` (asked with the gateway's service
token, like ``/t/c/`` in tracking.py) renders the message again from the campaign's template
and the merge data it keeps for ``VIEW_ONLINE_DAYS`` after the send. The token names the
message only; delivery checks it and looks everything else up, so a bad, tampered, expired or
erased token is the same translated (en/it) 404 page, and no token leads anywhere else.

The page is the sender's HTML, so it is served with a policy that lets it do nothing but show
itself: no script, no form, no frame, no plug-in, no base URL, no fonts; inline styles (mail
HTML is styled inline); images only from the origins the message itself names in ``src``
attributes and ``url()`` (the sender's domain, the open pixel on ours), nothing else.
``Referrer-Policy: no-referrer`` keeps the token out of every image request and followed link;
``no-store`` and ``X-Robots-Tag: noindex`` keep the page out of caches and search engines. No
cookie is set. The answers share the tracking links' rate limit per client address.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from typing import Any

import grpc
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import delivery_service_pb2_grpc
from missiva_gateway import public
from missiva_gateway.backends import Backends
from missiva_gateway.client import client_context
from missiva_gateway.config import GatewaySettings
from missiva_gateway.referrals import ReferralController
from missiva_gateway.tracking import TrackingController
from missiva_gateway.web.security import RateLimited

log = logging.getLogger(__name__)

MAX_TOKEN = 100
MAX_ORIGINS = 16
N_ = str  # marks a text for extraction; translated where it is shown
_SOURCE = re.compile(
    r"""(?:\bsrc\s*=\s*["']?|\bbackground\s*=\s*["']?|url\(\s*["']?)(https?://[^\s"'()<>]+)""",
    re.IGNORECASE,
)
_HOST = re.compile(r"^[a-z0-9.-]{1,253}$")
_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex, nofollow",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}
GONE_TITLE = N_("This message cannot be shown")
GONE_TEXT = N_(
    "The link may be mistyped, or the message is too old: a message can be viewed online "
    "for a limited time after it was sent."
)
BUSY_TEXT = N_("This message cannot be shown right now. Please try again in a minute.")


def image_origins(html: str) -> list[str]:
    """The origins the message loads images from (``src``, ``background``, CSS ``url()``):
    the only ones the page's policy allows."""
    found: dict[str, None] = {}
    for url in _SOURCE.findall(html):
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        if not _HOST.fullmatch(host):
            continue
        try:
            port = parts.port
        except ValueError:
            continue
        found[f"{parts.scheme.lower()}://{host}{f':{port}' if port else ''}"] = None
        if len(found) >= MAX_ORIGINS:
            break
    return list(found)


def policy(html: str) -> str:
    images = " ".join(image_origins(html)) or "'none'"
    return (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; script-src 'none';"
        " form-action 'none'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
    )


def _problem(request: Request[Any, Any, Any], status: int, text: str) -> Response[str]:
    _ = public.gettext_of(request)
    title = _(GONE_TITLE) if status == 404 else _(public.ERROR_TITLES[status])
    answer = public.render("error.html", status=status, request=request, title=title,
                          message=_(text))  # fmt: skip
    answer.headers.update({**_HEADERS, "content-security-policy": public.CONTENT_SECURITY_POLICY})
    if status >= 429:
        answer.headers["retry-after"] = "30"
    return answer


class OnlineController(Controller):
    include_in_schema = False

    @get("/v/{token:str}")
    async def view(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        if len(token) > MAX_TOKEN:
            return _problem(request, 404, GONE_TEXT)
        try:
            reply = await self._render(token, request, backends, settings)
        except RateLimited:
            return _problem(request, 429, BUSY_TEXT)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return _problem(request, 404, GONE_TEXT)
            log.warning("view online: a message could not be rendered (%s)", exc.code().name)
            return _problem(request, 503, BUSY_TEXT)
        except (grpc.RpcError, _NoCredential) as exc:
            log.warning("view online: a message could not be rendered (%s)", type(exc).__name__)
            return _problem(request, 503, BUSY_TEXT)
        headers = {**_HEADERS, "content-security-policy": policy(reply.html)}
        return Response(reply.html, status_code=200, media_type=MediaType.HTML, headers=headers)

    async def _render(
        self, token: str, request: Request[Any, Any, Any], backends: Backends,
        settings: GatewaySettings,
    ) -> pb.RenderOnlineResponse:  # fmt: skip
        client = client_context(request.scope, request.headers, settings.trusted_proxy_networks)
        TrackingController.limits().check("tracking", client.ip_address)
        tokens = TrackingController.tokens
        bearer = await tokens.token(backends, ReferralController.settings())
        if bearer is None:
            raise _NoCredential()
        stub = delivery_service_pb2_grpc.DeliveryServiceStub(backends.channel("delivery"))
        try:
            reply: pb.RenderOnlineResponse = await stub.RenderOnline(
                pb.RenderOnlineRequest(token=token),
                metadata=(("authorization", f"Bearer {bearer}"),),
                timeout=backends.call_timeout,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.UNAUTHENTICATED:
                tokens.forget()  # a stale token (keys rotated): a new one next time
            raise
        return reply


class _NoCredential(Exception):
    """The gateway has no service credential: nothing can be shown."""
