"""What ``missiva up`` plans before it starts anything: ports, folders, external parts.

Ports, from ``--base-port`` B: gRPC B+1..B+5 and side HTTP B+51..B+55 (identity, consent,
campaign, delivery, billing), gateway B+30 (its metrics B+31), PostgreSQL B+40, NATS B+41,
SMTP sink B+42, the loopback DNS server B+43 (UDP and TCP), delivery's inbound SMTP server for
bounces and complaints B+44.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from missiva_platform.config import ConfigError, check_nats_url, check_postgres_url

SERVICES = ("identity", "consent", "campaign", "delivery", "billing")


class PlatformError(Exception):
    """``missiva up`` cannot go on; the first line of the message says why."""


class Interrupted(Exception):
    """SIGINT/SIGTERM/SIGHUP arrived: stop everything and exit cleanly."""


@dataclass(frozen=True)
class Ports:
    """Every port of the platform, derived from one base port."""

    base: int

    def grpc(self, service: str) -> int:
        return self.base + 1 + SERVICES.index(service)

    def side(self, service: str) -> int:
        return self.base + 51 + SERVICES.index(service)

    @property
    def gateway(self) -> int:
        return self.base + 30

    @property
    def gateway_metrics(self) -> int:
        return self.base + 31

    @property
    def postgres(self) -> int:
        return self.base + 40

    @property
    def nats(self) -> int:
        return self.base + 41

    @property
    def smtp(self) -> int:
        return self.base + 42

    @property
    def inbound_smtp(self) -> int:
        """Delivery's bounce-domain SMTP server (DSNs and complaint reports come back here)."""
        return self.base + 44

    @property
    def dns(self) -> int:
        return self.base + 43

    def check_range(self) -> None:
        """Refuse a base port whose derived ports fall outside 1024..65535."""
        if not self.base >= 1024 or self.base + 55 > 65535:
            raise PlatformError(
                f"base port {self.base} is out of range: it must be between 1024 and 65480"
            )


@dataclass(frozen=True)
class Layout:
    """Where everything lives in the data folder (which survives restarts)."""

    root: Path

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def mail(self) -> Path:
        return self.root / "mail"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def nats(self) -> Path:
        return self.root / "nats"

    @property
    def dns_zone(self) -> Path:
        """The loopback DNS server's zone (``missiva_platform.dns_server``)."""
        return self.root / "dns" / "zone.json"

    @property
    def state_file(self) -> Path:
        return self.root / "platform.json"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


@dataclass(frozen=True)
class External:
    """Dependencies given by URL in the environment instead of started here."""

    database_urls: dict[str, str] = field(default_factory=dict)
    nats_url: str | None = None
    smtp_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> External:
        """Read ``<SVC>_DATABASE_URL``, ``NATS_URL`` and ``SMTP_URL``; validate each."""
        urls: dict[str, str] = {}
        for service in SERVICES:
            variable = f"{service.upper()}_DATABASE_URL"
            if env.get(variable):
                check_postgres_url(variable, env[variable])
                urls[service] = env[variable]
        nats_url = env.get("NATS_URL") or None
        if nats_url:
            check_nats_url("NATS_URL", nats_url)
        smtp_url = env.get("SMTP_URL") or None
        if smtp_url and urllib.parse.urlsplit(smtp_url).scheme not in ("smtp", "smtps"):
            raise ConfigError("SMTP_URL", "must be an smtp:// or smtps:// URL")
        return cls(urls, nats_url, smtp_url)

    @property
    def needs_postgres(self) -> bool:
        return any(service not in self.database_urls for service in SERVICES)


def without_password(url: str) -> str:
    """``url`` (or a comma-separated list, as NATS allows) with passwords masked."""
    if "," in url:
        return ",".join(without_password(part.strip()) for part in url.split(","))
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


MAX_DELIVERY_PROCESSES = 16


def delivery_processes(env: Mapping[str, str]) -> int:
    """``DELIVERY_PROCESSES``: how many delivery processes share its work queue (default 1;
    building and signing campaign mail is CPU-bound, so one per core)."""
    raw = env.get("DELIVERY_PROCESSES") or "1"
    try:
        count = int(raw)
    except ValueError:
        raise ConfigError("DELIVERY_PROCESSES", "must be a whole number") from None
    if not 1 <= count <= MAX_DELIVERY_PROCESSES:
        raise ConfigError("DELIVERY_PROCESSES", f"must be between 1 and {MAX_DELIVERY_PROCESSES}")
    return count
