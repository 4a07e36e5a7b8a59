"""Passwords: argon2id at ASVS parameters, length rules, breached-password refusal, reset."""

import hashlib

import grpc
import pytest
from argon2 import PasswordHasher, extract_parameters
from identity_testkit import PASSWORD, LocalHttp, bearer, new_email, rpc_error

from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_identity.config import IdentitySettings
from missiva_identity.passwords import BreachedPasswords, PasswordHashing, common_passwords
from missiva_platform.config import ConfigError, load_settings

BASE_ENV = {"DATABASE_URL": "postgresql://u@127.0.0.1/identity"}


async def test_default_hashing_is_argon2id_with_at_least_19_mib_two_passes_one_lane():
    settings = load_settings(IdentitySettings, BASE_ENV)
    stored = await PasswordHashing(settings).hash("a perfectly fine passphrase")
    params = extract_parameters(stored)
    assert stored.startswith("$argon2id$v=19$")
    assert params.memory_cost >= 19 * 1024
    assert params.time_cost >= 2
    assert params.parallelism == 1
    assert params.salt_len >= 16


def test_the_environment_cannot_weaken_the_hash_below_the_asvs_minimum():
    for name, value in (("ARGON2_MEMORY_KIB", "8192"), ("ARGON2_TIME_COST", "1")):
        with pytest.raises(ConfigError, match=name):
            load_settings(IdentitySettings, {**BASE_ENV, name: value})


async def test_a_hash_with_old_parameters_is_upgraded_at_the_next_sign_in(make_identity):
    async with make_identity() as identity:
        email = new_email("rehash")
        await identity.sign_up(email)
        weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(PASSWORD)
        await identity.sql("UPDATE users SET password_hash = %s", weak)
        assert (await identity.login(email)).tokens.access_token
        [(stored,)] = await identity.sql("SELECT password_hash FROM users")
        assert stored != weak
        assert extract_parameters(stored).memory_cost == identity.settings.argon2_memory_kib
        assert (await identity.login(email)).tokens.access_token


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("seven77", False),
        ("eight888 is fine", True),
        ("x" * 7 + "é", True),  # 8 characters, 9 bytes
        ("long " * 20 + "passphrase without any rule", True),  # 100+ characters
        ("z" * 128, True),
        ("z" * 129, False),
        ("only lowercase words here", True),  # no composition rules
    ],
)
async def test_passwords_of_8_to_128_characters_are_accepted_without_composition_rules(
    identity, password, ok
):
    email = new_email("length")
    if ok:
        await identity.sign_up(email, password=password)
        assert (await identity.login(email, password)).tokens.access_token
    else:
        err = await rpc_error(identity.sign_up(email, password=password))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "password" in err.details()
        assert "characters" in err.details()


async def test_common_passwords_from_the_offline_list_are_refused(identity):
    assert len(common_passwords()) > 10_000
    for password in ("password123", "qwertyuiop", "Iloveyou1"):
        err = await rpc_error(identity.sign_up(new_email("common"), password=password))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "breached" in err.details()


class PwnedRange:
    """The Pwned Passwords range API: GET /range/{prefix} → SUFFIX:COUNT lines (padded)."""

    def __init__(self, breached: list[str]) -> None:
        self.hashes = [
            hashlib.sha1(p.encode(), usedforsecurity=False).hexdigest().upper() for p in breached
        ]

    def __call__(self, method, path, headers, body):
        prefix = path.rsplit("/", 1)[-1]
        lines = [f"{h[5:]}:{1234}" for h in self.hashes if h.startswith(prefix)]
        if headers.get("add-padding") == "true":
            lines += [f"{'0' * 30}{i:05X}:0" for i in range(5)]
        return 200, "\r\n".join(lines)


