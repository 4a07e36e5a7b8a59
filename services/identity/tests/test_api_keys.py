"""API keys: scoped, shown once, stored hashed, revocable, exchanged for access tokens."""

import io
import time
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import timestamp_pb2
from identity_testkit import bearer, rpc_error

from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_identity.commands import create_account_command, create_api_key_command
from missiva_platform.auth import CallableJwks, CallerKind, TokenVerifier
from missiva_platform.service import _identity_jwks_fetcher


def later(days: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(days=days))
    return stamp


async def test_a_key_is_shown_once_stored_hashed_and_exchanged_for_a_scoped_token(identity):
    admin = await identity.user()
    created = await identity.stub.CreateApiKey(
        pb.CreateApiKeyRequest(
            name="ci", scopes=["account:read", "consent:read", "contacts:write"]
        ),
        metadata=admin.md,
    )
    secret = created.secret
    assert secret.startswith(f"mk_{created.api_key.prefix}_")
    assert len(secret) > 50
    stored = await identity.sql("SELECT secret_hash, replay_secret FROM api_keys")
    assert all(secret.encode() not in bytes(h) and r is None for h, r in stored)

    listed = await identity.stub.ListApiKeys(pb.ListApiKeysRequest(), metadata=admin.md)
    assert [k.api_key_id for k in listed.api_keys] == [created.api_key.api_key_id]
    assert not listed.api_keys[0].HasField("last_used_at")

    exchanged = await identity.stub.ExchangeApiKey(
        pb.ExchangeApiKeyRequest(secret=secret, scopes=["consent:read"])
    )
    assert list(exchanged.scopes) == ["consent:read"]
    verifier = TokenVerifier(CallableJwks(_identity_jwks_fetcher(identity.target)))
    principal = await verifier.verify(exchanged.access_token)
    assert principal.kind is CallerKind.API_KEY
    assert (principal.subject, principal.tenant_id) == (
        created.api_key.api_key_id,
        admin.account_id,
    )
    assert principal.scopes == {"consent:read"}
    assert 540 < exchanged.expires_at.seconds - time.time() <= 600
    listed = await identity.stub.ListApiKeys(pb.ListApiKeysRequest(), metadata=admin.md)
    assert listed.api_keys[0].HasField("last_used_at")

    err = await rpc_error(
        identity.stub.ExchangeApiKey(
            pb.ExchangeApiKeyRequest(secret=secret, scopes=["billing:write"])
        )
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # An API key's token cannot manage keys (admins only).
    err = await rpc_error(
        identity.stub.ListApiKeys(pb.ListApiKeysRequest(), metadata=bearer(exchanged.access_token))
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # Reading the account needs its own scope.
    err = await rpc_error(
        identity.stub.GetAccount(pb.GetAccountRequest(), metadata=bearer(exchanged.access_token))
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "account:read" in err.details()
    reader = await identity.stub.ExchangeApiKey(
        pb.ExchangeApiKeyRequest(secret=secret, scopes=["account:read"])
    )
    account = await identity.stub.GetAccount(
        pb.GetAccountRequest(), metadata=bearer(reader.access_token)
    )
    assert account.account.account_id == admin.account_id


async def test_revoked_expired_and_made_up_keys_are_refused(identity):
    admin = await identity.user()
    key = await identity.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="short", scopes=["*"], expires_at=later(1)), metadata=admin.md
    )
    revoked = await identity.stub.RevokeApiKey(
        pb.RevokeApiKeyRequest(api_key_id=key.api_key.api_key_id), metadata=admin.md
    )
    assert revoked.api_key.HasField("revoked_at")
    for secret in (key.secret, "mk_abcdefgh_nothing", "nonsense"):
        err = await rpc_error(identity.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(secret=secret)))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.details() == "invalid API key"
    expiring = await identity.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="soon", scopes=["*"], expires_at=later(1)), metadata=admin.md
    )
    await identity.sql("UPDATE api_keys SET expires_at = now() - interval '1 second'")
    err = await rpc_error(
        identity.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(secret=expiring.secret))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    listed = await identity.stub.ListApiKeys(pb.ListApiKeysRequest(), metadata=admin.md)
    assert [k.name for k in listed.api_keys] == ["soon"]
    listed = await identity.stub.ListApiKeys(
        pb.ListApiKeysRequest(show_revoked=True), metadata=admin.md
    )
    assert {k.name for k in listed.api_keys} == {"soon", "short"}


