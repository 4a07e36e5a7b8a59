"""Entry point: ``python -m missiva_gateway`` serves the gateway with uvicorn."""

from __future__ import annotations

import asyncio
import signal
import sys

import uvicorn

from missiva_gateway.app import create_app
from missiva_gateway.config import GatewaySettings, load
from missiva_platform.sidecar import EmbeddedServer, side_server
from missiva_platform.telemetry import configure_logging, configure_tracing


async def serve(settings: GatewaySettings) -> bool:
    """Serve until SIGTERM or SIGINT, then finish in-flight requests; False if start failed.

    The public port serves the app; ``METRICS_PORT`` serves ``/metrics``, ``/healthz`` and
    ``/readyz`` (ready once the public port listens) for Prometheus and probes only.
    """
    config = uvicorn.Config(
        create_app(settings),
        host=settings.bind_host,
        port=settings.http_port,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    server = EmbeddedServer(config)  # we, not uvicorn, own the signal handlers
    side = side_server(settings.bind_host, settings.metrics_port, lambda: bool(server.started))
    loop = asyncio.get_running_loop()

    def stop() -> None:
        server.should_exit = True
        side.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    side_task = asyncio.create_task(side.serve(), name="gateway-metrics")
    try:
        await server.serve()
    finally:
        side.should_exit = True
        await side_task
    return bool(server.started) and bool(side.started)


def main() -> None:
    """Read settings, set up logging and tracing, serve."""
    settings = load()
    configure_logging("gateway", settings.log_level)
    configure_tracing("gateway", otlp_endpoint=settings.otel_exporter_otlp_endpoint)
    if not asyncio.run(serve(settings)):
        print(
            f"gateway: could not start on {settings.bind_host}:{settings.http_port}"
            f" (metrics {settings.metrics_port})",
            file=sys.stderr,
        )
        raise SystemExit(4)


if __name__ == "__main__":
    main()