async def test_breached_passwords_are_refused_through_the_k_anonymity_range_api(make_identity):
    leaked = "tangerine submarine 1987"
    with LocalHttp(PwnedRange([leaked])) as pwned:
        async with make_identity(pwned_passwords_url=pwned.url) as identity:
            err = await rpc_error(identity.sign_up(new_email("pwned"), password=leaked))
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "breached" in err.details()
            await identity.sign_up(new_email("clean"), password="a password nobody leaked")
    full = hashlib.sha1(leaked.encode(), usedforsecurity=False).hexdigest().upper()
    method, path, headers, _ = pwned.requests[0]
    assert (method, path) == ("GET", f"/range/{full[:5]}")
    assert headers["add-padding"] == "true"
    assert all(full[5:] not in request[1] for request in pwned.requests)


async def test_padding_lines_and_an_unreachable_range_api_do_not_refuse_a_password():
    padded = PwnedRange([])
    with LocalHttp(padded) as pwned:
        settings = IdentitySettings(
            database_url="postgresql://x@h/x", pwned_passwords_url=pwned.url
        )
        assert not await BreachedPasswords(settings).is_breached("0" * 30 + "00001 padding")
    down = IdentitySettings(
        database_url="postgresql://x@h/x", pwned_passwords_url="http://127.0.0.1:9"
    )
    assert not await BreachedPasswords(down).is_breached("a password nobody leaked")
    assert await BreachedPasswords(down).is_breached("password")  # the offline list still applies


async def test_password_reset_is_single_use_expires_in_an_hour_and_ends_every_session(identity):
    user = await identity.user(email=new_email("reset"))
    other = (await identity.login(user.email)).tokens
    await identity.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=user.email))
    unknown = await identity.stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=new_email("ghost"))
    )
    assert unknown == pb.RequestPasswordResetResponse()
    token = await identity.mailbox.token(user.email, "reset_password", "reset_url")
    [(ttl,)] = await identity.sql(
        "SELECT expires_at - created_at FROM email_tokens WHERE purpose = 'reset_password'"
    )
    assert ttl.total_seconds() == 3600

    err = await rpc_error(
        identity.stub.ResetPassword(pb.ResetPasswordRequest(token=token, new_password="short"))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    new = "a brand new passphrase"
    await identity.stub.ResetPassword(pb.ResetPasswordRequest(token=token, new_password=new))
    err = await rpc_error(
        identity.stub.ResetPassword(pb.ResetPasswordRequest(token=token, new_password=new + "!"))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "token" in err.details()
    for tokens in (user.tokens, other):
        err = await rpc_error(
            identity.stub.RefreshSession(
                pb.RefreshSessionRequest(refresh_token=tokens.refresh_token)
            )
        )
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (await identity.login(user.email, new)).tokens.access_token
    err = await rpc_error(identity.login(user.email))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    await identity.mailbox.wait_for(user.email, "password_changed")


async def test_an_expired_reset_token_is_refused(identity):
    email = new_email("late")
    await identity.sign_up(email)
    await identity.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=email))
    token = await identity.mailbox.token(email, "reset_password", "reset_url")
    await identity.sql("UPDATE email_tokens SET expires_at = now() - interval '1 second'")
    err = await rpc_error(
        identity.stub.ResetPassword(
            pb.ResetPasswordRequest(token=token, new_password="a brand new passphrase")
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_change_password_needs_the_current_one_and_ends_the_other_sessions(identity):
    user = await identity.user()
    other = (await identity.login(user.email)).tokens
    change = pb.ChangePasswordRequest(
        current_password="wrong one!", new_password="new secret words"
    )
    err = await rpc_error(identity.stub.ChangePassword(change, metadata=user.md))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "current_password" in err.details()
    change.current_password = PASSWORD
    await identity.stub.ChangePassword(change, metadata=user.md)
    err = await rpc_error(
        identity.stub.RefreshSession(pb.RefreshSessionRequest(refresh_token=other.refresh_token))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    await identity.stub.RefreshSession(
        pb.RefreshSessionRequest(refresh_token=user.tokens.refresh_token)
    )
    err = await rpc_error(identity.stub.ChangePassword(change, metadata=bearer("not.a.token")))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
