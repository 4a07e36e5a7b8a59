"""The tracking links of campaign mail: ``GET /t/c/{token}`` (a click) and ``GET /t/o/{token}``
(the open pixel).

Both ask delivery's ``RecordEngagement`` with the gateway's service token (identity's
``IssueServiceToken``, audience delivery, with the ``gateway`` entry of
``SERVICE_CREDENTIALS_FILE``; the same machinery as ``/r/<code>``, see referrals.py). Delivery
checks the token, records the engagement (with the person only when they allow engagement
tracking) and returns a click's target, which it looks up from the campaign's own links: the
token holds no URL, so this is no open redirect.

- A click answers ``302`` to the target, ``Cache-Control: no-store``,
  ``Referrer-Policy: no-referrer`` (the target never sees the token); no cookie is set. A bad,
  tampered or unknown token is a plain 404 page; delivery out of reach is a 503 (the target is
  known only to delivery).
- The pixel is always a ``200`` 1x1 transparent GIF, ``no-store``, whatever the token: a bad
  one (or delivery out of reach) records nothing and tells nothing.
- Both are rate-limited per client address (``TRACKING_RATE_PER_MINUTE``, default 600, per
  replica) like the other public pages; past it a click is a 429 and a pixel is served
  without being recorded.
"""

from __future__ import annotations

import base64
import logging
import urllib.parse
from typing import Any

import grpc
import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import delivery_service_pb2_grpc
from missiva_gateway.backends import Backends
from missiva_gateway.client import client_context
from missiva_gateway.config import GatewaySettings
from missiva_gateway.referrals import GatewayTokens, ReferralController
from missiva_gateway.web.security import RateLimited, RateLimiter
from missiva_platform.config import load_settings

log = logging.getLogger(__name__)

MAX_TOKEN = 200
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_NOT_FOUND = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Link not found'
    "</title></head><body><h1>This link is not valid</h1><p>It may be mistyped, or too old."
    "</p></body></html>\n"
)
_UNAVAILABLE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Try again'
    "</title></head><body><h1>This link cannot be followed right now</h1>"
    "<p>Please try again in a minute.</p></body></html>\n"
)


class TrackingSettings(msgspec.Struct, frozen=True, kw_only=True):
    """``TRACKING_RATE_PER_MINUTE``: requests of one client address per minute and replica."""

    tracking_rate_per_minute: int = 600


def _page(body: str, status: int, **headers: str) -> Response[str]:
    return Response(body, status_code=status, media_type=MediaType.HTML,
                    headers={**_HEADERS, **headers})  # fmt: skip


class TrackingController(Controller):
    include_in_schema = False
    tokens = GatewayTokens("delivery")
    _settings: TrackingSettings | None = None
    _limits: RateLimiter | None = None

    @classmethod
    def limits(cls) -> RateLimiter:
        if cls._limits is None:
            if cls._settings is None:
                cls._settings = load_settings(TrackingSettings)
            cls._limits = RateLimiter({"tracking": (cls._settings.tracking_rate_per_minute, 60.0)})
        return cls._limits

    async def _record(
        self, kind: pb.EngagementKind, token: str, request: Request[Any, Any, Any],
        backends: Backends,
        settings: GatewaySettings,
    ) -> pb.RecordEngagementResponse:  # fmt: skip
        """Delivery's answer; raises ``grpc.RpcError`` (NOT_FOUND for a bad token, or the
        reason delivery could not be asked)."""
        client = client_context(request.scope, request.headers, settings.trusted_proxy_networks)
        self.limits().check("tracking", client.ip_address)
        bearer = await self.tokens.token(backends, ReferralController.settings())
        if bearer is None:
            raise _NoCredential()
        stub = delivery_service_pb2_grpc.DeliveryServiceStub(backends.channel("delivery"))
        try:
            reply: pb.RecordEngagementResponse = await stub.RecordEngagement(
                pb.RecordEngagementRequest(kind=kind, token=token, client=client),
                metadata=(("authorization", f"Bearer {bearer}"),),
                timeout=backends.call_timeout,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.UNAUTHENTICATED:
                self.tokens.forget()  # a stale token (keys rotated): a new one next time
            raise
        return reply

    @get("/t/c/{token:str}")
    async def click(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        if len(token) > MAX_TOKEN:
            return _page(_NOT_FOUND, 404)
        try:
            reply = await self._record(pb.ENGAGEMENT_KIND_CLICK, token, request, backends,
                                       settings)  # fmt: skip
        except RateLimited as exc:
            return _page(_UNAVAILABLE, 429, **{"Retry-After": str(exc.retry_after)})
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return _page(_NOT_FOUND, 404)
            log.warning("tracking: a click could not be resolved (%s)", exc.code().name)
            return _page(_UNAVAILABLE, 503, **{"Retry-After": "30"})
        except (grpc.RpcError, _NoCredential) as exc:
            log.warning("tracking: a click could not be resolved (%s)", type(exc).__name__)
            return _page(_UNAVAILABLE, 503, **{"Retry-After": "30"})
        target = reply.target_url
        if not target.lower().startswith(("https://", "http://")):  # never anything else
            return _page(_NOT_FOUND, 404)
        # A header is ASCII: a target with other characters (an IRI) goes percent-encoded.
        location = urllib.parse.quote(target, safe=_URL_SAFE)
        return Response("", status_code=302, headers={**_HEADERS, "Location": location})

    @get("/t/o/{token:str}")
    async def pixel(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[bytes]:
        if len(token) <= MAX_TOKEN:
            try:
                await self._record(pb.ENGAGEMENT_KIND_OPEN, token, request, backends, settings)
            except RateLimited:
                pass  # served, not recorded
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                    log.warning("tracking: an open was not recorded (%s)", exc.code().name)
            except (grpc.RpcError, _NoCredential) as exc:
                log.warning("tracking: an open was not recorded (%s)", type(exc).__name__)
        return Response(GIF, status_code=200, media_type="image/gif", headers=_HEADERS)


class _NoCredential(Exception):
    """The gateway has no service credential: nothing can be recorded."""
