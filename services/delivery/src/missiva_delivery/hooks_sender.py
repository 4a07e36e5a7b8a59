"""Outbound webhooks, the worker: claims due deliveries (``FOR UPDATE SKIP LOCKED``, so
replicas share the queue), POSTs each one signed, and records the answer.

A 2xx is delivered. Anything else (another status, a timeout, a refused connection, an
address the SSRF guard refuses) is retried after WEBHOOK_RETRY_BASE_SECONDS, doubling up to
WEBHOOK_RETRY_MAX_SECONDS, until the delivery is WEBHOOK_GIVE_UP_AFTER_HOURS old: then it
is failed. An endpoint every attempt of which has failed for WEBHOOK_DISABLE_AFTER_HOURS
is disabled (``disabled_reason``, the ``webhook_endpoints_disabled_total`` metric and a
warning). The last answer's status and first bytes are kept on the delivery.

SSRF guard: the host is resolved here and every address it resolves to must be public
(``hooks_domain.address_refusal``); the request then goes to the checked address (the Host
header and TLS name stay the URL's host), so a DNS answer that changes between the check
and the connection cannot redirect it. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from missiva_delivery import hooks_domain as hd
from missiva_delivery.store import hooks as store
from missiva_platform import metrics

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore

log = logging.getLogger(__name__)
USER_AGENT = "Missiva-Webhooks/1"


class Refused(Exception):
    """The SSRF guard refused the endpoint's address (the message names why, no address)."""


class HookMetrics:
    def __init__(self) -> None:
        self.outcomes = metrics.counter(
            "webhook_deliveries_total",
            "Webhook delivery attempts by outcome (delivered, retried, failed).",
            ("outcome",),
        )
        self.latency = metrics.histogram(
            "webhook_attempt_seconds", "Time of one webhook POST, answered or not."
        )
        self.disabled = metrics.counter(
            "webhook_endpoints_disabled_total",
            "Webhook endpoints disabled because every attempt failed for too long.",
        )


def queue_gauge(core: DeliveryCore):  # type: ignore[no-untyped-def]
    """A refresher: the webhook deliveries waiting (pending, delivering)."""

    async def refresh() -> None:
        depth = metrics.gauge(
            "webhook_queue_depth", "Webhook deliveries waiting or under way.", ("state",)
        )
        async with core.pool.connection() as conn:
            counts = await store.queue_depth(conn)
        for state in ("pending", "delivering"):
            depth.labels(state).set(counts.get(state, 0))

    return refresh


