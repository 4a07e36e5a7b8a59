"""The whole platform in this test process, for the REST API: identity, consent, campaign,
delivery and billing (real PostgreSQL, NATS JetStream, SMTP sink, gRPC), wired as ``missiva
up`` wires them (every service trusts identity's JWKS; campaign asks identity for its
service token to billing), and the gateway app in front, driven through httpx's ASGI
transport on the same event loop.

Accounts and API keys are made the way identity's ``create-account`` / ``create-api-key``
commands make them (store calls in identity's own database), so tests start from a real,
verified account with a real key.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats
import psycopg
import uvicorn

from missiva_billing.__main__ import build as build_billing
from missiva_billing.config import BillingSettings
from missiva_billing.core import Credits
from missiva_campaign.__main__ import build as build_campaign
from missiva_campaign.config import CampaignSettings
from missiva_consent.__main__ import build as build_consent
from missiva_consent.config import ConsentSettings
from missiva_delivery.__main__ import build as build_delivery
from missiva_delivery.config import DeliverySettings
from missiva_gateway.app import create_app
from missiva_gateway.config import GatewaySettings
from missiva_identity import store
from missiva_identity.__main__ import build as build_identity
from missiva_identity.config import IdentitySettings
from missiva_identity.core import new_id
from missiva_identity.rpc_credentials import create_api_key
from missiva_platform import secrets as s
from missiva_platform.devstack.ports import free_port
from missiva_platform.streams import commands_stream

EVERY_SCOPE = (
    "contacts:read", "contacts:write", "lists:read", "lists:write", "segments:read",
    "segments:write", "templates:read", "templates:write", "campaigns:read", "campaigns:write",
    "consent:read", "consent:write", "suppressions:read", "suppressions:write", "mail:send",
    "mail:read", "domains:read", "domains:write", "credits:read", "account:read",
    "webhooks:read", "webhooks:write",
)  # fmt: skip
PASSWORD = "correct horse battery staple 42"


@dataclass
class Account:
    account_id: str
    user_id: str
    email: str
    key: str  # the API key's secret
    api_key_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}"}


class Platform:
    """The five services, their settings, and helpers the API tests share."""

    def __init__(self) -> None:
        self.apps: dict[str, Any] = {}
        self.urls: dict[str, str] = {}
        self.files: dict[str, str] = {}

    def target(self, name: str) -> str:
        return f"127.0.0.1:{self.apps[name].grpc_port}"

    def gateway_settings(self, **overrides: Any) -> GatewaySettings:
        targets = {f"{name}_target": self.target(name) for name in self.apps}
        return GatewaySettings(**{**targets, **overrides})

    @contextlib.asynccontextmanager
    async def client(self, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        """A client of a fresh gateway app (its own token cache and rate limits)."""
        app = create_app(self.gateway_settings(**overrides))
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 40000))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway.test", timeout=60
            ) as client:
                client.app = app  # type: ignore[attr-defined]
                yield client

    @contextlib.asynccontextmanager
    async def served(self, **overrides: Any) -> AsyncIterator[str]:
        """The gateway on a real loopback port (uvicorn on this loop); its base URL."""
        port = free_port()
        config = uvicorn.Config(
            create_app(self.gateway_settings(**overrides)),
            host="127.0.0.1", port=port, lifespan="on", log_config=None, access_log=False,
        )  # fmt: skip
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        try:
            await self.until(lambda: _true(server.started), timeout=30)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task

    async def account(self, scopes: tuple[str, ...] = EVERY_SCOPE, credits: int = 0) -> Account:
        """A verified account, its primary admin and an API key with ``scopes``."""
        core = self.apps["identity"].services[0].servicer.core
        email = f"owner-{uuid.uuid4().hex[:12]}@example.org"
        password_hash = await core.hashing.hash(PASSWORD)
        async with core.pool.connection() as conn, conn.transaction():
            account_id, user_id = new_id(), new_id()
            await store.create_account(conn, account_id, "Bottega test")
            await store.create_user(
                conn,
                store.NewUser(
                    id=user_id, account_id=account_id, email=email, email_normalised=email,
                    person_key=core.vault.person_key(email), display_name="Ada", locale="en",
                    role="primary_admin", password_hash=password_hash,
                ),
            )  # fmt: skip
            await store.mark_verified(conn, user_id)
            created, secret = await create_api_key(
                conn, core, account_id=account_id, created_by=user_id, name="tests",
                scopes=sorted(scopes), expires_at=None,
            )  # fmt: skip
        if credits:
            await self.grant(account_id, credits)
        return Account(account_id, user_id, email, secret, created.api_key.api_key_id)

    async def grant(self, account_id: str, amount: int) -> None:
        connect = psycopg.AsyncConnection.connect
        async with await connect(self.urls["billing"]) as conn, conn.transaction():
            await Credits().grant(conn, account_id, amount, key=f"test:{uuid.uuid4().hex}")

    async def sql(self, service: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.urls[service]) as conn:
            cur = await conn.execute(query, params)
            return list(await cur.fetchall()) if cur.description else []

    @staticmethod
    async def until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = await check()
            if found:
                return found
            if loop.time() > deadline:
                raise AssertionError("the condition never held")
            await asyncio.sleep(0.1)


def _delivery_extra(smtp_url: str) -> dict[str, Any]:
    """Delivery's settings here: the SMTP sink, and (once delivery verifies sender domains)
    a resolver that answers nothing at once, so a verification fails fast, not by timeout."""
    extra: dict[str, Any] = {"smtp_url": smtp_url}
    names = {f.name for f in msgspec.structs.fields(DeliverySettings)}
    if {"dns_resolver", "dns_timeout_seconds"} <= names:
        extra.update(dns_resolver=f"127.0.0.1:{free_port()}", dns_timeout_seconds=0.5)
    if "webhook_allow_loopback_http" in names:  # webhooks to the tests' loopback receiver
        extra.update(webhook_allow_loopback_http=True, webhook_retry_base_seconds=0.2,
                     webhook_retry_max_seconds=0.4, webhook_poll_seconds=0.1)  # fmt: skip
    return extra


async def _true(value: Any) -> bool:
    return bool(value)


def _common(url: str, nats_url: str, files: dict[str, str]) -> dict[str, Any]:
    return {
        "database_url": url,
        "nats_url": nats_url,
        "grpc_port": 0,
        "http_port": 0,
        "health_interval_seconds": 0.5,
        "shutdown_grace_seconds": 1.0,
        "token_keyring_file": files[s.TOKEN_KEYRING_FILE],
        "field_keys_file": files[s.FIELD_KEYS_FILE],
        "email_hash_key_file": files[s.EMAIL_HASH_KEY_FILE],
        "ip_salts_file": files[s.IP_SALTS_FILE],
    }


@contextlib.asynccontextmanager
async def running_platform(
    make_database: Callable[..., str], nats_url: str, smtp_url: str, folder: Path, hint: str
) -> AsyncIterator[Platform]:
    """Start identity first (everyone trusts its keys), then the other four."""
    paths = s.generate_secrets(folder)
    own = s.own_credential_files(paths[s.SERVICE_CREDENTIALS_FILE])
    files = {name: str(path) for name, path in paths.items()}
    platform = Platform()
    platform.files = files
    probe = "postgresql://x@127.0.0.1/x"

    def database(build: Callable[..., Any], settings_class: Any, name: str) -> str:
        sets = build(settings_class(database_url=probe, nats_url=nats_url)).migration_sets
        return make_database(sets, f"{hint}_{name}")

    platform.urls["identity"] = database(build_identity, IdentitySettings, "identity")
    identity = build_identity(
        IdentitySettings(
            **_common(platform.urls["identity"], nats_url, files),
            argon2_memory_kib=1024,
            argon2_time_cost=1,
            service_credentials_file=files[s.SERVICE_CREDENTIALS_FILE],
            jwt_signing_keys_file=files[s.JWT_SIGNING_KEYS_FILE],
        )
    )
    await identity.start()
    platform.apps["identity"] = identity
    target = platform.target("identity")
    try:
        for name, build, settings_class, extra in (
            ("consent", build_consent, ConsentSettings, {}),
            ("billing", build_billing, BillingSettings, {}),
            ("delivery", build_delivery, DeliverySettings, _delivery_extra(smtp_url)),
            ("campaign", build_campaign, CampaignSettings, {}),
        ):
            if name == "campaign":
                extra = {"billing_target": platform.target("billing")}
            platform.urls[name] = database(build, settings_class, name)
            settings = settings_class(
                **_common(platform.urls[name], nats_url, files),
                identity_target=target,
                service_credentials_file=str(own[name]),
                **extra,
            )
            app = build(settings)
            await app.start()
            platform.apps[name] = app
        yield platform
    finally:
        for name in ("campaign", "delivery", "billing", "consent", "identity"):
            app = platform.apps.get(name)
            if app is not None:
                with contextlib.suppress(Exception):
                    await app.stop()
        await _forget_work_queue_consumers(nats_url, platform)


async def _forget_work_queue_consumers(nats_url: str, platform: Platform) -> None:
    """Work queues allow one consumer per subject: leave none behind for other modules."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for app in platform.apps.values():
            for spec, _ in app.consumers:
                if (
                    spec.stream.endswith("_COMMANDS")
                    or spec.stream == commands_stream(app.name).name
                ):
                    with contextlib.suppress(Exception):
                        await js.delete_consumer(spec.stream, spec.durable)
    finally:
        await nc.close()
