"""Rate limits per API key: a token bucket each, in this gateway replica's memory.

A key may burst ``burst`` requests and then make ``rate`` per second. Every API response
says where the caller stands, in the IETF draft's ``RateLimit-Limit`` (the burst),
``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds until the bucket is full again);
an empty bucket answers 429 with ``Retry-After`` (seconds until one request is allowed).
The buckets are per replica: with N replicas behind a balancer, a key's effective limit is
up to N times the configured one (documented in the README).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from missiva_gateway.api.problems import ApiError


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by key (least recently used forgotten beyond ``max_keys``)."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> dict[str, str]:
        """Take one token for ``key``; the RateLimit headers, or ApiError(429) when empty."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            self._buckets.move_to_end(key)
        if bucket.tokens < 1.0:
            retry = max(1, math.ceil((1.0 - bucket.tokens) / self.rate))
            headers = self._headers(bucket)
            headers["retry-after"] = str(retry)
            raise ApiError(
                429,
                f"rate limit of {self.rate:g} requests/s (bursts of {self.burst}) reached;"
                f" retry in {retry} s",
                headers=headers,
            )
        bucket.tokens -= 1.0
        return self._headers(bucket)

    def _headers(self, bucket: _Bucket) -> dict[str, str]:
        reset = math.ceil((self.burst - bucket.tokens) / self.rate) if self.rate > 0 else 0
        return {
            "ratelimit-limit": str(self.burst),
            "ratelimit-remaining": str(max(0, math.floor(bucket.tokens))),
            "ratelimit-reset": str(max(0, reset)),
        }
