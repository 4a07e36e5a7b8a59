"""API keys in, problem details out: authentication, the token cache, request ids, rate
limits and body limits, against the real platform."""

from __future__ import annotations

import asyncio
import logging

import pytest

from missiva_gateway.api.auth import Caller, key_hash

pytestmark = pytest.mark.asyncio(loop_scope="package")


def assert_problem(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/api/v1/problems#{code.lower().replace('_', '-')}"
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    if field is not None:
        fields = [e["field"] for e in body["errors"]]
        assert any(f == field or f.startswith((f"{field}.", f"{field}[")) for f in fields), body
    return body


async def test_a_key_is_exchanged_once_and_its_token_reused(platform) -> None:
    account = await platform.account(scopes=("credits:read",))
    async with platform.client() as client:
        api = next(p for p in client.app.plugins.init if hasattr(p, "api")).api
        replies = await asyncio.gather(
            *(client.get("/api/v1/credits", headers=account.auth) for _ in range(5))
        )
        assert [r.status_code for r in replies] == [200] * 5, replies[0].text
        assert replies[0].json() == {
            "available": 0, "reserved": 0, "period_allowance": 0, "resets_at": None
        }  # fmt: skip
        assert api.cache.exchanges == 1  # five concurrent requests, one exchange
        await client.get("/api/v1/credits", headers=account.auth)
        assert api.cache.exchanges == 1
        assert account.key not in str(api.cache._entries)  # keyed by a hash only
        assert key_hash(account.key) in api.cache._entries


async def test_missing_wrong_and_unknown_keys_are_401_problems(platform) -> None:
    async with platform.client() as client:
        r = await client.get("/api/v1/credits")
        assert_problem(r, 401, "UNAUTHENTICATED")
        assert r.headers["www-authenticate"].startswith("Bearer")
        r = await client.get("/api/v1/credits", headers={"authorization": "Basic abc"})
        assert_problem(r, 401, "UNAUTHENTICATED")
        r = await client.get("/api/v1/credits", headers={"authorization": "Bearer mk_nope_nope"})
        body = assert_problem(r, 401, "UNAUTHENTICATED")
        assert "unknown, revoked or expired" in body["detail"]


async def test_the_key_is_never_logged(platform, caplog) -> None:
    account = await platform.account(scopes=("credits:read",))
    caplog.set_level(logging.DEBUG)
    async with platform.client() as client:
        await client.get("/api/v1/credits", headers=account.auth)
        await client.get("/api/v1/credits", headers={"authorization": "Bearer mk_x_secretvalue"})
    assert account.key not in caplog.text
    assert "secretvalue" not in caplog.text


async def test_a_scope_the_key_lacks_is_403(platform) -> None:
    account = await platform.account(scopes=("contacts:read",))
    async with platform.client() as client:
        r = await client.get("/api/v1/credits", headers=account.auth)
        assert_problem(r, 403, "PERMISSION_DENIED")


async def test_every_response_has_a_request_id_and_a_sane_one_is_kept(platform) -> None:
    account = await platform.account(scopes=("credits:read",))
    async with platform.client() as client:
        r = await client.get(
            "/api/v1/credits", headers={**account.auth, "x-request-id": "trace-1234"}
        )
        assert r.status_code == 200
        assert r.headers["x-request-id"] == "trace-1234"
        r = await client.get(
            "/api/v1/credits", headers={**account.auth, "x-request-id": "bad id\x01"}
        )
        assert r.headers["x-request-id"] != "bad id\x01"
        assert len(r.headers["x-request-id"]) == 32
        r = await client.get("/api/v1/no-such-thing", headers={"x-request-id": "trace-5678"})
        assert assert_problem(r, 404, "NOT_FOUND")["request_id"] == "trace-5678"
        r = await client.get("/healthz")
        assert r.headers["x-request-id"]


async def test_rate_limit_headers_and_429_with_retry_after(platform) -> None:
    account = await platform.account(scopes=("credits:read",))
    other = await platform.account(scopes=("credits:read",))
    async with platform.client(api_rate_per_second=0.5, api_rate_burst=3) as client:
        seen = []
        for _ in range(3):
            r = await client.get("/api/v1/credits", headers=account.auth)
            assert r.status_code == 200
            assert r.headers["ratelimit-limit"] == "3"
            seen.append(int(r.headers["ratelimit-remaining"]))
            assert int(r.headers["ratelimit-reset"]) >= 1
        assert seen == [2, 1, 0]
        r = await client.get("/api/v1/credits", headers=account.auth)
        assert_problem(r, 429, "RESOURCE_EXHAUSTED")
        assert int(r.headers["retry-after"]) >= 1
        assert r.headers["ratelimit-remaining"] == "0"
        # Another key has its own bucket; bad keys are limited too (by their hash).
        assert (await client.get("/api/v1/credits", headers=other.auth)).status_code == 200
        bad = {"authorization": "Bearer mk_not_a_real_key"}
        codes = [(await client.get("/api/v1/credits", headers=bad)).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]


async def test_an_oversized_body_is_a_413_problem(platform) -> None:
    account = await platform.account(scopes=("contacts:write",))
    async with platform.client(api_body_max_bytes=2048) as client:
        r = await client.post(
            "/api/v1/contacts",
            headers={**account.auth, "content-type": "application/json"},
            content=b'{"email": "a@example.org", "first_name": "' + b"x" * 4096 + b'"}',
        )
        assert_problem(r, 413, "PAYLOAD_TOO_LARGE")
        # The gateway still serves afterwards.
        r = await client.post(
            "/api/v1/contacts", headers=account.auth, json={"email": "b@example.org"}
        )
        assert r.status_code == 201, r.text


async def test_an_added_authenticator_is_tried_before_api_keys(platform) -> None:
    """The hook the web session (cookie + CSRF) plugs into: ``RestApi.authenticators``."""
    account = await platform.account(scopes=("credits:read",))
    async with platform.client() as client:
        api = next(p for p in client.app.plugins.init if hasattr(p, "api")).api
        token = await api.cache.token(account.key, key_hash(account.key))

        async def session(request) -> Caller | None:
            if request.cookies.get("sid") == "s1":
                return Caller(token, "session:s1")
            return None  # not a session request: the next way in is tried

        api.authenticators.add(session)
        client.cookies.set("sid", "s1")
        r = await client.get("/api/v1/credits")
        assert r.status_code == 200, r.text
        assert r.headers["ratelimit-limit"]  # sessions are rate-limited too
        client.cookies.set("sid", "other")
        assert_problem(await client.get("/api/v1/credits"), 401, "UNAUTHENTICATED")
