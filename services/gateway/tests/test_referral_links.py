"""``GET /r/<code>`` against a real identity (the gateway's service token) and a real billing
(the click it logs): a 303 to sign-up with the code, no cookie, the click kept without query
and with a network hash only; an unknown code goes to sign-up without it; a malformed one is
a readable 404; billing out of reach still lets the visitor through."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva.billing.v1 import billing_service_pb2_grpc
from missiva.identity.v1 import identity_service_pb2 as ipb
from missiva.identity.v1 import identity_service_pb2_grpc
from missiva_billing.__main__ import build as build_billing
from missiva_billing.config import BillingSettings
from missiva_gateway import referrals
from missiva_gateway.app import create_app
from missiva_gateway.config import GatewaySettings
from missiva_identity.__main__ import build as build_identity
from missiva_identity.config import IdentitySettings
from missiva_platform import secrets
from missiva_platform.devstack.ports import free_port
from missiva_platform.secrets import load_service_credentials, own_credential_files
from missiva_platform.testing import harness as kit

pytestmark = pytest.mark.asyncio(loop_scope="module")

PEER = "192.0.2.44"
CODE = "K7QX3M9PTA"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def platform(make_database, nats_url, tmp_path_factory) -> AsyncIterator[dict[str, Any]]:
    files = secrets.generate_secrets(tmp_path_factory.mktemp("secrets"), now=datetime.now(UTC))
    common: dict[str, Any] = {
        "nats_url": nats_url,
        "grpc_port": 0,
        "http_port": 0,
        "health_interval_seconds": 0.5,
        "shutdown_grace_seconds": 1,
        "ip_salts_file": str(files[secrets.IP_SALTS_FILE]),
        "field_keys_file": str(files[secrets.FIELD_KEYS_FILE]),
        "email_hash_key_file": str(files[secrets.EMAIL_HASH_KEY_FILE]),
    }
    probe = build_identity(
        IdentitySettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url)
    )
    identity = build_identity(
        IdentitySettings(
            database_url=make_database(probe.migration_sets, "gateway_referrals_identity"),
            service_credentials_file=str(files[secrets.SERVICE_CREDENTIALS_FILE]),
            jwt_signing_keys_file=str(files[secrets.JWT_SIGNING_KEYS_FILE]),
            token_keyring_file=str(files[secrets.TOKEN_KEYRING_FILE]),
            argon2_memory_kib=1024,
            argon2_time_cost=1,
            **common,
        )
    )
    await identity.start()
    probe = build_billing(
        BillingSettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url)
    )
    billing_url = make_database(probe.migration_sets, "gateway_referrals_billing")
    billing = build_billing(
        BillingSettings(
            database_url=billing_url,
            identity_target=f"127.0.0.1:{identity.grpc_port}",
            **common,
        )
    )
    await billing.start()
    await kit.sql(
        billing_url,
        "INSERT INTO referral_codes (account_id, code) VALUES (%s, %s)",
        "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d",
        CODE,
    )
    own = own_credential_files(files[secrets.SERVICE_CREDENTIALS_FILE])
    yield {
        "identity": identity.grpc_port,
        "billing": billing.grpc_port,
        "url": billing_url,
        "credentials": str(own["gateway"]),
        "every_credential": str(files[secrets.SERVICE_CREDENTIALS_FILE]),
    }
    await billing.stop()
    await identity.stop()


@contextlib.asynccontextmanager
async def gateway(platform, monkeypatch, *, billing_port=None, credentials=True):
    monkeypatch.setenv("SIGNUP_URL", "https://app.missiva.test/signup")
    if credentials:
        monkeypatch.setenv("SERVICE_CREDENTIALS_FILE", platform["credentials"])
    else:
        monkeypatch.delenv("SERVICE_CREDENTIALS_FILE", raising=False)
    # Each gateway here reads its settings and asks for its token afresh.
    monkeypatch.setattr(referrals.ReferralController, "_settings", None)
    monkeypatch.setattr(referrals.ReferralController, "tokens", referrals.GatewayTokens())
    app = create_app(
        GatewaySettings(
            identity_target=f"127.0.0.1:{platform['identity']}",
            billing_target=f"127.0.0.1:{billing_port or platform['billing']}",
            backend_timeout_seconds=2,
        )
    )
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, client=(PEER, 41000))
        async with httpx.AsyncClient(
            transport=transport, base_url="https://mail.missiva.test"
        ) as c:
            yield c


async def clicks(platform) -> list[tuple]:
    return await kit.sql(
        platform["url"],
        "SELECT referrer, user_agent, ip_network_hash FROM referral_clicks ORDER BY click_id",
    )


async def test_a_referral_link_logs_the_click_and_goes_to_sign_up_without_a_cookie(
    platform, monkeypatch
):
    before = len(await clicks(platform))
    async with gateway(platform, monkeypatch) as client:
        reply = await client.get(
            f"/r/{CODE}",
            headers={
                "Referer": "https://blog.example/post?utm_source=x&email=a%40b.example#top",
                "User-Agent": "Mozilla/5.0 Test",
            },
        )
    assert reply.status_code == 303
    assert reply.headers["location"] == f"https://app.missiva.test/signup?ref={CODE}"
    assert "set-cookie" not in reply.headers
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["referrer-policy"] == "no-referrer"
    rows = await clicks(platform)
    assert len(rows) == before + 1
    referrer, agent, network = rows[-1]
    assert (referrer, agent) == ("https://blog.example/post", "Mozilla/5.0 Test")
    assert len(network) == 64
    assert PEER not in network


async def test_unknown_malformed_and_unreachable(platform, monkeypatch):
    before = len(await clicks(platform))
    async with gateway(platform, monkeypatch) as client:
        unknown = await client.get("/r/ZZZZZZZZZZ")
        malformed = await client.get("/r/not-a-code!")
    assert unknown.status_code == 303
    assert unknown.headers["location"] == "https://app.missiva.test/signup"
    assert malformed.status_code == 404
    assert "not a referral link" in malformed.text
    # Billing down, or no credential: the visitor still reaches sign-up, nothing is logged.
    async with gateway(platform, monkeypatch, billing_port=free_port()) as client:
        down = await client.get(f"/r/{CODE}")
    async with gateway(platform, monkeypatch, credentials=False) as client:
        bare = await client.get(f"/r/{CODE}")
    for reply in (down, bare):
        assert reply.status_code == 303
        assert reply.headers["location"].endswith(f"?ref={CODE}")
    assert len(await clicks(platform)) == before


async def test_billing_refuses_a_token_that_is_not_the_gateways(platform):
    credentials = load_service_credentials(platform["every_credential"])["campaign"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform['identity']}") as channel:
        token = (
            await identity_service_pb2_grpc.IdentityServiceStub(channel).IssueServiceToken(
                ipb.IssueServiceTokenRequest(
                    client_id=credentials.client_id,
                    client_secret=credentials.client_secret,
                    audience="billing",
                ),
                timeout=5,
            )
        ).access_token
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform['billing']}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await billing_service_pb2_grpc.BillingServiceStub(channel).RecordReferralClick(
                pb.RecordReferralClickRequest(code=CODE),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=5,
            )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
