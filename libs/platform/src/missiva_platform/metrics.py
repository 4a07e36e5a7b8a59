"""Prometheus metrics named ``missiva_<service>_<what>_<unit>``.

A process configures its service name once (``configure``); kit modules then ask for metrics
by their short name and get the same object on every call, so importing a module twice or
building two runtimes in one test never registers a metric twice.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

M = TypeVar("M", Counter, Gauge, Histogram)

_lock = threading.Lock()
_service = "missiva"
_registry: CollectorRegistry = REGISTRY
_made: dict[tuple[str, str], Any] = {}

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def configure(service: str, registry: CollectorRegistry | None = None) -> None:
    """Set the service name used in metric names (once per process, before serving)."""
    global _service, _registry
    with _lock:
        _service = service
        if registry is not None:
            _registry = registry


def registry() -> CollectorRegistry:
    return _registry


def full_name(what: str) -> str:
    return f"missiva_{_service}_{what}"


def _get(kind: type[M], what: str, doc: str, labels: tuple[str, ...], **kwargs: Any) -> M:
    name = full_name(what)
    with _lock:
        key = (kind.__name__, name)
        metric = _made.get(key)
        if metric is None:
            metric = kind(name, doc, labelnames=labels, registry=_registry, **kwargs)
            _made[key] = metric
        return metric  # type: ignore[no-any-return]


def counter(what: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
    """A counter; ``what`` ends in ``_total``."""
    return _get(Counter, what, doc, labels)


def gauge(what: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
    return _get(Gauge, what, doc, labels)


def histogram(
    what: str, doc: str, labels: tuple[str, ...] = (), buckets: tuple[float, ...] = LATENCY_BUCKETS
) -> Histogram:
    """A histogram; ``what`` ends in its unit (``_seconds``)."""
    return _get(Histogram, what, doc, labels, buckets=buckets)
