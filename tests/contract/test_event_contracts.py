"""Consumer-driven contracts for every event and command in ``proto/missiva/*/v1/events.proto``.

Each consumer writes down, in ``expectations/<consumer>/<message>.json``, the fields its
handler reads and samples its tests are written against (``README.md`` here has the format).
These tests hold those expectations against the producer's current contract (the generated
descriptors) and, once the services declare them, against what a producer really emits
(``missiva_<svc>.events.EXAMPLES``) and what a consumer really handles
(``missiva_<svc>.events.HANDLERS``). A change that would break a consumer fails here first.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from nats.aio.msg import Msg

from missiva.common.v1.envelope_pb2 import EventEnvelope
from missiva_platform import events, streams
from missiva_platform.config import ServiceSettings
from missiva_platform.db import kit_migrations
from missiva_platform.outbox import headers_for

HERE = Path(__file__).resolve().parent
PROTO = HERE.parents[1] / "proto" / "missiva"
EXPECTATIONS = HERE / "expectations"
UNCONSUMED = HERE / "unconsumed.json"

SERVICES = ("identity", "consent", "campaign", "delivery", "billing")

# Producers without `missiva_<svc>.events.EXAMPLES`. Remove your service when you add EXAMPLES:
# that switches on the replay of what you really emit against every consumer's fixture.
PRODUCERS_WITHOUT_EXAMPLES: set[str] = set()

# Consumers that handle nothing yet: neither `missiva_<svc>.events.HANDLERS` nor a consumer
# their app registers (the kit's privacy consumers count: every service answers the privacy
# commands). Remove your service when it handles something: that switches on the replay of
# each of your fixtures' samples through your handlers.
CONSUMERS_WITHOUT_HANDLERS: set[str] = set()

# (producer, message) pairs that a producer with EXAMPLES does not emit yet although some
# consumer expects them. Each entry fails the build as soon as the message shows up.
NOT_YET_EMITTED: set[tuple[str, str]] = {
    # Delivery's transactional lane sends, defers and bounces, and its inbound side reports
    # bounces and complaints, and tracks opens and clicks; acceptance reports land with the rest
    # of its issue.
    ("delivery", "missiva.delivery.v1.MessageDelivered"),
}

# (consumer, message) pairs that a consumer with handlers does not handle yet although its
# fixture says it consumes them. Each entry fails the build as soon as a handler shows up.
NOT_YET_HANDLED: set[tuple[str, str]] = {
    # campaign, delivery and billing answer the privacy commands (the kit's consumers) but
    # their own consumers land with their issues.
    *(
        ("campaign", f"missiva.{message}")
        for message in ("campaign.v1.ContactCreated", "campaign.v1.ContactsImported")
    ),
    *(
        ("billing", f"missiva.{message}")
        for message in (
            # subscriptions (issue 10's last part): a deletion request pauses and a restore
            # resumes them; AccountErased already anonymises the billing profile.
            "identity.v1.AccountDeletionRequested",
            "identity.v1.AccountRestored",
        )
    ),
}

# Who emits a message, where that is not the service whose package defines it.
EMITTED_BY: dict[str, set[str]] = {
    "missiva.delivery.v1.SendTransactionalCommand": {"identity", "consent", "campaign", "billing"},
    # Consent queues it; campaign re-queues it to itself, one batch of contacts at a time.
    "missiva.campaign.v1.SendDocumentNoticeCommand": {"consent", "campaign"},
    "missiva.privacy.v1.PrivacyRequestOpened": {"consent"},
    "missiva.privacy.v1.PrivacyRequestCompleted": {"consent"},
    "missiva.privacy.v1.ExportPersonDataCommand": {"consent"},
    "missiva.privacy.v1.ErasePersonDataCommand": {"consent"},
    "missiva.privacy.v1.PersonDataExported": set(SERVICES),
    "missiva.privacy.v1.PersonDataErased": set(SERVICES),
}

FIXTURE_KEYS = {"consumer", "message", "subject", "why", "reads", "sample"}
OPTIONAL_FIXTURE_KEYS = {"may_be_unset", "envelope", "other_samples"}
ENVELOPE = "envelope."  # prefix of the envelope fields among a fixture's paths
ENVELOPE_KEYS = {"tenant_id", "aggregate_id", "aggregate_version"}
EVENT_SUBJECT = re.compile(r"^[a-z]+\.[a-z_]+\.[a-z_]+$")
COMMAND_VERB = re.compile(r"^[a-z]+(_[a-z]+)+$")

# ------------------------------------------------------------------------------ contracts


@dataclass(frozen=True)
class Contract:
    """One event or command of an ``events.proto``, with the comment that documents it."""

    cls: type[Message]
    doc: str

    @property
    def full_name(self) -> str:
        return self.cls.DESCRIPTOR.full_name

    @property
    def is_command(self) -> bool:
        return "work queue" in self.doc or self.full_name.endswith("Command")

    @property
    def documented_subject(self) -> str | None:
        found = re.search(r'subject "([^"]+)"', self.doc)
        return found.group(1) if found else None

    @property
    def emitters(self) -> set[str]:
        return EMITTED_BY.get(self.full_name, {self.full_name.split(".")[1]})


def _top_level_comments(proto_file: Path) -> dict[str, str]:
    """The ``//`` comment block right above each top-level ``message``, as one line."""
    docs: dict[str, str] = {}
    block: list[str] = []
    for line in proto_file.read_text().splitlines():
        if line.startswith("//"):
            block.append(line.removeprefix("//").strip())
            continue
        declared = re.match(r"message (\w+) \{", line)
        if declared:
            docs[declared.group(1)] = " ".join(block)
        block = []
    return docs


