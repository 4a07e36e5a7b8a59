"""Idempotency keys for mutating RPCs a client may retry.

``run_once`` runs the call's work and stores its response in the same transaction; a retry
with the same key and the same request gets the stored response, and the same key with a
different request is refused. Concurrent retries serialise on a transaction-scoped advisory
lock, so the work runs once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from google.protobuf.message import Message
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from missiva_platform.errors import FailedPrecondition, InvalidArgument

R = TypeVar("R", bound=Message)

MAX_KEY_LENGTH = 128


def _request_hash(request: Message) -> bytes:
    # Deterministic serialisation, minus the key itself, identifies "the same request".
    copy = type(request)()
    copy.CopyFrom(request)
    if "idempotency_key" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("idempotency_key")  # type: ignore[arg-type]
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).digest()


async def run_once(
    pool: AsyncConnectionPool,
    *,
    tenant_id: str,
    method: str,
    request: Message,
    response_type: type[R],
    work: Callable[[AsyncConnection[Any]], Awaitable[R]],
) -> R:
    """Run ``work(conn)`` in a transaction once per idempotency key; replay its response."""
    key = getattr(request, "idempotency_key", "")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument.field("idempotency_key", f"at most {MAX_KEY_LENGTH} characters")
    async with pool.connection() as conn, conn.transaction():
        if not key:
            return await work(conn)
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"{tenant_id}\n{method}\n{key}",),
        )
        cur = await conn.execute(
            "SELECT request_hash, response FROM kit_idempotency "
            "WHERE tenant_id = %s AND method = %s AND idempotency_key = %s",
            (tenant_id, method, key),
        )
        found = await cur.fetchone()
        digest = _request_hash(request)
        if found is not None:
            if bytes(found[0]) != digest:
                raise FailedPrecondition(
                    "idempotency_key was already used for a different request",
                    [("IDEMPOTENCY_KEY_REUSED", "idempotency_key", "use a new key")],
                )
            return response_type.FromString(bytes(found[1]))
        response = await work(conn)
        await conn.execute(
            "INSERT INTO kit_idempotency "
            "(tenant_id, method, idempotency_key, request_hash, response) "
            "VALUES (%s, %s, %s, %s, %s)",
            (tenant_id, method, key, digest, response.SerializeToString(deterministic=True)),
        )
        return response
