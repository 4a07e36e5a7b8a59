"""The asynchronous privacy path every service gets from ``add_privacy_service``: commands on
its work queue, replies to consent's through the outbox, once per request id."""

import asyncio
import contextlib
from typing import Any

import nats
import nats.js.errors
import psycopg
import pytest

from missiva.common.v1 import types_pb2
from missiva.privacy.v1 import events_pb2 as privacy_events
from missiva_platform.config import ServiceSettings
from missiva_platform.db import kit_migrations
from missiva_platform.events import EventEnvelope, envelope, unpack
from missiva_platform.privacy import (
    MAX_REPLY_BYTES,
    DataSection,
    Erasure,
    Person,
    Retained,
    add_privacy_service,
    command_handlers,
    erase_subject,
    export_subject,
)
from missiva_platform.service import ServiceApp
from missiva_platform.streams import commands_stream


class InTransactionPrivacy:
    """A handler that works on the consumer's connection (like identity's and consent's)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Person]] = []

    async def export(self, person: Person) -> list[DataSection]:
        raise AssertionError("the bus path uses export_in when there is one")

    async def erase(self, person: Person) -> Erasure:
        raise AssertionError("the bus path uses erase_in when there is one")

    async def export_in(self, conn: Any, person: Person) -> list[DataSection]:
        self.calls.append(("export", person))
        return [DataSection("profile", "what we hold", b'{"name": "Ada"}')]

    async def erase_in(self, conn: Any, person: Person) -> Erasure:
        self.calls.append(("erase", person))
        count = len([c for c in self.calls if c[0] == "erase"])
        return Erasure(
            erased={"profile": 2 - count},  # a second run would report something else
            retained=[Retained("invoices", "tax law", types_pb2.LEGAL_BASIS_LEGAL_OBLIGATION)],
        )


class PlainPrivacy:
    async def export(self, person: Person) -> list[DataSection]:
        return []

    async def erase(self, person: Person) -> Erasure:
        return Erasure()


def command(kind: str, request_id: str, service: str = "billing", **person: Any) -> EventEnvelope:
    ref = types_pb2.PersonRef(**(person or {"person_key": "pk-1", "email": "ada@example.org"}))
    if kind == "export":
        message: Any = privacy_events.ExportPersonDataCommand(
            request_id=request_id, person=ref, service=service
        )
        subject = export_subject(service)
    else:
        message = privacy_events.ErasePersonDataCommand(
            request_id=request_id, person=ref, service=service
        )
        subject = erase_subject(service)
    return envelope(message, subject=subject, tenant_id="acme", producer="consent")


async def replies(conn: Any) -> list[EventEnvelope]:
    cur = await conn.execute("SELECT payload FROM kit_outbox ORDER BY id")
    return [EventEnvelope.FromString(bytes(row[0])) for row in await cur.fetchall()]


@pytest.fixture
def url(make_database) -> str:
    return make_database([kit_migrations()], "privacy_commands")


async def test_a_command_is_answered_once_per_request_in_the_consumers_transaction(url):
    privacy = InTransactionPrivacy()
    handlers = command_handlers("billing", privacy)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for _ in range(2):  # a command sent again: a new event id, the same request
            await handlers[export_subject("billing")](conn, command("export", "r-1"), None)
            await handlers[erase_subject("billing")](conn, command("erase", "r-1"), None)
        found = await replies(conn)
        await conn.rollback()

    assert [kind for kind, _ in privacy.calls] == ["export", "erase"]
    person = privacy.calls[0][1]
    assert (person.request_id, person.person_key, person.email, person.tenant_id) == (
        "r-1", "pk-1", "ada@example.org", "acme"
    )  # fmt: skip
    assert [e.event_type for e in found] == [
        "cmd.consent.record_export_reply",
        "cmd.consent.record_erasure_reply",
    ]
    exported = unpack(found[0], privacy_events.PersonDataExported)
    assert (exported.request_id, exported.service) == ("r-1", "billing")
    assert exported.sections[0].content == b'{"name": "Ada"}'
    erased = unpack(found[1], privacy_events.PersonDataErased)
    assert [(e.category, e.count) for e in erased.erased] == [("profile", 1)]
    assert erased.retained[0].category == "invoices"
    assert {(e.tenant_id, e.producer) for e in found} == {("acme", "billing")}


async def test_a_handler_without_a_transactional_variant_is_called_on_its_own(url):
    handlers = command_handlers("delivery", PlainPrivacy())
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cmd = command("erase", "r-2", "delivery", user_id="u-1")
        await handlers[erase_subject("delivery")](conn, cmd, None)
        [reply] = await replies(conn)
        await conn.rollback()
    erased = unpack(reply, privacy_events.PersonDataErased)
    assert (erased.request_id, erased.service, list(erased.erased)) == ("r-2", "delivery", [])


async def test_a_malformed_or_misaddressed_command_fails_to_be_dead_lettered(url):
    handlers = command_handlers("billing", PlainPrivacy())
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for bad, problem in (
            (command("export", ""), "request_id"),
            (command("export", "r-3", service="campaign"), "addressed to 'campaign'"),
            (command("export", "r-4", person_key=""), "person_key or a user_id"),
        ):
            bad.event_type = export_subject("billing")
            with pytest.raises(ValueError, match=problem):
                await handlers[export_subject("billing")](conn, bad, None)
        assert await replies(conn) == []


def test_add_privacy_service_registers_the_consumers_and_the_streams_they_need():
    app = ServiceApp("billing", ServiceSettings(database_url="postgresql://x@h/x"))
    add_privacy_service(app, PlainPrivacy())

    assert {spec.filter_subject: spec.stream for spec, _ in app.consumers} == {
        "cmd.billing.export_person_data": "BILLING_COMMANDS",
        "cmd.billing.erase_person_data": "BILLING_COMMANDS",
    }
    assert {commands_stream("billing"), commands_stream("consent")} <= set(app.streams)
    with pytest.raises(ValueError, match="registered twice"):
        add_privacy_service(app, PlainPrivacy())


async def test_a_running_service_answers_a_command_on_the_bus(make_database, nats_url):
    url = make_database([kit_migrations()], "privacy_bus")
    settings = ServiceSettings(database_url=url, nats_url=nats_url, grpc_port=0, http_port=0)
    app = ServiceApp("privtest", settings)
    add_privacy_service(app, InTransactionPrivacy())
    await app.start()
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sent = command("export", "r-bus-1", "privtest")
        await js.publish(
            sent.event_type, sent.SerializeToString(), headers={"Nats-Msg-Id": sent.event_id}
        )
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            with contextlib.suppress(nats.js.errors.NotFoundError):  # nothing there yet
                msg = await js.get_last_msg("CONSENT_COMMANDS", "cmd.consent.record_export_reply")
                found = EventEnvelope.FromString(msg.data)
                reply = unpack(found, privacy_events.PersonDataExported)
                if reply.request_id == "r-bus-1":
                    break
            assert asyncio.get_running_loop().time() < deadline, "no reply from the service"
            await asyncio.sleep(0.1)
        assert reply.service == "privtest"
    finally:
        await nc.close()
        await app.stop()


async def test_a_refresher_runs_while_the_service_runs(make_database, nats_url):
    url = make_database([kit_migrations()], "refresher")
    settings = ServiceSettings(database_url=url, nats_url=nats_url, grpc_port=0, http_port=0)
    app = ServiceApp("refreshing", settings)
    runs: list[int] = []

    async def refresh() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("a failed run is retried")

    app.add_refresher("counting", 0.05, refresh)
    await app.start()
    await asyncio.sleep(0.3)
    await app.stop()
    count = len(runs)
    await asyncio.sleep(0.2)
    assert count >= 3
    assert len(runs) == count  # stopped with the service


async def test_an_export_too_large_for_one_bus_message_fails_instead_of_clogging_the_outbox(url):
    class Huge(PlainPrivacy):
        async def export(self, person: Person) -> list[DataSection]:
            return [DataSection("send_log", "every message", b"x" * (MAX_REPLY_BYTES + 1))]

    handlers = command_handlers("delivery", Huge())
    async with await psycopg.AsyncConnection.connect(url) as conn:
        big = command("export", "r-5", "delivery")
        with pytest.raises(ValueError, match="over the"):
            await handlers[export_subject("delivery")](conn, big, None)
        await conn.rollback()
