"""The supervisor behind ``missiva up``: the whole platform on a laptop, under one data folder.

Start order: secrets → PostgreSQL (one database per service) → NATS JetStream → SMTP sink →
loopback DNS → migrations → the five services and the gateway, each its own process with its own
environment and log. Stop order is the reverse. Every child runs in its own process group
(so a terminal's Ctrl-C reaches only the supervisor, which then stops them in order) and gets
SIGTERM if the supervisor dies (``die_with_parent``). The ports and folders it uses are
planned in ``plan.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from missiva_platform.devstack.plan import (
    SERVICES,
    External,
    Layout,
    PlatformError,
    Ports,
    delivery_processes,
    without_password,
)
from missiva_platform.devstack.ports import PortInUse, ensure_port_free, wait_for_port
from missiva_platform.devstack.processes import (
    Child,
    ManagedProcess,
    NatsServer,
    PostgresServer,
    ServiceRoles,
    describe_exit,
    tail_log,
)
from missiva_platform.devstack.state import http_status, is_alive, process_start_time, read_state

DEFAULT_BASE_PORT = 50050
DEFAULT_DATA_DIR = ".missiva"
HOST = "127.0.0.1"
SERVING_TIMEOUT = 60.0
GATEWAY_TIMEOUT = 30.0
MIGRATE_TIMEOUT = 120.0
SERVICE_STOP_TIMEOUT = 20.0
RESTART_BACKOFF_FIRST = 1.0  # seconds; doubles with each crash in the window
RESTART_BACKOFF_MAX = 30.0
CRASH_WINDOW = 600.0  # a process that crashes more than MAX_CRASHES times in it stops all
MAX_CRASHES = 5

# Variables we set for children; inherited values would otherwise leak in (e.g. one
# service's database URL into another service's environment).
_OWNED_VARIABLES = {
    "DATABASE_URL", "NATS_URL", "SMTP_URL", "BIND_HOST", "GRPC_PORT", "HTTP_PORT",
    "IDENTITY_TARGET", "TOKEN_KEYRING_FILE", "FIELD_KEYS_FILE", "EMAIL_HASH_KEY_FILE",
    "IP_SALTS_FILE", "SERVICE_CREDENTIALS_FILE", "JWT_SIGNING_KEYS_FILE", "SMTP_SINK_DIR",
    "MISSIVA_DATA_DIR", "METRICS_PORT", "DNS_RESOLVER", "DNS_ZONE_FILE", "INBOUND_SMTP_PORT",
}  # fmt: skip


# --------------------------------------------------------------------------- the platform


class Platform:
    """Starts, watches and stops the embedded platform."""

    def __init__(
        self,
        data_dir: Path,
        base_port: int = DEFAULT_BASE_PORT,
        env: Mapping[str, str] | None = None,
        out: Any = None,
    ) -> None:
        self.layout = Layout(Path(data_dir).expanduser().resolve())
        self.ports = Ports(base_port)
        self.env = dict(os.environ if env is None else env)
        self.external = External.from_env(self.env)
        self.delivery_processes = delivery_processes(self.env)
        self.out = out if out is not None else sys.stdout
        self.postgres: PostgresServer | None = None
        self.nats: NatsServer | None = None
        self.smtp: Child | None = None
        self.dns: Child | None = None
        self.services: dict[str, Child] = {}
        self.roles: dict[str, ServiceRoles] = {}  # service → its database roles
        self.gateway: Child | None = None
        self.migrations: list[Child] = []
        self.secret_files: dict[str, Path] = {}
        self.credential_files: dict[str, Path] = {}  # service → its own credential only
        self.stopping = False
        self._start_times: dict[int, int | None] = {}  # pid → kernel start time, read once
        self._recorded = False

    # -- small helpers ------------------------------------------------------------------------

    def say(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    @property
    def nats_url(self) -> str:
        return self.external.nats_url or f"nats://{HOST}:{self.ports.nats}"

    @property
    def smtp_url(self) -> str:
        return self.external.smtp_url or f"smtp://{HOST}:{self.ports.smtp}"

    def database_url(self, service: str, *, owner: bool = False) -> str:
        """The service's own database, as its runtime role (or as its owner, to migrate)."""
        if service in self.external.database_urls:
            return self.external.database_urls[service]
        roles = self.roles[service]
        return roles.owner_url if owner else roles.app_url

    def planned_ports(self) -> list[tuple[int, str]]:
        """Every port this run will bind, with what binds it."""
        planned: list[tuple[int, str]] = []
        if self.external.needs_postgres:
            planned.append((self.ports.postgres, "PostgreSQL"))
        if not self.external.nats_url:
            planned.append((self.ports.nats, "NATS"))
        if not self.external.smtp_url:
            planned.append((self.ports.smtp, "the SMTP sink"))
        planned.append((self.ports.dns, "the loopback DNS server"))
        for service in SERVICES:
            planned.append((self.ports.grpc(service), f"{service} (gRPC)"))
            planned.append((self.ports.side(service), f"{service} (metrics/health)"))
        planned.append((self.ports.inbound_smtp, "delivery (inbound SMTP for bounces)"))
        planned.append((self.ports.gateway, "the gateway"))
        planned.append((self.ports.gateway_metrics, "the gateway (metrics/health)"))
        return planned

    def _base_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in self.env.items()
            if k not in _OWNED_VARIABLES
            and not k.endswith("_DATABASE_URL")
            and not k.endswith("_TARGET")
        }
        env["PYTHONUNBUFFERED"] = "1"  # logs reach the file as they happen
        return env

    def service_env(self, service: str) -> dict[str, str]:
        """The environment of ``service``: its own database only, the bus, ports, secrets."""
        from missiva_platform import secrets as s

        env = self._base_env()
        env.update(
            DATABASE_URL=self.database_url(service),
            NATS_URL=self.nats_url,
            BIND_HOST=HOST,
            GRPC_PORT=str(self.ports.grpc(service)),
            HTTP_PORT=str(self.ports.side(service)),
            IDENTITY_TARGET=f"{HOST}:{self.ports.grpc('identity')}",
            TOKEN_KEYRING_FILE=str(self.secret_files[s.TOKEN_KEYRING_FILE]),
            FIELD_KEYS_FILE=str(self.secret_files[s.FIELD_KEYS_FILE]),
            EMAIL_HASH_KEY_FILE=str(self.secret_files[s.EMAIL_HASH_KEY_FILE]),
            IP_SALTS_FILE=str(self.secret_files[s.IP_SALTS_FILE]),
            # Its own client credential only; identity checks every client's.
            SERVICE_CREDENTIALS_FILE=str(
                self.secret_files[s.SERVICE_CREDENTIALS_FILE]
                if service == "identity"
                else self.credential_files[service]
            ),
        )
        # Links in mail (unsubscribe, preferences, confirmations) lead to this gateway.
        env.setdefault("PUBLIC_BASE_URL", f"http://{HOST}:{self.ports.gateway}")
        if service == "identity":  # only identity signs tokens
            env["JWT_SIGNING_KEYS_FILE"] = str(self.secret_files[s.JWT_SIGNING_KEYS_FILE])
        if service == "delivery":
            env["SMTP_URL"] = self.smtp_url
            env["INBOUND_SMTP_PORT"] = str(self.ports.inbound_smtp)
            # Sender domains are verified against the loopback DNS, whose zone it publishes to.
            env["DNS_RESOLVER"] = f"{HOST}:{self.ports.dns}"
            env["DNS_ZONE_FILE"] = str(self.layout.dns_zone)
            # Outbound webhooks may reach a receiver on this machine (the README's SSRF rule).
            env.setdefault("WEBHOOK_ALLOW_LOOPBACK_HTTP", "true")
        if service == "billing":  # no cron here: billing runs its scheduled jobs itself
            env.setdefault("JOBS_INTERVAL_SECONDS", "60")
            env.setdefault("SDI_OUTBOX_DIR", str(self.layout.root / "sdi" / "outbox"))
            env.setdefault("SDI_INBOX_DIR", str(self.layout.root / "sdi" / "inbox"))
        if service == "campaign":  # forms start double opt-in at consent; sends hold credits
            env["CONSENT_TARGET"] = f"{HOST}:{self.ports.grpc('consent')}"
            env["BILLING_TARGET"] = f"{HOST}:{self.ports.grpc('billing')}"
        return env

    def replica_envs(self) -> dict[str, dict[str, str]]:
        """The extra delivery processes (``DELIVERY_PROCESSES`` - 1): same database and work
        queue as ``delivery``; their gRPC and metrics ports are chosen by the system (the
        gateway talks to the first one). Only the first runs the inbound SMTP server."""
        extra = {"GRPC_PORT": "0", "HTTP_PORT": "0", "INBOUND_SMTP_PORT": "0"}
        return {
            f"delivery-{n}": {**self.service_env("delivery"), **extra}
            for n in range(2, self.delivery_processes + 1)
        }

    def gateway_env(self) -> dict[str, str]:
        """The gateway's environment: where it listens and where every backend is."""
        env = self._base_env()
        env.update(
            BIND_HOST=HOST,
            HTTP_PORT=str(self.ports.gateway),
            METRICS_PORT=str(self.ports.gateway_metrics),
        )
        for service in SERVICES:
            env[f"{service.upper()}_TARGET"] = f"{HOST}:{self.ports.grpc(service)}"
        if "gateway" in self.credential_files:  # its service token (referral clicks)
            env["SERVICE_CREDENTIALS_FILE"] = str(self.credential_files["gateway"])
        if not self.external.smtp_url:
            env["SMTP_SINK_DIR"] = str(self.layout.mail)
        return env

    def attach(self, services: Sequence[str] = SERVICES) -> None:
        """What ``start`` sets up, read from the data folder of a platform that ``missiva up``
        started (secrets, credentials, database roles), so ``service_env`` gives a command
        the same environment the running service has. Starts nothing."""
        from missiva_platform.secrets import (
            SERVICE_CREDENTIALS_FILE,
            generate_secrets,
            own_credential_files,
        )

        self.secret_files = generate_secrets(self.layout.secrets)  # never regenerates a file
        self.credential_files = own_credential_files(self.secret_files[SERVICE_CREDENTIALS_FILE])
        server = PostgresServer(self.layout.postgres, self.ports.postgres)
        for service in services:
            if service not in self.external.database_urls:
                try:
                    self.roles[service] = server.existing_roles(service)
                except RuntimeError as exc:
                    raise PlatformError(str(exc)) from None

    # -- start --------------------------------------------------------------------------------

    def check_not_running(self) -> None:
        """Refuse a second supervisor on the same data folder."""
        state = read_state(self.layout.state_file)
        supervisor = (state or {}).get("supervisor") or {}
        pid = supervisor.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and is_alive(pid, supervisor.get("start")):
            raise PlatformError(
                f"already running on {self.layout.root} (pid {pid}); "
                f"stop it first or use another --data-dir"
            )

    def check_ports(self) -> None:
        """Every port must be free before anything starts (one clear error otherwise)."""
        self.ports.check_range()
        for port, what in self.planned_ports():
            try:
                ensure_port_free(port, what, HOST)
            except PortInUse as exc:
                raise PlatformError(str(exc)) from None

    def start(self) -> None:
        """Bring the whole platform up; raises ``PlatformError`` with a clear message."""
        from missiva_platform.secrets import (
            SERVICE_CREDENTIALS_FILE,
            generate_secrets,
            own_credential_files,
        )

        self.check_not_running()
        self.check_ports()
        for folder in (self.layout.root, self.layout.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.secret_files = generate_secrets(self.layout.secrets)
        self.credential_files = own_credential_files(self.secret_files[SERVICE_CREDENTIALS_FILE])
        self._record()

        if self.external.needs_postgres:
            self._start_postgres()
        if not self.external.nats_url:
            self._start_nats()
        if not self.external.smtp_url:
            self._start_smtp_sink()
        self._start_dns()
        self._migrate()
        # Everything is spawned before the first gRPC call: grpc starts threads, and
        # preexec_fn is only safe in a process without them.
        for service in SERVICES:
            child = Child(
                service,
                [sys.executable, "-m", f"missiva_{service}", "serve"],
                self.layout.log(service),
                self.service_env(service),
            )
            self.services[service] = child
            child.start()
        for name, env in self.replica_envs().items():
            child = Child(
                name,
                [sys.executable, "-m", "missiva_delivery", "serve"],
                self.layout.log(name),
                env,
            )
            self.services[name] = child
            child.start()
        self.gateway = Child(
            "gateway",
            [sys.executable, "-m", "missiva_gateway"],
            self.layout.log("gateway"),
            self.gateway_env(),
        )
        self.gateway.start()
        self._record()
        self.say("missiva: waiting for the services to answer SERVING on gRPC health")
        self._wait_serving()
        self._wait_gateway()
        self._record(up=True)

    def _start_postgres(self) -> None:
        self.say(f"missiva: starting PostgreSQL on {HOST}:{self.ports.postgres}")
        self.postgres = PostgresServer(self.layout.postgres, self.ports.postgres, durable=True)
        self.postgres.log_path = self.layout.log("postgresql")
        try:
            self.postgres.start()
        except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as exc:
            raise PlatformError(
                f"PostgreSQL did not start ({exc}); see {self.postgres.log_path}"
            ) from None
        self._record()
        for service in SERVICES:
            if service not in self.external.database_urls:
                self.postgres.create_database(service)
                self.roles[service] = self.postgres.service_roles(service)

    def _start_nats(self) -> None:
        self.say(f"missiva: starting NATS (JetStream) on {HOST}:{self.ports.nats}")
        self.nats = NatsServer(self.layout.nats, self.ports.nats)
        self.nats.log_path = self.layout.log("nats")
        try:
            self.nats.start()
        except (RuntimeError, TimeoutError) as exc:
            raise PlatformError(f"NATS did not start ({exc}); see {self.nats.log_path}") from None
        self._record()

    def _start_smtp_sink(self) -> None:
        self.say(f"missiva: starting the SMTP sink on {HOST}:{self.ports.smtp}")
        self.layout.mail.mkdir(parents=True, exist_ok=True)
        self.smtp = Child(
            "smtp-sink",
            [
                sys.executable, "-m", "missiva_platform.devstack.smtp_sink",
                "--host", HOST, "--port", str(self.ports.smtp), "--folder", str(self.layout.mail),
            ],
            self.layout.log("smtp-sink"),
            self._base_env(),
        )  # fmt: skip
        self.smtp.start()
        try:
            wait_for_port(self.ports.smtp, HOST, timeout=30)
        except TimeoutError:
            raise PlatformError(f"the SMTP sink did not start; see {self.smtp.log_path}") from None
        self._record()

    def _start_dns(self) -> None:
        self.say(f"missiva: starting the loopback DNS server on {HOST}:{self.ports.dns}")
        self.layout.dns_zone.parent.mkdir(parents=True, exist_ok=True)
        self.dns = Child(
            "dns",
            [
                sys.executable, "-m", "missiva_platform.dns_server",
                "--host", HOST, "--port", str(self.ports.dns), "--zone", str(self.layout.dns_zone),
            ],
            self.layout.log("dns"),
            self._base_env(),
        )  # fmt: skip
        self.dns.start()
        try:
            wait_for_port(self.ports.dns, HOST, timeout=30)
        except TimeoutError:
            raise PlatformError(f"the DNS server did not start; see {self.dns.log_path}") from None
        self._record()

    def _migrate(self) -> None:
        """Run every service's migrations, in parallel, each with that service's environment."""
        self.say("missiva: running migrations")
        for service in SERVICES:
            child = Child(
                f"{service}-migrate",
                [sys.executable, "-m", f"missiva_{service}", "migrate"],
                self.layout.log(service),
                {
                    **self.service_env(service),
                    "DATABASE_URL": self.database_url(service, owner=True),
                },
            )
            self.migrations.append(child)
            child.start()
        deadline = time.monotonic() + MIGRATE_TIMEOUT
        for service, child in zip(SERVICES, self.migrations, strict=True):
            assert child.proc is not None
            try:
                code = child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise PlatformError(
                    f"{service} migrations did not finish within {MIGRATE_TIMEOUT:.0f}s; "
                    f"see {child.log_path}"
                ) from None
            if code != 0:
                raise PlatformError(
                    f"{service} migrations failed ({describe_exit(code)}); see {child.log_path}",
                    tail_log(child.log_path, offset=child.log_offset),
                )
        self.migrations.clear()

    def _wait_serving(self) -> None:
        """Wait until every service answers SERVING on grpc.health.v1."""
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        channels = {s: grpc.insecure_channel(f"{HOST}:{self.ports.grpc(s)}") for s in SERVICES}
        pending = set(SERVICES)
        deadline = time.monotonic() + SERVING_TIMEOUT
        try:
            while pending:
                for service in [s for s in SERVICES if s in pending]:
                    child = self.services[service]
                    code = child.exit_code()
                    if code is not None:
                        raise PlatformError(
                            f"{service} {describe_exit(code)} before it was ready; "
                            f"see {child.log_path}",
                            tail_log(child.log_path, offset=child.log_offset),
                        )
                    stub = health_pb2_grpc.HealthStub(channels[service])
                    try:
                        reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    except grpc.RpcError:
                        continue
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        pending.discard(service)
                if not pending:
                    return
                if time.monotonic() > deadline:
                    names = ", ".join(s for s in SERVICES if s in pending)
                    logs = ", ".join(str(self.layout.log(s)) for s in SERVICES if s in pending)
                    raise PlatformError(
                        f"not SERVING after {SERVING_TIMEOUT:.0f}s: {names}; see {logs}"
                    )
                time.sleep(0.2)
        finally:
            for channel in channels.values():
                channel.close()

    def _wait_gateway(self) -> None:
        """Wait until the gateway answers ``/readyz`` with 200 (all backends reachable)."""
        assert self.gateway is not None
        deadline = time.monotonic() + GATEWAY_TIMEOUT
        status: int | None = None
        while True:
            code = self.gateway.exit_code()
            if code is not None:
                raise PlatformError(
                    f"the gateway {describe_exit(code)} before it was ready; "
                    f"see {self.gateway.log_path}",
                    tail_log(self.gateway.log_path, offset=self.gateway.log_offset),
                )
            status = http_status(HOST, self.ports.gateway, "/readyz")
            if status == 200:
                return
            if time.monotonic() > deadline:
                raise PlatformError(
                    f"the gateway was not ready after {GATEWAY_TIMEOUT:.0f}s "
                    f"(/readyz answered {status}); see {self.gateway.log_path}"
                )
            time.sleep(0.2)

    # -- watch --------------------------------------------------------------------------------

    def watch(self, interval: float = 0.5) -> None:
        """Block while the platform runs, restarting a process that dies, as Kubernetes would.

        A crashed process is started again after a back-off that doubles from 1 s to 30 s;
        one that crashes more than ``MAX_CRASHES`` times in ``CRASH_WINDOW`` seconds, or one
        the supervisor cannot restart (PostgreSQL run as another user), stops the platform
        with ``PlatformError``.
        """
        crashes: dict[str, list[float]] = {}
        due: dict[str, float] = {}  # name → when its restart is due
        while True:
            now = time.monotonic()
            for process in self._processes():
                if process.name in due:
                    if now >= due[process.name]:
                        del due[process.name]
                        self._restart(process)
                    continue
                if process.proc is None or process.proc.poll() is None:
                    continue
                why = f"{process.name} {describe_exit(process.proc.returncode)}"
                last_lines = tail_log(process.log_path, offset=process.log_offset)
                if not process.restartable:
                    raise PlatformError(
                        f"{why} unexpectedly and cannot be restarted; see {process.log_path}",
                        last_lines,
                    )
                recent = [t for t in crashes.get(process.name, []) if now - t < CRASH_WINDOW]
                recent.append(now)
                crashes[process.name] = recent
                if len(recent) > MAX_CRASHES:
                    raise PlatformError(
                        f"{why}; it crashed {len(recent)} times in {CRASH_WINDOW / 60:.0f} "
                        f"minutes, so the platform stops; see {process.log_path}",
                        last_lines,
                    )
                delay = min(RESTART_BACKOFF_MAX, RESTART_BACKOFF_FIRST * 2 ** (len(recent) - 1))
                due[process.name] = now + delay
                self.say(
                    f"missiva: {why}; restarting it in {delay:.0f}s "
                    f"(crash {len(recent)} in {CRASH_WINDOW / 60:.0f} minutes); "
                    f"see {process.log_path}"
                )
                if last_lines:
                    self.say(f"--- last lines of {process.name} ---\n{last_lines}")
            time.sleep(interval)

    def _restart(self, process: ManagedProcess) -> None:
        try:
            process.respawn()
        except OSError as exc:
            raise PlatformError(f"{process.name} could not be restarted: {exc}") from None
        assert process.proc is not None
        self.say(f"missiva: {process.name} restarted (pid {process.proc.pid})")
        self._record(up=True)

    def _processes(self) -> Iterator[ManagedProcess]:
        """Every started process, in start order."""
        for process in (self.postgres, self.nats, self.smtp, self.dns):
            if process is not None:
                yield process
        yield from self.services.values()
        if self.gateway is not None:
            yield self.gateway

    # -- stop ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything in reverse start order; nothing this run started is left."""
        self.stopping = True
        for child in self.migrations:
            with contextlib.suppress(Exception):
                child.kill()
        if self.gateway is not None:
            self._stop_quietly(self.gateway, timeout=15)
        self._stop_services()
        for process in (self.dns, self.smtp, self.nats, self.postgres):
            if process is not None:
                self._stop_quietly(process, timeout=30)
        if self._recorded:  # another supervisor's state file is not ours to touch
            self._record(up=False)

    def _stop_services(self) -> None:
        """SIGTERM all services at once, wait for them together, SIGKILL the stragglers."""
        running = [c for c in self.services.values() if c.running]
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                assert child.proc is not None
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SERVICE_STOP_TIMEOUT
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"missiva: {child.name} did not stop in time; killing it")
                child.kill()

    def _stop_quietly(self, process: ManagedProcess, timeout: float) -> None:
        try:
            process.stop(timeout)
        except Exception as exc:  # one stubborn process must not keep the others running
            self.say(f"missiva: stopping {process.name} failed ({exc}); killing it")
            with contextlib.suppress(Exception):
                process.kill()

    # -- state and report ---------------------------------------------------------------------

    def _record(self, up: bool | None = None) -> None:
        """Write ``platform.json``: ports, pids, logs; never a password."""
        processes: list[dict[str, Any]] = []
        for process in self._processes():
            if process.proc is None:
                continue
            pid = process.proc.pid
            if pid not in self._start_times:
                self._start_times[pid] = process_start_time(pid)
            entry: dict[str, Any] = {
                "name": process.name,
                "pid": pid,
                "start": self._start_times[pid],
                "log": str(process.log_path),
            }
            entry.update(self._ports_of(process.name))
            processes.append(entry)
        state = {
            "supervisor": {"pid": os.getpid(), "start": process_start_time(os.getpid())},
            "data_dir": str(self.layout.root),
            "base_port": self.ports.base,
            "status": "up" if up else ("stopped" if up is False else "starting"),
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "processes": processes,
            "urls": self.urls(),
        }
        tmp = self.layout.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.layout.state_file)
        self._recorded = True

    def _ports_of(self, name: str) -> dict[str, Any]:
        if name in SERVICES:
            return {"grpc_port": self.ports.grpc(name), "http_port": self.ports.side(name)}
        if name == "gateway":
            return {"port": self.ports.gateway, "http_port": self.ports.gateway_metrics}
        ports = {
            "postgresql": self.ports.postgres,
            "nats": self.ports.nats,
            "smtp-sink": self.ports.smtp,
            "dns": self.ports.dns,
        }
        return {"port": ports[name]} if name in ports else {}

    def urls(self) -> dict[str, Any]:
        """Every address worth knowing, without passwords."""
        urls: dict[str, Any] = {
            "gateway": f"http://{HOST}:{self.ports.gateway}",
            "gateway_metrics": f"http://{HOST}:{self.ports.gateway_metrics}/metrics",
        }
        for service in SERVICES:
            urls[service] = {
                "grpc": f"{HOST}:{self.ports.grpc(service)}",
                "metrics": f"http://{HOST}:{self.ports.side(service)}/metrics",
            }
        urls["nats"] = without_password(self.nats_url)
        urls["smtp"] = without_password(self.smtp_url)
        urls["inbound_smtp"] = f"smtp://{HOST}:{self.ports.inbound_smtp}"
        urls["mail"] = None if self.external.smtp_url else str(self.layout.mail)
        urls["dns"] = f"{HOST}:{self.ports.dns}"
        urls["dns_zone"] = str(self.layout.dns_zone)
        urls["logs"] = str(self.layout.logs)
        return urls
