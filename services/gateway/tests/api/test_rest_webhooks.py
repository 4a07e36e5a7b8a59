"""Outbound webhooks over REST (`/api/v1/webhooks`), against the real services: every
endpoint's happy path, bad input as problems naming the field, another account's key
refused, a key without the scope refused, and a test event that a loopback receiver
verifies with the secret the API returned."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from platform_testkit import EVERY_SCOPE
from test_rest_auth import assert_problem

pytestmark = pytest.mark.asyncio(loop_scope="package")

READ_ONLY = tuple(s for s in EVERY_SCOPE if s != "webhooks:write")
NO_WEBHOOKS = tuple(s for s in EVERY_SCOPE if not s.startswith("webhooks:"))


def endpoint(url: str = "https://hooks.example.com/missiva", **extra: Any) -> dict[str, Any]:
    return {"url": url, "event_types": ["message.bounced", "campaign.completed"], **extra}


class Receiver:
    """A customer's endpoint on loopback: records what it gets, answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


async def test_register_list_get_update_rotate_test_and_delete(platform) -> None:
    a = await platform.account()
    receiver = Receiver()
    try:
        async with platform.client() as client:
            h = {**a.auth, "idempotency-key": "hook-1"}
            r = await client.post(
                "/api/v1/webhooks", headers=h, json=endpoint(receiver.url, description="CRM")
            )
            assert r.status_code == 201, r.text
            created = r.json()
            hook = created["endpoint"]
            secret = created["signing_secret"]
            assert secret.startswith("whsec_")
            assert hook["event_types"] == ["campaign.completed", "message.bounced"]
            assert hook["enabled"] is True
            again = await client.post(
                "/api/v1/webhooks", headers=h, json=endpoint(receiver.url, description="CRM")
            )
            assert again.status_code == 201
            assert again.json()["endpoint"]["webhook_endpoint_id"] == hook["webhook_endpoint_id"]
            wid = hook["webhook_endpoint_id"]

            r = await client.get(f"/api/v1/webhooks/{wid}", headers=a.auth)
            assert r.status_code == 200, r.text
            assert "signing_secret" not in r.json()
            await client.post("/api/v1/webhooks", headers=a.auth, json=endpoint())
            page = await client.get("/api/v1/webhooks", headers=a.auth, params={"limit": 1})
            assert page.status_code == 200, page.text
            assert [e["webhook_endpoint_id"] for e in page.json()["data"]] == [wid]
            cursor = page.json()["next_cursor"]
            assert cursor
            rest = await client.get(
                "/api/v1/webhooks", headers=a.auth, params={"limit": 1, "cursor": cursor}
            )
            assert len(rest.json()["data"]) == 1
            assert rest.json()["next_cursor"] is None

            r = await client.patch(
                f"/api/v1/webhooks/{wid}", headers=a.auth,
                json={"event_types": ["message.sent"], "description": "ops"},
            )  # fmt: skip
            assert r.status_code == 200, r.text
            assert r.json()["event_types"] == ["message.sent"]
            assert r.json()["description"] == "ops"
            assert r.json()["url"] == receiver.url

            r = await client.post(f"/api/v1/webhooks/{wid}/rotate-secret", headers=a.auth)
            assert r.status_code == 201, r.text
            rotated = r.json()
            assert rotated["signing_secret"] not in (secret, "")
            assert rotated["previous_secret_expires_at"]

            r = await client.post(f"/api/v1/webhooks/{wid}/test", headers=a.auth)
            assert r.status_code == 202, r.text
            test = r.json()
            assert test["event_type"] == "webhook.test"
            assert test["status"] == "pending"

            async def delivered() -> Any:
                r = await client.get(f"/api/v1/webhooks/{wid}/deliveries", headers=a.auth)
                rows = r.json()["data"]
                return rows if rows and rows[0]["status"] == "delivered" else None

            rows = await platform.until(delivered)
            assert rows[0]["last_status_code"] == 200
            assert rows[0]["attempts"] == 1
            assert rows[0]["last_response_excerpt"] == "ok"
            headers, body = receiver.received[0]
            assert json.loads(body)["id"] == test["event_id"] == headers["missiva-webhook-id"]
            parts = [p.split("=", 1) for p in headers["missiva-signature"].split(",")]
            t = dict(parts)["t"]
            for key in (rotated["signing_secret"], secret):  # both during the overlap
                mac = hmac.new(key.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
                assert ["v1", mac] in parts

            r = await client.delete(f"/api/v1/webhooks/{wid}", headers=a.auth)
            assert r.status_code == 204, r.text
            assert_problem(
                await client.get(f"/api/v1/webhooks/{wid}", headers=a.auth), 404, "NOT_FOUND"
            )
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


async def test_bad_input_is_a_problem_naming_the_field(platform) -> None:
    a = await platform.account()
    async with platform.client() as client:
        cases = [
            (endpoint(url="https://10.0.0.7/hook"), "url"),
            (endpoint(url="http://hooks.example.com/"), "url"),
            (endpoint(url="https://169.254.169.254/latest"), "url"),
            ({**endpoint(), "event_types": []}, "event_types"),
            ({**endpoint(), "event_types": ["message.opened"]}, "event_types"),
            ({**endpoint(), "description": "x" * 501}, "description"),
            ({**endpoint(), "secret": "mine"}, None),
        ]
        for body, field in cases:
            r = await client.post("/api/v1/webhooks", headers=a.auth, json=body)
            assert_problem(r, 400, "INVALID_ARGUMENT", field=field)
        hook = (await client.post("/api/v1/webhooks", headers=a.auth, json=endpoint())).json()
        wid = hook["endpoint"]["webhook_endpoint_id"]
        r = await client.patch(f"/api/v1/webhooks/{wid}", headers=a.auth, json={"url": "ftp://x"})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="url")
        r = await client.patch(f"/api/v1/webhooks/{wid}", headers=a.auth, json={})
        assert_problem(r, 400, "INVALID_ARGUMENT")
        r = await client.get("/api/v1/webhooks/not-an-id", headers=a.auth)
        assert_problem(r, 400, "INVALID_ARGUMENT", field="webhook_id")
        r = await client.get(
            f"/api/v1/webhooks/{wid}/deliveries", headers=a.auth, params={"cursor": "nope"}
        )
        assert_problem(r, 400, "INVALID_ARGUMENT", field="cursor")
        # Nothing changed by the refused updates.
        r = await client.get(f"/api/v1/webhooks/{wid}", headers=a.auth)
        assert r.json()["url"] == "https://hooks.example.com/missiva"


