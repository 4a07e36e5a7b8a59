"""The SMTP transport of the sender: a pool of reused connections under rate limits.

``SmtpPool`` keeps ``size`` aiosmtplib connections (each one an ``SmtpTransport``: connected
on first use, reused for many messages, made again after a refusal or a break) and lends one
per message. Before a message takes a connection it passes ``Limits``:

- a global token bucket (messages per second over every destination),
- per destination domain (the recipient's domain) a token bucket and a cap on messages in
  flight at once; ``domains`` overrides both for named domains (a large mailbox provider
  accepts more than a small company's server).

``Limits.update`` changes every figure while messages are flowing: waiting senders see the
new rates at their next look. The service reads them from ``SMTP_LIMITS_FILE`` (JSON, looked
at every few seconds; see ``load_limits``) so an operator changes a running campaign's pace
by editing one file (a ConfigMap under Kubernetes).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from missiva_delivery.smtp import Reply, SmtpTransport


@dataclass(frozen=True)
class DomainLimit:
    rate: float = 0.0  # messages per second; 0: no limit
    burst: float = 0.0  # bucket size; 0: one second's worth (at least 1)
    concurrency: int = 0  # messages in flight at once; 0: no limit


@dataclass(frozen=True)
class LimitSettings:
    global_rate: float = 0.0
    global_burst: float = 0.0
    per_domain: DomainLimit = DomainLimit(concurrency=8)
    domains: dict[str, DomainLimit] = field(default_factory=dict)

    def for_domain(self, domain: str) -> DomainLimit:
        return self.domains.get(domain, self.per_domain)


def _number(doc: dict[str, Any], key: str, where: str, *, integer: bool = False) -> float:
    value = doc.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{where}{key} must be a number of at least 0")
    if integer and int(value) != value:
        raise ValueError(f"{where}{key} must be a whole number")
    return float(value)


def _domain_limit(doc: Any, where: str) -> DomainLimit:
    if not isinstance(doc, dict):
        raise ValueError(f"{where} must be an object")
    unknown = set(doc) - {"rate", "burst", "concurrency"}
    if unknown:
        raise ValueError(f"{where}: unknown setting {sorted(unknown)[0]!r}")
    return DomainLimit(
        rate=_number(doc, "rate", f"{where}."),
        burst=_number(doc, "burst", f"{where}."),
        concurrency=int(_number(doc, "concurrency", f"{where}.", integer=True)),
    )


def parse_limits(text: str, base: LimitSettings) -> LimitSettings:
    """The limits of a JSON document over ``base`` (the settings' figures)::

        {"global_rate": 500, "per_domain": {"rate": 50, "concurrency": 4},
         "domains": {"gmail.com": {"rate": 200, "concurrency": 16}}}

    ``ValueError`` names the first setting that is wrong."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("the limits must be a JSON object")
    unknown = set(doc) - {"global_rate", "global_burst", "per_domain", "domains"}
    if unknown:
        raise ValueError(f"unknown setting {sorted(unknown)[0]!r}")
    limits = replace(
        base,
        global_rate=_number(doc, "global_rate", "") if "global_rate" in doc else base.global_rate,
        global_burst=_number(doc, "global_burst", "")
        if "global_burst" in doc
        else base.global_burst,
    )
    if "per_domain" in doc:
        limits = replace(limits, per_domain=_domain_limit(doc["per_domain"], "per_domain"))
    if "domains" in doc:
        if not isinstance(doc["domains"], dict):
            raise ValueError("domains must be an object of domain → limits")
        limits = replace(
            limits,
            domains={
                str(name).lower(): _domain_limit(value, f"domains.{name}")
                for name, value in doc["domains"].items()
            },
        )
    return limits


def load_limits(path: str | Path, base: LimitSettings) -> LimitSettings:
    return parse_limits(Path(path).read_text(encoding="utf-8"), base)


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    @property
    def capacity(self) -> float:
        return self.burst or max(self.rate, 1.0)

    def set(self, rate: float, burst: float) -> None:
        self._refill()
        self.rate, self.burst = rate, burst
        self.tokens = min(self.tokens, self.capacity)

    def _refill(self) -> None:
        now = time.monotonic()
        if self.rate > 0:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self) -> float:
        """0 and one token taken, or how long until one is there (nothing taken)."""
        if self.rate <= 0:
            return 0.0
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Limits:
    """The global and per-domain buckets and in-flight caps; ``update`` applies at once."""

    def __init__(self, settings: LimitSettings) -> None:
        self.settings = settings
        self._global = TokenBucket(settings.global_rate, settings.global_burst)
        self._buckets: dict[str, TokenBucket] = {}
        self._in_flight: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self.throttled: dict[str, int] = {}  # waits per domain (a metric)

    def update(self, settings: LimitSettings) -> None:
        self.settings = settings
        self._global.set(settings.global_rate, settings.global_burst)
        for domain, bucket in self._buckets.items():
            limit = settings.for_domain(domain)
            bucket.set(limit.rate, limit.burst)

    def _bucket(self, domain: str) -> TokenBucket:
        bucket = self._buckets.get(domain)
        if bucket is None:
            limit = self.settings.for_domain(domain)
            bucket = self._buckets[domain] = TokenBucket(limit.rate, limit.burst)
        return bucket

    async def acquire(self, domain: str) -> None:
        async with self._changed:
            while True:
                cap = self.settings.for_domain(domain).concurrency
                if not cap or self._in_flight.get(domain, 0) < cap:
                    break
                self.throttled[domain] = self.throttled.get(domain, 0) + 1
                await self._changed.wait()
            self._in_flight[domain] = self._in_flight.get(domain, 0) + 1
        try:
            for bucket in (self._bucket(domain), self._global):
                while (wait := bucket.wait_time()) > 0:
                    self.throttled[domain] = self.throttled.get(domain, 0) + 1
                    await asyncio.sleep(min(wait, 0.5))  # a raised rate is seen soon
        except BaseException:
            await self.release(domain)
            raise

    async def release(self, domain: str) -> None:
        async with self._changed:
            self._in_flight[domain] = max(0, self._in_flight.get(domain, 0) - 1)
            self._changed.notify_all()


class SmtpPool:
    """``size`` reused SMTP connections to one relay, lent one message at a time."""

    def __init__(self, url: str, *, size: int, timeout: float, local_hostname: str | None,
                 limits: Limits) -> None:  # fmt: skip
        self.limits = limits
        self._connections = [
            SmtpTransport(url, timeout=timeout, local_hostname=local_hostname) for _ in range(size)
        ]
        self._idle: asyncio.Queue[SmtpTransport] = asyncio.Queue()
        for connection in self._connections:
            self._idle.put_nowait(connection)

    @property
    def size(self) -> int:
        return len(self._connections)

    async def send(self, message: EmailMessage | bytes, *, sender: str, recipient: str) -> Reply:
        domain = recipient.rpartition("@")[2].lower()
        await self.limits.acquire(domain)
        try:
            connection = await self._idle.get()
            try:
                return await connection.send(message, sender=sender, recipient=recipient)
            finally:
                self._idle.put_nowait(connection)
        finally:
            await self.limits.release(domain)

    async def close(self) -> None:
        for connection in self._connections:
            await connection.close()
