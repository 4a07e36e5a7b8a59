import asyncio

import pytest
from google.protobuf import wrappers_pb2

from missiva.consent.v1 import consent_service_pb2
from missiva_platform.db import kit_migrations, make_pool
from missiva_platform.errors import FailedPrecondition, InvalidArgument
from missiva_platform.idempotency import run_once


@pytest.fixture
async def pool(make_database):
    pool = make_pool(make_database([kit_migrations()], "idempotency"), max_size=4)
    await pool.open()
    async with pool.connection() as conn:
        await conn.execute("CREATE TABLE effects (n serial primary key, note text)")
    yield pool
    await pool.close()


def a_request(key: str, value: str = "x"):
    """A mutating request with an idempotency_key field."""
    return consent_service_pb2.AddSuppressionRequest(idempotency_key=key, note=value)


async def effects(pool) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM effects")
        return (await cur.fetchone())[0]


def make_work(counter: list[int]):
    async def work(conn):
        counter.append(1)
        cur = await conn.execute("INSERT INTO effects (note) VALUES ('x') RETURNING n")
        (n,) = await cur.fetchone()
        return wrappers_pb2.Int64Value(value=n)

    return work


async def test_a_retried_call_returns_the_first_response_and_acts_once(pool):
    ran: list[int] = []
    kwargs = dict(
        tenant_id="t1", method="/Add", response_type=wrappers_pb2.Int64Value, work=make_work(ran)
    )
    first = await run_once(pool, request=a_request("k1"), **kwargs)
    again = await run_once(pool, request=a_request("k1"), **kwargs)
    assert first == again
    assert len(ran) == 1
    assert await effects(pool) == 1


async def test_concurrent_retries_run_the_work_once(pool):
    ran: list[int] = []
    kwargs = dict(
        tenant_id="t1", method="/Add", response_type=wrappers_pb2.Int64Value, work=make_work(ran)
    )
    replies = await asyncio.gather(
        *(run_once(pool, request=a_request("k2"), **kwargs) for _ in range(4))
    )
    assert len({r.value for r in replies}) == 1
    assert len(ran) == 1


async def test_the_same_key_with_a_different_request_is_refused(pool):
    kwargs = dict(
        tenant_id="t1", method="/Add", response_type=wrappers_pb2.Int64Value, work=make_work([])
    )
    await run_once(pool, request=a_request("k3", "one"), **kwargs)
    with pytest.raises(FailedPrecondition, match="different request"):
        await run_once(pool, request=a_request("k3", "two"), **kwargs)


async def test_keys_are_scoped_by_tenant(pool):
    ran: list[int] = []
    kwargs = dict(method="/Add", response_type=wrappers_pb2.Int64Value, work=make_work(ran))
    a = await run_once(pool, tenant_id="tenant-a", request=a_request("k4"), **kwargs)
    b = await run_once(pool, tenant_id="tenant-b", request=a_request("k4"), **kwargs)
    assert a != b
    assert len(ran) == 2


async def test_without_a_key_every_call_acts(pool):
    ran: list[int] = []
    kwargs = dict(
        tenant_id="t1", method="/Add", response_type=wrappers_pb2.Int64Value, work=make_work(ran)
    )
    await run_once(pool, request=a_request(""), **kwargs)
    await run_once(pool, request=a_request(""), **kwargs)
    assert len(ran) == 2


async def test_an_overlong_key_is_invalid(pool):
    with pytest.raises(InvalidArgument, match="idempotency_key"):
        await run_once(
            pool,
            tenant_id="t",
            method="/m",
            request=a_request("k" * 200),
            response_type=wrappers_pb2.Int64Value,
            work=make_work([]),
        )
