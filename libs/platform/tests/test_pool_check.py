"""The pool's checkout check: no round trip for a healthy idle connection, and a connection
the server ended is replaced before anyone gets it."""

import asyncio

import psycopg
from psycopg_pool import AsyncConnectionPool

from missiva_platform.db import kit_migrations, make_pool


async def _backend_pid(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT pg_backend_pid()")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_checkout_asks_the_server_only_when_it_spoke(make_database, monkeypatch):
    asked = []
    real = AsyncConnectionPool.check_connection

    async def counting(conn):
        asked.append(conn)
        await real(conn)

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", staticmethod(counting))
    url = make_database([kit_migrations()], "poolcheck")
    pool = make_pool(url, min_size=1, max_size=1)
    await pool.open()
    try:
        first = await _backend_pid(pool)
        assert await _backend_pid(pool) == first
        assert asked == []  # a healthy idle connection costs no extra round trip
        # Another session ends ours, as a database restart or an administrator would.
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as c:
            await c.execute("SELECT pg_terminate_backend(%s)", (first,))
        await asyncio.sleep(0.2)  # the server's goodbye reaches the idle socket
        second = await _backend_pid(pool)  # no error: the check replaced the connection
        assert second != first
        assert len(asked) == 1
    finally:
        await pool.close()
