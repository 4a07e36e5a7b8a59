"""Behaviour of the logging and tracing set-up: JSON lines, trace ids, nothing personal leaks."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from opentelemetry import propagate
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from missiva_platform.crypto import TokenKeyring
from missiva_platform.telemetry import (
    build_tracer_provider,
    configure_logging,
    configure_tracing,
    redact_text,
)


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """Route the root logger to a buffer through ``configure_logging``; restore it after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("consent", "DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_log_line_is_one_valid_json_object_with_the_core_fields(output: io.StringIO) -> None:
    logging.getLogger("missiva.consent").info("granted %d consents", 3, extra={"tenant": "t-1"})

    (line,) = _lines(output)
    assert line["message"] == "granted 3 consents"
    assert line["level"] == "INFO"
    assert line["logger"] == "missiva.consent"
    assert line["service"] == "consent"
    assert line["tenant"] == "t-1"
    assert str(line["time"]).endswith("Z")
    assert "trace_id" not in line


def test_an_email_in_message_args_and_exception_is_logged_as_a_placeholder(
    output: io.StringIO,
) -> None:
    try:
        raise ValueError("no such contact bob@example.org")
    except ValueError:
        logging.getLogger("t").exception(
            "bounce for carol@example.net from %s", "Ada.Lovelace+news@Example.com"
        )

    text = output.getvalue()
    (line,) = _lines(output)
    assert line["message"] == "bounce for [email] from [email]"
    assert "no such contact [email]" in str(line["exception"])
    assert "ValueError" in str(line["exception"])
    for address in ("bob@", "carol@", "Ada.Lovelace", "example.org", "example.net"):
        assert address not in text


def test_a_jwt_and_a_link_token_are_redacted(output: io.StringIO) -> None:
    access_token = jwt.encode({"alg": "HS256"}, {"sub": "u-1"}, OctKey.generate_key(256))
    link_token = TokenKeyring.generate().sign("unsubscribe", {"contact": "c-1"})

    logging.getLogger("t").warning("refused %s then %s", access_token, link_token)

    (line,) = _lines(output)
    assert line["message"] == "refused [redacted] then [redacted]"
    assert access_token not in output.getvalue()
    assert link_token not in output.getvalue()


def test_secret_extra_fields_are_redacted_however_deeply_nested(output: io.StringIO) -> None:
    logging.getLogger("t").info(
        "login",
        extra={
            "password": "hunter2",
            "request": {"headers": {"Authorization": "Bearer abc"}, "to": "ada@example.com"},
            "client_secret": "s3cr3t",
        },
    )

    (line,) = _lines(output)
    assert line["password"] == "[redacted]"
    assert line["client_secret"] == "[redacted]"
    assert line["request"] == {"headers": {"Authorization": "[redacted]"}, "to": "[email]"}
    assert "hunter2" not in output.getvalue()


def test_the_json_line_carries_the_trace_and_span_of_the_active_span(
    output: io.StringIO,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    with provider.get_tracer("test").start_as_current_span("grant") as span:
        logging.getLogger("t").info("inside")
    logging.getLogger("t").info("outside")

    inside, outside = _lines(output)
    (finished,) = exporter.get_finished_spans()
    context = span.get_span_context()
    assert finished.context.trace_id == context.trace_id
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert "trace_id" not in outside


def test_configuring_logging_twice_does_not_double_the_handler(output: io.StringIO) -> None:
    configure_logging("consent", "DEBUG", stream=output)

    logging.getLogger("t").info("once")

    assert len(_lines(output)) == 1


def test_a_level_below_the_configured_one_is_dropped(output: io.StringIO) -> None:
    configure_logging("consent", "warning", stream=output)

    logging.getLogger("t").info("quiet")
    logging.getLogger("t").warning("loud")

    assert [line["message"] for line in _lines(output)] == ["loud"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def", "Authorization: [redacted]"),
        ("sent with bearer opaque-123", "sent with bearer [redacted]"),
        ('{"refresh_token": "r-1", "n": 2}', '{"refresh_token": [redacted], "n": 2}'),
        ("password=hunter2&user=ada", "password=[redacted]&user=ada"),
        ("GET /x?email=ada%40example.com", "GET /x?email=[email]"),
        ("postgresql://u:pw@db.local/x", "postgresql://u:[email]/x"),
        ("token expired after 3 tries", "token expired after 3 tries"),
        ("version v1.2.3.4 deployed", "version v1.2.3.4 deployed"),
    ],
)
def test_redaction_masks_secrets_in_free_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected
    assert redact_text(expected) == expected


def test_a_tracer_provider_is_named_after_its_service() -> None:
    provider = build_tracer_provider("delivery", otlp_endpoint=None)

    assert provider.resource.attributes["service.name"] == "delivery"


@pytest.fixture
def fresh_tracing_globals() -> Iterator[None]:
    """Give the test an unset global tracer provider and restore the real one afterwards.

    OpenTelemetry lets a process set its provider once; the module's private globals are
    the only way to keep this test from deciding the provider for every later test.
    """
    saved = (trace_api._TRACER_PROVIDER, trace_api._TRACER_PROVIDER_SET_ONCE)
    saved_textmap = propagate.get_global_textmap()
    trace_api._TRACER_PROVIDER, trace_api._TRACER_PROVIDER_SET_ONCE = None, Once()
    try:
        yield
    finally:
        trace_api._TRACER_PROVIDER, trace_api._TRACER_PROVIDER_SET_ONCE = saved
        propagate.set_global_textmap(saved_textmap)


@pytest.mark.usefixtures("fresh_tracing_globals")
def test_configuring_tracing_installs_a_global_provider_named_after_the_service() -> None:
    provider = configure_tracing("delivery", otlp_endpoint=None)

    assert trace_api.get_tracer_provider() is provider
    assert provider.resource.attributes["service.name"] == "delivery"


@pytest.mark.usefixtures("fresh_tracing_globals")
def test_configuring_tracing_twice_returns_the_same_provider() -> None:
    first = configure_tracing("delivery", otlp_endpoint=None)

    assert configure_tracing("delivery", otlp_endpoint=None) is first


@pytest.mark.usefixtures("fresh_tracing_globals")
def test_a_given_provider_becomes_the_global_one() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    assert configure_tracing("delivery", otlp_endpoint=None, provider=provider) is provider
    with trace_api.get_tracer("test").start_as_current_span("send"):
        pass
    assert [span.name for span in exporter.get_finished_spans()] == ["send"]


@pytest.mark.usefixtures("fresh_tracing_globals")
def test_trace_context_is_propagated_as_a_w3c_traceparent_header() -> None:
    provider = configure_tracing("delivery", otlp_endpoint=None)

    with provider.get_tracer("test").start_as_current_span("send") as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)

    assert set(carrier) == {"traceparent"}
    assert format(span.get_span_context().trace_id, "032x") in carrier["traceparent"]


def test_an_otlp_endpoint_is_wired_without_connecting_up_front() -> None:
    # Nothing listens on the port: building (and shutting down with no spans) must not wait.
    provider = build_tracer_provider("delivery", otlp_endpoint="http://127.0.0.1:9")

    assert provider.resource.attributes["service.name"] == "delivery"
    provider.shutdown()
