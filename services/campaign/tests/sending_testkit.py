"""Campaign and billing running side by side (real PostgreSQL, NATS and gRPC), for the send
path: campaign reserves credits at billing with a service token (audience billing, scope
credits:write) signed by the tests' issuer, which billing's static JWKS trusts, as
identity's would be in production."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import nats
import nats.js.errors
import psycopg
import pytest_asyncio
from campaign_testkit import Campaign

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import events_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import events_pb2 as consent_events
from missiva_billing.__main__ import build as build_billing
from missiva_billing.config import BillingSettings
from missiva_billing.core import Credits
from missiva_campaign.__main__ import build, send_path
from missiva_campaign.config import CampaignSettings
from missiva_platform.auth import CallerKind
from missiva_platform.events import EventEnvelope, envelope, unpack
from missiva_platform.secrets import EMAIL_HASH_KEY_FILE
from missiva_platform.streams import commands_stream
from missiva_platform.testing.tokens import TestIssuer

PURPOSE = "0195a3d0-1111-7abc-8def-0123456789ab"
SENDER = ("campaigns:read", "campaigns:write")


class Sending(Campaign):
    billing_url: str = ""
    path: Any = None
    _batches: Any = None
    _events: Any = None
    seen_batches: list[EventEnvelope]
    seen_events: list[EventEnvelope]

    async def grant(self, tenant: str, amount: int) -> None:
        connect = psycopg.AsyncConnection.connect
        async with await connect(self.billing_url) as conn, conn.transaction():
            await Credits().grant(conn, tenant, amount, key=f"test:{uuid.uuid4().hex}")

    async def reservations(self, tenant: str) -> list[tuple[Any, ...]]:
        """(amount, reference) of the account's credit reservations at billing."""
        async with await psycopg.AsyncConnection.connect(self.billing_url) as conn:
            cur = await conn.execute(
                "SELECT amount, reference FROM credit_reservations WHERE account_id = %s",
                (tenant,),
            )
            return list(await cur.fetchall())

    async def consent(self, tenant: str, key: str, version: int, *, granted: bool = True) -> None:
        if granted:
            message: Any = consent_events.ConsentGranted(
                person_key=key, purpose_id=PURPOSE, kind=consent_pb.PURPOSE_KIND_EMAIL
            )
        else:
            message = consent_events.ConsentWithdrawn(person_key=key, purpose_id=PURPOSE)
        verb = "granted" if granted else "withdrawn"
        await self.publish(
            envelope(
                message,
                subject=f"consent.purpose.{verb}",
                tenant_id=tenant,
                producer="consent",
                aggregate_id=f"{tenant}:{key}:{PURPOSE}",
                aggregate_version=version,
            )
        )
        want = "granted" if granted else "withdrawn"
        await self.until(
            lambda: self.scalar(
                "SELECT status = %s FROM consent_states WHERE account_id = %s"
                " AND person_key = %s AND purpose_id = %s",
                want, tenant, key, PURPOSE,
            )
        )  # fmt: skip

    async def list_with(self, tenant: str, contacts: list[pb.Contact]) -> str:
        scopes = ("lists:write",)
        made = await self.stub.CreateList(
            pb.CreateListRequest(list=pb.ContactList(name=uuid.uuid4().hex, purpose_id=PURPOSE)),
            metadata=self.md(tenant, scopes=scopes),
            timeout=10,
        )
        list_id = made.list.list_id
        await self.stub.AddToList(
            pb.AddToListRequest(list_id=list_id, contact_ids=[c.contact_id for c in contacts]),
            metadata=self.md(tenant, scopes=scopes),
            timeout=10,
        )
        return list_id

    async def verify_domain(self, tenant: str, domain: str, *, verified: bool = True) -> None:
        """Record ``domain`` as delivery reports it (``delivery.sender_domain.verified``)."""
        connect = psycopg.AsyncConnection.connect
        async with await connect(self.url) as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO sender_domains (account_id, sender_domain_id, domain, verified,"
                " version) VALUES (%s, %s, %s, %s, 1) ON CONFLICT (account_id, sender_domain_id)"
                " DO UPDATE SET verified = EXCLUDED.verified",
                (tenant, f"test-{domain}", domain, verified),
            )

    async def draft(
        self, tenant: str, list_ids: list[str], *, verified_domain: bool = True, **fields: Any
    ) -> pb.Campaign:
        values: dict[str, Any] = {
            "name": "Spring",
            "purpose_id": PURPOSE,
            "template_id": "starter-en",
            "list_ids": list_ids,
            "sender": pb.Sender(from_name="Bottega", from_address="news@bottega.example"),
        }
        values.update(fields)
        if verified_domain and values["sender"].from_address:  # sending needs it verified
            domain = values["sender"].from_address.rpartition("@")[2]
            await self.verify_domain(tenant, domain)
        reply = await self.stub.CreateCampaign(
            pb.CreateCampaignRequest(campaign=pb.Campaign(**values)),
            metadata=self.md(tenant, scopes=("campaigns:write",)),  # the least scope
            timeout=10,
        )
        return reply.campaign

    async def send_now(self, tenant: str, campaign_id: str) -> pb.SendCampaignNowResponse:
        return await self.stub.SendCampaignNow(
            pb.SendCampaignNowRequest(campaign_id=campaign_id, idempotency_key=uuid.uuid4().hex),
            metadata=self.md(tenant, scopes=("campaigns:write",)),
            timeout=20,
        )

    async def get(self, tenant: str, campaign_id: str) -> pb.Campaign:
        reply = await self.stub.GetCampaign(
            pb.GetCampaignRequest(campaign_id=campaign_id),
            metadata=self.md(tenant, scopes=("campaigns:read",)),
            timeout=10,
        )
        return reply.campaign

    @staticmethod
    async def until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = await check()
            if found:
                return found
            if loop.time() > deadline:
                raise AssertionError("the condition never held")
            await asyncio.sleep(0.1)

    async def _drain(self, sub: Any, into: list[EventEnvelope]) -> None:
        try:
            msgs = await sub.fetch(100, timeout=0.3)
        except (nats.errors.TimeoutError, TimeoutError):
            msgs = []
        for msg in msgs:
            into.append(EventEnvelope.FromString(msg.data))
            await msg.ack()

    async def batches(self, campaign_id: str, want_recipients: int) -> list[events_pb2.SendBatch]:
        async def enough() -> list[events_pb2.SendBatch] | None:
            await self._drain(self._batches, self.seen_batches)
            found = [unpack(e, events_pb2.SendBatch) for e in self.seen_batches]
            mine = [b for b in found if b.campaign_id == campaign_id]
            return mine if sum(len(b.recipients) for b in mine) >= want_recipients else None

        return await self.until(enough)

    async def event(self, subject: str, campaign_id: str, message: Any) -> Any:
        async def seen() -> Any:
            await self._drain(self._events, self.seen_events)
            for e in self.seen_events:
                if e.event_type == subject:
                    found = unpack(e, message)
                    if found.campaign_id == campaign_id:
                        return found
            return None

        return await self.until(seen)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sender(make_database, nats_url, secrets_dir, request, tmp_path_factory) -> Any:
    issuer = TestIssuer()
    probe = build_billing(
        BillingSettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url)
    )
    billing_url = make_database(probe.migration_sets, request.module.__name__ + "_billing")
    billing = build_billing(
        BillingSettings(
            database_url=billing_url, nats_url=nats_url, grpc_port=0, http_port=0,
            health_interval_seconds=0.5, shutdown_grace_seconds=1,
        ),
        jwks=issuer.source(),
    )  # fmt: skip
    await billing.start()
    probe_c = build(CampaignSettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url))
    url = make_database(probe_c.migration_sets, request.module.__name__)
    secret = tmp_path_factory.mktemp("client") / "service-credentials.json"
    # Unused: the tests sign the service tokens themselves (token_for below).
    secret.write_text('{"campaign": {"client_id": "missiva-campaign", "client_secret": "x"}}')
    settings = CampaignSettings(
        database_url=url,
        nats_url=nats_url,
        grpc_port=0,
        http_port=0,
        health_interval_seconds=0.5,
        shutdown_grace_seconds=1,
        email_hash_key_file=str(secrets_dir[EMAIL_HASH_KEY_FILE]),
        billing_target=f"127.0.0.1:{billing.grpc_port}",
        identity_target="127.0.0.1:1",
        service_credentials_file=str(secret),
        **getattr(request.module, "SETTINGS", {}),
    )

    async def token_for(tenant: str) -> str:
        return issuer.token(
            tenant_id=tenant, kind=CallerKind.SERVICE, subject="campaign", audience="billing",
            scopes=("credits:write",), roles=(),
        )  # fmt: skip

    app = build(settings, jwks=issuer.source(), token_for=token_for)
    await app.start()
    path = send_path(settings, lambda: app.pool, token_for)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    harness = Sending(app, channel, issuer, secrets_dir)
    harness.billing_url = billing_url
    harness.path = path
    harness.seen_batches, harness.seen_events = [], []
    harness.nc = await nats.connect(nats_url)
    js = harness.nc.jetstream()
    durable = f"campaign-batches-{uuid.uuid4().hex[:8]}"
    harness._batches = await js.pull_subscribe(
        "cmd.delivery.send_batch", durable=durable, stream="DELIVERY_COMMANDS"
    )
    harness._events = await js.pull_subscribe(
        "campaign.campaign.>", durable=f"{durable}-events", stream="CAMPAIGN_EVENTS"
    )
    yield harness
    await harness._batches.unsubscribe()
    await harness._events.unsubscribe()
    await js.delete_consumer("DELIVERY_COMMANDS", durable)
    await js.delete_consumer("CAMPAIGN_EVENTS", f"{durable}-events")
    await channel.close()
    await app.stop()
    await billing.stop()
    for spec, _ in app.consumers:
        if spec.stream == commands_stream("campaign").name:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_consumer(spec.stream, spec.durable)
    await harness.nc.close()
