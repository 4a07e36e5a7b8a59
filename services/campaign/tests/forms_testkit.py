"""Campaign and consent running side by side (real PostgreSQL, NATS JetStream and gRPC) for
the forms: a submission starts double opt-in at consent with a service token (audience
consent, scope consent:write) signed by the tests' issuer, which both services trust, as
identity's would be in production; consent's ``consent.purpose.granted`` comes back over
the bus. A small HTTP server stands in for the challenge provider's siteverify endpoint
(outside our system), speaking its documented wire format."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import nats
import nats.js.errors
import pytest_asyncio
from campaign_testkit import Campaign

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import consent_service_pb2_grpc
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva_campaign.__main__ import build
from missiva_campaign.config import CampaignSettings
from missiva_consent.__main__ import build as build_consent
from missiva_consent.config import ConsentSettings
from missiva_platform.auth import CallerKind
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.secrets import (
    EMAIL_HASH_KEY_FILE,
    FIELD_KEYS_FILE,
    IP_SALTS_FILE,
    TOKEN_KEYRING_FILE,
)
from missiva_platform.testing.tokens import TestIssuer

CHALLENGE_SECRET = "siteverify-secret"
GOOD_ANSWER = "human-answer"


class SiteVerifyServer(BaseHTTPRequestHandler):
    """Answers like a siteverify endpoint: success only for the secret and the good answer."""

    seen: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        SiteVerifyServer.seen.append(form)
        ok = form.get("secret") == [CHALLENGE_SECRET] and form.get("response") == [GOOD_ANSWER]
        body = json.dumps({"success": ok, "error-codes": [] if ok else ["invalid-input-response"]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


class Forms(Campaign):
    consent: Any = None
    consent_app: Any = None

    def consent_md(
        self, tenant: str, scopes: tuple[str, ...] = ("consent:read", "consent:write")
    ) -> tuple[tuple[str, str], ...]:
        token = self.issuer.token(tenant_id=tenant, roles=("admin",), scopes=scopes)
        return (("authorization", f"Bearer {token}"),)

    async def until_row(self, statement: str, *params: Any, timeout: float = 15.0) -> Any:
        """The first row of ``statement`` once there is one (the bus is asynchronous)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            rows = await self.sql(statement, *params)
            if rows:
                return rows[0]
            assert asyncio.get_running_loop().time() < deadline, "no row came"
            await asyncio.sleep(0.1)

    async def purpose(self, tenant: str, **fields: Any) -> consent_pb.Purpose:
        fields.setdefault("kind", consent_pb.PURPOSE_KIND_EMAIL)
        fields.setdefault("category", types_pb2.EMAIL_CATEGORY_MARKETING)
        fields.setdefault("legal_basis", types_pb2.LEGAL_BASIS_CONSENT)
        key = f"news{uuid.uuid4().hex[:6]}"
        reply = await self.consent.CreatePurpose(
            consent_pb.CreatePurposeRequest(
                purpose=consent_pb.Purpose(key=key, name=key.title(), **fields)
            ),
            metadata=self.consent_md(tenant),
            timeout=10,
        )
        return reply.purpose

    async def confirm_url(self, email: str) -> str:
        """The confirm_url of the confirmation email consent queued for ``email``."""
        person_key = self.key(email)
        js = self.nc.jetstream()
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                msg = await js.get_last_msg("DELIVERY_COMMANDS", "cmd.delivery.send_transactional")
                command = unpack(
                    EventEnvelope.FromString(msg.data), delivery_events.SendTransactionalCommand
                )
                if command.person_key == person_key:
                    return str(command.variables["confirm_url"])
            assert asyncio.get_running_loop().time() < deadline, "no confirmation email queued"
            await asyncio.sleep(0.1)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def forms_env(make_database, nats_url, secrets_dir, request, tmp_path_factory) -> Any:
    issuer = TestIssuer()
    probe = build_consent(
        ConsentSettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url)
    )
    consent_url = make_database(probe.migration_sets, request.module.__name__ + "_consent")
    consent_app = build_consent(
        ConsentSettings(
            database_url=consent_url, nats_url=nats_url, grpc_port=0, http_port=0,
            health_interval_seconds=0.5, shutdown_grace_seconds=1,
            platform_account_id="platform-acct", public_base_url="https://mail.missiva.test",
            token_keyring_file=str(secrets_dir[TOKEN_KEYRING_FILE]),
            email_hash_key_file=str(secrets_dir[EMAIL_HASH_KEY_FILE]),
            ip_salts_file=str(secrets_dir[IP_SALTS_FILE]),
            field_keys_file=str(secrets_dir[FIELD_KEYS_FILE]),
        ),
        jwks=issuer.source(),
    )  # fmt: skip
    await consent_app.start()

    verifier = ThreadingHTTPServer(("127.0.0.1", 0), SiteVerifyServer)
    threading.Thread(target=verifier.serve_forever, daemon=True).start()
    secret = tmp_path_factory.mktemp("challenge") / "secret"
    secret.write_text(CHALLENGE_SECRET + "\n")
    credentials = tmp_path_factory.mktemp("client") / "service-credentials.json"
    credentials.write_text('{"campaign": {"client_id": "missiva-campaign", "client_secret": "x"}}')

    probe_c = build(CampaignSettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url))
    url = make_database(probe_c.migration_sets, request.module.__name__)
    settings = CampaignSettings(
        database_url=url, nats_url=nats_url, grpc_port=0, http_port=0,
        health_interval_seconds=0.5, shutdown_grace_seconds=1,
        email_hash_key_file=str(secrets_dir[EMAIL_HASH_KEY_FILE]),
        token_keyring_file=str(secrets_dir[TOKEN_KEYRING_FILE]),
        consent_target=f"127.0.0.1:{consent_app.grpc_port}",
        identity_target="127.0.0.1:1",  # unused: the tests sign the service tokens
        service_credentials_file=str(credentials),
        form_challenge_url=f"http://127.0.0.1:{verifier.server_address[1]}/siteverify",
        form_challenge_secret_file=str(secret),
    )  # fmt: skip

    async def token_for(tenant: str) -> str:
        return issuer.token(
            tenant_id=tenant, kind=CallerKind.SERVICE, subject="campaign", audience="consent",
            scopes=("consent:write",), roles=(),
        )  # fmt: skip

    app = build(settings, jwks=issuer.source(), consent_token_for=token_for)
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    consent_channel = grpc.aio.insecure_channel(f"127.0.0.1:{consent_app.grpc_port}")
    harness = Forms(app, channel, issuer, secrets_dir)
    harness.consent = consent_service_pb2_grpc.ConsentServiceStub(consent_channel)
    harness.consent_app = consent_app
    harness.nc = await nats.connect(nats_url)
    yield harness
    await channel.close()
    await consent_channel.close()
    await app.stop()
    await consent_app.stop()
    verifier.shutdown()
    js = harness.nc.jetstream()
    for spec, _ in [*app.consumers, *consent_app.consumers]:
        if spec.stream.endswith("_COMMANDS"):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_consumer(spec.stream, spec.durable)
    await harness.nc.close()
