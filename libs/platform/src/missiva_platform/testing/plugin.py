"""pytest plugin: real PostgreSQL, NATS JetStream and an SMTP sink for every test session.

- ``pg_server``/``nats_server``: one embedded server each per session (loopback, throwaway).
- ``database_url``: a fresh, empty database per test module.
- ``make_database``: fresh databases with migrations applied, cloned from a per-session
  template database (migrating once, cloning in milliseconds).
- ``nats_url``; ``smtp_sink`` (messages cleared for each test).
- ``dns_server``: the loopback authoritative DNS server (``missiva_platform.dns_server``) on
  a free port with its own zone file (emptied for each test); ``loopback_resolver`` points
  dnspython's default resolver (what dkimpy queries) at it for the test.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.resolver
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from missiva_platform.db import MigrationSet, migrate
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.processes import NatsServer, PostgresServer
from missiva_platform.devstack.smtp_sink import SmtpSink
from missiva_platform.dns_server import LoopbackDns

_counter = itertools.count(1)


def _db_name(hint: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", hint.lower()).strip("_")[-40:]
    return f"t{next(_counter):04d}_{slug}"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer(tmp_path_factory.mktemp("postgres"), free_port(), durable=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


class DatabaseFactory:
    """Makes fresh databases, optionally migrated, cloned from cached templates."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self._templates: dict[tuple[tuple[str, str], ...], str] = {}

    def empty(self, hint: str = "db") -> str:
        return self.server.create_database(_db_name(hint))

    def migrated(self, sets: list[MigrationSet], hint: str = "db") -> str:
        key = tuple((s.namespace, str(s.directory)) for s in sets)
        template = self._templates.get(key)
        if template is None:
            template = _db_name("tpl_" + "_".join(s.namespace for s in sets))
            url = self.server.create_database(template)
            # A thread of its own: callers may be inside a running event loop.
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, migrate(url, sets)).result()
            self._templates[key] = template
        return self.server.create_database(_db_name(hint), template=template)


@pytest.fixture(scope="session")
def database_factory(pg_server: PostgresServer) -> DatabaseFactory:
    return DatabaseFactory(pg_server)


@pytest.fixture(scope="module")
def database_url(database_factory: DatabaseFactory, request: pytest.FixtureRequest) -> str:
    return database_factory.empty(request.module.__name__)


@pytest.fixture(scope="session")
def make_database(database_factory: DatabaseFactory) -> Callable[..., str]:
    """``make_database(sets, hint)`` → URL of a fresh database with ``sets`` migrated."""
    return database_factory.migrated


@pytest.fixture(scope="session")
def _span_exporter_session() -> InMemorySpanExporter:
    """One SDK tracer provider for the session (OpenTelemetry allows setting it once)."""
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        current.add_span_processor(processor)
    else:
        provider = TracerProvider()
        provider.add_span_processor(processor)
        trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def span_exporter(_span_exporter_session: InMemorySpanExporter) -> InMemorySpanExporter:
    """Finished spans of this test (an in-memory exporter on the global provider)."""
    _span_exporter_session.clear()
    return _span_exporter_session


@pytest.fixture(scope="session")
def _smtp_sink_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    sink = SmtpSink(free_port(), folder=tmp_path_factory.mktemp("smtp"))
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp_sink(_smtp_sink_session: SmtpSink) -> SmtpSink:
    _smtp_sink_session.handler.clear()
    return _smtp_sink_session


@pytest.fixture(scope="session")
def _dns_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackDns]:
    server = LoopbackDns(tmp_path_factory.mktemp("dns") / "zone.json", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dns_server(_dns_server_session: LoopbackDns) -> LoopbackDns:
    Path(_dns_server_session.zone_file).unlink(missing_ok=True)
    return _dns_server_session


@pytest.fixture
def loopback_resolver(dns_server: LoopbackDns) -> Iterator[dns.resolver.Resolver]:
    """dnspython's default resolver (dkimpy's, too) asks only the loopback server."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns_server.host]
    resolver.port = dns_server.port
    resolver.lifetime = 5.0
    previous = dns.resolver.default_resolver
    dns.resolver.default_resolver = resolver
    try:
        yield resolver
    finally:
        dns.resolver.default_resolver = previous
