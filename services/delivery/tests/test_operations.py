"""Operating a running delivery: the fallback alert (a relay refusing everything for longer
than ALERT_AFTER_SECONDS gets one JSON POST to the webhook, with counts and truncated
campaign ids, no personal data) and SMTP limits changed in SMTP_LIMITS_FILE while sending."""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from missiva_platform.devstack.ports import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

PORT = free_port()
LIMITS = Path(tempfile.mkdtemp(prefix="delivery-limits-")) / "limits.json"
LIMITS.write_text('{"global_rate": 0, "per_domain": {"concurrency": 8}}')
SETTINGS = {
    "alert_webhook_url": f"http://127.0.0.1:{PORT}/hook",
    "alert_after_seconds": 1.0,
    "alert_check_seconds": 0.2,
    "smtp_limits_file": str(LIMITS),
    "smtp_limits_refresh_seconds": 0.2,
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


async def test_limits_written_to_the_file_apply_while_sending(delivery) -> None:
    limits = delivery.sender.transport.limits
    LIMITS.write_text(
        '{"global_rate": 0, "per_domain": {"concurrency": 8},'
        ' "domains": {"slow.example": {"rate": 5, "burst": 1, "concurrency": 1}}}'
    )
    for _ in range(100):
        if "slow.example" in limits.settings.domains:
            break
        await asyncio.sleep(0.05)
    assert limits.settings.for_domain("slow.example").rate == 5
    tenant = delivery.tenant()
    addresses = [f"p{i}-{time.monotonic_ns()}@slow.example" for i in range(6)]
    event, campaign_id = delivery.batch(tenant, addresses)
    await delivery.publish_to("cmd.delivery.send_batch", event)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=6, timeout=30)
    assert [r[3] for r in rows] == ["sent"] * 6
    assert limits.throttled.get("slow.example", 0) >= 4  # they waited for the bucket
    # A file that does not parse changes nothing.
    LIMITS.write_text("{not json")
    await asyncio.sleep(0.5)
    assert limits.settings.for_domain("slow.example").rate == 5
