"""The privacy contract: every service exports and erases what it holds on a person.

A service implements ``PrivacyHandler`` (``export`` and ``erase``); ``add_privacy_service``
serves it twice:

- over gRPC as ``missiva.privacy.v1.PrivacyService``, callable only by Missiva services
  (consent orchestrates data-subject requests). The tenant, when the request concerns one
  account's contact, comes from the calling service's token, never from the request;
- on the bus: it consumes ``cmd.<service>.export_person_data`` / ``erase_person_data`` (the
  service's command work queue) and replies to consent's work queue
  (``cmd.consent.record_export_reply`` / ``record_erasure_reply``) through the outbox. The
  tenant comes from the command's envelope (consent's own, for the request's account).

On the bus, a handler that also has ``export_in(conn, person)`` / ``erase_in(conn, person)``
runs inside the consumer's transaction, so the effect, the inbox row, the reply and the
``kit_privacy_answers`` row commit together: a crash anywhere means the command comes back
and runs again from scratch. A handler with only ``export``/``erase`` runs on its own
connection, which is safe because erasure is idempotent. Either way a request id is answered
once per kind: a command for a request already answered (redelivered, or sent again with a
new event id) produces no second, different reply; the first one is already in the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from missiva.common.v1 import types_pb2
from missiva.privacy.v1 import events_pb2 as privacy_events
from missiva.privacy.v1 import privacy_service_pb2, privacy_service_pb2_grpc
from missiva_platform.auth import Access, current_principal, rule
from missiva_platform.bus import ConsumerSpec
from missiva_platform.errors import InvalidArgument
from missiva_platform.events import EventEnvelope, envelope, new_event_id, unpack
from missiva_platform.outbox import add_event
from missiva_platform.streams import command_subject, commands_stream

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

log = logging.getLogger(__name__)

SERVICE_FULL_NAME = "missiva.privacy.v1.PrivacyService"
EXPORT = "export_person_data"
ERASE = "erase_person_data"
# NATS refuses messages over its max_payload (1 MiB by default): a larger reply would stay in
# the outbox for ever, so the command fails instead (retried, then dead-lettered, with why).
MAX_REPLY_BYTES = 900 * 1024
EXPORT_REPLY = command_subject("consent", "record_export_reply")
ERASURE_REPLY = command_subject("consent", "record_erasure_reply")


def export_subject(service: str) -> str:
    """``cmd.<service>.export_person_data``: the export command's work-queue subject."""
    return command_subject(service, EXPORT)


def erase_subject(service: str) -> str:
    """``cmd.<service>.erase_person_data``: the erasure command's work-queue subject."""
    return command_subject(service, ERASE)


@dataclass(frozen=True)
class Person:
    """Whom a privacy request is about."""

    request_id: str
    person_key: str
    email: str | None = None
    user_id: str | None = None
    tenant_id: str = ""  # the one account the request is about, or "" with all_accounts
    all_accounts: bool = False  # every account's data (one of our users about themselves)

    def __post_init__(self) -> None:
        if bool(self.tenant_id) == self.all_accounts:
            raise ValueError(
                "a Person names one account (tenant_id) or all_accounts=True, not both or neither"
            )


@dataclass(frozen=True)
class DataSection:
    name: str
    description: str
    content: bytes
    media_type: str = "application/json"


@dataclass(frozen=True)
class Retained:
    category: str
    reason: str
    legal_basis: int = types_pb2.LEGAL_BASIS_LEGAL_OBLIGATION
    until: datetime | None = None


@dataclass
class Erasure:
    erased: dict[str, int] = field(default_factory=dict)
    retained: list[Retained] = field(default_factory=list)


class PrivacyHandler(Protocol):
    async def export(self, person: Person) -> list[DataSection]: ...

    async def erase(self, person: Person) -> Erasure: ...


