"""``missiva up`` end to end: the whole platform as real processes, then a clean stop.

Each test runs the supervisor as a subprocess on a port range probed free, in a temporary
data folder, and checks what an operator would: every service SERVING, every probe 200,
Ctrl-C (SIGINT) stops everything, a taken port is one clear error, a restart reuses state.
"""

from __future__ import annotations

import os
import queue
import shlex
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from missiva_platform.devstack.platform import SERVICES, Ports
from missiva_platform.devstack.ports import free_base_port
from missiva_platform.devstack.processes import default_sigint
from missiva_platform.devstack.state import is_alive, read_state

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

UP_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
UP_LINE = "missiva is up"


class Supervisor:
    """A running ``missiva up`` and its merged stdout/stderr, read on a thread."""

    def __init__(self, data_dir: Path, base_port: int) -> None:
        self.data_dir = data_dir
        self.ports = Ports(base_port)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "missiva_platform.devstack.cli", "up",
             "--data-dir", str(data_dir), "--base-port", str(base_port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            preexec_fn=default_sigint,
        )  # fmt: skip
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_up(self, timeout: float = UP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"not up after {timeout}s:\n" + self.output) from None
            if line is None:
                raise AssertionError("missiva up exited before it was up:\n" + self.output)
            self.lines.append(line)
            if line.startswith(UP_LINE):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not up after {timeout}s:\n" + self.output)

    def finish(self, timeout: float = STOP_TIMEOUT) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        while (line := self._drain()) is not None:
            self.lines.append(line)
        return code

    def _drain(self) -> str | None:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.finish()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    """Supervisors a test started; killed (children die with them) if the test failed."""
    started: list[Supervisor] = []
    yield started
    for supervisor in started:
        supervisor.kill()


