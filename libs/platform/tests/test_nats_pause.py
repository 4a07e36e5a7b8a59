"""NATS paused (SIGSTOP) and resumed: the service is unready meanwhile and publishes again at once.

Before, the health check's ``flush(timeout)`` left cancelled futures in nats-py's PONG queue;
when the server resumed, the late PONGs hit them (``InvalidStateError``), the read loop broke
and the client only recovered after its stale-connection pings ran out (~28 s after resume).
"""

import asyncio
import logging
import os
import signal
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from missiva_platform.bus import StreamSpec, provision
from missiva_platform.config import ServiceSettings
from missiva_platform.db import kit_migrations
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.processes import NatsServer
from missiva_platform.service import ServiceApp

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PAUSE = 11.0

pytestmark = pytest.mark.slow


async def status(stub) -> int:
    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
    return int(reply.status)


async def until(check, timeout: float) -> float:
    """Seconds until ``check()`` is true (fails after ``timeout``)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout, "condition not reached in time"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def test_a_paused_nats_makes_the_service_unready_and_it_publishes_again_on_resume(
    make_database, tmp_path, caplog
):
    nats_server = NatsServer(tmp_path / "nats", free_port())
    nats_server.start()
    app = ServiceApp(
        "pausesvc",
        ServiceSettings(
            database_url=make_database([kit_migrations()], "pause"),
            nats_url=nats_server.url,
            grpc_port=0,
            http_port=0,
            health_interval_seconds=0.2,
            shutdown_grace_seconds=2,
        ),
    )
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    stub = health_pb2_grpc.HealthStub(channel)
    assert app.nc is not None
    js = app.nc.jetstream()
    await provision(js, [StreamSpec("PAUSE_TEST", ("pause.>",))])

    async def publishes() -> bool:
        try:
            await js.publish("pause.thing.happened", b"x", timeout=1)
        except Exception:
            return False
        return True

    assert nats_server.proc is not None
    try:
        await until(lambda: _is(stub, SERVING), timeout=15)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            os.kill(nats_server.proc.pid, signal.SIGSTOP)
            try:
                await until(lambda: _is(stub, NOT_SERVING), timeout=PAUSE - 2)
                await asyncio.sleep(PAUSE - 2)
            finally:
                os.kill(nats_server.proc.pid, signal.SIGCONT)
            # Within a few seconds, not after the client's stale-connection pings run out.
            await until(publishes, timeout=8)
            await until(lambda: _is(stub, SERVING), timeout=8)
        assert "InvalidStateError" not in caplog.text
    finally:
        await channel.close()
        await app.stop()
        nats_server.stop()


async def _is(stub, want: int) -> bool:
    return await status(stub) == want
