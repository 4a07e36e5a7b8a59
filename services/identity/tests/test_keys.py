"""Signing keys, the JWKS and service principals: other services verify identity's tokens."""

import asyncio
import base64
import json
import time

import grpc
import pytest
from identity_testkit import bearer, rpc_error

from missiva.common.v1 import types_pb2
from missiva.identity.v1 import identity_service_pb2 as pb
from missiva.privacy.v1 import privacy_service_pb2, privacy_service_pb2_grpc
from missiva_identity.commands import rotate_signing_key_command
from missiva_platform import secrets
from missiva_platform.config import ServiceSettings
from missiva_platform.db import kit_migrations
from missiva_platform.privacy import DataSection, Erasure, add_privacy_service
from missiva_platform.retention import run_retention, travel
from missiva_platform.service import ServiceApp


class Nothing:
    async def export(self, person):
        return [DataSection("nothing", "nothing", b"{}")]

    async def erase(self, person):
        return Erasure()


async def service_token(identity, service="consent", **extra) -> pb.IssueServiceTokenResponse:
    credentials = secrets.load_service_credentials(identity.settings.service_credentials_file)
    own = credentials[service]
    extra.setdefault("audience", "campaign")
    return await identity.stub.IssueServiceToken(
        pb.IssueServiceTokenRequest(
            client_id=own.client_id, client_secret=own.client_secret, **extra
        )
    )


async def test_the_jwks_holds_the_seeded_public_key_and_no_private_part(identity):
    reply = await identity.stub.GetJwks(pb.GetJwksRequest())
    document = json.loads(reply.jwks_json)
    seeded = secrets.load_jwt_signing_keys(identity.settings.jwt_signing_keys_file).keys[0]
    assert [k["kid"] for k in document["keys"]] == [seeded.kid]
    assert all("d" not in k for k in document["keys"])
    assert [(k.kty, k.crv, k.alg) for k in reply.keys] == [("OKP", "Ed25519", "Ed25519")]
    [(blob,)] = await identity.sql("SELECT private_jwk FROM signing_keys")
    assert b'"d"' not in bytes(blob)  # stored encrypted