async def test_create_api_key_refuses_bad_input_and_unverified_accounts(identity):
    admin = await identity.user()
    for request, field in (
        (pb.CreateApiKeyRequest(name="", scopes=["a:b"]), "name"),
        (pb.CreateApiKeyRequest(name="x", scopes=[]), "scopes"),
        (pb.CreateApiKeyRequest(name="x", scopes=["Not A Scope"]), "scopes"),
        (pb.CreateApiKeyRequest(name="x", scopes=["a:b"], expires_at=later(-1)), "expires_at"),
    ):
        err = await rpc_error(identity.stub.CreateApiKey(request, metadata=admin.md))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in err.details()
    unverified = await identity.user(verified=False)
    err = await rpc_error(
        identity.stub.CreateApiKey(
            pb.CreateApiKeyRequest(name="x", scopes=["a:b"]), metadata=unverified.md
        )
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = await rpc_error(
        identity.stub.RevokeApiKey(pb.RevokeApiKeyRequest(api_key_id="x"), metadata=admin.md)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await rpc_error(
        identity.stub.CreateApiKey(pb.CreateApiKeyRequest(name="x", scopes=["a:b"]))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_retried_create_returns_the_same_key_and_secret(identity):
    admin = await identity.user()
    request = pb.CreateApiKeyRequest(name="retry", scopes=["a:b"], idempotency_key="once")
    first = await identity.stub.CreateApiKey(request, metadata=admin.md)
    again = await identity.stub.CreateApiKey(request, metadata=admin.md)
    assert again == first
    [(count,)] = await identity.sql("SELECT count(*) FROM api_keys")
    assert count == 1
    [(replay,)] = await identity.sql("SELECT replay_secret FROM api_keys")
    assert first.secret.encode() not in bytes(replay)  # encrypted while a retry may come


async def test_another_account_cannot_see_or_revoke_a_key(identity):
    a = await identity.user()
    b = await identity.user()
    key = await identity.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="a's", scopes=["*"]), metadata=a.md
    )
    theirs = await identity.stub.ListApiKeys(
        pb.ListApiKeysRequest(show_revoked=True), metadata=b.md
    )
    assert list(theirs.api_keys) == []
    err = await rpc_error(
        identity.stub.RevokeApiKey(
            pb.RevokeApiKeyRequest(api_key_id=key.api_key.api_key_id), metadata=b.md
        )
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    exchanged = await identity.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(secret=key.secret))
    assert exchanged.access_token


async def test_the_admin_command_creates_a_key_for_a_primary_admin(identity, capsys):
    admin = await identity.user()
    code = await create_api_key_command(
        identity.app, ["--account", admin.email, "--scopes", "consent:read", "--name", "platform"]
    )
    assert code == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    exchanged = await identity.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(secret=secret))
    assert list(exchanged.scopes) == ["consent:read"]
    assert (
        await create_api_key_command(
            identity.app, ["--account", "nobody@example.org", "--scopes", "a:b"]
        )
        == 1
    )
    assert (
        await create_api_key_command(
            identity.app, ["--account", admin.email, "--scopes", "BAD SCOPE"]
        )
        == 2
    )


async def test_an_operator_creates_a_verified_account_then_a_key_from_the_command_line(
    identity, capsys, monkeypatch
):
    monkeypatch.setattr("sys.stdin", io.StringIO("an operator's passphrase\n"))
    args = ["--email", "platform@example.org", "--account-name", "Platform", "--password-stdin"]
    assert await create_account_command(identity.app, args) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("an operator's passphrase\n"))
    assert await create_account_command(identity.app, args) == 1  # the address is taken
    monkeypatch.setattr("sys.stdin", io.StringIO("password\n"))
    args[1] = "other@example.org"
    assert await create_account_command(identity.app, args) == 2  # a common password
    tokens = (await identity.login("platform@example.org", "an operator's passphrase")).tokens
    account = await identity.stub.GetAccount(
        pb.GetAccountRequest(), metadata=bearer(tokens.access_token)
    )
    assert account.account.status == pb.ACCOUNT_STATUS_ACTIVE
    capsys.readouterr()
    key_args = ["--account", "platform@example.org", "--scopes", "consent:read"]
    assert await create_api_key_command(identity.app, key_args) == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert (
        await identity.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(secret=secret))
    ).access_token
