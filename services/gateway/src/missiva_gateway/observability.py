"""Request metrics for the gateway: a count and a latency histogram per route."""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Histogram

from missiva_platform import metrics


def request_metrics() -> tuple[Counter, Histogram]:
    """The gateway's HTTP metrics (``missiva_gateway_http_...``), made once per process."""
    metrics.configure("gateway")
    requests = metrics.counter(
        "http_requests_total",
        "HTTP requests the gateway answered, by method, route template and status.",
        ("method", "route", "status"),
    )
    latency = metrics.histogram(
        "http_request_duration_seconds",
        "Time to answer an HTTP request, by method and route template.",
        ("method", "route"),
    )
    return requests, latency


class RequestMetrics(ASGIMiddleware):
    """Counts requests and observes their latency, labelled by route template (bounded)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self) -> None:
        self.requests, self.latency = request_metrics()

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        status = 500  # what the client sees if the app dies before answering

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await next_app(scope, receive, record_status)
        finally:
            # The template, not the path: ids in paths would explode the label set.
            route = _route_of(scope)
            method = str(scope.get("method", ""))
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - started)


def _route_of(scope: Any) -> str:
    return str(scope.get("path_template") or "unmatched")
