"""``GET /r/<code>`` against a real identity (the gateway's service token) and a real billing
(the click it logs): a 303 to sign-up with the code, no cookie, the click kept without query
and with a network hash only; an unknown code goes to sign-up without it; a malformed one is
a readable 404; billing out of reach still lets the visitor through. Then the sign-up page
(with a real consent for its documents) carries the code, and the new account's first
sign-in redeems it at billing."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
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
from missiva_consent.__main__ import build as build_consent
from missiva_consent.config import ConsentSettings
from missiva_gateway import referrals
from missiva_gateway.app import create_app
from missiva_gateway.config import GatewaySettings
from missiva_gateway.web.referral_signup import COOKIE as REFERRAL_COOKIE
from missiva_gateway.web.security import CSRF_COOKIE
from missiva_identity import store as identity_store
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
    own = own_credential_files(files[secrets.SERVICE_CREDENTIALS_FILE])
    probe = build_consent(
        ConsentSettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url)
    )
    consent = build_consent(  # the sign-up page's legal documents
        ConsentSettings(
            database_url=make_database(probe.migration_sets, "gateway_referrals_consent"),
            identity_target=f"127.0.0.1:{identity.grpc_port}",
            service_credentials_file=str(own["consent"]),
            token_keyring_file=str(files[secrets.TOKEN_KEYRING_FILE]),
            **common,
        )
    )
    await consent.start()
    await kit.sql(
        billing_url,
        "INSERT INTO referral_codes (account_id, code) VALUES (%s, %s)",
        "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d",
        CODE,
    )
    yield {
        "identity": identity.grpc_port,
        "identity_app": identity,
        "billing": billing.grpc_port,
        "consent": consent.grpc_port,
        "url": billing_url,
        "credentials": str(own["gateway"]),
        "every_credential": str(files[secrets.SERVICE_CREDENTIALS_FILE]),
    }
    await consent.stop()
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
            consent_target=f"127.0.0.1:{platform['consent']}",
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


REFERRER = "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d"
PASSWORD = "a long and unusual passphrase 7351"


async def _sign_up(client, code: str, email: str):
    """The sign-up page with ``?ref=code``, filled in and posted (identity learns consent's
    document versions from its events: the first tries may find them unknown)."""
    for _ in range(100):
        form = await client.get(f"/signup?ref={code}")
        assert form.status_code == 200
        assert f'<input type="hidden" name="ref" value="{code}">' in form.text
        assert 'id="referral"' in form.text
        versions = dict(re.findall(r'name="version_([^"]+)" value="([^"]+)"', form.text))
        assert versions, "no legal document on the sign-up page"
        data = {
            "csrf_token": client.cookies[CSRF_COOKIE], "idempotency_key": str(uuid.uuid4()),
            "display_name": "Grace", "account_name": "Referred shop", "email": email,
            "password": PASSWORD, "age_confirmed": "1", "ref": code,
        }  # fmt: skip
        for doc_id, version in versions.items():
            data[f"version_{doc_id}"] = version
            data[f"accept_{doc_id}"] = "1"
        reply = await client.post("/signup", data=data)
        if reply.status_code == 200:
            return reply
        await asyncio.sleep(0.2)
    raise AssertionError(f"sign-up kept failing: {reply.status_code} {reply.text[:2000]}")


async def test_a_sign_up_through_a_referral_link_redeems_the_code_at_the_first_sign_in(
    platform, monkeypatch
):
    email = f"grace-{uuid.uuid4().hex[:8]}@example.org"
    async with gateway(platform, monkeypatch) as client:
        link = await client.get(f"/r/{CODE}")
        assert link.headers["location"].endswith(f"/signup?ref={CODE}")
        done = await _sign_up(client, CODE, email)
        assert "Check your inbox" in done.text
        remembered = client.cookies.get(REFERRAL_COOKIE)
        assert remembered
        assert remembered.startswith(f"{CODE}.")
        account_id = remembered.split(".", 1)[1]
        referred = "SELECT referrer_account_id, code FROM referrals WHERE referee_account_id = %s"
        assert await kit.sql(platform["url"], referred, account_id) == []  # not yet

        # The address confirmed (identity's link is tested elsewhere), the first sign-in.
        core = platform["identity_app"].services[0].servicer.core
        async with core.pool.connection() as conn, conn.transaction():
            cur = await conn.execute("SELECT id FROM users WHERE account_id = %s", (account_id,))
            (user_id,) = await cur.fetchone()
            assert await identity_store.mark_verified(conn, str(user_id))
        reply = await client.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": client.cookies[CSRF_COOKIE]},
        )
        assert reply.status_code == 303, reply.text
        assert REFERRAL_COOKIE not in client.cookies  # redeemed: nothing left to carry
    assert await kit.sql(platform["url"], referred, account_id) == [(REFERRER, CODE)]
