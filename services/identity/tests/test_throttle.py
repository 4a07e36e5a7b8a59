"""Sign-in throttling: a challenge after 5 failures, a hard cap of 100 failures an hour."""

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from identity_testkit import PASSWORD, new_email, rpc_error

from missiva.common.v1 import types_pb2


@pytest.fixture
async def guarded(make_identity, challenge_server, tmp_path):
    secret = tmp_path / "challenge-secret"
    secret.write_text("challenge-secret\n")
    async with make_identity(
        challenge_verify_url=challenge_server.url, challenge_secret_file=str(secret)
    ) as identity:
        identity.challenge_requests = lambda: challenge_server.requests
        yield identity


def precondition(err: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(err)
    found = []
    for detail in status.details if status else []:
        failure = error_details_pb2.PreconditionFailure()
        if detail.Unpack(failure):
            found += [v.type for v in failure.violations]
    return found


async def fail(identity, email, times, **extra):
    for _ in range(times):
        err = await rpc_error(identity.login(email, "wrong password!", **extra))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err.details()


@pytest.mark.parametrize("known", [True, False])
async def test_the_sixth_attempt_after_five_failures_needs_a_solved_challenge(guarded, known):
    email = new_email("throttled")
    if known:
        await guarded.sign_up(email)
    await fail(guarded, email, 5)
    err = await rpc_error(guarded.login(email, PASSWORD))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert precondition(err) == ["CHALLENGE_REQUIRED"]
    err = await rpc_error(guarded.login(email, PASSWORD, anti_bot_token="forged"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    if known:
        reply = await guarded.login(email, PASSWORD, anti_bot_token="passed")
        assert reply.tokens.access_token
        # A success resets the account's run of failures (this IP's failures still count).
        elsewhere = types_pb2.ClientContext(ip_address="198.51.100.20")
        assert (await guarded.login(email, PASSWORD, client=elsewhere)).tokens.access_token
        err = await rpc_error(guarded.login(email, PASSWORD))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    else:
        await fail(guarded, email, 1, anti_bot_token="passed")
    _, _, _, body = guarded.challenge_requests()[-1]
    assert b"secret=challenge-secret" in body
    assert b"response=passed" in body


async def test_without_a_verifier_the_challenge_is_an_increasing_delay(identity):
    email = new_email("delayed")
    await identity.sign_up(email)
    await fail(identity, email, 5)
    err = await rpc_error(identity.login(email, PASSWORD))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "try again in" in err.details()
    await identity.sql(
        "UPDATE login_attempts SET occurred_at = occurred_at - interval '31 seconds'"
    )
    await fail(identity, email, 1)  # allowed after the delay; the next delay doubles
    await identity.sql(
        "UPDATE login_attempts SET occurred_at = occurred_at - interval '31 seconds'"
    )
    err = await rpc_error(identity.login(email, PASSWORD))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await identity.sql(
        "UPDATE login_attempts SET occurred_at = occurred_at - interval '31 seconds'"
    )
    assert (await identity.login(email, PASSWORD)).tokens.access_token


async def test_the_101st_attempt_in_an_hour_is_refused_even_with_the_right_password(guarded):
    email = new_email("capped")
    await guarded.sign_up(email)
    await fail(guarded, email, 5)
    await fail(guarded, email, 95, anti_bot_token="passed")
    err = await rpc_error(guarded.login(email, PASSWORD, anti_bot_token="passed"))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    [(count,)] = await guarded.sql(
        "SELECT count(*) FROM login_attempts WHERE NOT succeeded AND throttle_key LIKE 'acct:%%'"
    )
    assert count == 100
    # An hour later the oldest failures slide out of the window.
    await guarded.sql("UPDATE login_attempts SET occurred_at = occurred_at - interval '61 minutes'")
    assert (await guarded.login(email, PASSWORD, anti_bot_token="passed")).tokens.access_token


async def test_failures_from_one_ip_across_accounts_need_a_challenge_from_that_ip(guarded):
    seen_from = types_pb2.ClientContext(ip_address="203.0.113.7", user_agent="bot/1.0")
    for _ in range(5):
        await fail(guarded, new_email("spray"), 1, client=seen_from)
    err = await rpc_error(guarded.login(new_email("spray"), "guess", client=seen_from))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    elsewhere = types_pb2.ClientContext(ip_address="198.51.100.9")
    await fail(guarded, new_email("spray"), 1, client=elsewhere)
    rows = await guarded.sql(
        "SELECT DISTINCT throttle_key FROM login_attempts WHERE throttle_key LIKE 'ip:%%'"
    )
    assert all("203.0.113.7" not in key for (key,) in rows)


async def test_a_client_address_from_anyone_but_the_gateway_is_ignored(guarded):
    """Otherwise a caller could spread failures over invented addresses, or frame another."""
    for i in range(5):
        forged = types_pb2.ClientContext(ip_address=f"198.51.100.{100 + i}")
        await fail(guarded, new_email("spread"), 1, client=forged, as_gateway=False)
    # All five failures counted against the caller's real address: the sixth needs a challenge.
    forged = types_pb2.ClientContext(ip_address="198.51.100.200")
    err = await rpc_error(
        guarded.login(new_email("spread"), "guess", client=forged, as_gateway=False)
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    rows = await guarded.sql(
        "SELECT DISTINCT throttle_key FROM login_attempts WHERE throttle_key LIKE 'ip:%%'"
    )
    pseudonyms = {guarded.app.services[0].servicer.core.vault.ip_pseudonym(f"198.51.100.{n}")
                  for n in (100, 101, 102, 103, 104, 200)}  # fmt: skip
    assert not any(key.removeprefix("ip:") in pseudonyms for (key,) in rows)
