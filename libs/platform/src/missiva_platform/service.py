"""ServiceApp: the runtime every Missiva service shares (our "ServiceDefaults").

A service's ``__main__`` builds one ``ServiceApp`` (its settings, migrations, servicers, access
rules, streams, consumers, retention rules, privacy handler) and calls ``run_cli``. The app:

- refuses to start while migrations are pending;
- opens the database pool and the NATS connection, provisions streams and consumers;
- serves gRPC with the kit interceptors, the standard health service (SERVING only while the
  database and NATS answer, re-checked every few seconds) and reflection;
- serves ``/metrics``, ``/healthz``, ``/readyz`` on a side HTTP port;
- runs the outbox relay and the consumers;
- on SIGTERM/SIGINT: NOT_SERVING, stop accepting, finish in-flight calls, stop consumers and
  relay, drain NATS, close the pool.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from psycopg_pool import AsyncConnectionPool

from missiva.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from missiva_platform import channels, metrics, revocations
from missiva_platform.auth import (
    AccessPolicy,
    AccessRulesError,
    CallableJwks,
    JwksSource,
    MethodRule,
    TokenVerifier,
    check_rules,
)
from missiva_platform.bus import (
    Consumer,
    bus_healthy,
    connect_nats,
    dead_letter_stream,
    provision,
)
from missiva_platform.config import ServiceSettings, load_or_exit
from missiva_platform.db import (
    MigrationError,
    MigrationSet,
    check_migrated,
    kit_migrations,
    make_pool,
    migrate,
    ping,
)
from missiva_platform.interceptors import KitServerInterceptor
from missiva_platform.outbox import OutboxRelay
from missiva_platform.retention import KIT_RULES, RetentionRule, run_retention
from missiva_platform.sidecar import side_server
from missiva_platform.telemetry import configure_logging, configure_tracing

log = logging.getLogger(__name__)

LIVENESS = "liveness"  # health name Kubernetes' liveness probe asks for


@dataclass
class GrpcService:
    add_to_server: Callable[[Any, Any], None]
    servicer: Any
    full_name: str  # e.g. "missiva.consent.v1.ConsentService"
    rules: dict[str, MethodRule] = field(default_factory=dict)


class ServiceApp:
    """One service process: settings, database, bus, gRPC server and side port."""

    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        *,
        migrations_dir: Path | None = None,
        retention_rules: Sequence[RetentionRule] = (),
        jwks: JwksSource | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.migration_sets = [kit_migrations()]
        if migrations_dir is not None:
            self.migration_sets.append(MigrationSet(name, migrations_dir))
        self.retention_rules = [*KIT_RULES, *retention_rules]
        self.services: list[GrpcService] = []
        self.streams: list[Any] = []
        self.consumers: list[tuple[Any, Any]] = []  # (ConsumerSpec, handler)
        self.jwks = jwks
        self.pool: AsyncConnectionPool | None = None
        self.nc: Any = None
        self.js: Any = None
        self.verifier: TokenVerifier | None = None
        self.server: grpc.aio.Server | None = None
        self.health = health.aio.HealthServicer()
        self.grpc_port: int = settings.grpc_port
        self.http_port: int = settings.http_port
        self._serving = False
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._relay: Any = None
        self._running_consumers: list[Any] = []
        self._side: Any = None
        self.refreshers: list[tuple[str, float, Callable[[], Coroutine[Any, Any, None]]]] = []
        self.workers: list[tuple[str, Callable[[asyncio.Event], Coroutine[Any, Any, None]]]] = []
        self.startups: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []
        self._worker_tasks: list[asyncio.Task[None]] = []

    # -- wiring ------------------------------------------------------------------------------

    def add_service(
        self,
        add_to_server: Callable[[Any, Any], None],
        servicer: Any,
        full_name: str,
        rules: dict[str, MethodRule] | None = None,
        *,
        methods: Sequence[str] | None = None,
    ) -> None:
        """Register a gRPC servicer and the access rules of its methods (by short name).

        Every method of the service's descriptor needs a rule and every rule a method
        (``AccessRulesError`` otherwise): the service does not start with a gap in its rules.
        ``methods`` names the methods of a generic handler that has no descriptor.
        """
        check_rules(full_name, rules or {}, methods=methods)
        qualified = {f"/{full_name}/{method}": r for method, r in (rules or {}).items()}
        self.services.append(GrpcService(add_to_server, servicer, full_name, qualified))

    def add_streams(self, *streams: Any) -> None:
        """Streams to provision at start (declaring one twice provisions it once)."""
        self.streams.extend(s for s in streams if s not in self.streams)

    def add_refresher(
        self, name: str, every: float, refresh: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        """Run ``refresh()`` every ``every`` seconds while serving: read-only upkeep such as a
        gauge computed from the database. Work that changes data stays a scheduled command
        (one CronJob, not one loop per replica). A failing run is logged and retried."""
        self.refreshers.append((name, every, refresh))

    def add_worker(
        self, name: str, run: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
    ) -> None:
        """A long-running task of every replica (delivery's sender): ``run(stopping)`` starts
        once the service serves and should return soon after ``stopping`` is set; ``stop``
        waits for it (up to ``shutdown_grace_seconds``) before the pool closes."""
        self.workers.append((name, run))

    def add_startup(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Idempotent work done each time the service has started (consent publishing its
        default documents); a failure is logged, and the service serves anyway."""
        self.startups.append((name, run))

    def add_consumer(self, spec: Any, handler: Any) -> None:
        """A durable consumer and its handler; a durable name is registered once."""
        if any(known.durable == spec.durable for known, _ in self.consumers):
            raise ValueError(f"consumer {spec.durable} is registered twice")
        self.consumers.append((spec, handler))

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        return self._serving

    def _verifier(self) -> TokenVerifier | None:
        source = self.jwks
        if source is None and self.settings.identity_target:
            source = CallableJwks(_identity_jwks_fetcher(self.settings.identity_target))
        if source is None:
            return None
        return TokenVerifier(
            source, audience=self.name, cache_seconds=self.settings.jwks_cache_seconds
        )

    async def start(self) -> None:
        """Start everything; returns once the gRPC and side ports listen."""
        metrics.configure(self.name)
        await check_migrated(self.settings.database_url, self.migration_sets)
        self.pool = make_pool(
            self.settings.database_url,
            min_size=self.settings.db_pool_min,
            max_size=self.settings.db_pool_max,
            name=self.name,
        )
        await self.pool.open(wait=True, timeout=30)
        await self._connect_bus()

        policy = AccessPolicy()
        for service in self.services:
            policy.rules.update(service.rules)
        self.verifier = self._verifier()
        self.server = grpc.aio.server(
            interceptors=[KitServerInterceptor(self.verifier, policy)],
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", self.settings.grpc_max_receive_bytes),
                *channels.SERVER_OPTIONS,
            ],
        )
        names = [
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ]
        for service in self.services:
            service.add_to_server(service.servicer, self.server)
            names.append(service.full_name)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(names, self.server)
        bound = self.server.add_insecure_port(f"{self.settings.bind_host}:{self.grpc_port}")
        if bound == 0:
            raise OSError(f"gRPC port {self.grpc_port} on {self.settings.bind_host} is taken")
        self.grpc_port = bound
        await self._set_health(False)
        # Liveness is about the process, not its dependencies: SERVING until shutdown.
        await self.health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        await self.server.start()

        self._side = side_server(self.settings.bind_host, self.http_port, lambda: self._serving)
        self._tasks.append(asyncio.create_task(self._side.serve(), name="side-http"))
        while not self._side.started:
            await asyncio.sleep(0.01)
            if self._tasks[-1].done():
                self._tasks[-1].result()  # raise the bind error
        if self.http_port == 0:
            self.http_port = self._side.servers[0].sockets[0].getsockname()[1]

        await self._start_bus_workers()
        if self.verifier is not None:  # sessions identity ends stop verifying at once
            assert self.js is not None
            follow = revocations.follow(self.js, self.verifier, self._stopping)
            self._tasks.append(asyncio.create_task(follow, name="revocations"))
        for name, every, refresh in self.refreshers:
            self._tasks.append(
                asyncio.create_task(self._refresh_loop(name, every, refresh), name=name)
            )
        for name, run in self.workers:
            self._worker_tasks.append(asyncio.create_task(run(self._stopping), name=name))
        await self._check_health()
        self._tasks.append(asyncio.create_task(self._health_loop(), name="health"))
        for name, startup in self.startups:
            try:
                await startup()
            except Exception:  # serve anyway: the next start tries again
                log.exception("start-up work failed", extra={"startup": name})
        log.info(
            "service started",
            extra={"service": self.name, "grpc_port": self.grpc_port, "http_port": self.http_port},
        )

    async def _connect_bus(self) -> None:
        self.nc = await connect_nats(self.settings.nats_url, name=self.name)
        self.js = self.nc.jetstream()
        streams = list(self.streams)
        if self.consumers:
            streams.append(dead_letter_stream(self.name))
        await provision(self.js, streams, [spec for spec, _ in self.consumers])

    async def _start_bus_workers(self) -> None:
        assert self.pool is not None
        self._relay = OutboxRelay(self.pool, self.nc)
        await self._relay.start()
        for spec, handler in self.consumers:
            consumer = Consumer(self.pool, self.js, spec, handler)
            await consumer.start()
            self._running_consumers.append(consumer)

    async def _check_health(self) -> None:
        assert self.pool is not None
        within = min(2.0, self.settings.health_interval_seconds)
        db_ok = await ping(self.pool, within)
        bus_ok = self.nc is not None and await bus_healthy(self.nc, within)
        self._record_pool_stats()
        await self._set_health(db_ok and bus_ok and not self._stopping.is_set())

    def _record_pool_stats(self) -> None:
        assert self.pool is not None
        stats = self.pool.get_stats()
        gauge = metrics.gauge(
            "db_pool_connections", "Database pool connections by state", ("state",)
        )
        gauge.labels("open").set(stats.get("pool_size", 0))
        gauge.labels("idle").set(stats.get("pool_available", 0))
        gauge.labels("waiting_requests").set(stats.get("requests_waiting", 0))

    async def _set_health(self, serving: bool) -> None:
        changed = serving != self._serving
        self._serving = serving
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self.health.set("", status)
        for service in self.services:
            await self.health.set(service.full_name, status)
        if changed:
            log.info("health changed", extra={"service": self.name, "serving": serving})

    async def _health_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), timeout=self.settings.health_interval_seconds
                )
            if self._stopping.is_set():
                return
            try:
                await self._check_health()
            except Exception:  # the loop must outlive any single failed check
                log.exception("health check failed")
                await self._set_health(False)

    async def _refresh_loop(
        self, name: str, every: float, refresh: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        while not self._stopping.is_set():
            try:
                await refresh()
            except Exception:  # upkeep must outlive a failed run (database restarting...)
                log.exception("refresher failed", extra={"refresher": name})
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=every)

    async def stop(self) -> None:
        """Graceful shutdown: NOT_SERVING, finish in-flight, stop workers, drain, close."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        await self._set_health(False)
        await self.health.enter_graceful_shutdown()
        if self.server is not None:
            await self.server.stop(self.settings.shutdown_grace_seconds)
        for consumer in self._running_consumers:
            await consumer.stop()
        for task in self._worker_tasks:  # the work in hand finishes on the open pool
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=self.settings.shutdown_grace_seconds)
        if self._relay is not None:
            await self._relay.stop()
        if self._side is not None:
            self._side.should_exit = True
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        if self.pool is not None:
            await self.pool.close()
        log.info("service stopped", extra={"service": self.name})

    async def serve_forever(self) -> None:
        """Start, wait for SIGTERM or SIGINT, stop."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        await stop.wait()
        await self.stop()