def _person(request: Any) -> Person:
    if not request.request_id:
        raise InvalidArgument.field("request_id", "is required")
    ref = request.person
    if not ref.person_key and not ref.HasField("user_id"):
        raise InvalidArgument.field("person", "needs a person_key or a user_id")
    tenant = current_principal().tenant_id
    if request.all_accounts and tenant:
        raise InvalidArgument.field("all_accounts", "not with a token for one account")
    if not request.all_accounts and not tenant:
        raise InvalidArgument.field(
            "all_accounts", "a token for no account must ask for every account explicitly"
        )
    return Person(
        request_id=request.request_id,
        person_key=ref.person_key,
        email=ref.email if ref.HasField("email") else None,
        user_id=ref.user_id if ref.HasField("user_id") else None,
        tenant_id=tenant,
        all_accounts=request.all_accounts,
    )


class PrivacyServicer(privacy_service_pb2_grpc.PrivacyServiceServicer):
    def __init__(self, service: str, handler: PrivacyHandler) -> None:
        self.service = service
        self.handler = handler

    async def ExportPersonData(self, request: Any, context: Any) -> Any:
        sections = await self.handler.export(_person(request))
        return privacy_service_pb2.ExportPersonDataResponse(
            service=self.service,
            sections=[
                privacy_service_pb2.DataSection(
                    name=s.name,
                    description=s.description,
                    media_type=s.media_type,
                    content=s.content,
                )
                for s in sections
            ],
        )

    async def ErasePersonData(self, request: Any, context: Any) -> Any:
        erasure = await self.handler.erase(_person(request))
        reply = privacy_service_pb2.ErasePersonDataResponse(service=self.service)
        for category, count in sorted(erasure.erased.items()):
            reply.erased.add(category=category, count=count)
        for kept in erasure.retained:
            item = reply.retained.add(
                category=kept.category, reason=kept.reason, legal_basis=kept.legal_basis
            )
            if kept.until is not None:
                item.retained_until.FromDatetime(kept.until)
        return reply


PRIVACY_RULES = {
    "ExportPersonData": rule(Access.SERVICE, services=("consent", "identity")),
    "ErasePersonData": rule(Access.SERVICE, services=("consent", "identity")),
}


# ---------------------------------------------------------------------------- the bus

BusHandler = Callable[[Any, EventEnvelope, Any], Awaitable[None]]


def _section_pb(s: DataSection) -> privacy_service_pb2.DataSection:
    return privacy_service_pb2.DataSection(
        name=s.name, description=s.description, media_type=s.media_type, content=s.content
    )


def export_reply(
    service: str, request_id: str, sections: list[DataSection], tenant_id: str
) -> EventEnvelope:
    """``PersonDataExported`` for consent's work queue (it carries personal data: a command,
    deleted once consent acknowledged it, never a retained event)."""
    reply = privacy_events.PersonDataExported(
        request_id=request_id, service=service, sections=[_section_pb(s) for s in sections]
    )
    return envelope(reply, subject=EXPORT_REPLY, tenant_id=tenant_id, producer=service)


def erasure_reply(service: str, request_id: str, erasure: Erasure, tenant_id: str) -> EventEnvelope:
    """``PersonDataErased`` for consent's work queue: what was erased, what was kept and why."""
    reply = privacy_events.PersonDataErased(request_id=request_id, service=service)
    for category, count in sorted(erasure.erased.items()):
        reply.erased.add(category=category, count=count)
    for kept in erasure.retained:
        item = reply.retained.add(
            category=kept.category,
            reason=kept.reason,
            legal_basis=kept.legal_basis,  # type: ignore[arg-type]
        )
        if kept.until is not None:
            item.retained_until.FromDatetime(kept.until)
    return envelope(reply, subject=ERASURE_REPLY, tenant_id=tenant_id, producer=service)


def _command_person(command: Any, tenant_id: str) -> Person:
    ref = command.person
    if bool(tenant_id) == command.all_accounts:
        raise ValueError(
            "a privacy command names one account (the envelope's tenant) or all_accounts, "
            f"not both or neither (tenant {tenant_id!r}, all_accounts {command.all_accounts})"
        )
    return Person(
        request_id=command.request_id,
        person_key=ref.person_key,
        email=ref.email if ref.HasField("email") else None,
        user_id=ref.user_id if ref.HasField("user_id") else None,
        tenant_id=tenant_id,
        all_accounts=command.all_accounts,
    )