def start(supervisors: list[Supervisor], data_dir: Path, base_port: int) -> Supervisor:
    supervisor = Supervisor(data_dir, base_port)
    supervisors.append(supervisor)
    return supervisor


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root`` (pid → kernel start time), from /proc."""
    parents: dict[int, int] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
            starts[int(entry.name)] = int(fields[19])
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = starts[pid]
                frontier.append(pid)
    return found


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line or environment mentions ``text``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in blob and is_alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def health_of(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    return int(reply.status)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``missiva ARGS`` to completion, stdout and stderr merged."""
    return subprocess.run(
        [sys.executable, "-m", "missiva_platform.devstack.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
        check=False,
    )


def identity_database_url(data_dir: Path, ports: Ports) -> str:
    password = (data_dir / "postgres" / "postgres-password").read_text().strip()
    return f"postgresql://postgres:{password}@127.0.0.1:{ports.postgres}/identity"


def make_api_key(data_dir: Path) -> str:
    """The README's platform-team steps: dev_env, create-account, create-api-key."""
    dev_env = subprocess.run(
        [sys.executable, str(REPO / "examples" / "dev_env.py"), "identity"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={**os.environ, "MISSIVA_DATA_DIR": str(data_dir)},
    )
    env = dict(os.environ)
    for line in dev_env.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    identity = [sys.executable, "-m", "missiva_identity"]
    subprocess.run(
        [
            *identity,
            "create-account",
            "--email",
            "team@example.org",
            "--account-name",
            "Platform team",
            "--password-stdin",
        ],
        input="a long and unusual passphrase 7\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    created = subprocess.run(
        [
            *identity,
            "create-api-key",
            "--account",
            "team@example.org",
            "--scopes",
            "consent:read",
            "links:write",
            "--name",
            "ci",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    keys = [word for word in created.stdout.split() if word.startswith("mk_")]
    assert keys, created.stdout
    return keys[0]


def run_example(ports: Ports, **env: str) -> subprocess.CompletedProcess[str]:
    """``examples/platform_client.py --service consent`` against the platform at ``ports``,
    with no token of the caller's environment and ``env`` added."""
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "platform_client.py"),
            "--base-port",
            str(ports.base),
            "--service",
            "consent",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**{k: v for k, v in os.environ.items() if k != "MISSIVA_TOKEN"}, **env},
    )


def issue_unsubscribe_link(ports: Ports, api_key: str, email: str) -> str:
    """The unsubscribe link consent signs for a message to ``email`` (API key → token)."""
    from missiva.common.v1 import types_pb2
    from missiva.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
    from missiva.identity.v1 import identity_service_pb2, identity_service_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{ports.grpc('identity')}") as channel:
        token = (
            identity_service_pb2_grpc.IdentityServiceStub(channel)
            .ExchangeApiKey(identity_service_pb2.ExchangeApiKeyRequest(secret=api_key), timeout=30)
            .access_token
        )
    with grpc.insecure_channel(f"127.0.0.1:{ports.grpc('consent')}") as channel:
        reply = consent_service_pb2_grpc.ConsentServiceStub(channel).IssueLinkTokens(
            consent_service_pb2.IssueLinkTokensRequest(person=types_pb2.PersonRef(email=email)),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=30,
        )
    return reply.unsubscribe_url


# --------------------------------------------------------------------------- tests


def test_up_serves_everything_and_ctrl_c_leaves_nothing_behind(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    data_dir = tmp_path / "data"
    started = time.monotonic()
    supervisor = start(supervisors, data_dir, free_base_port())
    supervisor.wait_up()
    up_seconds = time.monotonic() - started
    ports = supervisor.ports

    for service in SERVICES:
        assert health_of(ports.grpc(service)) == health_pb2.HealthCheckResponse.SERVING, service
        for path in ("/metrics", "/readyz"):
            response = httpx.get(f"http://127.0.0.1:{ports.side(service)}{path}", timeout=5)
            assert response.status_code == 200, (service, path, response.text)
    for path in ("/healthz", "/readyz"):
        response = httpx.get(f"http://127.0.0.1:{ports.gateway}{path}", timeout=5)
        assert response.status_code == 200, (path, response.text)
    # The gateway's metrics are on its side port only, never on the public one.
    metrics = httpx.get(f"http://127.0.0.1:{ports.gateway_metrics}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert "missiva_gateway_http_requests_total" in metrics.text
    assert httpx.get(f"http://127.0.0.1:{ports.gateway}/metrics", timeout=5).status_code == 404

    # The platform-team example runs against it: all healthy, and its call without a token
    # reaches the service and is refused there.
    example = run_example(ports)
    assert example.returncode == 1, example.stdout + example.stderr
    assert example.stdout.count("SERVING") == len(SERVICES)
    assert "missiva.consent.v1.ConsentService" in example.stdout
    assert "ExportPersonData → UNAUTHENTICATED" in example.stdout

    # With an API key made by the README's commands, the example's call succeeds.
    api_key = make_api_key(data_dir)
    example = run_example(ports, MISSIVA_API_KEY=api_key)
    assert example.returncode == 0, example.stdout + example.stderr
    assert "ListPurposes →" in example.stdout
    assert api_key not in example.stdout

    # A link consent puts in mail leads to this platform's gateway, and a mail provider's
    # RFC 8058 one-click POST to it unsubscribes.
    unsubscribe_url = issue_unsubscribe_link(ports, api_key, "reader@example.org")
    assert unsubscribe_url.startswith(f"http://127.0.0.1:{ports.gateway}/unsubscribe/")
    clicked = httpx.post(unsubscribe_url, data={"List-Unsubscribe": "One-Click"}, timeout=30)
    assert clicked.status_code == 200, clicked.text
    assert httpx.get(unsubscribe_url, timeout=30).status_code == 200  # the page, unchanged

    # Delivery's inbound SMTP server for bounces answers, and refuses what is not a VERP
    # return path of ours.
    with smtplib.SMTP("127.0.0.1", ports.inbound_smtp, timeout=10) as inbound:
        inbound.ehlo("mx.example.org")
        inbound.mail("")
        code, _ = inbound.rcpt("postmaster@example.org")
        assert code == 550
    assert f"smtp://127.0.0.1:{ports.inbound_smtp}" in supervisor.output

    # The table names every address and no password.
    assert f"http://127.0.0.1:{ports.gateway}" in supervisor.output
    for service in SERVICES:
        assert f"127.0.0.1:{ports.grpc(service)}" in supervisor.output
        assert f"http://127.0.0.1:{ports.side(service)}/metrics" in supervisor.output
    assert str(data_dir / "mail") in supervisor.output
    password = (data_dir / "postgres" / "postgres-password").read_text().strip()
    assert password not in supervisor.output
    assert password not in (data_dir / "platform.json").read_text()

    children = descendants(supervisor.proc.pid)
    state = read_state(data_dir / "platform.json")
    assert state is not None
    assert state["status"] == "up"
    recorded = {entry["name"]: entry["pid"] for entry in state["processes"]}
    assert set(recorded) == {"postgresql", "nats", "smtp-sink", "dns", *SERVICES, "gateway"}
    assert set(recorded.values()) <= set(children)

    # A second supervisor on the same data folder refuses, and leaves the state file alone.
    state_before = (data_dir / "platform.json").read_text()
    second = run_cli("up", "--data-dir", str(data_dir), "--base-port", str(free_base_port()))
    assert second.returncode == 1
    assert second.stdout.strip().splitlines() == [
        f"missiva: already running on {data_dir} (pid {supervisor.proc.pid}); "
        f"stop it first or use another --data-dir"
    ]
    assert (data_dir / "platform.json").read_text() == state_before
    status = run_cli("status", "--data-dir", str(data_dir))
    assert status.returncode == 0, status.stdout
    assert status.stdout.count(" alive ") == len(recorded)

    stop_started = time.monotonic()
    assert supervisor.interrupt() == 0, supervisor.output
    stop_seconds = time.monotonic() - stop_started
    left = [pid for pid, start_time in children.items() if is_alive(pid, start_time)]
    assert left == [], f"still running after the stop: {left}"
    assert "missiva: stopped" in supervisor.output
    assert run_cli("status", "--data-dir", str(data_dir)).returncode == 1
    print(f"up in {up_seconds:.1f}s, stopped in {stop_seconds:.1f}s")


def test_a_taken_port_is_one_clear_error_and_nothing_starts(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    data_dir = tmp_path / "data"
    base = free_base_port()
    taken = Ports(base).grpc("campaign")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        supervisor = start(supervisors, data_dir, base)
        code = supervisor.finish(timeout=30)

    assert code != 0
    assert len(supervisor.lines) == 1, supervisor.output
    assert str(taken) in supervisor.lines[0]
    assert "campaign" in supervisor.lines[0]
    assert processes_mentioning(str(data_dir)) == []
    assert not (data_dir / "postgres").exists()


def test_a_restart_reuses_the_secrets_and_the_databases(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    data_dir = tmp_path / "data"
    base = free_base_port()

    first = start(supervisors, data_dir, base)
    first.wait_up()
    secrets = {p.name: p.read_bytes() for p in sorted((data_dir / "secrets").iterdir())}
    # The six platform secrets, and each client's own credential beside them (the five
    # services and the gateway).
    assert len(secrets) == 6 + 6
    assert "consent.service-credentials.json" in secrets
    with psycopg.connect(identity_database_url(data_dir, first.ports), autocommit=True) as conn:
        conn.execute("CREATE TABLE restart_marker (note text)")
        conn.execute("INSERT INTO restart_marker VALUES ('kept')")
    assert first.interrupt() == 0, first.output

    second = start(supervisors, data_dir, base)
    second.wait_up()
    again = {p.name: p.read_bytes() for p in sorted((data_dir / "secrets").iterdir())}
    assert again == secrets
    with psycopg.connect(identity_database_url(data_dir, second.ports)) as conn:
        rows = conn.execute("SELECT note FROM restart_marker").fetchall()
    assert rows == [("kept",)]
    assert "identity: applied 0 migration(s)" in (data_dir / "logs" / "identity.log").read_text()
    assert second.interrupt() == 0, second.output


def test_a_killed_service_is_restarted_and_the_rest_keeps_running(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    data_dir = tmp_path / "data"
    # A line left by an earlier run must not be reported as the reason for this crash.
    (data_dir / "logs").mkdir(parents=True)
    (data_dir / "logs" / "campaign.log").write_text("an unrelated line from an earlier run\n")
    supervisor = start(supervisors, data_dir, free_base_port())
    supervisor.wait_up()
    ports = supervisor.ports
    before = read_state(data_dir / "platform.json")
    assert before is not None
    pids = {entry["name"]: entry["pid"] for entry in before["processes"]}

    os.kill(pids["campaign"], signal.SIGKILL)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        while (line := supervisor._drain()) is not None:
            supervisor.lines.append(line)
        state = read_state(data_dir / "platform.json")
        assert state is not None
        now = {entry["name"]: entry["pid"] for entry in state["processes"]}
        if now["campaign"] != pids["campaign"] and serving(ports.grpc("campaign")):
            break
        time.sleep(0.5)
    else:
        raise AssertionError("campaign was not restarted:\n" + supervisor.output)

    assert supervisor.proc.poll() is None, supervisor.output
    assert "missiva: campaign was killed by SIGKILL; restarting it in 1s" in supervisor.output
    assert "--- last lines of campaign ---" in supervisor.output
    assert "an unrelated line from an earlier run" not in supervisor.output
    # Nothing else was restarted, and everything still answers.
    assert {n: p for n, p in now.items() if n != "campaign"} == {
        n: p for n, p in pids.items() if n != "campaign"
    }
    for service in SERVICES:
        assert health_of(ports.grpc(service)) == health_pb2.HealthCheckResponse.SERVING, service
    # The restarted process still dies with the supervisor, even when it is SIGKILLed.
    children = descendants(supervisor.proc.pid)
    assert now["campaign"] in children
    supervisor.kill()
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        left = [pid for pid, start_time in children.items() if is_alive(pid, start_time)]
        if not left:
            break
        time.sleep(0.5)
    assert left == [], f"still running after the supervisor died: {left}"


def serving(port: int) -> bool:
    try:
        return health_of(port) == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False
