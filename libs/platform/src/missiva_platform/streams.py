"""The platform's catalogue of streams and subjects, in one place.

- Events: ``<service>.<entity>.<past-tense verb>`` in the producing service's
  ``<SERVICE>_EVENTS`` stream (limits retention: every consumer reads every event).
- Commands (work for one service): ``cmd.<service>.<verb_noun>`` in the target service's
  ``<SERVICE>_COMMANDS`` work-queue stream (a message is deleted once acknowledged). Commands may
  carry an address or a secret link, so they also expire after ``COMMAND_MAX_AGE``.
- Dead letters: ``dlq.<service>.<consumer>`` (see ``bus.dead_letter_stream``).

JetStream refuses streams with overlapping subjects, which is why commands start with ``cmd.``
rather than with the service name. A producer provisions the stream it writes to as well as the
owner does (provisioning is idempotent), so its outbox never waits for the consumer to exist.
"""

from __future__ import annotations

from missiva_platform.bus import DAY, StreamSpec

SERVICES = ("identity", "consent", "campaign", "delivery", "billing")
EVENT_MAX_AGE = 30 * DAY
COMMAND_MAX_AGE = 7 * DAY


def _stream_name(service: str, kind: str) -> str:
    return f"{service.upper().replace('-', '_')}_{kind}"


def events_stream(service: str) -> StreamSpec:
    """The stream holding every event ``service`` publishes."""
    return StreamSpec(_stream_name(service, "EVENTS"), (f"{service}.>",), max_age=EVENT_MAX_AGE)


def commands_stream(service: str) -> StreamSpec:
    """The work queue of commands addressed to ``service``."""
    return StreamSpec(
        _stream_name(service, "COMMANDS"),
        (f"cmd.{service}.>",),
        retention="workqueue",
        max_age=COMMAND_MAX_AGE,
    )


def event_subject(service: str, entity: str, verb: str) -> str:
    return f"{service}.{entity}.{verb}"


def command_subject(service: str, verb_noun: str) -> str:
    return f"cmd.{service}.{verb_noun}"


# Commands other services send today.
SEND_TRANSACTIONAL_EMAIL = command_subject("delivery", "send_transactional")
SEND_BATCH = command_subject("delivery", "send_batch")
SEND_DOCUMENT_NOTICE = command_subject("campaign", "send_document_notice")
