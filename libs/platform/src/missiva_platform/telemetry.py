"""Tracing and logging set-up shared by every service.

Traces go to an OTLP collector when one is configured and are propagated with W3C Trace
Context. Logs are JSON lines on stderr carrying the current trace and span ids, and pass
through ``RedactingFilter`` so they never carry email addresses, tokens or secrets.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, TextIO
from uuid import UUID

import msgspec
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "JsonFormatter",
    "RedactingFilter",
    "build_tracer_provider",
    "configure_logging",
    "configure_tracing",
    "redact_text",
    "redact_value",
]

_log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- tracing


def build_tracer_provider(service_name: str, *, otlp_endpoint: str | None) -> TracerProvider:
    """A tracer provider for ``service_name`` exporting over OTLP/gRPC if an endpoint is given.

    Does not touch global state; ``configure_tracing`` is what services call.
    """
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    if otlp_endpoint:
        _add_otlp_exporter(provider, otlp_endpoint)
    return provider


def _add_otlp_exporter(provider: TracerProvider, endpoint: str) -> None:
    # Imported here: the gRPC exporter is only loaded by processes that export.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))


def configure_tracing(
    service_name: str,
    *,
    otlp_endpoint: str | None,
    provider: TracerProvider | None = None,
) -> TracerProvider:
    """Install the process-wide tracer provider and the W3C Trace Context propagator.

    Spans are exported over OTLP/gRPC (batched) only when ``otlp_endpoint`` is given.
    Idempotent: once an SDK provider is installed, later calls return it rather than
    stacking exporters. Pass ``provider`` (e.g. one with an in-memory exporter in tests) to
    use it instead of building one; it becomes global if no SDK provider is installed yet.
    """
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    current = trace.get_tracer_provider()
    if provider is None:
        if isinstance(current, TracerProvider):
            return current
        provider = build_tracer_provider(service_name, otlp_endpoint=otlp_endpoint)
    elif otlp_endpoint:
        _add_otlp_exporter(provider, otlp_endpoint)
    if isinstance(current, TracerProvider):
        # OpenTelemetry allows one global provider per process; the caller keeps theirs.
        if current is not provider:
            _log.debug("a tracer provider is already installed; not replacing it")
    else:
        trace.set_tracer_provider(provider)
    return provider


# --------------------------------------------------------------------------- redaction

EMAIL_PLACEHOLDER = "[email]"
REDACTED = "[redacted]"

# Names of things whose values must never be logged (a pattern, not a password).
_SECRET_WORDS = "password|passwd|secret|token|authorization|api[_-]?key|credential|cookie"  # noqa: S105
# `password=...`, `"client_secret": "..."`, `Authorization: Bearer ...` inside free text.
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b([\w-]*(?:" + _SECRET_WORDS + r")[\w-]*)"
    r"([\"']?\s*[:=]\s*)"
    r"(?!\[(?:redacted|email)\])"
    r"(?:(?:bearer|basic)\s+)?"
    r"(\"[^\"]*\"|'[^']*'|[^\s,;&\"'}\]]+)"
)
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+(?!\[redacted\])[A-Za-z0-9._~+/=-]+")
# A JWT (or JWE) is base64url JSON, so its header always starts with `eyJ` ('{"').
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){2,4}")
# Our own link tokens: v1.<kid>.<payload>.<mac>, see crypto.TokenKeyring.
_HMAC_TOKEN = re.compile(r"\bv1\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{20,}")
# Deliberately loose (Unicode letters, %40 in URLs): a false positive costs less than a leak.
_EMAIL = re.compile(r"[\w.!#$%'*+^`{|}~-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*")
_SENSITIVE_KEY = re.compile(r"(?i)" + _SECRET_WORDS + r"|private[_-]?key")


def redact_text(text: str) -> str:
    """``text`` with email addresses, bearer/JWT/link tokens and ``secret=...`` values masked."""
    text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m[1]} {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _HMAC_TOKEN.sub(REDACTED, text)
    return _EMAIL.sub(EMAIL_PLACEHOLDER, text)


def redact_value(value: Any) -> Any:
    """A copy of ``value`` safe to log: strings redacted, sensitive mapping keys masked."""
    if value is None or isinstance(value, bool | int | float | datetime | date | UUID):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if _SENSITIVE_KEY.search(str(k)) else redact_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    # Anything else is logged by its text, so redact that text.
    return redact_text(str(value))


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
_exception_formatter = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Masks personal data and secrets in a record before any formatter sees it.

    Covers the message with its arguments, exception and stack text, and ``extra`` fields
    (values under keys like password/secret/token/authorization become ``[redacted]``).
    The record is changed in place; it never rejects a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A broken format string must not hide the record (nor crash the caller).
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _exception_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key in _RECORD_ATTRIBUTES or key.startswith("_"):
                continue
            setattr(record, key, REDACTED if _SENSITIVE_KEY.search(key) else redact_value(value))
        return True


# --------------------------------------------------------------------------- JSON lines


def _json_fallback(value: Any) -> str:
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, service, trace and span
    ids of the current span, exception text, and any ``extra`` fields."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            key: value
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
        }
        entry.update(
            time=datetime.fromtimestamp(record.created, tz=UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            level=record.levelname,
            logger=record.name,
            message=record.getMessage(),
            service=self.service_name,
        )
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            return msgspec.json.encode(entry, enc_hook=_json_fallback).decode()
        except (TypeError, msgspec.EncodeError):
            # e.g. an extra dict with tuple keys: keep the line, lose the structure.
            return msgspec.json.encode({k: str(v) for k, v in entry.items()}).decode()


def configure_logging(
    service_name: str, level: str = "INFO", *, stream: TextIO | None = None
) -> logging.Handler:
    """Send the root logger's records to ``stream`` (stderr) as redacted JSON lines.

    Idempotent: a second call replaces the handler the first one installed instead of
    adding another. Returns the installed handler.
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_missiva_json", False):
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._missiva_json = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter(service_name))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
