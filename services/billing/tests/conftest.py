"""A running billing service per test module, called over a real gRPC channel.

Every test works in accounts of its own (``billing.tenant()``), so tests in one module share
the service without seeing each other's data. Tokens always name their scopes and roles.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import grpc
import nats
import psycopg
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva.billing.v1 import billing_service_pb2_grpc
from missiva.identity.v1 import events_pb2 as identity_events
from missiva.identity.v1 import identity_service_pb2 as identity_pb
from missiva_billing.__main__ import build
from missiva_billing.config import BillingSettings
from missiva_billing.core import Credits
from missiva_billing.core_invoices import Invoices
from missiva_billing.core_profile import Profiles
from missiva_billing.core_subscriptions import Subscriptions
from missiva_billing.keys import BillingKeys
from missiva_billing.privacy import BillingPrivacy
from missiva_platform.auth import CallerKind
from missiva_platform.crypto import FieldCipher
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.testing import harness as kit
from missiva_platform.testing.tokens import TestIssuer

Metadata = tuple[tuple[str, str], ...]
STRIPE_WEBHOOK_SECRET = "whsec_test_" + "5" * 32


class Billing:
    """The service under test and helpers to call and inspect it."""

    def __init__(self, app: Any, channel: grpc.aio.Channel, issuer: TestIssuer) -> None:
        self.app = app
        self.channel = channel
        self.stub = billing_service_pb2_grpc.BillingServiceStub(channel)
        self.issuer = issuer
        self.url = app.settings.database_url
        self.nc: Any = None
        settings = app.settings
        self.keys = BillingKeys(settings.field_keys_file, settings.email_hash_key_file)
        self.profiles = Profiles(self.keys)
        self.invoices = Invoices(self.keys, self.profiles)
        self.privacy = BillingPrivacy(app, self.profiles, self.invoices)
        self.app_subscriptions = Subscriptions(Credits(), self.invoices)

    # -- callers -----------------------------------------------------------------------------

    @staticmethod
    def tenant() -> str:
        return str(uuid.uuid4())

    @staticmethod
    def key() -> str:
        return f"key-{uuid.uuid4().hex}"

    def user(
        self,
        tenant: str,
        *,
        roles: Iterable[str] = ("member",),
        scopes: Iterable[str] = ("credits:read",),
        kind: CallerKind = CallerKind.USER,
    ) -> Metadata:
        token = self.issuer.token(
            tenant_id=tenant, kind=kind, roles=tuple(roles), scopes=tuple(scopes)
        )
        return (("authorization", f"Bearer {token}"),)

    def billing_admin(
        self, tenant: str, *, scopes: Iterable[str] = ("billing:read",), role: str = "billing"
    ) -> Metadata:
        """A user of the account with a billing role and exactly ``scopes``."""
        return self.user(tenant, roles=(role,), scopes=scopes)

    def service(
        self, tenant: str, *, name: str = "campaign", scopes: Iterable[str] = ("credits:write",)
    ) -> Metadata:
        token = self.issuer.token(
            tenant_id=tenant,
            kind=CallerKind.SERVICE,
            subject=name,
            roles=(),
            scopes=tuple(scopes),
            audience="billing",
        )
        return (("authorization", f"Bearer {token}"),)

    # -- setup helpers -----------------------------------------------------------------------

    async def grant(self, tenant: str, amount: int = 500, key: str = "test:grant") -> None:
        """Credits granted directly through the core (the event path has its own tests)."""
        async with await psycopg.AsyncConnection.connect(self.url) as conn, conn.transaction():
            await Credits().grant(conn, tenant, amount, key=key)

    async def reserve(
        self, tenant: str, amount: int, *, reference: str = "", key: str | None = None
    ) -> pb.ReserveCreditsResponse:
        return await self.stub.ReserveCredits(
            pb.ReserveCreditsRequest(
                amount=amount, reference=reference, idempotency_key=key or self.key()
            ),
            metadata=self.service(tenant),
            timeout=10,
        )

    async def balance(self, tenant: str) -> pb.CreditBalance:
        reply = await self.stub.GetCreditBalance(
            pb.GetCreditBalanceRequest(), metadata=self.user(tenant), timeout=10
        )
        return reply.balance

    # -- the database ------------------------------------------------------------------------

    async def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        return await kit.sql(self.url, statement, *params)

    async def scalar(self, statement: str, *params: Any) -> Any:
        return await kit.scalar(self.url, statement, *params)

    async def ledger_sums(self, tenant: str) -> tuple[int, int]:
        rows = await self.sql(
            "SELECT coalesce(sum(available_delta), 0)::bigint,"
            " coalesce(sum(reserved_delta), 0)::bigint FROM credit_ledger WHERE account_id = %s",
            tenant,
        )
        return rows[0][0], rows[0][1]

    # -- the bus -----------------------------------------------------------------------------

    async def publish(self, event: EventEnvelope) -> None:
        js = self.nc.jetstream()
        await js.publish(
            event.event_type, event.SerializeToString(), headers={"Nats-Msg-Id": event.event_id}
        )

    async def events(
        self, subject: str, tenant: str, *, want: int = 1, timeout: float = 10.0
    ) -> list[EventEnvelope]:
        """Billing's events on ``subject`` for ``tenant`` (waits for ``want`` of them, then
        returns what is there)."""
        return await kit.stream_events(
            self.nc.jetstream(),
            "BILLING_EVENTS",
            subject,
            lambda event: event.tenant_id == tenant,
            want=want,
            seconds=timeout,
        )

    @staticmethod
    async def until(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
        """Poll ``check`` until it returns something truthy (consumers work asynchronously)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await check()
            if value or asyncio.get_running_loop().time() > deadline:
                return value
            await asyncio.sleep(0.1)

    @staticmethod
    def user_registered(
        account_id: str, role: int = identity_pb.MEMBER_ROLE_PRIMARY_ADMIN
    ) -> EventEnvelope:
        return envelope(
            identity_events.UserRegistered(
                user_id=str(uuid.uuid4()), account_id=account_id, person_key="ab" * 32, role=role
            ),
            subject="identity.user.registered",
            tenant_id=account_id,
            producer="identity",
            aggregate_id=account_id,
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


def bad_fields(err: grpc.aio.AioRpcError) -> list[str]:
    return [
        v.field
        for d in status_details(err)
        if isinstance(d, error_details_pb2.BadRequest)
        for v in d.field_violations
    ]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def billing(make_database, nats_url, request, tmp_path_factory) -> Any:
    secrets_dir = tmp_path_factory.mktemp("billing-secrets")
    field_keys = secrets_dir / "field-keys.json"
    field_keys.write_bytes(FieldCipher.generate().to_json())
    hash_key = secrets_dir / "email-hash.key"
    hash_key.write_bytes(base64.b64encode(os.urandom(32)))
    ip_salts = secrets_dir / "ip-salts.json"
    year = datetime.now(UTC).year
    ip_salts.write_text(json.dumps({
        str(y): base64.b64encode(os.urandom(32)).decode() for y in (year - 1, year, year + 1)
    }))  # fmt: skip
    webhook_secret = secrets_dir / "stripe-webhook-secret"
    webhook_secret.write_text(STRIPE_WEBHOOK_SECRET)
    overrides = {
        "stripe_webhook_secret_file": str(webhook_secret),
        "field_keys_file": str(field_keys),
        "email_hash_key_file": str(hash_key),
        "ip_salts_file": str(ip_salts),
        **getattr(request.module, "SETTINGS", {}),
    }
    probe = build(BillingSettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url))
    url = make_database(probe.migration_sets, request.module.__name__)
    settings = BillingSettings(
        database_url=url,
        nats_url=nats_url,
        grpc_port=0,
        http_port=0,
        health_interval_seconds=0.5,
        shutdown_grace_seconds=1,
        db_pool_max=20,
        **overrides,
    )
    issuer = TestIssuer()
    app = build(settings, jwks=issuer.source())
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    harness = Billing(app, channel, issuer)
    harness.nc = await nats.connect(nats_url)
    yield harness
    await harness.nc.close()
    await channel.close()
    await app.stop()
