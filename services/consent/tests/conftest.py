"""A running consent service per test module, called over a real gRPC channel.

Every test works in accounts of its own (``consent.tenant()``), so tests in one module share
the service without seeing each other's data.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import grpc
import nats
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.consent.v1 import consent_service_pb2_grpc
from missiva.privacy.v1 import privacy_service_pb2_grpc
from missiva_consent.__main__ import build
from missiva_consent.config import ConsentSettings
from missiva_platform.auth import CallerKind
from missiva_platform.events import EventEnvelope
from missiva_platform.secrets import (
    EMAIL_HASH_KEY_FILE,
    FIELD_KEYS_FILE,
    IP_SALTS_FILE,
    TOKEN_KEYRING_FILE,
    generate_secrets,
    load_email_hasher,
    load_token_keyring,
)
from missiva_platform.testing import harness as kit
from missiva_platform.testing.tokens import TestIssuer

PLATFORM = "platform-acct"


class Consent:
    """The service under test and helpers to call and inspect it."""

    def __init__(self, app: Any, channel: grpc.aio.Channel, issuer: TestIssuer, secrets: dict):
        self.app = app
        self.channel = channel
        self.stub = consent_service_pb2_grpc.ConsentServiceStub(channel)
        self.privacy = privacy_service_pb2_grpc.PrivacyServiceStub(channel)
        self.issuer = issuer
        self.hasher = load_email_hasher(secrets[EMAIL_HASH_KEY_FILE])
        self.keyring = load_token_keyring(secrets[TOKEN_KEYRING_FILE])
        self.url = app.settings.database_url
        self.nc: Any = None
        self._commands: Any = None
        self.seen_commands: list[EventEnvelope] = []

    # -- callers -----------------------------------------------------------------------------

    @staticmethod
    def tenant() -> str:
        return f"acct-{uuid.uuid4().hex[:10]}"

    def md(
        self,
        tenant: str,
        *,
        kind: CallerKind = CallerKind.USER,
        roles: tuple[str, ...] = ("admin",),
        subject: str = "user-1",
        scopes: tuple[str, ...] | None = None,
        verified: bool = True,
    ) -> tuple[tuple[str, str], ...]:
        """A bearer token for ``tenant``. A user's token carries scope ``*`` as identity's do
        (roles gate users) and says whether their address is verified; an API key or a
        service gets only the ``scopes`` passed."""
        if scopes is None:
            scopes = ("*",) if kind is CallerKind.USER else ()
        extra = {"email_verified": verified} if kind is CallerKind.USER else {}
        token = self.issuer.token(
            tenant_id=tenant, kind=kind, roles=roles, subject=subject, scopes=scopes,
            audience="consent" if kind is CallerKind.SERVICE else "", **extra,
        )  # fmt: skip
        return (("authorization", f"Bearer {token}"),)

    def key(self, email: str) -> str:
        return self.hasher.person_key(email)

    @staticmethod
    def email() -> str:
        return f"person-{uuid.uuid4().hex[:12]}@example.org"

    def person(self, email: str) -> types_pb2.PersonRef:
        return types_pb2.PersonRef(email=email)

    # -- setup helpers -----------------------------------------------------------------------

    async def purpose(self, tenant: str, key: str = "newsletter", **fields: Any) -> pb.Purpose:
        fields.setdefault("kind", pb.PURPOSE_KIND_EMAIL)
        fields.setdefault("category", types_pb2.EMAIL_CATEGORY_MARKETING)
        fields.setdefault("legal_basis", types_pb2.LEGAL_BASIS_CONSENT)
        reply = await self.stub.CreatePurpose(
            pb.CreatePurposeRequest(purpose=pb.Purpose(key=key, name=key.title(), **fields)),
            metadata=self.md(tenant),
            timeout=10,
        )
        return reply.purpose

    @staticmethod
    def form_evidence(**extra: Any) -> pb.ConsentEvidence:
        values: dict[str, Any] = {
            "source": pb.CONSENT_SOURCE_FORM,
            "source_detail": "form-1",
            "checkbox_text": "Yes, send me the newsletter",
            "policy_document_id": "privacy",
            "policy_version": "2026-01",
            "client": types_pb2.ClientContext(ip_address="203.0.113.7", user_agent="Firefox/140"),
        }
        values.update(extra)
        return pb.ConsentEvidence(**values)

    async def grant(self, tenant: str, email: str, purpose_id: str) -> pb.ConsentRecord:
        reply = await self.stub.RecordConsent(
            pb.RecordConsentRequest(
                person=self.person(email), purpose_id=purpose_id, evidence=self.form_evidence()
            ),
            metadata=self.md(tenant),
            timeout=10,
        )
        return reply.record

    async def check(self, tenant: str, email: str, purpose_id: str) -> pb.ConsentCheck:
        reply = await self.stub.CheckConsent(
            pb.CheckConsentRequest(person=self.person(email), purpose_id=purpose_id),
            metadata=self.md(tenant),
            timeout=10,
        )
        return reply.check

    # -- the database ------------------------------------------------------------------------

    async def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        return await kit.sql(self.url, statement, *params)

    async def scalar(self, statement: str, *params: Any) -> Any:
        return await kit.scalar(self.url, statement, *params)

    # -- the bus -----------------------------------------------------------------------------

    async def events(self, subject: str, predicate: Callable[[EventEnvelope], bool],
                     *, want: int = 1, timeout: float = 10.0) -> list[EventEnvelope]:  # fmt: skip
        """Events on ``subject`` in the consent stream matching ``predicate`` (waits for
        ``want`` of them; returns what is there after a short settle)."""
        return await kit.stream_events(
            self.nc.jetstream(), "CONSENT_EVENTS", subject, predicate, want=want, seconds=timeout
        )

    async def commands(
        self, predicate: Callable[[EventEnvelope], bool], *, want: int = 1, timeout: float = 10.0
    ) -> list[EventEnvelope]:
        """Commands for delivery (DELIVERY_COMMANDS work queue) matching ``predicate``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                msgs = await self._commands.fetch(50, timeout=0.5)
            except (nats.errors.TimeoutError, TimeoutError):  # nats-py raises either
                msgs = []
            for msg in msgs:
                self.seen_commands.append(EventEnvelope.FromString(msg.data))
                await msg.ack()
            found = [c for c in self.seen_commands if predicate(c)]
            if len(found) >= want or asyncio.get_running_loop().time() > deadline:
                return found

    async def publish(self, subject: str, event: EventEnvelope) -> None:
        js = self.nc.jetstream()
        await js.publish(
            subject, event.SerializeToString(), headers={"Nats-Msg-Id": event.event_id}
        )


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


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return generate_secrets(tmp_path_factory.mktemp("secrets"), now=datetime.now(UTC))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def consent(make_database, nats_url, secrets_dir, request) -> Any:
    # The default documents are tested in test_default_documents.py; elsewhere they would
    # stand in the way of each test's own platform documents.
    overrides = {
        "publish_default_documents": False,
        "platform_account_id": PLATFORM,
        **getattr(request.module, "SETTINGS", {}),
    }
    probe = build(ConsentSettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url))
    url = make_database(probe.migration_sets, request.module.__name__)
    settings = ConsentSettings(
        database_url=url,
        nats_url=nats_url,
        grpc_port=0,
        http_port=0,
        health_interval_seconds=0.5,
        shutdown_grace_seconds=1,
        token_keyring_file=str(secrets_dir[TOKEN_KEYRING_FILE]),
        email_hash_key_file=str(secrets_dir[EMAIL_HASH_KEY_FILE]),
        ip_salts_file=str(secrets_dir[IP_SALTS_FILE]),
        field_keys_file=str(secrets_dir[FIELD_KEYS_FILE]),
        **overrides,
    )
    issuer = TestIssuer()
    app = build(settings, jwks=issuer.source())
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    harness = Consent(app, channel, issuer, secrets_dir)
    harness.nc = await nats.connect(nats_url)
    js = harness.nc.jetstream()
    durable = f"consent-tests-{uuid.uuid4().hex[:8]}"
    harness._commands = await js.pull_subscribe(
        "cmd.delivery.send_transactional", durable=durable, stream="DELIVERY_COMMANDS"
    )
    yield harness
    await harness._commands.unsubscribe()
    await js.delete_consumer("DELIVERY_COMMANDS", durable)
    await harness.nc.close()
    await channel.close()
    await app.stop()
