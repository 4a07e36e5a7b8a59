"""A running campaign service per test module, called over a real gRPC channel, with real
PostgreSQL and NATS JetStream.

Every test works in accounts of its own (``Campaign.tenant()``), so tests in one module share
the service without seeing each other's data. Tokens always name their scopes and roles.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import grpc
import nats
import nats.js.errors
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import campaign_service_pb2_grpc
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva.privacy.v1 import privacy_service_pb2_grpc
from missiva_campaign.__main__ import build
from missiva_campaign.config import CampaignSettings
from missiva_platform.auth import CallerKind
from missiva_platform.events import EventEnvelope, envelope, unpack
from missiva_platform.secrets import EMAIL_HASH_KEY_FILE, generate_secrets, load_email_hasher
from missiva_platform.streams import commands_stream
from missiva_platform.testing import harness as kit
from missiva_platform.testing.tokens import TestIssuer

WRITER = ("contacts:read", "contacts:write")


class Campaign:
    """The service under test and helpers to call and inspect it."""

    def __init__(self, app: Any, channel: grpc.aio.Channel, issuer: TestIssuer, secrets: dict):
        self.app = app
        self.channel = channel
        self.stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        self.privacy = privacy_service_pb2_grpc.PrivacyServiceStub(channel)
        self.issuer = issuer
        self.hasher = load_email_hasher(secrets[EMAIL_HASH_KEY_FILE])
        self.url = app.settings.database_url
        self.nc: Any = None
        self._mail: Any = None
        self.seen_mail: list[EventEnvelope] = []

    # -- callers -----------------------------------------------------------------------------

    @staticmethod
    def tenant() -> str:
        return f"acct-{uuid.uuid4().hex[:10]}"

    def md(
        self,
        tenant: str,
        *,
        scopes: Iterable[str] = WRITER,
        roles: Iterable[str] = ("member",),
        kind: CallerKind = CallerKind.USER,
        subject: str = "user-1",
    ) -> tuple[tuple[str, str], ...]:
        token = self.issuer.token(
            tenant_id=tenant,
            kind=kind,
            roles=tuple(roles),
            scopes=tuple(scopes),
            subject=subject,
            audience="campaign",  # a service token is for the service it calls
        )
        return (("authorization", f"Bearer {token}"),)

    def key(self, email: str) -> str:
        return self.hasher.person_key(email)

    @staticmethod
    def email(prefix: str = "person") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}@example.org"

    async def create(self, tenant: str, email: str | None = None, **fields: Any) -> pb.Contact:
        reply = await self.stub.CreateContact(
            pb.CreateContactRequest(contact=pb.Contact(email=email or self.email(), **fields)),
            metadata=self.md(tenant),
            timeout=10,
        )
        return reply.contact

    # -- the database ------------------------------------------------------------------------

    async def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        return await kit.sql(self.url, statement, *params)

    async def scalar(self, statement: str, *params: Any) -> Any:
        return await kit.scalar(self.url, statement, *params)

    # -- the bus -----------------------------------------------------------------------------

    async def publish(self, event: EventEnvelope) -> None:
        js = self.nc.jetstream()
        await js.publish(
            event.event_type, event.SerializeToString(), headers={"Nats-Msg-Id": event.event_id}
        )

    async def mail(
        self, predicate: Callable[[delivery_events.SendTransactionalCommand], bool], *,
        want: int = 1, timeout: float = 15.0, settle: float = 0.0,
    ) -> list[delivery_events.SendTransactionalCommand]:  # fmt: skip
        """Commands to delivery (DELIVERY_COMMANDS work queue) matching ``predicate``: waits
        for ``want``, then keeps reading ``settle`` seconds more (to see any extra ones)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        settled: float | None = None
        while True:
            try:
                msgs = await self._mail.fetch(100, timeout=0.3)
            except (nats.errors.TimeoutError, TimeoutError):  # nats-py raises either
                msgs = []
            for msg in msgs:
                self.seen_mail.append(EventEnvelope.FromString(msg.data))
                await msg.ack()
            found = [
                c
                for c in (
                    unpack(e, delivery_events.SendTransactionalCommand) for e in self.seen_mail
                )
                if predicate(c)
            ]
            if len(found) >= want and settled is None:
                settled = loop.time() + settle
            if settled is not None and loop.time() >= settled:
                return found
            if loop.time() > deadline:
                return found


def command(message: Any, subject: str, tenant: str, **extra: Any) -> EventEnvelope:
    return envelope(message, subject=subject, tenant_id=tenant, producer="tests", **extra)


def status_details(err: grpc.aio.AioRpcError) -> list[Any]:
    """The rich error details (BadRequest, PreconditionFailure) of a failed call."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    found = []
    for detail in status.details if status else []:
        for kind in (error_details_pb2.BadRequest, error_details_pb2.PreconditionFailure):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found.append(message)
    return found


def violated_fields(err: grpc.aio.AioRpcError) -> list[str]:
    return [
        v.field
        for d in status_details(err)
        if isinstance(d, error_details_pb2.BadRequest)
        for v in d.field_violations
    ]


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return generate_secrets(tmp_path_factory.mktemp("secrets"), now=datetime.now(UTC))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def campaign(make_database, nats_url, secrets_dir, request) -> Any:
    overrides = getattr(request.module, "SETTINGS", {})
    probe = build(CampaignSettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url))
    url = make_database(probe.migration_sets, request.module.__name__)
    settings = CampaignSettings(
        database_url=url,
        nats_url=nats_url,
        grpc_port=0,
        http_port=0,
        health_interval_seconds=0.5,
        shutdown_grace_seconds=1,
        email_hash_key_file=str(secrets_dir[EMAIL_HASH_KEY_FILE]),
        **overrides,
    )
    issuer = TestIssuer()
    app = build(settings, jwks=issuer.source())
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    harness = Campaign(app, channel, issuer, secrets_dir)
    harness.nc = await nats.connect(nats_url)
    js = harness.nc.jetstream()
    durable = f"campaign-tests-{uuid.uuid4().hex[:8]}"
    harness._mail = await js.pull_subscribe(
        "cmd.delivery.send_transactional", durable=durable, stream="DELIVERY_COMMANDS"
    )
    yield harness
    await harness._mail.unsubscribe()
    await js.delete_consumer("DELIVERY_COMMANDS", durable)
    await channel.close()
    await app.stop()
    # A work queue takes one consumer per subject: leave campaign's own queue free for the
    # tests of other services (consent's reads cmd.campaign.send_document_notice).
    for spec, _ in app.consumers:
        if spec.stream == commands_stream("campaign").name:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_consumer(spec.stream, spec.durable)
    await harness.nc.close()
