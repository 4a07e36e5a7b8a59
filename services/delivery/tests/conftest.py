"""A running delivery service per test module, sending to a scripted SMTP sink.

The sink (aiosmtpd, a real SMTP server on loopback) accepts every recipient except those
whose local part asks for trouble: ``defer<N>-…`` is refused with 421 for its first N
attempts, ``nouser-…`` with 550 5.1.1, ``blocked-…`` with 550 5.7.1. Every test uses its
own addresses and tenants, so tests in one module share the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
import nats
import nats.js.errors
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller

from missiva.campaign.v1 import campaign_service_pb2 as campaign_pb2
from missiva.campaign.v1 import events_pb2 as campaign_events_pb2
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb2
from missiva.consent.v1 import events_pb2 as consent_events_pb2
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import delivery_service_pb2_grpc, events_pb2
from missiva.privacy.v1 import privacy_service_pb2_grpc
from missiva_delivery.__main__ import build, parts_of
from missiva_delivery.config import DeliverySettings
from missiva_platform.auth import CallerKind
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.smtp_sink import SinkHandler
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.secrets import (
    EMAIL_HASH_KEY_FILE,
    FIELD_KEYS_FILE,
    TOKEN_KEYRING_FILE,
    generate_secrets,
    load_email_hasher,
)
from missiva_platform.streams import SEND_BATCH, SEND_TRANSACTIONAL_EMAIL
from missiva_platform.testing import harness as kit
from missiva_platform.testing.tokens import TestIssuer

FINAL = {
    pb.MESSAGE_STATUS_SENT,
    pb.MESSAGE_STATUS_FAILED,
    pb.MESSAGE_STATUS_BOUNCED,
    pb.MESSAGE_STATUS_SUPPRESSED,
}
_DEFER = re.compile(r"^defer(\d+)-")


@dataclass
class ScriptedHandler(SinkHandler):
    """The platform's sink handler, refusing recipients as their address asks."""

    rcpt_attempts: Counter[str] = field(default_factory=Counter)
    # Until this time.monotonic(), every recipient is refused with 421 (a server in trouble).
    refuse_all_until: float = 0.0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.rcpt_attempts[address] += 1
        if time.monotonic() < self.refuse_all_until:
            return "421 4.3.2 Service shutting down, try again later"
        local = address.split("@", 1)[0]
        wanted = _DEFER.match(local)
        if wanted and self.rcpt_attempts[address] <= int(wanted.group(1)):
            return "421 4.7.0 Try again later"
        if local.startswith("nouser-"):
            return "550 5.1.1 <" + address + ">: Recipient address rejected: no such user"
        if local.startswith("blocked-"):
            return "550 5.7.1 Message rejected by policy"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def for_address(self, address: str) -> list[Any]:
        return [m for m in self.messages if address in m.rcpt_tos]


