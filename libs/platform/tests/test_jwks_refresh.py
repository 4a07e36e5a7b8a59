"""The verifier when identity's JWKS is slow or unreachable: no queue behind one lock.

Before, a failed fetch did not record its attempt, so every waiter retried it in turn behind
one lock (ten waiters, ten sequential fetches), and each call past the cache time waited for
the fetch. Now a stale key set keeps serving while one fetch runs, waiters share that fetch,
and a failure backs off.
"""

import asyncio
import time
from typing import Any

import pytest

from missiva_platform.auth import JwksSource, TokenVerifier
from missiva_platform.errors import Unauthenticated
from missiva_platform.testing.tokens import TestIssuer


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class FlakyJwks(JwksSource):
    """Serves the issuer's keys until ``down``; then fails, or hangs while ``hang`` is set."""

    def __init__(self, issuer: TestIssuer) -> None:
        self.issuer = issuer
        self.down = False
        self.hang = False
        self.calls = 0
        self.release = asyncio.Event()

    async def fetch(self) -> dict[str, Any]:
        self.calls += 1
        if self.hang:
            await self.release.wait()
        if self.down:
            raise ConnectionError("identity is unreachable")
        return self.issuer.jwks()


async def test_calls_with_cached_keys_answer_while_the_refresh_hangs():
    issuer = TestIssuer()
    clock = Clock()
    source = FlakyJwks(issuer)
    verifier = TokenVerifier(source, cache_seconds=60, fetch_timeout=30, clock=clock)
    tokens = [issuer.token(subject=f"user-{i}", ttl=3600) for i in range(100)]
    await verifier.verify(tokens[0])
    source.down = source.hang = True  # identity stopped mid-answer (SIGSTOP)
    clock.now += 120  # the cached set is stale

    # Each call is answered from the cached set; none waits for the fetch that hangs.
    principals = await asyncio.wait_for(
        asyncio.gather(*(verifier.verify(t) for t in tokens)), timeout=5
    )
    assert [p.subject for p in principals] == [f"user-{i}" for i in range(100)]
    assert source.calls == 2  # the first fetch, and one refresh for all hundred calls
    source.release.set()
    await verifier.refreshed()


async def test_waiters_for_an_unknown_key_share_one_fetch_and_a_failure_backs_off():
    issuer = TestIssuer()
    clock = Clock()
    source = FlakyJwks(issuer)
    verifier = TokenVerifier(source, min_refresh_seconds=5, clock=clock)
    await verifier.verify(issuer.token())
    issuer.rotate()
    fresh = issuer.token()
    source.down = True
    clock.now += 10

    results = await asyncio.gather(
        *(verifier.verify(fresh) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, Unauthenticated) for r in results)
    assert source.calls == 2  # ten waiters, one fetch

    clock.now += 3  # inside the back-off: no new attempt, however many calls
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            await verifier.verify(fresh)
    assert source.calls == 2
    clock.now += 3  # past 5 s: one more attempt, which fails again and doubles the wait
    with pytest.raises(Unauthenticated):
        await verifier.verify(fresh)
    assert source.calls == 3
    clock.now += 6  # 6 of the 10 s back-off
    with pytest.raises(Unauthenticated):
        await verifier.verify(fresh)
    assert source.calls == 3

    source.down = False  # identity is back
    clock.now += 5
    assert (await verifier.verify(fresh)).subject == "user-1"
    assert source.calls == 4


async def test_with_no_key_fetched_yet_a_call_fails_fast_instead_of_queueing():
    issuer = TestIssuer()
    source = FlakyJwks(issuer)
    source.down = True
    verifier = TokenVerifier(source, clock=Clock())
    results = await asyncio.gather(
        *(verifier.verify(issuer.token()) for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, Unauthenticated) for r in results)
    assert source.calls == 1