async def _first_answer(conn: Any, request_id: str, kind: str, reply_id: str) -> bool:
    """Claim the answer to (request, kind); False when it was given before."""
    cur = await conn.execute(
        "INSERT INTO kit_privacy_answers (request_id, kind, reply_event_id) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (request_id, kind, reply_id),
    )
    return bool(cur.rowcount)


def _check(command: Any, service: str, subject: str) -> None:
    """A malformed command raises: retried, then dead-lettered with the reason."""
    if not command.request_id:
        raise ValueError(f"{subject}: a privacy command needs a request_id")
    if command.service and command.service != service:
        raise ValueError(f"{subject}: command addressed to {command.service!r}, not {service!r}")
    if not command.person.person_key and not command.person.HasField("user_id"):
        raise ValueError(f"{subject}: the person needs a person_key or a user_id")


def command_handlers(service: str, handler: PrivacyHandler) -> dict[str, BusHandler]:
    """``{cmd.<service>.export_person_data: …, cmd.<service>.erase_person_data: …}``: the
    consumer handlers of the asynchronous privacy path (see the module docstring)."""
    export_in = getattr(handler, "export_in", None)
    erase_in = getattr(handler, "erase_in", None)
    Answer = tuple[EventEnvelope, dict[str, int]]  # the reply, and what the log line counts

    async def export(conn: Any, request_id: str, person: Person) -> Answer:
        sections = await export_in(conn, person) if export_in else await handler.export(person)
        reply = export_reply(service, request_id, sections, person.tenant_id)
        return reply, {"sections": len(sections)}

    async def erase(conn: Any, request_id: str, person: Person) -> Answer:
        erasure = await erase_in(conn, person) if erase_in else await handler.erase(person)
        reply = erasure_reply(service, request_id, erasure, person.tenant_id)
        return reply, {"erased": sum(erasure.erased.values())}

    def answering(
        kind: str,  # the kit_privacy_answers kind: one answer per request and kind
        what: str,
        subject: str,
        message_type: Any,
        respond: Callable[..., Awaitable[Answer]],
    ) -> BusHandler:
        async def on_command(conn: Any, event: EventEnvelope, msg: Any) -> None:
            command = unpack(event, message_type)
            _check(command, service, subject)
            reply_id = new_event_id()
            if not await _first_answer(conn, command.request_id, kind, reply_id):
                log.info(f"{what} already answered", extra={"request_id": command.request_id})
                return
            person = _command_person(command, event.tenant_id)
            reply, counts = await respond(conn, command.request_id, person)
            reply.event_id = reply_id
            if reply.ByteSize() > MAX_REPLY_BYTES:
                raise ValueError(
                    f"{subject}: the reply is {reply.ByteSize()} bytes, over the "
                    f"{MAX_REPLY_BYTES} a bus message may carry"
                )
            await add_event(conn, reply)
            log.info(f"{what} answered", extra={"request_id": command.request_id, **counts})

        return on_command

    export_cmd, erase_cmd = export_subject(service), erase_subject(service)
    return {
        export_cmd: answering(
            "export", "privacy export", export_cmd, privacy_events.ExportPersonDataCommand, export
        ),
        erase_cmd: answering(
            "erase", "privacy erasure", erase_cmd, privacy_events.ErasePersonDataCommand, erase
        ),
    }


def command_consumer(service: str, subject: str) -> ConsumerSpec:
    """The durable consumer of one privacy command on ``service``'s command work queue."""
    return ConsumerSpec(
        stream=commands_stream(service).name,
        durable=f"{service}_{subject.rsplit('.', 1)[-1]}",
        filter_subject=subject,
        service=service,
    )


def add_privacy_service(app: ServiceApp, handler: PrivacyHandler) -> None:
    """Serve ``handler`` as this service's part of the privacy contract: the gRPC service,
    and the consumers of its privacy commands replying to consent (with the streams both
    need: this service's command queue and consent's, where the replies go)."""
    app.add_service(
        privacy_service_pb2_grpc.add_PrivacyServiceServicer_to_server,
        PrivacyServicer(app.name, handler),
        SERVICE_FULL_NAME,
        PRIVACY_RULES,
    )
    app.add_streams(commands_stream(app.name), commands_stream("consent"))
    for subject, on_command in command_handlers(app.name, handler).items():
        app.add_consumer(command_consumer(app.name, subject), on_command)