async def resolve(url: str, *, allow_loopback: bool) -> tuple[str, str]:
    """The checked address to connect to for ``url`` and the URL's host; ``Refused`` when
    the scheme or any address the host resolves to is not allowed."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Refused(f"the host does not resolve ({type(exc).__name__})") from None
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    if not addresses:
        raise Refused("the host does not resolve")
    for address in addresses:
        refusal = hd.address_refusal(address, allow_loopback=allow_loopback)
        if refusal:
            raise Refused(f"the host resolves to {refusal}")
    if parts.scheme != "https" and not (allow_loopback and all(a.is_loopback for a in addresses)):
        raise Refused("the endpoint is not https")
    chosen = sorted(addresses, key=lambda a: (a.version, int(a)))[0]
    return str(chosen), host


class HookSender:
    def __init__(self, core: DeliveryCore) -> None:
        self.core = core
        self.settings = core.settings
        self._metrics: HookMetrics | None = None
        self._client: httpx.AsyncClient | None = None

    @property
    def metrics(self) -> HookMetrics:
        if self._metrics is None:  # the app names its metrics when it starts
            self._metrics = HookMetrics()
        return self._metrics

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = self.settings.webhook_timeout_seconds
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment: the guard checks the target
                headers={"user-agent": USER_AGENT},
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def round(self) -> int:
        """Claim the due deliveries and attempt each (concurrently); how many."""
        s = self.settings
        async with self.core.pool.connection() as conn, conn.transaction():
            rows = await store.claim_due(conn, s.webhook_batch_size, s.webhook_claim_stale_seconds)
        if rows:
            await asyncio.gather(*(self.attempt(row) for row in rows))
        return len(rows)

    async def drain(self) -> int:
        total = 0
        while handled := await self.round():
            total += handled
        return total

    async def post(self, endpoint: dict[str, Any], body: bytes, headers: dict[str, str]) -> Any:
        """POST ``body`` to the endpoint's checked address: (status, excerpt)."""
        address, host = await resolve(
            endpoint["url"], allow_loopback=self.settings.webhook_allow_loopback_http
        )
        url = httpx.URL(endpoint["url"])
        target = url.copy_with(host=address)
        extensions = {"sni_hostname": host} if url.scheme == "https" else {}
        request = self.client.build_request(
            "POST", target, content=body,
            headers={**headers, "host": url.netloc.decode("ascii")}, extensions=extensions,
        )  # fmt: skip
        response = await self.client.send(request, stream=True)
        try:
            kept = b""
            async for chunk in response.aiter_raw():
                kept += chunk
                if len(kept) >= hd.RESPONSE_EXCERPT:
                    break
        finally:
            await response.aclose()
        return response.status_code, hd.excerpt(kept)

    def _secrets(self, endpoint: dict[str, Any]) -> list[str]:
        aad = hd.secret_aad(endpoint["tenant_id"], endpoint["id"])
        found = [self.core.cipher.decrypt(bytes(endpoint["secret_enc"]), aad).decode()]
        until = endpoint["previous_secret_expires_at"]
        if endpoint["previous_secret_enc"] is not None and until and until > datetime.now(UTC):
            found.append(
                self.core.cipher.decrypt(bytes(endpoint["previous_secret_enc"]), aad).decode()
            )
        return found

    async def attempt(self, row: dict[str, Any]) -> str:
        """One attempt of one delivery; its outcome (delivered, retried, failed)."""
        async with self.core.pool.connection() as conn:
            endpoint = await store.endpoint_for_send(conn, row["endpoint_id"])
        if endpoint is None:  # deleted meanwhile (its deliveries went with it)
            return "failed"
        body = row["body"].encode()
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "missiva-webhook-id": row["event_id"],
            "missiva-webhook-timestamp": str(stamp),
            "missiva-signature": hd.signature_header(self._secrets(endpoint), stamp, body),
        }
        status_code, excerpt, error = 0, "", ""
        s = self.settings
        started = time.monotonic()
        try:
            # The whole attempt, answer included, within the timeout (and a DNS lookup's
            # allowance): a server that trickles its answer is cut off too.
            async with asyncio.timeout(s.webhook_timeout_seconds + 5.0):
                status_code, excerpt = await self.post(endpoint, body, headers)
        except Refused as exc:
            error = f"refused: {exc}"
        except (httpx.TimeoutException, TimeoutError):
            status_code, excerpt = 0, ""
            error = "timed out"
        except httpx.HTTPError as exc:
            error = f"no answer ({type(exc).__name__})"
        elapsed = time.monotonic() - started
        self.metrics.latency.observe(elapsed)
        ok = 200 <= status_code < 300
        now = datetime.now(UTC)
        if ok:
            outcome, next_at = "delivered", None
        elif hd.gives_up(row["created_at"], now, timedelta(hours=s.webhook_give_up_after_hours)):
            outcome, next_at = "failed", None
        else:
            delay = hd.next_delay(
                row["attempts"] + 1, s.webhook_retry_base_seconds, s.webhook_retry_max_seconds
            )
            outcome, next_at = "retried", now + delay
        async with self.core.pool.connection() as conn, conn.transaction():
            await store.finish(
                conn, row["id"], status={"retried": "pending"}.get(outcome, outcome),
                status_code=status_code, response=excerpt, error=error,
                duration_ms=int(elapsed * 1000), next_attempt_at=next_at,
            )  # fmt: skip
            if ok:
                await store.record_success(conn, endpoint["id"])
            else:
                since = await store.record_failure(conn, endpoint["id"])
                if now - since >= timedelta(hours=s.webhook_disable_after_hours):
                    await self._disable(conn, endpoint, since)
        self.metrics.outcomes.labels(outcome).inc()
        log.info(
            "webhook attempt",
            extra={"endpoint_id": endpoint["id"], "event_type": row["event_type"],
                   "outcome": outcome, "status_code": status_code, "error": error},
        )  # fmt: skip
        return outcome

    async def _disable(self, conn: Any, endpoint: dict[str, Any], since: datetime) -> None:
        reason = f"every attempt failed since {since.astimezone(UTC).isoformat()}"
        if await store.disable(conn, endpoint["id"], reason):
            self.metrics.disabled.inc()
            log.warning(
                "webhook endpoint disabled: failing for too long",
                extra={"endpoint_id": endpoint["id"], "tenant_id": endpoint["tenant_id"]},
            )


async def run_forever(sender: HookSender, stop: asyncio.Event, wake: asyncio.Event) -> None:
    """Drain, then wait for a wake-up (a delivery queued here) or the poll interval."""
    while not stop.is_set():
        try:
            await sender.drain()
        except Exception:  # the database restarting...: try again next round
            log.exception("webhook round failed")
        wake.clear()
        waiter = asyncio.ensure_future(wake.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait(
            {waiter, stopper},
            timeout=sender.settings.webhook_poll_seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
        waiter.cancel()
        stopper.cancel()
    await sender.close()
