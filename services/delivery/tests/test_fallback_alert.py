"""The fallback alert: a relay refusing everything for longer than ALERT_AFTER_SECONDS gets
one JSON POST to the webhook, with counts and truncated campaign ids, no personal data."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from missiva_platform.devstack.ports import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

PORT = free_port()
SETTINGS = {
    "alert_webhook_url": f"http://127.0.0.1:{PORT}/hook",
    "alert_after_seconds": 1.0,
    "alert_check_seconds": 0.2,
}
POSTED: list[dict] = []


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        POSTED.append(
            {"path": self.path, "type": self.headers["Content-Type"],
             "body": json.loads(self.rfile.read(length))}
        )  # fmt: skip
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def webhook():
    server = HTTPServer(("127.0.0.1", PORT), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield POSTED
    server.shutdown()


async def test_a_failing_transport_posts_one_alert_without_personal_data(delivery, webhook) -> None:
    tenant = delivery.tenant()
    addresses = [delivery.address() for _ in range(3)]
    event, campaign_id = delivery.batch(tenant, addresses)
    delivery.sink.refuse_all_until = time.monotonic() + 3.0
    try:
        await delivery.publish_to("cmd.delivery.send_batch", event)
        for _ in range(100):
            if webhook:
                break
            await asyncio.sleep(0.1)
        rows = await delivery.campaign_rows(tenant, campaign_id, want=3, timeout=30)
    finally:
        delivery.sink.refuse_all_until = 0.0
    assert [r[3] for r in rows] == ["sent"] * 3  # delivered once the relay recovered
    [posted] = webhook  # one alert for the episode
    assert posted["path"] == "/hook"
    assert posted["type"] == "application/json"
    body = posted["body"]
    assert body["alert"] == "smtp_transport_failing"
    assert body["failed_attempts"] >= 3
    assert body["campaigns"][0]["campaign"] == campaign_id[:8]
    text = json.dumps(body)
    assert "@" not in text
    assert campaign_id not in text
    assert all(delivery.key(a) not in text for a in addresses)
