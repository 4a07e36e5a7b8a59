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
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from missiva_platform.config import ConfigError
from missiva_platform.devstack.plan import (
    SERVICES,
    External,
    Interrupted,
    Layout,
    PlatformError,
    Ports,
    delivery_processes,
    without_password,
)
from missiva_platform.devstack.ports import PortInUse, ensure_port_free, wait_for_port
from missiva_platform.devstack.processes import (
    ManagedProcess,
    NatsServer,
    PostgresServer,
    ServiceRoles,
)

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


# --------------------------------------------------------------------------- processes


class Child(ManagedProcess):
    """One of our own processes (a service, the gateway, the SMTP sink)."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str]):
        super().__init__(log_path)
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)

    def start(self) -> None:
        """Spawn the process (returns at once)."""
        self._spawn(self.argv, env=self.env)

    def exit_code(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None


def _tail(path: Path, lines: int = 15, offset: int = 0) -> str:
    """The last ``lines`` lines of a log, from ``offset`` on (this run's part only)."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited; only its exit status is left
        return None
    return int(fields[19])


def is_alive(pid: int, start_time: int | None = None) -> bool:
    """True when ``pid`` runs and, if given, started at ``start_time`` (not a reused pid)."""
    started = process_start_time(pid)
    return started is not None and (start_time is None or started == start_time)


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
                    _tail(child.log_path, offset=child.log_offset),
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
                            _tail(child.log_path, offset=child.log_offset),
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
                    _tail(self.gateway.log_path, offset=self.gateway.log_offset),
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
                last_lines = _tail(process.log_path, offset=process.log_offset)
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

    def print_table(self) -> None:
        """The short table of URLs printed once everything is up."""
        rows: list[tuple[str, str, str]] = [
            (
                "gateway",
                f"http://{HOST}:{self.ports.gateway}  "
                f"metrics http://{HOST}:{self.ports.gateway_metrics}/metrics",
                str(self.layout.log("gateway")),
            )
        ]
        for service in SERVICES:
            rows.append(
                (
                    service,
                    f"grpc {HOST}:{self.ports.grpc(service)}  "
                    f"metrics http://{HOST}:{self.ports.side(service)}/metrics",
                    str(self.layout.log(service)),
                )
            )
        for service in SERVICES:
            if service in self.external.database_urls:
                url = without_password(self.external.database_urls[service])
                rows.append((f"db {service}", url, "(external)"))
        if self.external.needs_postgres:
            rows.append(("postgresql", f"{HOST}:{self.ports.postgres}", "(embedded)"))
        nats_note = "(external)" if self.external.nats_url else "(embedded, JetStream)"
        rows.append(("nats", without_password(self.nats_url), nats_note))
        if self.external.smtp_url:
            rows.append(("smtp", without_password(self.smtp_url), "(external)"))
        else:
            rows.append(("smtp", self.smtp_url, f"mail folder {self.layout.mail}"))
        rows.append(
            ("bounces in", f"smtp://{HOST}:{self.ports.inbound_smtp}", "(delivery, DSN and ARF)")
        )
        rows.append(("dns", f"{HOST}:{self.ports.dns} (udp, tcp)", f"zone {self.layout.dns_zone}"))
        width = max(len(name) for name, _, _ in rows)
        self.say(f"\nmissiva platform (data {self.layout.root})")
        for name, url, note in rows:
            self.say(f"  {name:<{width}}  {url}  {note}".rstrip())
        self.say(f"\nmissiva is up at http://{HOST}:{self.ports.gateway}; press Ctrl-C to stop")


def http_status(host: str, port: int, path: str, timeout: float = 2.0) -> int | None:
    """The status of ``GET path`` on ``host:port``, or None if nothing answers."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def read_state(path: Path) -> dict[str, Any] | None:
    """The ``platform.json`` a supervisor wrote, or None."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------- running


def run_up(data_dir: Path, base_port: int, out: Any = None) -> int:
    """``missiva up``: start, print the table, run until a signal, stop; the exit status."""
    err = sys.stderr
    try:
        platform = Platform(data_dir, base_port, out=out)
    except ConfigError as exc:
        print(f"missiva: {exc}", file=err)
        return 2

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if platform.stopping:
            return  # already stopping in order; a second Ctrl-C must not cut that short
        raise Interrupted(signal.Signals(signum).name)

    # Installed before any child exists: a handled signal is reset to default on exec,
    # so children never inherit an "ignored" SIGINT from our own parent.
    previous = {sig: signal.signal(sig, interrupt) for sig in _STOP_SIGNALS}
    status = 0
    try:
        try:
            platform.start()
            platform.print_table()
            platform.watch()
        except Interrupted:
            platform.stopping = True
            platform.say("\nmissiva: stopping")
        except PlatformError as exc:
            platform.stopping = True
            print(f"missiva: {exc.args[0]}", file=err, flush=True)
            if len(exc.args) > 1 and exc.args[1]:
                print(f"--- last lines ---\n{exc.args[1]}", file=err, flush=True)
            status = 1
        except ConfigError as exc:
            platform.stopping = True
            print(f"missiva: {exc}", file=err, flush=True)
            status = 2
        finally:
            platform.stopping = True
            platform.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if status == 0:
        platform.say("missiva: stopped")
    return status


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_status(data_dir: Path, out: Any = None) -> int:
    """``missiva status``: which processes of the last ``missiva up`` are alive (0: all)."""
    out = out if out is not None else sys.stdout
    layout = Layout(Path(data_dir).expanduser().resolve())
    state = read_state(layout.state_file)
    if state is None:
        print(f"missiva: no platform has run in {layout.root}", file=out)
        return 3
    supervisor = state.get("supervisor") or {}
    sup_alive = is_alive(int(supervisor.get("pid", 0)), supervisor.get("start"))
    print(
        f"missiva supervisor pid {supervisor.get('pid')}: "
        f"{'running' if sup_alive else 'not running'} (data {layout.root})",
        file=out,
    )
    all_alive = sup_alive
    for entry in state.get("processes", []):
        alive = is_alive(int(entry["pid"]), entry.get("start"))
        all_alive = all_alive and alive
        ports = ", ".join(
            f"{k.removesuffix('_port')} {v}" for k, v in entry.items() if k.endswith("port")
        )
        print(
            f"  {entry['name']:<11} pid {entry['pid']:<8} {'alive' if alive else 'dead':<6} "
            f"{ports}",
            file=out,
        )
    return 0 if all_alive else 1