async def test_another_accounts_key_is_refused(platform) -> None:
    a = await platform.account()
    b = await platform.account()
    async with platform.client() as client:
        hook = (await client.post("/api/v1/webhooks", headers=a.auth, json=endpoint())).json()
        wid = hook["endpoint"]["webhook_endpoint_id"]
        for method, path, body in (
            ("GET", f"/api/v1/webhooks/{wid}", None),
            ("PATCH", f"/api/v1/webhooks/{wid}", {"enabled": False}),
            ("DELETE", f"/api/v1/webhooks/{wid}", None),
            ("POST", f"/api/v1/webhooks/{wid}/rotate-secret", None),
            ("POST", f"/api/v1/webhooks/{wid}/test", None),
            ("GET", f"/api/v1/webhooks/{wid}/deliveries", None),
        ):
            r = await client.request(method, path, headers=b.auth, json=body)
            assert_problem(r, 404, "NOT_FOUND")
        listed = await client.get("/api/v1/webhooks", headers=b.auth)
        assert listed.json()["data"] == []
        r = await client.get(f"/api/v1/webhooks/{wid}", headers=a.auth)
        assert r.json()["enabled"] is True


async def test_a_key_without_the_scope_is_forbidden(platform) -> None:
    owner = await platform.account()
    reader = await platform.account(scopes=READ_ONLY)
    neither = await platform.account(scopes=NO_WEBHOOKS)
    async with platform.client() as client:
        hook = (await client.post("/api/v1/webhooks", headers=owner.auth, json=endpoint())).json()
        wid = hook["endpoint"]["webhook_endpoint_id"]
        assert (await client.get("/api/v1/webhooks", headers=reader.auth)).status_code == 200
        writes = (
            ("POST", "/api/v1/webhooks", endpoint()),
            ("PATCH", f"/api/v1/webhooks/{wid}", {"enabled": False}),
            ("DELETE", f"/api/v1/webhooks/{wid}", None),
            ("POST", f"/api/v1/webhooks/{wid}/rotate-secret", None),
            ("POST", f"/api/v1/webhooks/{wid}/test", None),
        )
        for method, path, body in writes:
            r = await client.request(method, path, headers=reader.auth, json=body)
            assert_problem(r, 403, "PERMISSION_DENIED")
        reads = (
            ("GET", "/api/v1/webhooks"),
            ("GET", f"/api/v1/webhooks/{wid}"),
            ("GET", f"/api/v1/webhooks/{wid}/deliveries"),
        )
        for method, path in reads:
            r = await client.request(method, path, headers=neither.auth)
            assert_problem(r, 403, "PERMISSION_DENIED")