async def test_service_tokens_need_valid_client_credentials(identity):
    token = await service_token(identity, tenant_id="acct-1", scopes=["account:read"])
    claims = await identity.app.services[0].servicer.core.keys.verify(token.access_token)
    assert (claims["typ"], claims["sub"], claims["tid"]) == ("service", "consent", "acct-1")
    assert claims["scope"] == "account:read"
    assert 540 < token.expires_at.seconds - time.time() <= 600
    err = await rpc_error(
        identity.stub.IssueServiceToken(
            pb.IssueServiceTokenRequest(client_id="missiva-consent", client_secret="guess")
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await rpc_error(identity.stub.IssueServiceToken(pb.IssueServiceTokenRequest()))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_service_tokens_carry_only_the_scopes_asked_for_and_allowed(identity):
    keys = identity.app.services[0].servicer.core.keys
    bare = await keys.verify((await service_token(identity, tenant_id="acct-1")).access_token)
    assert bare["scope"] == ""
    assert bare["svc_aud"] == "campaign"

    asked = await service_token(
        identity, "campaign", audience="consent", tenant_id="acct-1",
        scopes=["consent:read", "links:write"],
    )  # fmt: skip
    claims = await keys.verify(asked.access_token)
    assert claims["scope"] == "consent:read links:write"
    assert claims["svc_aud"] == "consent"

    for scopes in (["*"], ["billing:write"], ["account:read", "consent:write"]):
        err = await rpc_error(service_token(identity, "consent", scopes=scopes))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, scopes
        assert "may not ask" in err.details()


async def test_a_service_token_names_the_service_it_is_for(identity):
    for audience, word in (("", "audience"), ("nobody", "audience"), ("Consent!", "audience")):
        err = await rpc_error(service_token(identity, audience=audience))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert word in err.details()
    # A token for campaign does not open identity's own methods either.
    token = await service_token(identity, tenant_id="acct-1", scopes=["account:read"])
    err = await rpc_error(
        identity.stub.GetAccount(pb.GetAccountRequest(), metadata=bearer(token.access_token))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    user = await identity.user()
    mine = await service_token(
        identity, "billing", audience="identity", tenant_id=user.account_id,
        scopes=["account:read"],
    )  # fmt: skip
    account = await identity.stub.GetAccount(
        pb.GetAccountRequest(), metadata=bearer(mine.access_token)
    )
    assert account.account.account_id == user.account_id


@pytest.fixture
async def other_service(make_database, nats_url):
    """Builds another service that trusts identity through the kit (IDENTITY_TARGET)."""
    apps = []

    async def start(identity_target: str) -> tuple[ServiceApp, grpc.aio.Channel]:
        settings = ServiceSettings(
            database_url=make_database([kit_migrations()], "other"),
            nats_url=nats_url,
            grpc_port=0,
            http_port=0,
            identity_target=identity_target,
            jwks_cache_seconds=0,
        )
        app = ServiceApp("billing", settings)  # a service identity knows, for token audiences
        add_privacy_service(app, Nothing())
        await app.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
        apps.append((app, channel))
        return app, channel

    yield start
    for app, channel in apps:
        await channel.close()
        await app.stop()


async def test_another_service_verifies_tokens_until_their_key_is_retired_past_its_grace(
    make_identity, other_service
):
    async with make_identity(signing_keys_reload_seconds=0) as identity:
        other, channel = await other_service(identity.target)
        stub = privacy_service_pb2_grpc.PrivacyServiceStub(channel)
        request = privacy_service_pb2.ExportPersonDataRequest(
            request_id="r1", person=types_pb2.PersonRef(person_key="pk"), all_accounts=True
        )
        old = (await service_token(identity, audience="billing")).access_token
        assert (await stub.ExportPersonData(request, metadata=bearer(old))).service == "billing"
        fetched_at = time.monotonic()

        assert await rotate_signing_key_command(identity.app, ["--publish-seconds", "0"]) == 0
        new = (await service_token(identity, audience="billing")).access_token
        assert kid_of(new) != kid_of(old)
        jwks = json.loads((await identity.stub.GetJwks(pb.GetJwksRequest())).jwks_json)
        assert len(jwks["keys"]) == 2  # the retired key verifies until its tokens expire
        assert (await stub.ExportPersonData(request, metadata=bearer(old))).service == "billing"

        # Still within the grace (longest token lifetime + margin): the key stays.
        await run_retention(identity.url, identity.app.retention_rules, now=travel(minutes=10))
        assert (
            len(json.loads((await identity.stub.GetJwks(pb.GetJwksRequest())).jwks_json)["keys"])
            == 2
        )
        await run_retention(identity.url, identity.app.retention_rules, now=travel(minutes=16))
        assert (
            len(json.loads((await identity.stub.GetJwks(pb.GetJwksRequest())).jwks_json)["keys"])
            == 1
        )
        # The kit refetches at most every 5 s, in the background while the cached set serves
        # (a call past that time starts it); then the retired key's tokens are refused.
        await asyncio.sleep(max(0.0, 5.2 - (time.monotonic() - fetched_at)))
        await stub.ExportPersonData(request, metadata=bearer(new))
        assert other.verifier is not None
        await other.verifier.refreshed()
        err = await rpc_error(stub.ExportPersonData(request, metadata=bearer(old)))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert (await stub.ExportPersonData(request, metadata=bearer(new))).service == "billing"


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


async def test_a_rotated_key_is_published_before_it_signs(make_identity):
    async with make_identity(signing_keys_reload_seconds=0) as identity:
        before = kid_of((await service_token(identity)).access_token)
        assert await rotate_signing_key_command(identity.app, []) == 0  # default lead: 360 s
        jwks = json.loads((await identity.stub.GetJwks(pb.GetJwksRequest())).jwks_json)
        assert len(jwks["keys"]) == 2
        assert kid_of((await service_token(identity)).access_token) == before
        await identity.sql(
            "UPDATE signing_keys SET activates_at = activates_at - interval '6 minutes',"
            " retired_at = retired_at - interval '6 minutes'"
        )
        after = kid_of((await service_token(identity)).access_token)
        assert after != before
        assert after in {k["kid"] for k in jwks["keys"]}


async def test_keys_survive_a_restart_and_are_shared_by_replicas(make_identity):
    async with make_identity() as first:
        token = (await service_token(first)).access_token
        async with make_identity(database_url=first.url) as second:
            claims = await second.app.services[0].servicer.core.keys.verify(token)
            assert claims["sub"] == "consent"
            assert (await second.stub.GetJwks(pb.GetJwksRequest())).jwks_json == (
                await first.stub.GetJwks(pb.GetJwksRequest())
            ).jwks_json