def _identity_jwks_fetcher(target: str) -> Callable[[], Any]:
    """Fetch identity's JWKS over gRPC (``IdentityService.GetJwks``)."""

    async def fetch() -> Any:
        import json

        async with channels.insecure_channel(target) as channel:
            stub = identity_service_pb2_grpc.IdentityServiceStub(channel)
            reply = await stub.GetJwks(identity_service_pb2.GetJwksRequest(), timeout=5)
        return json.loads(reply.jwks_json)

    return fetch


ServiceCommand = Callable[[ServiceApp, list[str]], Coroutine[Any, Any, int]]


def run_cli(
    build: Callable[[Any], ServiceApp],
    settings_cls: type[ServiceSettings],
    argv: Sequence[str] | None = None,
    commands: Mapping[str, ServiceCommand] | None = None,
) -> None:
    """``python -m missiva_<svc> [serve|migrate|retention|<command> ...]``.

    ``commands`` adds service-specific administrative commands: each gets the (not started)
    app and the remaining arguments, and returns the process exit code.
    """
    extra = dict(commands or {})
    parser = argparse.ArgumentParser(prog=f"missiva-{settings_cls.__name__}")
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "retention", *extra]
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    settings = load_or_exit(settings_cls)
    try:
        app = build(settings)
    except AccessRulesError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(5) from None
    _configure_process(app.name, settings)
    try:
        if args.command == "migrate":
            applied = asyncio.run(migrate(settings.database_url, app.migration_sets))
            print(f"{app.name}: applied {len(applied)} migration(s)")
        elif args.command in extra:
            raise SystemExit(asyncio.run(extra[args.command](app, list(args.rest))))
        elif args.command == "retention":
            results = asyncio.run(run_retention(settings.database_url, app.retention_rules))
            for rule_name, count in results.items():
                print(f"{app.name}: {rule_name}: {count} row(s)")
        else:
            asyncio.run(app.serve_forever())
    except MigrationError as exc:
        print(f"{app.name}: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
    except OSError as exc:
        print(f"{app.name}: {exc}", file=sys.stderr)
        raise SystemExit(4) from None


def _configure_process(name: str, settings: ServiceSettings) -> None:
    configure_logging(name, settings.log_level)
    configure_tracing(name, otlp_endpoint=settings.otel_exporter_otlp_endpoint)
