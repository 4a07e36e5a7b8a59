"""PostgreSQL access: the connection pool and numbered SQL migrations.

Migrations are ``NNNN_name.sql`` files in a folder; each applies in its own transaction and is
recorded in ``schema_migrations`` with a checksum, so an edited migration is noticed. The kit's
own tables (outbox, inbox) form the ``kit`` set, applied before a service's own set.
"""

from __future__ import annotations

import hashlib
import logging
import re
import select
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

KIT_MIGRATIONS = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# One advisory lock id for "migrations of this database"; two migrators never interleave.
_MIGRATION_LOCK = 0x4D495353


@dataclass(frozen=True, order=True)
class Migration:
    namespace: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationSet:
    """A namespace (``kit`` or the service name) and the folder of its ``.sql`` files."""

    namespace: str
    directory: Path

    def migrations(self) -> list[Migration]:
        found = []
        for path in sorted(self.directory.glob("*.sql")):
            match = _NAME.match(path.name)
            if not match:
                raise ValueError(f"migration file name {path.name!r} is not NNNN_name.sql")
            found.append(Migration(self.namespace, int(match[1]), match[2], path.read_text()))
        versions = [m.version for m in found]
        if len(set(versions)) != len(versions):
            raise ValueError(f"duplicate migration numbers in {self.directory}")
        return found


def kit_migrations() -> MigrationSet:
    return MigrationSet("kit", KIT_MIGRATIONS)


class MigrationError(RuntimeError):
    pass


_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    namespace  text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, version)
)
"""


async def _applied(conn: psycopg.AsyncConnection) -> dict[tuple[str, int], str]:
    exists = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = await exists.fetchone()
    if not row or not row[0]:
        return {}
    cur = await conn.execute("SELECT namespace, version, checksum FROM schema_migrations")
    return {(ns, v): c for ns, v, c in await cur.fetchall()}


async def pending_migrations(
    conn: psycopg.AsyncConnection, sets: list[MigrationSet]
) -> list[Migration]:
    """Migrations not yet applied; raises if an applied one was edited since."""
    applied = await _applied(conn)
    pending = []
    for mset in sets:
        for migration in mset.migrations():
            checksum = applied.get((migration.namespace, migration.version))
            if checksum is None:
                pending.append(migration)
            elif checksum != migration.checksum:
                raise MigrationError(
                    f"migration {migration.namespace}/{migration.version:04d}_{migration.name} "
                    "was changed after it was applied; add a new migration instead"
                )
    return pending


async def migrate(url: str, sets: list[MigrationSet]) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; return what was applied."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            await conn.execute(_BOOKKEEPING)
            todo = await pending_migrations(conn, sets)
            for migration in todo:
                async with conn.transaction():
                    await conn.execute(migration.sql.encode())  # bytes: several statements
                    await conn.execute(
                        "INSERT INTO schema_migrations (namespace, version, name, checksum) "
                        "VALUES (%s, %s, %s, %s)",
                        (
                            migration.namespace,
                            migration.version,
                            migration.name,
                            migration.checksum,
                        ),
                    )
                log.info(
                    "applied migration",
                    extra={"migration": f"{migration.namespace}/{migration.version:04d}"},
                )
            return todo
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))


async def check_migrated(url: str, sets: list[MigrationSet]) -> None:
    """Raise ``MigrationError`` when migrations are pending: a service refuses to start."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        pending = await pending_migrations(conn, sets)
    if pending:
        names = ", ".join(f"{m.namespace}/{m.version:04d}_{m.name}" for m in pending)
        raise MigrationError(f"{len(pending)} migration(s) pending ({names}); run migrate first")


async def check_idle_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    """The pool's checkout check, without a round trip for a connection that is fine.

    An idle connection's socket has nothing to read unless the server spoke unasked: when it
    shuts down or ends the session it sends an error and closes the socket (readable, or
    EOF). Only then — or when the connection is already known broken — is the server asked
    (``check_connection``: an empty query), which raises and makes the pool replace it.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    try:
        poller = select.poll()
        poller.register(conn.pgconn.socket, select.POLLIN)
        spoke = bool(poller.poll(0))  # POLLIN, POLLHUP or POLLERR: ask the server
    except (OSError, ValueError, psycopg.OperationalError):
        spoke = True  # no usable socket: let the real check decide
    if spoke:
        await AsyncConnectionPool.check_connection(conn)


RECONNECT_TIMEOUT = 10.0


def make_pool(url: str, *, min_size: int = 1, max_size: int = 10, name: str = "db"):
    """A pool that checks connections on checkout, so it heals after a database restart."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        check=check_idle_connection,
        # psycopg_pool doubles the wait between reconnection attempts without a cap, so after
        # a five-minute outage the next attempt could be minutes away. Each run of attempts
        # gives up after 10 s instead, and the next request for a connection starts a fresh
        # run that tries at once: the pool is back within a request of the database.
        reconnect_timeout=RECONNECT_TIMEOUT,
        kwargs={"autocommit": False},
    )


async def ping(pool: AsyncConnectionPool, within: float = 2.0) -> bool:
    """True when a connection can be had and answers ``within`` seconds."""
    try:
        async with pool.connection(timeout=within) as conn:
            await conn.execute("SELECT 1")
        return True
    except Exception:  # any failure means "not reachable right now"
        return False
