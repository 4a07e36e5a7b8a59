"""The side HTTP port of every service: ``/metrics``, ``/healthz`` (alive), ``/readyz``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from missiva_platform import metrics

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


def side_app(is_ready: Callable[[], bool]) -> Callable[..., Any]:
    """A minimal ASGI app; readiness reflects the same checks as the gRPC health service."""

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/metrics":
            status, body, ctype = 200, generate_latest(metrics.registry()), CONTENT_TYPE_LATEST
        elif path == "/healthz":
            status, body, ctype = 200, b"ok\n", "text/plain"
        elif path == "/readyz":
            ready = is_ready()
            status = 200 if ready else 503
            body, ctype = (b"ready\n" if ready else b"not ready\n"), "text/plain"
        else:
            status, body, ctype = 404, b"not found\n", "text/plain"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype.encode()), (b"cache-control", b"no-store")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside our event loop; the service, not uvicorn, owns the signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def side_server(host: str, port: int, is_ready: Callable[[], bool]) -> EmbeddedServer:
    config = uvicorn.Config(
        side_app(is_ready),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    return EmbeddedServer(config)
