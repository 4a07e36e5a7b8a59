"""Data-subject requests (access/portability and erasure), orchestrated by consent.

Who may open one (``OpenPrivacyRequest``):

- an account's admin, or its API key with the ``privacy:write`` scope, for one of the
  account's contacts (by person key or email; the account only from the verified token);
- the data subject, with the token of a my-data link in ``verification_token`` (the token
  names the account and the person; nothing else does). Consent mails that link only to the
  address itself (``SendMyDataLink``, from the preference centre); a preference-centre token,
  which an account can ask for (``IssueLinkTokens``), is refused here;
- one of Missiva's own users about themselves, with their access token and their own user
  id in ``person.user_id`` (platform-wide: every account's data; the person key is the
  user's current one, see ``_self_requester`` for their older ones).

Opening writes, in ONE transaction: the request (IN_PROGRESS, due 30 days later, the
requester's IP only as a hash under consent's yearly link salt), a progress row per service
of ``PRIVACY_SERVICES``, the ``consent.privacy_request.opened`` event (person key and user id,
never the address) and one ``Export``/``ErasePersonDataCommand`` per service on its work
queue (these may carry the address: they are deleted once acknowledged). The same
``idempotency_key`` opens one request.

Each service answers on ``cmd.consent.record_export_reply`` / ``record_erasure_reply``. An
answer is recorded once per (request, service); a repeated one changes nothing. When every
service has answered, the request is COMPLETED (``consent.privacy_request.completed``).
An export's sections are personal data: they are stored AES-256-GCM-encrypted with
consent's field key (``FIELD_KEYS_FILE``; the request id and the service are the associated
data, so a part copied to another request does not decrypt) and deleted
``PRIVACY_EXPORT_DAYS`` after completion. Encryption rather than "keep it only until
collected": a person may download the bundle more than once within the window (and a
collected-once rule would lose it to a failed download), while backups and database dumps
never hold the content in clear. Until then ``export_url`` is a signed link
(``privacy_export`` token naming the request, expiring with the content) that
``DownloadPrivacyExport`` turns into one JSON bundle of every service's sections.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from google.protobuf import timestamp_pb2

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.privacy.v1 import events_pb2 as privacy_events
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_consent import domain, links
from missiva_consent.keys import link_ip_hash
from missiva_consent.links import LinkScope
from missiva_consent.store import base as db
from missiva_consent.store import privacy_requests as dsar_store
from missiva_consent.store.privacy_requests import Progress, RequestRow
from missiva_platform import metrics
from missiva_platform.auth import CallerKind, Principal, current_principal_or_none
from missiva_platform.bus import ConsumerSpec
from missiva_platform.crypto import InvalidToken
from missiva_platform.errors import (
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)
from missiva_platform.events import EventEnvelope, envelope, unpack
from missiva_platform.idempotency import run_once
from missiva_platform.outbox import add_event, add_events
from missiva_platform.privacy import ERASURE_REPLY, EXPORT_REPLY, erase_subject, export_subject
from missiva_platform.streams import commands_stream

if TYPE_CHECKING:
    from missiva_consent.core import ConsentCore
    from missiva_platform.service import ServiceApp

log = logging.getLogger(__name__)

SERVICE = "missiva.consent.v1.ConsentService"
DUE_IN = timedelta(days=30)  # GDPR Art. 12(3): one month
OPENED_SUBJECT = "consent.privacy_request.opened"
COMPLETED_SUBJECT = "consent.privacy_request.completed"
EXPORT_TOKEN = "privacy_export"  # noqa: S105 - a token purpose, not a secret
WRITE_SCOPE, READ_SCOPE = "privacy:write", "privacy:read"
MAX_EXTENSION_DAYS = 60  # GDPR Art. 12(3): "by two further months"
MAX_REASON = 1000

KIND_PB = {
    "export": ppb.PRIVACY_REQUEST_KIND_EXPORT,
    "erase": ppb.PRIVACY_REQUEST_KIND_ERASE,
}
KIND_OF_PB = {value: kind for kind, value in KIND_PB.items()}
STATUS_PB = {
    "open": pb.PRIVACY_REQUEST_STATUS_OPEN,
    "in_progress": pb.PRIVACY_REQUEST_STATUS_IN_PROGRESS,
    "completed": pb.PRIVACY_REQUEST_STATUS_COMPLETED,
    "rejected": pb.PRIVACY_REQUEST_STATUS_REJECTED,
}
STATUS_OF_PB = {value: status for status, value in STATUS_PB.items()}


def _now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


@dataclass(frozen=True)
class Requester:
    """Whose request, for which account, opened by whom (all from verified credentials)."""

    account_id: str  # '' for one of our users about themselves (platform-wide)
    person_key: str
    email: str | None
    user_id: str | None
    requested_by: str
    idempotency_scope: str  # tenant of the idempotency key: requesters never share keys


class _Metrics:
    def __init__(self) -> None:
        self.opened = metrics.counter(
            "privacy_requests_opened_total", "Data-subject requests opened.", ("kind",)
        )
        self.completed = metrics.counter(
            "privacy_requests_completed_total",
            "Data-subject requests every service answered.",
            ("kind",),
        )
        self.open = metrics.gauge(
            "privacy_requests_open",
            "Open data-subject requests by age (under_7d, 7d_to_due, overdue).",
            ("age",),
        )
        self.oldest = metrics.gauge(
            "privacy_request_oldest_open_seconds",
            "Age of the oldest open data-subject request (0 when none is open).",
        )


class PrivacyRequests:
    """Opening a privacy request, the services' answers, and what the RPCs share
    (``rpc_privacy.py`` reads, extends and downloads)."""

    def __init__(self, service: ConsentCore) -> None:
        self.svc = service
        self._metrics: _Metrics | None = None

    @property
    def metrics(self) -> _Metrics:
        if self._metrics is None:  # metric names carry the service name, set at start
            self._metrics = _Metrics()
        return self._metrics

    @property
    def services(self) -> tuple[str, ...]:
        return self.svc.settings.privacy_service_names

    @property
    def export_window(self) -> timedelta:
        return timedelta(days=self.svc.settings.privacy_export_days)

    # -- who is asking ---------------------------------------------------------------------

    def verified_scope(self, token: str, field_name: str) -> LinkScope:
        try:
            claims = self.svc.keys.tokens.verify(token, links.MY_DATA)
        except InvalidToken as exc:
            message = links.TOKEN_MESSAGES[exc.reason]
            if exc.reason == "expired":
                raise FailedPrecondition(message, [("LINK_EXPIRED", field_name, message)]) from None
            raise InvalidArgument.field(field_name, message) from None
        scope = LinkScope.from_claims(claims)
        if not scope.person_key:
            raise InvalidArgument.field(field_name, "this link is not valid")
        return scope

    async def _requester(self, conn: db.Conn, request: Any) -> Requester:
        ref = request.person
        if request.verification_token:
            scope = self.verified_scope(request.verification_token, "verification_token")
            if ref.HasField("user_id"):
                raise InvalidArgument.field("person.user_id", "not with a verification_token")
            if ref.person_key or (ref.HasField("email") and ref.email.strip()):
                key, _ = self.svc.person_key(ref)
                if key != scope.person_key:
                    raise PermissionDenied("the link was sent to someone else")
            return Requester(
                account_id=scope.account_id,
                person_key=scope.person_key,
                email=None,
                user_id=None,
                requested_by="data_subject",
                idempotency_scope=f"{scope.account_id}/subject:{scope.person_key}",
            )
        principal = current_principal_or_none()
        if principal is None:
            raise Unauthenticated(
                "open a privacy request with an access token or the verification_token of a "
                "my-data link"
            )
        if principal.kind is CallerKind.SERVICE:
            raise PermissionDenied("services do not open privacy requests")
        if ref.HasField("user_id"):
            return await self._self_requester(conn, principal, ref)
        if not may_manage(principal, WRITE_SCOPE):
            raise PermissionDenied(
                "only an account admin, or an API key with the privacy:write scope, opens a "
                "request for a contact; to ask about yourself, name your own user id"
            )
        key, email = self.svc.person_key(ref)
        kind = "api_key" if principal.kind is CallerKind.API_KEY else "account_user"
        return Requester(
            account_id=principal.tenant_id,
            person_key=key,
            email=email,
            user_id=None,
            requested_by=f"{kind}:{principal.subject}",
            idempotency_scope=principal.tenant_id,
        )

    async def _self_requester(self, conn: db.Conn, principal: Principal, ref: Any) -> Requester:
        """One of our users about themselves: ONE request, carrying their current person key
        and their user id.

        A changed address changes the person key, and the ledger stays under the key of its
        time (append-only, never rewritten), so a user is every key they have had
        (``dsar_store.user_person_keys``, fed by ``identity.user.email_changed``). A request
        (``PrivacyRequest.person``, the commands' ``PersonRef``) names one key, so rather than
        one request, or one command per service, per key, the request keeps the current key
        and the user id, and whoever holds history under older keys resolves them from the
        id: identity by ``user_id`` (whatever the address), consent's own handler
        (``privacy.py``) by the key links. The request, its events and every other service
        see one person, as before; campaign, delivery and billing hold contacts, not our
        users, and would need the links (by consuming the event) only if that changes.
        """
        if principal.kind is not CallerKind.USER:
            raise PermissionDenied("person.user_id: only a signed-in user asks about themselves")
        if not principal.email_verified:
            # Anyone can sign up with someone else's address; only a verified one is theirs.
            raise PermissionDenied(
                "person.user_id: verify your email address first (the link in our email); "
                "a request about yourself needs a verified address"
            )
        if ref.user_id != principal.subject:
            raise PermissionDenied(
                "person.user_id: you may open a request about yourself only; an account "
                "admin opens requests for contacts"
            )
        if ref.person_key or ref.HasField("email"):
            raise InvalidArgument.field(
                "person", "name only your user id: your data is found by it"
            )
        key = await dsar_store.user_person_key(conn, self.svc.platform, principal.subject)
        return Requester(
            account_id="",
            person_key=key,
            email=None,
            user_id=principal.subject,
            requested_by=f"self:{principal.subject}",
            idempotency_scope=f"user:{principal.subject}",
        )

    # -- open --------------------------------------------------------------------------------

    async def open(self, request: pb.OpenPrivacyRequestRequest) -> pb.OpenPrivacyRequestResponse:
        kind = KIND_OF_PB.get(request.kind)
        if kind is None:
            raise InvalidArgument.field("kind", "must be EXPORT or ERASE")
        if kind == "export":
            _ = self.svc.keys.field_cipher  # refuse now rather than fail on the first reply
        async with self.svc.pool.connection() as conn:
            requester = await self._requester(conn, request)

        async def work(conn: db.Conn) -> pb.OpenPrivacyRequestResponse:
            row = await self._open_in(conn, requester, kind, request.client.ip_address)
            progress = [Progress(service, None, None) for service in self.services]
            return pb.OpenPrivacyRequestResponse(privacy_request=self.to_pb(row, progress))

        reply = await run_once(
            self.svc.pool,
            tenant_id=requester.idempotency_scope,
            method=f"{SERVICE}/OpenPrivacyRequest",
            request=request,
            response_type=pb.OpenPrivacyRequestResponse,
            work=work,
        )
        return reply

    async def _open_in(self, conn: db.Conn, requester: Requester, kind: str, ip: str) -> RequestRow:
        now = _now()
        ip_hash = link_ip_hash(await self.svc.link_salt(conn, now), ip, now) if ip else None
        row = RequestRow(
            request_id=domain.new_id(),
            account_id=requester.account_id,
            person_key=requester.person_key,
            user_id=requester.user_id,
            kind=kind,
            status="in_progress",  # the commands below commit with the request
            requested_by=requester.requested_by,
            opened_at=now,
            due_at=now + DUE_IN,
            extension_reason="",
            completed_at=None,
            rejection_reason="",
            export_deleted_at=None,
        )
        await dsar_store.insert_request(conn, row, ip_hash=ip_hash, services=self.services)
        await add_events(
            conn,
            [
                opened_envelope(row),
                *(command_envelope(row, service, requester.email) for service in self.services),
            ],
        )
        self.metrics.opened.labels(kind).inc()
        log.info(
            "privacy request opened",
            extra={
                "request_id": row.request_id,
                "kind": kind,
                "account_id": row.account_id or "(platform)",
                "requested_by": requester.requested_by.split(":", 1)[0],
                "services": len(self.services),
            },
        )
        return row

    # -- read --------------------------------------------------------------------------------

    def export_url(self, row: RequestRow, now: datetime) -> str:
        """A signed link to the finished export, valid until its content is deleted."""
        if row.kind != "export" or row.completed_at is None or row.export_deleted_at:
            return ""
        expires = row.completed_at + self.export_window
        if expires <= now:
            return ""
        token = self.svc.keys.tokens.sign(EXPORT_TOKEN, {"r": row.request_id}, ttl=expires - now)
        return self.svc.url("my-data/export", token)

    def to_pb(self, row: RequestRow, progress: list[Progress]) -> pb.PrivacyRequest:
        message = pb.PrivacyRequest(
            request_id=row.request_id,
            kind=KIND_PB[row.kind],  # type: ignore[arg-type]
            person=_person_ref(row),
            status=STATUS_PB[row.status],  # type: ignore[arg-type]
            opened_at=stamp(row.opened_at),
            due_at=stamp(row.due_at),
            extension_reason=row.extension_reason,
            rejection_reason=row.rejection_reason,
            export_url=self.export_url(row, _now()),
        )
        if row.completed_at is not None:
            message.completed_at.CopyFrom(stamp(row.completed_at))
        order = {service: index for index, service in enumerate(self.services)}
        for item in sorted(progress, key=lambda p: (order.get(p.service, len(order)), p.service)):
            entry = message.services.add(
                service=item.service, completed=item.answered_at is not None
            )
            if item.answered_at is not None:
                entry.completed_at.CopyFrom(stamp(item.answered_at))
            if item.answer:
                erased = privacy_events.PersonDataErased.FromString(item.answer)
                entry.erased.extend(erased.erased)
                entry.retained.extend(erased.retained)
        return message

    # -- the services' answers -----------------------------------------------------------------

    async def _target(
        self, conn: Any, event: EventEnvelope, request_id: str, service: str, kind: str
    ) -> RequestRow | None:
        """The open request a reply belongs to, locked; None (logged) for a stray reply."""
        try:
            uuid.UUID(request_id)
        except ValueError:
            log.warning("privacy reply with a malformed request id", extra={"service": service})
            return None
        row = await dsar_store.find_request(conn, request_id, lock=True)
        problem = ""
        if row is None:
            problem = "unknown request"
        elif row.kind != kind:
            problem = f"a {kind} reply to a {row.kind} request"
        elif event.tenant_id != row.account_id:
            problem = "reply for another account"
        if problem:
            log.warning(
                "privacy reply ignored: %s",
                problem,
                extra={"request_id": request_id, "service": service},
            )
            return None
        return row

    async def on_exported(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        reply = unpack(event, privacy_events.PersonDataExported)
        row = await self._target(conn, event, reply.request_id, reply.service, "export")
        if row is None:
            return
        now = _now()
        if not await dsar_store.record_answer(conn, row.request_id, reply.service, None, now):
            log.info(
                "privacy reply repeated or not asked for; ignored",
                extra={"request_id": row.request_id, "service": reply.service},
            )
            return
        sealed = self.svc.keys.field_cipher.encrypt(
            reply.SerializeToString(), export_aad(row.request_id, reply.service)
        )
        await dsar_store.save_part(conn, row.request_id, reply.service, sealed)
        await self._maybe_complete(conn, row, reply.service, now)

    async def on_erased(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        reply = unpack(event, privacy_events.PersonDataErased)
        row = await self._target(conn, event, reply.request_id, reply.service, "erase")
        if row is None:
            return
        now = _now()
        answer = reply.SerializeToString(deterministic=True)  # categories and reasons only
        if not await dsar_store.record_answer(conn, row.request_id, reply.service, answer, now):
            log.info(
                "privacy reply repeated or not asked for; ignored",
                extra={"request_id": row.request_id, "service": reply.service},
            )
            return
        await self._maybe_complete(conn, row, reply.service, now)

    async def _maybe_complete(
        self, conn: Any, row: RequestRow, service: str, now: datetime
    ) -> None:
        remaining = await dsar_store.unanswered(conn, row.request_id)
        log.info(
            "privacy reply recorded",
            extra={"request_id": row.request_id, "service": service, "remaining": remaining},
        )
        if remaining:
            return
        await dsar_store.complete(conn, row.request_id, now)
        answered = await dsar_store.progress_of(conn, [row.request_id])
        services = [p.service for p in answered[row.request_id]]
        await add_event(conn, completed_envelope(row, services))
        self.metrics.completed.labels(row.kind).inc()
        log.info(
            "privacy request completed",
            extra={
                "request_id": row.request_id,
                "kind": row.kind,
                "days_taken": round((now - row.opened_at).total_seconds() / 86_400, 2),
            },
        )

    def handlers(self) -> dict[str, Any]:
        return {EXPORT_REPLY: self.on_exported, ERASURE_REPLY: self.on_erased}

    # -- the gauge ---------------------------------------------------------------------------

    async def refresh_metrics(self) -> None:
        """Open requests by age and the oldest one's age, from the database (every replica
        reports the same figures: alert on their max, not their sum)."""
        now = _now()
        async with self.svc.pool.connection() as conn:
            buckets, oldest = await dsar_store.open_by_age(conn, now)
        for age, count in buckets.items():
            self.metrics.open.labels(age).set(count)
        self.metrics.oldest.set((now - oldest).total_seconds() if oldest else 0)

    def install(self, app: ServiceApp) -> None:
        """The reply consumers, the command queues written to, and the gauge refresher."""
        app.add_streams(*(commands_stream(s) for s in self.services))
        for subject, handler in self.handlers().items():
            app.add_consumer(reply_consumer(subject), handler)
        app.add_refresher("privacy-requests-gauge", 30.0, self.refresh_metrics)


def reply_consumer(subject: str) -> ConsumerSpec:
    return ConsumerSpec(
        stream=commands_stream("consent").name,
        durable=f"consent_{subject.rsplit('.', 1)[-1]}",
        filter_subject=subject,
        service="consent",
    )


# ------------------------------------------------------------------------ what is emitted


def opened_envelope(row: RequestRow) -> EventEnvelope:
    """``consent.privacy_request.opened``: person key and user id, never the address."""
    message = privacy_events.PrivacyRequestOpened(
        request_id=row.request_id,
        kind=KIND_PB[row.kind],  # type: ignore[arg-type]
        person=_person_ref(row),
        due_at=stamp(row.due_at),
    )
    return envelope(
        message,
        subject=OPENED_SUBJECT,
        tenant_id=row.account_id,
        producer=db.PRODUCER,
        aggregate_id=row.request_id,
        aggregate_version=1,
    )


def command_envelope(row: RequestRow, service: str, email: str | None) -> EventEnvelope:
    """The export or erasure command for ``service``'s work queue; it may carry the address
    (the service may need it to find the person), since commands are deleted once acked."""
    person = _person_ref(row)
    if email:
        person.email = email
    fields = {
        "request_id": row.request_id,
        "person": person,
        "service": service,
        "due_at": stamp(row.due_at),
        # A user's request about themselves has no account: it says so, explicitly.
        "all_accounts": not row.account_id,
    }
    if row.kind == "export":
        command: Any = privacy_events.ExportPersonDataCommand(**fields)
        subject = export_subject(service)
    else:
        command = privacy_events.ErasePersonDataCommand(**fields)
        subject = erase_subject(service)
    return envelope(command, subject=subject, tenant_id=row.account_id, producer=db.PRODUCER)


def completed_envelope(row: RequestRow, services: list[str]) -> EventEnvelope:
    """``consent.privacy_request.completed``: every service answered."""
    message = privacy_events.PrivacyRequestCompleted(
        request_id=row.request_id,
        kind=KIND_PB[row.kind],  # type: ignore[arg-type]
        services=services,
    )
    return envelope(
        message,
        subject=COMPLETED_SUBJECT,
        tenant_id=row.account_id,
        producer=db.PRODUCER,
        aggregate_id=row.request_id,
        aggregate_version=2,
    )


def examples(services: tuple[str, ...]) -> list[EventEnvelope]:
    """What the privacy-request code emits, built by the builders above (contract tests)."""
    now = _now()
    account, person = "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d", "ab" * 32
    contact = RequestRow(
        request_id="0195a6a0-5555-7ef0-b123-456789abcdef", account_id=account,
        person_key=person, user_id=None, kind="export", status="in_progress",
        requested_by="account_user:u-1", opened_at=now, due_at=now + DUE_IN,
        extension_reason="", completed_at=None, rejection_reason="", export_deleted_at=None,
    )  # fmt: skip
    user = replace(
        contact,
        request_id="0195a6a0-6666-7ef0-b123-456789abcdef",
        account_id="",
        person_key="cd" * 32,
        user_id="0195a3c2-4b80-7e55-8a11-2f3e4d5c6b7a",
        kind="erase",
        requested_by="self:0195a3c2-4b80-7e55-8a11-2f3e4d5c6b7a",
    )
    found = []
    for row, email in (
        (contact, "ada@example.org"),
        (replace(contact, kind="erase"), None),
        (user, None),
        (replace(user, kind="export"), None),
    ):
        found.append(opened_envelope(row))
        found += [command_envelope(row, service, email) for service in services]
        found.append(completed_envelope(replace(row, completed_at=now), list(services)))
    return found


# ------------------------------------------------------------------------------ helpers


def may_manage(principal: Principal, scope: str) -> bool:
    """An account admin, or an API key holding ``scope``."""
    if principal.kind is CallerKind.USER:
        return bool(principal.roles & domain.ADMIN_ROLES)
    if principal.kind is CallerKind.API_KEY:
        return principal.has_scope(scope)
    return False


def _person_ref(row: RequestRow) -> types_pb2.PersonRef:
    person = types_pb2.PersonRef(person_key=row.person_key)
    if row.user_id:
        person.user_id = row.user_id
    return person


def export_aad(request_id: str, service: str) -> str:
    return f"privacy_export:{request_id}:{service}"


def parse_request_id(value: str, field_name: str) -> str:
    if not value:
        raise InvalidArgument.field(field_name, "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument.field(field_name, "is not a privacy request id") from None
