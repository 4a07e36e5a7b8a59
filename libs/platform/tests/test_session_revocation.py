"""A session identity ended stops verifying in every service at once, not when its token expires."""

import asyncio
import time
import uuid

import nats
import pytest
from google.protobuf import timestamp_pb2

from missiva.identity.v1 import events_pb2
from missiva_platform import revocations
from missiva_platform.auth import TokenVerifier
from missiva_platform.bus import provision
from missiva_platform.errors import Unauthenticated
from missiva_platform.events import envelope
from missiva_platform.streams import events_stream
from missiva_platform.testing.tokens import TestIssuer


async def announce(js, *session_ids: str, at: float | None = None) -> None:
    stamp = timestamp_pb2.Timestamp(seconds=int(at if at is not None else time.time()))
    event = envelope(
        events_pb2.SessionsRevoked(
            session_ids=list(session_ids), reason="logout", revoked_at=stamp
        ),
        subject=revocations.SUBJECT,
        tenant_id="tenant-a",
        producer="identity",
    )
    await js.publish(revocations.SUBJECT, event.SerializeToString())


async def refused(verifier: TokenVerifier, token: str, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            await verifier.verify(token)
        except Unauthenticated:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_revoked_sessions_are_refused_including_those_announced_before_the_start(nats_url):
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await provision(js, [events_stream("identity")])
    issuer = TestIssuer()
    verifier = TokenVerifier(issuer.source())
    earlier, ended, alive = (f"sess-{uuid.uuid4().hex[:8]}" for _ in range(3))
    tokens = {sid: issuer.token(sid=sid, scopes=("x:read",)) for sid in (earlier, ended, alive)}
    for token in tokens.values():  # verified, so memoised: the memo must not outlive a revocation
        await verifier.verify(token)
    await announce(js, earlier)  # before this replica started: found by looking back

    stopping = asyncio.Event()
    follower = asyncio.create_task(revocations.follow(js, verifier, stopping))
    try:
        assert await refused(verifier, tokens[earlier])
        assert (await verifier.verify(tokens[ended])).session_id == ended
        await announce(js, ended)
        assert await refused(verifier, tokens[ended])
        with pytest.raises(Unauthenticated, match="session has ended"):
            await verifier.verify(tokens[ended])
        assert (await verifier.verify(tokens[alive])).session_id == alive
    finally:
        stopping.set()
        await asyncio.wait_for(follower, 5)  # it ends by itself once the service stops
        await nc.close()


def test_a_revocation_is_forgotten_once_no_token_of_the_session_can_be_valid():
    now = [1_000_000.0]
    verifier = TokenVerifier(TestIssuer().source(), clock=lambda: now[0])
    verifier.revoke_sessions(["old"], revoked_at=now[0] - 2 * 3600)  # long ago: not kept
    verifier.revoke_sessions(["recent"], revoked_at=now[0])
    assert set(verifier._revoked) == {"recent"}