def _message_types_inside(descriptor: Descriptor) -> set[str]:
    """Full names of the message types ``descriptor``'s fields use, map entries included."""
    used = {f.message_type.full_name for f in descriptor.fields if f.message_type is not None}
    for nested in descriptor.nested_types:
        used |= _message_types_inside(nested)
    return used


@cache
def contracts() -> dict[str, Contract]:
    """Every event and command: top-level messages of each ``events.proto`` except the parts
    that other messages of the same file are built from (``Recipient`` in ``SendBatch``)."""
    found: dict[str, Contract] = {}
    for proto_file in sorted(PROTO.glob("*/v1/events.proto")):
        package = proto_file.parent.parent.name
        module = importlib.import_module(f"missiva.{package}.v1.events_pb2")
        descriptors = module.DESCRIPTOR.message_types_by_name
        parts = set().union(*(_message_types_inside(d) for d in descriptors.values()))
        docs = _top_level_comments(proto_file)
        for name, descriptor in descriptors.items():
            if descriptor.full_name not in parts:
                found[descriptor.full_name] = Contract(getattr(module, name), docs.get(name, ""))
    return found


# ------------------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class Fixture:
    """A consumer's expectation of one message (one JSON file under ``expectations/``)."""

    path: Path
    raw: Mapping[str, Any]

    @property
    def label(self) -> str:
        return self.path.relative_to(EXPECTATIONS).as_posix().removesuffix(".json")

    @property
    def consumer(self) -> str:
        return self.raw["consumer"]

    @property
    def message(self) -> str:
        return self.raw["message"]

    @property
    def subject(self) -> str:
        return self.raw["subject"]

    @property
    def contract(self) -> Contract:
        return contracts()[self.message]

    @property
    def reads(self) -> list[str]:
        return list(self.raw["reads"])

    @property
    def envelope_sample(self) -> dict[str, Any]:
        return dict(self.raw.get("envelope", {}))

    @property
    def paths(self) -> list[str]:
        """Every field the consumer relies on: payload reads, then ``envelope.<field>``s."""
        return self.reads + [ENVELOPE + key for key in self.envelope_sample]

    @property
    def may_be_unset(self) -> list[str]:
        return list(self.raw.get("may_be_unset", []))

    @property
    def always_set(self) -> list[str]:
        return [path for path in self.paths if path not in self.may_be_unset]

    def samples(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """``(payload, envelope fields)`` of ``sample`` and of each of ``other_samples``."""
        main = self.envelope_sample
        others = [(o["sample"], {**main, **o.get("envelope", {})}) for o in self.other_samples]
        return [(self.raw["sample"], main), *others]

    @property
    def other_samples(self) -> list[dict[str, Any]]:
        return list(self.raw.get("other_samples", []))

    def payload(self, index: int = 0) -> Message:
        """A sample as the producer's current message; unknown or mistyped fields raise."""
        sample, _ = self.samples()[index]
        return json_format.ParseDict(sample, self.contract.cls(), ignore_unknown_fields=False)

    def envelope(self, index: int = 0) -> EventEnvelope:
        """A sample wrapped the way the kit wraps every event and command."""
        _, extra = self.samples()[index]
        return events.envelope(
            self.payload(index),
            subject=self.subject,
            tenant_id=extra.get("tenant_id", ""),
            producer=sorted(self.contract.emitters)[0],
            aggregate_id=extra.get("aggregate_id", ""),
            aggregate_version=int(extra.get("aggregate_version", 0)),
        )

    def envelopes(self) -> list[EventEnvelope]:
        return [self.envelope(index) for index in range(len(self.samples()))]


def fixture_paths() -> list[Path]:
    return sorted(EXPECTATIONS.glob("*/*.json"))


@cache
def load_fixture(path: Path) -> Fixture:
    return Fixture(path, json.loads(path.read_text()))


def all_fixtures() -> list[Fixture]:
    return [load_fixture(path) for path in fixture_paths()]


def unconsumed() -> dict[str, str]:
    return json.loads(UNCONSUMED.read_text())


# --------------------------------------------------------------------------- field paths


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def path_problem(descriptor: Descriptor, path: str) -> str | None:
    """Why ``path`` (dotted field names) names no field of ``descriptor``; None if it does."""
    if path.startswith(ENVELOPE):
        key = path.removeprefix(ENVELOPE)
        return None if key in ENVELOPE_KEYS else f"{path!r}: not one of {sorted(ENVELOPE_KEYS)}"
    names = path.split(".")
    for depth, name in enumerate(names):
        field = descriptor.fields_by_name.get(name)
        where = ".".join(names[: depth + 1])
        if field is None:
            return f"{path!r}: {descriptor.full_name} has no field {name!r}"
        if depth < len(names) - 1:
            if field.message_type is None:
                return f"{path!r}: {where} is a scalar, it has no fields"
            if _is_map(field):
                return f"{path!r}: {where} is a map; read it as a whole"
            descriptor = field.message_type
    return None


def is_set(message: Message, path: str) -> bool:
    """Whether ``path`` holds a non-default value in ``message``; through a repeated message
    field, only when the field has elements and every element has the rest of the path set."""
    name, _, rest = path.partition(".")
    field = message.DESCRIPTOR.fields_by_name[name]
    value = getattr(message, name)
    if field.is_repeated:
        if not rest:
            return len(value) > 0
        return len(value) > 0 and all(is_set(item, rest) for item in value)
    if field.message_type is not None:
        return message.HasField(name) and (not rest or is_set(value, rest))
    return value != field.default_value


def holds(envelope: EventEnvelope, payload: Message, path: str) -> bool:
    """Whether the payload path, or the ``envelope.<field>``, is set."""
    if path.startswith(ENVELOPE):
        return bool(getattr(envelope, path.removeprefix(ENVELOPE)))
    return is_set(payload, path)


# ---------------------------------------------------------------------- service modules


def declared(service: str, name: str) -> Any:
    """``missiva_<service>.events.<name>``, or None while the module or the name is missing."""
    module_name = f"missiva_{service}.events"
    try:
        module: ModuleType = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return getattr(module, name, None)


async def examples_of(service: str) -> list[Any] | None:
    """What ``missiva_<service>.events.EXAMPLES()`` returns (it may be async), or None."""
    declared_examples = declared(service, "EXAMPLES")
    if declared_examples is None:
        return None
    result = declared_examples()
    return list(await result if inspect.isawaitable(result) else result)


@cache
def built_app(service: str) -> Any:
    """``service``'s app, built by its ``__main__.build`` as in production (not started)."""
    entry = importlib.import_module(f"missiva_{service}.__main__")
    config = importlib.import_module(f"missiva_{service}.config")
    settings_cls = next(
        value
        for key, value in vars(config).items()
        if key.endswith("Settings")
        and isinstance(value, type)
        and issubclass(value, ServiceSettings)
    )
    return entry.build(settings_cls(database_url="postgresql://contract@127.0.0.1/contract"))


def migration_sets(service: str) -> list[Any]:
    """The migrations of ``service``'s app."""
    return list(built_app(service).migration_sets)


def registered_handlers(service: str) -> dict[str, Any]:
    """``{subject: handler}`` of every consumer ``service``'s app registers, the kit's own
    (the privacy commands of ``missiva_platform.privacy.add_privacy_service``) included."""
    return {spec.filter_subject: handler for spec, handler in built_app(service).consumers}


def handlers_of(service: str) -> dict[str, Any] | None:
    """What ``service`` handles: its app's consumers, over ``events.HANDLERS`` where both
    name a subject (the app's are the ones that run); None when it handles nothing."""
    found = {**(declared(service, "HANDLERS") or {}), **registered_handlers(service)}
    return found or None


# ------------------------------------------------------------------------------ replays


def producer_problems(
    producer: str, examples: Iterable[Any], fixtures: Iterable[Fixture]
) -> list[str]:
    """What is wrong with ``producer``'s example envelopes, as seen by the consumer fixtures.

    Each example must be a kit envelope of an events.proto message the producer emits, on a
    subject some consumer of that message listens on. Each fixture of a message the producer
    emits needs an example on its subject, and in every such example each field the fixture
    relies on (but those it allows to be unset) must be set.
    """
    problems: list[str] = []
    fixtures = list(fixtures)
    listening: dict[str, set[str]] = defaultdict(set)
    for fixture in fixtures:
        listening[fixture.message].add(fixture.subject)
    emitted: dict[tuple[str, str], list[tuple[EventEnvelope, Message]]] = defaultdict(list)
    for index, example in enumerate(examples):
        where = f"{producer} example #{index}"
        if not isinstance(example, EventEnvelope):
            problems.append(f"{where} is a {type(example).__name__}, not an EventEnvelope")
            continue
        where = f"{where} ({example.event_type or 'no subject'})"
        try:
            if uuid.UUID(example.event_id).version != 7:
                raise ValueError(example.event_id)
        except ValueError:
            problems.append(f"{where}: event_id {example.event_id!r} is not a UUIDv7")
        if example.producer != producer:
            problems.append(f"{where}: producer is {example.producer!r}")
        contract = contracts().get(example.payload.TypeName())
        if contract is None:
            problems.append(f"{where}: {example.payload.TypeName()!r} is no events.proto message")
            continue
        if producer not in contract.emitters:
            problems.append(
                f"{where}: {contract.full_name} is emitted by {sorted(contract.emitters)} "
                f"according to EMITTED_BY"
            )
        subjects = listening.get(contract.full_name, set())
        if subjects and example.event_type not in subjects:
            problems.append(
                f"{where}: nobody listens on {example.event_type!r} for "
                f"{contract.full_name}; its consumers expect {sorted(subjects)}"
            )
        payload = events.unpack(example, contract.cls)
        emitted[contract.full_name, example.event_type].append((example, payload))

    for fixture in fixtures:
        if producer not in fixture.contract.emitters:
            continue
        found = emitted.get((fixture.message, fixture.subject), [])
        if not found and (producer, fixture.message) not in NOT_YET_EMITTED:
            problems.append(
                f"{fixture.label}: {producer} has no example of {fixture.message} on "
                f"{fixture.subject!r} (add one, or list ({producer!r}, {fixture.message!r}) "
                f"in NOT_YET_EMITTED)"
            )
        for envelope, payload in found:
            problems += [
                f"{fixture.label}: {producer} emits {fixture.subject!r} without {path}"
                for path in fixture.always_set
                if not holds(envelope, payload, path)
            ]
    for listed, message in sorted(NOT_YET_EMITTED):
        if listed == producer and any(name == message for name, _ in emitted):
            problems.append(f"{producer} emits {message}: remove it from NOT_YET_EMITTED")
    return problems


def rarely_set_problems(emitted: Iterable[EventEnvelope], fixtures: Iterable[Fixture]) -> list[str]:
    """Fields a consumer allows to be unset must still be set by some example on the subject,
    so that a producer which stops filling them (or renames their source) is noticed."""
    found: dict[tuple[str, str], list[tuple[EventEnvelope, Message]]] = defaultdict(list)
    for example in emitted:
        contract = contracts().get(example.payload.TypeName())
        if contract is not None:
            payload = events.unpack(example, contract.cls)
            found[contract.full_name, example.event_type].append((example, payload))
    problems = []
    for fixture in fixtures:
        pairs = found.get((fixture.message, fixture.subject))
        if pairs:
            problems += [
                f"{fixture.label}: no producer example on {fixture.subject!r} sets {path}"
                for path in fixture.may_be_unset
                if not any(holds(envelope, payload, path) for envelope, payload in pairs)
            ]
    return problems


Handler = Callable[[Any, EventEnvelope, Msg], Any]


async def consumer_problems(
    consumer: str, handlers: Mapping[str, Handler], fixtures: Iterable[Fixture], database_url: str
) -> list[str]:
    """Replay each sample of ``consumer``'s fixtures through its handler for the subject, each
    in a transaction that is rolled back, against ``database_url`` (the consumer's schema)."""
    own = [fixture for fixture in fixtures if fixture.consumer == consumer]
    problems = [
        f"{consumer} handles {subject!r} but has no fixture for it"
        for subject in sorted(set(handlers) - {fixture.subject for fixture in own})
    ]
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for fixture in own:
            handler = handlers.get(fixture.subject)
            pending = (consumer, fixture.message) in NOT_YET_HANDLED
            if handler is not None and pending:
                problems.append(
                    f"{fixture.label}: {consumer} handles it now: remove it from NOT_YET_HANDLED"
                )
            if handler is None and not pending:
                problems.append(
                    f"{fixture.label}: {consumer} has no handler for {fixture.subject!r} (add "
                    f"one, or list ({consumer!r}, {fixture.message!r}) in NOT_YET_HANDLED)"
                )
            if handler is None:
                continue
            for index, envelope in enumerate(fixture.envelopes()):
                msg = Msg(
                    None,  # type: ignore[arg-type]  # a replay has no client: nothing to ack
                    subject=fixture.subject,
                    data=envelope.SerializeToString(),
                    headers=headers_for(envelope),
                )
                try:
                    async with conn.transaction(force_rollback=True):
                        await handler(conn, envelope, msg)
                except Exception as exc:
                    problems.append(
                        f"{fixture.label} sample #{index}: handler raised "
                        f"{type(exc).__name__}: {exc}"
                    )
    return problems


# ================================================================================= tests
# --- coverage ----------------------------------------------------------------------------


def test_events_and_commands_are_found_in_every_events_proto_without_their_parts() -> None:
    names = set(contracts())
    assert "missiva.identity.v1.UserRegistered" in names
    assert "missiva.campaign.v1.SendBatch" in names
    assert "missiva.campaign.v1.Recipient" not in names
    assert {name.split(".")[1] for name in names} == {*SERVICES, "privacy"}


def test_every_event_and_command_has_a_consumer_fixture_or_is_listed_as_unconsumed() -> None:
    consumed = {fixture.message for fixture in all_fixtures()}
    neither = sorted(set(contracts()) - consumed - set(unconsumed()))
    assert not neither, f"no fixture under expectations/ and not in unconsumed.json: {neither}"


def test_no_message_is_both_consumed_and_listed_as_unconsumed() -> None:
    both = sorted({fixture.message for fixture in all_fixtures()} & set(unconsumed()))
    assert not both, f"has a fixture, so remove it from unconsumed.json: {both}"


def test_every_unconsumed_entry_names_an_existing_message_and_gives_a_reason() -> None:
    for message, reason in unconsumed().items():
        assert message in contracts(), f"unconsumed.json: {message} is no events.proto message"
        assert isinstance(reason, str), f"unconsumed.json: {message}: the reason is text"
        assert len(reason.split()) >= 5, f"unconsumed.json: {message}: say why in a sentence"


def test_every_message_is_emitted_by_known_services() -> None:
    for contract in contracts().values():
        assert contract.emitters <= set(SERVICES), (
            f"{contract.full_name}: list the services that emit it in EMITTED_BY"
        )
    assert set(EMITTED_BY) <= set(contracts()), "EMITTED_BY names a message that is gone"


# --- each fixture --------------------------------------------------------------------------

FIXTURES = [
    pytest.param(path, id=path.relative_to(EXPECTATIONS).as_posix()) for path in fixture_paths()
]


@pytest.mark.parametrize("path", FIXTURES)
def test_fixture_names_an_existing_message_and_its_consumer(path: Path) -> None:
    fixture = load_fixture(path)
    keys = set(fixture.raw)
    assert keys >= FIXTURE_KEYS, f"missing {sorted(FIXTURE_KEYS - keys)}"
    assert keys <= FIXTURE_KEYS | OPTIONAL_FIXTURE_KEYS, (
        f"unknown keys {sorted(keys - FIXTURE_KEYS - OPTIONAL_FIXTURE_KEYS)}"
    )
    assert fixture.message in contracts(), f"{fixture.message} is no events.proto message"
    assert fixture.consumer in SERVICES, f"{fixture.consumer} is not a service"
    assert path.parent.name == fixture.consumer, "the folder is named after the consumer"
    assert path.stem == fixture.message, "the file is named after the message's full name"
    assert isinstance(fixture.raw["why"], str)
    assert fixture.raw["why"].strip(), "say in a line what the consumer does with it"


@pytest.mark.parametrize("path", FIXTURES)
def test_fixture_samples_parse_strictly_into_the_current_message(path: Path) -> None:
    fixture = load_fixture(path)
    for other in fixture.other_samples:
        assert set(other) <= {"sample", "envelope"}, "other_samples hold sample and envelope"
        assert set(other.get("envelope", {})) <= set(fixture.envelope_sample), (
            "other samples override only the envelope fields the fixture names"
        )
    for index, (sample, _) in enumerate(fixture.samples()):
        assert isinstance(sample, dict)
        try:
            fixture.payload(index)
        except json_format.ParseError as exc:
            pytest.fail(f"{fixture.label} sample #{index} no longer fits {fixture.message}: {exc}")


@pytest.mark.parametrize("path", FIXTURES)
def test_every_read_path_exists_in_the_message_and_the_samples_exercise_it(path: Path) -> None:
    fixture = load_fixture(path)
    descriptor = fixture.contract.cls.DESCRIPTOR
    assert fixture.reads, "a consumer reads at least one field"
    assert len(set(fixture.reads)) == len(fixture.reads), "a path is listed twice"
    assert set(fixture.may_be_unset) <= set(fixture.paths), "may_be_unset lists only reads"
    problems = [problem for path in fixture.paths if (problem := path_problem(descriptor, path))]
    assert not problems, f"{fixture.label}: {problems}"
    pairs = [
        (envelope, events.unpack(envelope, fixture.contract.cls))
        for envelope in fixture.envelopes()
    ]
    for index, (envelope, payload) in enumerate(pairs):
        unset = [path for path in fixture.always_set if not holds(envelope, payload, path)]
        assert not unset, f"{fixture.label}: sample #{index} leaves {unset} unset"
    never = [
        path
        for path in fixture.may_be_unset
        if not any(holds(envelope, payload, path) for envelope, payload in pairs)
    ]
    assert not never, f"{fixture.label}: no sample sets {never}"


@pytest.mark.parametrize("path", FIXTURES)
def test_fixture_samples_round_trip_through_an_event_envelope(path: Path) -> None:
    fixture = load_fixture(path)
    for index, sent in enumerate(fixture.envelopes()):
        received = EventEnvelope.FromString(sent.SerializeToString())

        assert received.event_type == fixture.subject
        assert received.payload.TypeName() == fixture.message
        unpacked = events.unpack(received, fixture.contract.cls)
        assert unpacked == fixture.payload(index)
        assert json_format.MessageToDict(unpacked, preserving_proto_field_name=True) == (
            json_format.MessageToDict(fixture.payload(index), preserving_proto_field_name=True)
        )
        _, extra = fixture.samples()[index]
        assert {key: getattr(received, key) for key in extra} == extra


@pytest.mark.parametrize("path", FIXTURES)
def test_fixture_subject_follows_the_naming_rules_and_the_proto_comment(path: Path) -> None:
    fixture = load_fixture(path)
    if fixture.contract.is_command:
        verb = fixture.subject.rpartition(".")[2]
        assert fixture.subject == streams.command_subject(fixture.consumer, verb), (
            f"{fixture.label}: a command goes to its consumer's work queue, "
            f"'cmd.<consumer>.<verb_noun>', not {fixture.subject!r}"
        )
        assert COMMAND_VERB.match(verb), f"{fixture.label}: {verb!r} is not a verb_noun"
    else:
        assert EVENT_SUBJECT.match(fixture.subject), (
            f"{fixture.label}: an event goes to '<service>.<entity>.<past-tense verb>'"
        )
        assert fixture.subject.split(".")[0] in fixture.contract.emitters, (
            f"{fixture.label}: {fixture.subject!r} is outside the events stream of "
            f"{sorted(fixture.contract.emitters)}, the producer"
        )
        documented = fixture.contract.documented_subject
        assert documented in (None, fixture.subject), (
            f"{fixture.label}: events.proto documents {documented!r} for {fixture.message}"
        )


def test_consumers_of_one_event_agree_on_its_subject() -> None:
    subjects: dict[str, set[str]] = defaultdict(set)
    for fixture in all_fixtures():
        if not fixture.contract.is_command:
            subjects[fixture.message].add(fixture.subject)
    assert not {message: sorted(s) for message, s in subjects.items() if len(s) > 1}


# --- producers and consumers -------------------------------------------------------------


def bookkeeping_problems(name: str, listed: set[str], lacking: set[str]) -> list[str]:
    """Why ``listed`` (services said to lack ``name``) differs from those really lacking it."""
    return [
        f"{service} declares missiva_{service}.events.{name} now: remove it from the list"
        for service in sorted(listed - lacking)
    ] + [
        f"{service} lacks missiva_{service}.events.{name}: declare it, or list it here"
        for service in sorted(lacking - listed)
    ]


def test_producers_without_examples_are_exactly_the_listed_ones() -> None:
    lacking = {service for service in SERVICES if declared(service, "EXAMPLES") is None}
    problems = bookkeeping_problems("EXAMPLES", PRODUCERS_WITHOUT_EXAMPLES, lacking)
    assert not problems, "PRODUCERS_WITHOUT_EXAMPLES: " + "; ".join(problems)


def test_consumers_without_handlers_are_exactly_the_listed_ones() -> None:
    lacking = {service for service in SERVICES if handlers_of(service) is None}
    problems = bookkeeping_problems("HANDLERS", CONSUMERS_WITHOUT_HANDLERS, lacking)
    assert not problems, "CONSUMERS_WITHOUT_HANDLERS: " + "; ".join(problems)


@pytest.mark.parametrize("service", SERVICES)
def test_declared_handlers_are_the_ones_the_app_registers(service: str) -> None:
    declared_handlers = declared(service, "HANDLERS") or {}
    unregistered = sorted(set(declared_handlers) - set(registered_handlers(service)))
    assert not unregistered, (
        f"missiva_{service}.events.HANDLERS names subjects its app never consumes: {unregistered}"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_answers_the_privacy_commands(service: str) -> None:
    handled = registered_handlers(service)
    for verb in ("export_person_data", "erase_person_data"):
        assert streams.command_subject(service, verb) in handled, (
            f"{service} does not consume cmd.{service}.{verb}: call add_privacy_service"
        )


def test_not_yet_emitted_names_only_producers_with_examples_and_expected_messages() -> None:
    expected = {fixture.message for fixture in all_fixtures()}
    for producer, message in NOT_YET_EMITTED:
        assert producer not in PRODUCERS_WITHOUT_EXAMPLES, f"{producer} declares no EXAMPLES"
        assert message in expected, f"no consumer expects {message}"
        assert producer in contracts()[message].emitters, f"{producer} does not emit {message}"


def test_not_yet_handled_names_only_consumers_with_handlers_and_their_fixtures() -> None:
    declared_fixtures = {(fixture.consumer, fixture.message) for fixture in all_fixtures()}
    for consumer, message in NOT_YET_HANDLED:
        assert consumer not in CONSUMERS_WITHOUT_HANDLERS, f"{consumer} declares no HANDLERS"
        assert (consumer, message) in declared_fixtures, f"{consumer} has no {message} fixture"


@pytest.mark.parametrize("producer", SERVICES)
async def test_producer_examples_set_every_field_each_consumer_reads(producer: str) -> None:
    examples = await examples_of(producer)
    if examples is None:
        assert producer in PRODUCERS_WITHOUT_EXAMPLES
        return
    problems = producer_problems(producer, examples, all_fixtures())
    assert not problems, "\n".join(problems)


async def test_fields_a_consumer_may_find_unset_are_set_by_some_producer_example() -> None:
    emitted: list[Any] = []
    for producer in SERVICES:
        emitted += await examples_of(producer) or []
    envelopes = [example for example in emitted if isinstance(example, EventEnvelope)]
    problems = rarely_set_problems(envelopes, all_fixtures())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("consumer", SERVICES)
async def test_consumer_handles_every_sample_of_its_fixtures(
    consumer: str, request: pytest.FixtureRequest
) -> None:
    handlers = handlers_of(consumer)
    if handlers is None:
        assert consumer in CONSUMERS_WITHOUT_HANDLERS
        return
    make_database = request.getfixturevalue("make_database")
    url = make_database(migration_sets(consumer), f"contract_{consumer}")
    problems = await consumer_problems(consumer, handlers, all_fixtures(), url)
    assert not problems, "\n".join(problems)


# --- the replays can fail (they run for real only once services declare what they do) ----


def _fixture(label: str) -> Fixture:
    return load_fixture(EXPECTATIONS / f"{label}.json")


def test_producer_replay_reports_a_read_the_producer_leaves_unset_and_a_wrong_subject() -> None:
    fixture = _fixture("consent/missiva.identity.v1.UserRegistered")
    complete = fixture.envelope()
    without_person = fixture.envelope()
    payload = fixture.payload()
    payload.person_key = ""
    without_person.payload.Pack(payload)
    elsewhere = fixture.envelope()
    elsewhere.event_type = "identity.user.signed_up"

    assert producer_problems("identity", [complete], [fixture]) == []
    problems = producer_problems("identity", [without_person, elsewhere], [fixture])
    assert f"{fixture.label}: identity emits 'identity.user.registered' without person_key" in (
        problems
    )
    assert any("nobody listens on 'identity.user.signed_up'" in p for p in problems)


def test_producer_replay_reports_a_missing_example_and_a_foreign_message() -> None:
    fixture = _fixture("delivery/missiva.consent.v1.ContactSuppressed")
    foreign = fixture.envelope()
    foreign.producer = "identity"

    missing = producer_problems("consent", [], [fixture])
    foreign_problems = producer_problems("identity", [foreign], [fixture])

    assert any("has no example of missiva.consent.v1.ContactSuppressed" in p for p in missing)
    assert any("according to EMITTED_BY" in p for p in foreign_problems)


def test_producer_replay_reports_an_empty_envelope_field_the_consumer_relies_on() -> None:
    fixture = _fixture("delivery/missiva.consent.v1.ContactSuppressed")
    example = fixture.envelope()
    example.aggregate_version = 0
    platform_wide = fixture.envelope(1)  # an empty tenant is allowed: may_be_unset

    problems = producer_problems("consent", [example, platform_wide], [fixture])

    assert problems == [
        f"{fixture.label}: consent emits 'consent.contact.suppressed' without "
        "envelope.aggregate_version"
    ]


def test_fields_allowed_to_be_unset_must_be_set_by_at_least_one_example() -> None:
    fixture = _fixture("campaign/missiva.delivery.v1.MessageSent")
    transactional = fixture.envelope()
    payload = fixture.payload()
    payload.ClearField("campaign_id")
    transactional.payload.Pack(payload)

    assert rarely_set_problems([transactional, fixture.envelope()], [fixture]) == []
    assert rarely_set_problems([transactional], [fixture]) == [
        f"{fixture.label}: no producer example on 'delivery.message.sent' sets campaign_id"
    ]


async def test_consumer_replay_runs_each_sample_in_a_rolled_back_transaction(
    make_database: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture = _fixture("campaign/missiva.delivery.v1.MessageOpened")  # two samples
    # As if campaign handled it already (the real campaign does not yet).
    pending = NOT_YET_HANDLED - {("campaign", fixture.message)}
    monkeypatch.setattr(sys.modules[__name__], "NOT_YET_HANDLED", pending)
    url = make_database([kit_migrations()], "contract_replay")
    seen: list[bool] = []

    async def record(conn: Any, envelope: EventEnvelope, msg: Msg) -> None:
        seen.append(events.unpack(envelope, fixture.contract.cls).anonymous)
        assert msg.headers is not None
        assert msg.headers["Nats-Msg-Id"] == envelope.event_id
        await conn.execute(
            "INSERT INTO kit_inbox (consumer, event_id) VALUES (%s, %s)",
            ("contract", envelope.event_id),
        )

    async def broken(conn: Any, envelope: EventEnvelope, msg: Msg) -> None:
        raise LookupError("no statistics row for this campaign")

    assert await consumer_problems("campaign", {fixture.subject: record}, [fixture], url) == []
    assert seen == [False, True]
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT count(*) FROM kit_inbox")
        assert await cur.fetchone() == (0,)
    assert await consumer_problems("campaign", {fixture.subject: broken}, [fixture], url) == [
        f"{fixture.label} sample #{n}: handler raised LookupError: no statistics row for this "
        "campaign"
        for n in (0, 1)
    ]
    assert await consumer_problems("campaign", {"campaign.x.y": record}, [fixture], url) == [
        "campaign handles 'campaign.x.y' but has no fixture for it",
        f"{fixture.label}: campaign has no handler for {fixture.subject!r} (add one, or list "
        f"('campaign', {fixture.message!r}) in NOT_YET_HANDLED)",
    ]
