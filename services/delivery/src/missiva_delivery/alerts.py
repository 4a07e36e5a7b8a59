"""The fallback alert: when the SMTP transport has failed for several minutes, a JSON POST
to ``ALERT_WEBHOOK_URL`` (a chat or paging webhook), independent of the metrics pipeline,
which may be down with the same network.

A *failure* is an attempt that got no answer (no connection, connection lost) or a 421
(the server is not taking mail). One success ends the episode. An episode that lasts
``ALERT_AFTER_SECONDS`` is reported once, with no personal data: the relay's host, since
when, the counts, and per campaign a truncated id and its deferred messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)


class TransportWatch:
    def __init__(self, *, relay: str, after_seconds: float) -> None:
        self.relay = relay
        self.after_seconds = after_seconds
        self.failing_since: float | None = None
        self.failing_since_wall: datetime | None = None
        self.failures = 0
        self.by_campaign: Counter[str] = Counter()
        self.alerted = False

    def failed(self, campaign_id: str) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            self.failing_since_wall = datetime.now(UTC)
        self.failures += 1
        self.by_campaign[campaign_id[:8] if campaign_id else "transactional"] += 1

    def succeeded(self) -> None:
        if self.failing_since is not None:
            self.failing_since = self.failing_since_wall = None
            self.failures = 0
            self.by_campaign.clear()
            self.alerted = False

    def due(self) -> dict[str, Any] | None:
        """The alert body once the episode is long enough (once per episode)."""
        if self.failing_since is None or self.alerted:
            return None
        if time.monotonic() - self.failing_since < self.after_seconds:
            return None
        self.alerted = True
        since = self.failing_since_wall or datetime.now(UTC)
        return {
            "alert": "smtp_transport_failing",
            "service": "delivery",
            "relay": self.relay,
            "failing_since": since.isoformat(),
            "failed_attempts": self.failures,
            "campaigns": [
                {"campaign": name, "deferred_attempts": count}
                for name, count in self.by_campaign.most_common(20)
            ],
        }


def _post(url: str, body: dict[str, Any], timeout: float) -> int:
    request = urllib.request.Request(  # noqa: S310 - the operator's configured https/http URL
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
        return int(reply.status)


def alert_refresher(watch: TransportWatch, url: str, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """A refresher: POST the alert when it is due (a failed POST is logged and tried again
    at the next look)."""

    async def refresh() -> None:
        body = watch.due()
        if body is None:
            return
        try:
            status = await asyncio.to_thread(_post, url, body, timeout)
        except OSError as exc:
            watch.alerted = False
            log.warning("the fallback alert could not be posted: %s", type(exc).__name__)
            return
        log.warning("SMTP transport failing: fallback alert posted", extra={"status": status})

    return refresh