class Delivery:
    """The service under test and helpers to call and inspect it."""

    def __init__(self, app: Any, channel: grpc.aio.Channel, issuer: TestIssuer, secrets: dict):
        self.app = app
        self.channel = channel
        self.stub = delivery_service_pb2_grpc.DeliveryServiceStub(channel)
        self.privacy = privacy_service_pb2_grpc.PrivacyServiceStub(channel)
        self.issuer = issuer
        self.hasher = load_email_hasher(secrets[EMAIL_HASH_KEY_FILE])
        self.url = app.settings.database_url
        self.sink: ScriptedHandler = ScriptedHandler()
        self.nc: Any = None
        self.app_core, self.sender = parts_of(app)

    # -- callers -----------------------------------------------------------------------------

    @staticmethod
    def tenant() -> str:
        return f"acct-{uuid.uuid4().hex[:10]}"

    def md(
        self,
        tenant: str = "",
        *,
        kind: CallerKind = CallerKind.SERVICE,
        subject: str = "identity",
        roles: tuple[str, ...] = (),
        scopes: tuple[str, ...] = ("mail:send", "mail:read"),
    ) -> tuple[tuple[str, str], ...]:
        token = self.issuer.token(
            tenant_id=tenant, kind=kind, subject=subject, roles=roles, scopes=scopes,
            audience="delivery",  # a service token names the service it calls
        )  # fmt: skip
        return (("authorization", f"Bearer {token}"),)

    def admin(self, tenant: str, *, scopes: tuple[str, ...] = ("*",)) -> Any:
        return self.md(tenant, kind=CallerKind.USER, subject="user-1", roles=("admin",),
                       scopes=scopes)  # fmt: skip

    @staticmethod
    def address(prefix: str = "person") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}@example.org"

    def key(self, address: str) -> str:
        return self.hasher.person_key(address)

    def request(self, address: str, **fields: Any) -> pb.SendTransactionalRequest:
        values: dict[str, Any] = {
            "idempotency_key": str(uuid.uuid4()),
            "template_key": "identity.verify_email",
            "to_address": address,
            "to_name": "Ada Lovelace",
            "locale": "en",
            "variables": {
                "verification_url": "https://missiva.example/verify-email?token=mev_abc",
                "expires_in_hours": "24",
            },
            "category": types_pb2.EMAIL_CATEGORY_SYSTEM,
        }
        values["person_key"] = fields.pop("person_key", None) or self.key(address)
        values.update(fields)
        return pb.SendTransactionalRequest(**values)

    async def send(self, request: pb.SendTransactionalRequest, tenant: str = "", **md: Any) -> Any:
        return await self.stub.SendTransactional(
            request, metadata=md.pop("metadata", None) or self.md(tenant, **md), timeout=10
        )

    async def status(self, message_id: str, tenant: str = "", **md: Any) -> Any:
        return await self.stub.GetMessageStatus(
            pb.GetMessageStatusRequest(message_id=message_id),
            metadata=md.pop("metadata", None) or self.md(tenant, **md),
            timeout=10,
        )

    async def until(
        self,
        message_id: str,
        tenant: str = "",
        done: Callable[[Any], bool] = lambda r: r.message.status in FINAL,
        timeout: float = 20.0,
    ) -> Any:
        """The message's status once ``done`` holds (polling GetMessageStatus)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            reply = await self.status(message_id, tenant)
            if done(reply) or asyncio.get_running_loop().time() > deadline:
                return reply
            await asyncio.sleep(0.1)

    # -- the bus -----------------------------------------------------------------------------

    def command(self, address: str, tenant: str, **fields: Any) -> EventEnvelope:
        values: dict[str, Any] = {
            "idempotency_key": f"test:{uuid.uuid4()}",
            "template_key": "consent.confirm_subscription",
            "to_address": address,
            "to_name": "Grace Hopper",
            "locale": "it-IT",
            "variables": {"confirm_url": "https://missiva.example/c/kid1.tok.sig"},
            "category": types_pb2.EMAIL_CATEGORY_SYSTEM,
            "requested_by": "consent",
        }
        values["person_key"] = fields.pop("person_key", None) or self.key(address)
        values.update(fields)
        return envelope(
            events_pb2.SendTransactionalCommand(**values),
            subject=SEND_TRANSACTIONAL_EMAIL,
            tenant_id=tenant,
            producer="consent",
        )

    async def publish(self, event: EventEnvelope) -> None:
        js = self.nc.jetstream()
        await js.publish(
            SEND_TRANSACTIONAL_EMAIL,
            event.SerializeToString(),
            headers={"Nats-Msg-Id": event.event_id},
        )

    def batch(
        self, tenant: str, addresses: list[str], *, campaign_id: str = "", batch_id: str = "0001",
        revision: int = 1, **content: Any,
    ) -> tuple[EventEnvelope, str]:  # fmt: skip
        """A SendBatch for ``addresses`` (contact ids derived from the addresses) and its
        campaign id."""
        campaign_id = campaign_id or str(uuid.uuid4())
        body = {
            "subject": "News for {{ first_name }}",
            "preheader": "Three things, {{ first_name }}",
            "html_body": "<p>Hello {{ first_name }} from {{ attributes.city }}</p>"
            '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'
            ' <a href="{{ my_data_url }}">My data</a></p>',
            "text_body": "Hello {{ first_name }}\n\nUnsubscribe: {{ unsubscribe_url }}",
            "template_id": "0195a4e3-aaaa-7345-c678-9abcdef01234",
            "template_revision": revision,
        }
        body.update(content)
        command = campaign_events_pb2.SendBatch(
            campaign_id=campaign_id,
            batch_id=batch_id,
            recipients=[
                campaign_events_pb2.Recipient(
                    contact_id=str(uuid.uuid5(uuid.NAMESPACE_URL, a)),
                    person_key=self.key(a),
                    email=a,
                    merge_fields={"first_name": "Zoë", "attributes.city": "Torino"},
                )
                for a in addresses
            ],
            content=campaign_events_pb2.RenderedContent(**body),
            category=types_pb2.EMAIL_CATEGORY_MARKETING,
            purpose_id="0195a3d0-1111-7abc-8def-0123456789ab",
            sender=campaign_pb2.Sender(
                from_name="Bottega Rossi",
                from_address="news@bottegarossi.example",
                reply_to="info@bottegarossi.example",
                sender_domain_id="sd-1",
            ),
            credit_reservation_id=str(uuid.uuid4()),
        )
        event = envelope(command, subject=SEND_BATCH, tenant_id=tenant, producer="campaign")
        return event, campaign_id

    def suppression(self, tenant: str, address: str, *, purpose: str = "", version: int = 1):
        """Consent's ContactSuppressed for an unsubscribe of ``address`` in ``tenant``."""
        entry = consent_events_pb2.ContactSuppressed(
            person_key=self.key(address),
            reason=consent_pb2.SUPPRESSION_REASON_UNSUBSCRIBED,
            purpose_id=purpose,
            source=consent_pb2.CONSENT_SOURCE_UNSUBSCRIBE_LINK,
        )
        return envelope(
            entry, subject="consent.contact.suppressed", tenant_id=tenant, producer="consent",
            aggregate_id=f"{tenant}:{self.key(address)}:suppression:unsubscribed:{purpose}",
            aggregate_version=version,
        )  # fmt: skip

    async def withdraw_tracking(self, tenant: str, key: str) -> None:
        """Consent's ConsentWithdrawn of the person's engagement tracking, once the replica
        has applied it."""
        withdrawn = envelope(
            consent_events_pb2.ConsentWithdrawn(
                person_key=key, purpose_id="tracking-purpose", purpose_key="tracking",
                kind=consent_pb2.PURPOSE_KIND_ENGAGEMENT_TRACKING,
                source=consent_pb2.CONSENT_SOURCE_PREFERENCE_CENTER,
            ),
            subject="consent.purpose.withdrawn", tenant_id=tenant, producer="consent",
            aggregate_id=f"{tenant}:{key}:tracking-purpose", aggregate_version=2,
        )  # fmt: skip
        await self.publish_to("consent.purpose.withdrawn", withdrawn)
        for _ in range(300):
            if await self.scalar(
                "SELECT count(*) FROM consent_blocks WHERE person_key = %s AND source = 'tracking'"
                " AND active", key,
            ):  # fmt: skip
                break
            await asyncio.sleep(0.1)

    async def publish_to(self, subject: str, event: EventEnvelope) -> None:
        await self.nc.jetstream().publish(
            subject, event.SerializeToString(), headers={"Nats-Msg-Id": event.event_id}
        )

    async def campaign_rows(
        self, tenant: str, campaign_id: str, *, want: int, timeout: float = 30.0,
        final: bool = True,
    ) -> list[tuple[Any, ...]]:  # fmt: skip
        """(id, contact_id, person_key, status) of the campaign's rows once ``want`` exist (and,
        with ``final``, none is waiting any more)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            rows = await self.sql(
                "SELECT id::text, contact_id, person_key, status FROM messages"
                " WHERE tenant_id = %s AND campaign_id = %s ORDER BY contact_id",
                tenant, campaign_id,
            )  # fmt: skip
            waiting = [r for r in rows if r[3] in ("queued", "sending", "deferred")]
            done = len(rows) >= want and not (final and waiting)
            if done or asyncio.get_running_loop().time() > deadline:
                return rows
            await asyncio.sleep(0.1)

    async def events(self, subject: str, message_id: str, *, want: int = 1) -> list[EventEnvelope]:
        """Events on ``subject`` in DELIVERY_EVENTS about ``message_id``."""
        return await kit.stream_events(
            self.nc.jetstream(),
            "DELIVERY_EVENTS",
            subject,
            lambda event: event.aggregate_id == message_id,
            want=want,
            seconds=10,
        )

    # -- the database ------------------------------------------------------------------------

    async def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        return await kit.sql(self.url, statement, *params)

    async def scalar(self, statement: str, *params: Any) -> Any:
        return await kit.scalar(self.url, statement, *params)


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return generate_secrets(tmp_path_factory.mktemp("secrets"), now=datetime.now(UTC))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def delivery(make_database, nats_url, secrets_dir, _dns_server_session, request) -> Any:
    handler = ScriptedHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    probe = build(DeliverySettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url))
    url = make_database(probe.migration_sets, request.module.__name__)
    settings = DeliverySettings(
        database_url=url,
        nats_url=nats_url,
        grpc_port=0,
        http_port=0,
        health_interval_seconds=0.5,
        shutdown_grace_seconds=1,
        smtp_url=f"smtp://127.0.0.1:{port}",
        smtp_timeout_seconds=5,
        retry_base_seconds=0.2,
        retry_max_seconds=0.4,
        sender_poll_seconds=0.1,
        field_keys_file=str(secrets_dir[FIELD_KEYS_FILE]),
        email_hash_key_file=str(secrets_dir[EMAIL_HASH_KEY_FILE]),
        token_keyring_file=str(secrets_dir[TOKEN_KEYRING_FILE]),
        # Sender domains verify against the loopback DNS server of the test session.
        dns_resolver=_dns_server_session.address,
        dns_zone_file=str(_dns_server_session.zone_file),
        dns_timeout_seconds=3,
        **getattr(request.module, "SETTINGS", {}),
    )
    settings.validate()
    issuer = TestIssuer()
    app = build(settings, jwks=issuer.source())
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    harness = Delivery(app, channel, issuer, secrets_dir)
    harness.sink = handler
    harness.nc = await nats.connect(nats_url)
    yield harness
    await channel.close()
    await app.stop()
    # The work queue admits one consumer per subject: leave it free for the next module (or
    # another service's tests that read delivery's commands).
    js = harness.nc.jetstream()
    for spec, _ in app.consumers:
        with contextlib.suppress(nats.js.errors.NotFoundError):  # already gone
            await js.delete_consumer(spec.stream, spec.durable)
    await harness.nc.close()
    controller.stop()
