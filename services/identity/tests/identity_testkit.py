"""Helpers and fixtures of the identity tests: a running service per test and ways to drive it."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import nats
import pyotp
import pytest
from nats.js import api

from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva.identity.v1 import identity_service_pb2 as pb
from missiva.identity.v1 import identity_service_pb2_grpc
from missiva_identity.__main__ import build
from missiva_identity.config import IdentitySettings
from missiva_platform import secrets
from missiva_platform.auth import CallerKind
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.streams import commands_stream, events_stream
from missiva_platform.testing import harness as kit

PASSWORD = "violet tractor harbour 42"
_emails = itertools.count(1)

TERMS = pb.DocumentAcceptance(
    document_id="terms", version="2025-01", checkbox_text="I accept the Terms", accepted=True
)
PRIVACY = pb.DocumentAcceptance(
    document_id="privacy",
    version="2025-01",
    checkbox_text="I have read the Privacy Policy",
    accepted=True,
)


def new_email(hint: str = "user") -> str:
    return f"{hint}.{next(_emails)}@example.org"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture(scope="session")
def secret_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    paths = secrets.generate_secrets(tmp_path_factory.mktemp("identity-secrets"))
    return {name: str(path) for name, path in paths.items()}


def identity_settings(url: str, nats_url: str, files: dict[str, str], **overrides: Any):
    values: dict[str, Any] = {
        "database_url": url,
        "nats_url": nats_url,
        "grpc_port": 0,
        "http_port": 0,
        "health_interval_seconds": 0.5,
        "shutdown_grace_seconds": 1.0,
        # Cheap hashing: these tests are not about the parameters (test_passwords is).
        "argon2_memory_kib": 1024,
        "argon2_time_cost": 1,
        "email_hash_key_file": files[secrets.EMAIL_HASH_KEY_FILE],
        "ip_salts_file": files[secrets.IP_SALTS_FILE],
        "field_keys_file": files[secrets.FIELD_KEYS_FILE],
        "service_credentials_file": files[secrets.SERVICE_CREDENTIALS_FILE],
        "jwt_signing_keys_file": files[secrets.JWT_SIGNING_KEYS_FILE],
        "token_keyring_file": files[secrets.TOKEN_KEYRING_FILE],
        "login_delay_base_seconds": 30.0,
    }
    values.update(overrides)
    return IdentitySettings(**values)


@dataclass
class Mailbox:
    """The delivery work queue, read by the test: identity's emails as commands."""

    js: Any
    seen: list[delivery_events.SendTransactionalCommand] = field(default_factory=list)
    sub: Any = None

    async def fetch(self) -> None:
        if self.sub is None:
            # A work queue allows one consumer per subject: durable consumers other tests'
            # services left behind (they outlive their apps) would refuse ours.
            with contextlib.suppress(Exception):
                for info in await self.js.consumers_info("DELIVERY_COMMANDS"):
                    await self.js.delete_consumer("DELIVERY_COMMANDS", info.name)
            self.sub = await self.js.pull_subscribe(
                "cmd.delivery.>", durable="identity_tests", stream="DELIVERY_COMMANDS"
            )
        while True:
            try:
                msgs = await self.sub.fetch(50, timeout=0.05)
            except (TimeoutError, nats.errors.TimeoutError):
                return
            for msg in msgs:
                with contextlib.suppress(TypeError):
                    self.seen.append(
                        unpack(
                            EventEnvelope.FromString(msg.data),
                            delivery_events.SendTransactionalCommand,
                        )
                    )
                await msg.ack()

    async def wait_for(
        self, to: str, template: str, timeout: float = 10.0, count: int = 1
    ) -> list[delivery_events.SendTransactionalCommand]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            await self.fetch()
            found = [
                m
                for m in self.seen
                if m.to_address == to and m.template_key == f"identity.{template}"
            ]
            if len(found) >= count:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {template} email to {to}; saw {len(self.seen)} commands")
            await asyncio.sleep(0.05)

    async def token(self, to: str, template: str, variable: str) -> str:
        command = (await self.wait_for(to, template))[-1]
        url = command.variables[variable]
        return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]


@dataclass
class Identity:
    app: Any
    settings: IdentitySettings
    channel: grpc.aio.Channel
    stub: identity_service_pb2_grpc.IdentityServiceStub
    mailbox: Mailbox
    js: Any
    url: str

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.app.grpc_port}"

    async def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        return await kit.sql(self.url, query, *params)

    async def sign_up(
        self, email: str | None = None, password: str = PASSWORD, **overrides: Any
    ) -> pb.SignUpResponse:
        email = email or new_email()
        request = pb.SignUpRequest(
            email=email,
            password=password,
            display_name="Ada",
            account_name="Ada's shop",
            acceptances=[TERMS, PRIVACY],
            age_confirmed=True,
            locale="en",
        )
        for name, value in overrides.items():
            if name == "acceptances":
                del request.acceptances[:]
                request.acceptances.extend(value)
            else:
                setattr(request, name, value)
        return await self.stub.SignUp(request, timeout=10)

    async def verify(self, email: str) -> None:
        token = await self.mailbox.token(email, "verify_email", "verification_url")
        await self.stub.VerifyEmail(pb.VerifyEmailRequest(token=token), timeout=10)

    async def login(
        self, email: str, password: str = PASSWORD, *, as_gateway: bool | None = None, **extra: Any
    ) -> pb.LoginResponse:
        """Sign in; a ``client`` (ClientContext) is sent, like the gateway does, with the
        gateway's service token unless ``as_gateway=False`` (then identity must ignore it)."""
        metadata: tuple[tuple[str, str], ...] = ()
        if as_gateway or (as_gateway is None and "client" in extra):
            metadata = bearer(await self.gateway_token())
        return await self.stub.Login(
            pb.LoginRequest(email=email, password=password, **extra), metadata=metadata, timeout=10
        )

    async def gateway_token(self) -> str:
        return await self.issue(
            tenant_id="", kind=CallerKind.SERVICE, subject="gateway", audience="identity"
        )

    async def issue(
        self,
        *,
        tenant_id: str,
        kind: CallerKind = CallerKind.USER,
        scopes: Any = (),
        roles: Any = (),
        subject: str = "someone",
        audience: str = "",
    ) -> str:
        """A token signed with identity's own keys, with exactly these claims (for rule tests)."""
        keys = self.app.services[0].servicer.core.keys
        claims: dict[str, Any] = {
            "sub": subject,
            "tid": tenant_id,
            "typ": str(kind),
            "roles": list(roles),
            "scope": " ".join(scopes),
            "mfa": False,
        }
        if kind is CallerKind.SERVICE:
            claims["svc_aud"] = audience
        token, _ = await keys.sign(claims, 300)
        return token

    async def user(self, *, verified: bool = True, email: str | None = None) -> User:
        """A signed-up (and verified) primary admin with a session."""
        email = email or new_email()
        signed = await self.sign_up(email)
        if verified:
            await self.verify(email)
        tokens = (await self.login(email)).tokens
        return User(email, signed.account_id, signed.user_id, tokens)


@dataclass
class User:
    email: str
    account_id: str
    user_id: str
    tokens: pb.SessionTokens

    @property
    def md(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.tokens.access_token)


@pytest.fixture
def make_identity(
    make_database: Callable[..., str], nats_url: str, secret_files: dict[str, str]
) -> Callable[..., Any]:
    """``async with make_identity(**settings) as identity``: a started service."""

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Identity]:
        url = overrides.pop("database_url", None)
        probe = build(identity_settings("postgresql://x@127.0.0.1/x", nats_url, secret_files))
        await _forget_published_documents(nats_url)
        url = url or make_database(probe.migration_sets, "identity")
        settings = identity_settings(url, nats_url, secret_files, **overrides)
        app = build(settings)
        await app.start()
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        for stream in (commands_stream("delivery"), events_stream("identity")):
            with contextlib.suppress(Exception):
                await js.add_stream(stream.config())
        mailbox = Mailbox(js)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
        try:
            yield Identity(
                app,
                settings,
                channel,
                identity_service_pb2_grpc.IdentityServiceStub(channel),
                mailbox,
                js,
                url,
            )
        finally:
            await channel.close()
            with contextlib.suppress(Exception):
                await js.delete_consumer("DELIVERY_COMMANDS", "identity_tests")
            await nc.close()
            await app.stop()

    return start


async def _forget_published_documents(nats_url: str) -> None:
    """Documents published by earlier tests (any module) must not reach this test's service."""
    nc = await nats.connect(nats_url)
    try:
        with contextlib.suppress(Exception):
            await nc.jetstream().purge_stream(
                events_stream("consent").name, subject="consent.document.published"
            )
    finally:
        await nc.close()


@pytest.fixture
async def identity(make_identity: Callable[..., Any]) -> AsyncIterator[Identity]:
    async with make_identity() as running:
        yield running


async def enable_totp(identity: Identity, user: User) -> tuple[str, list[str]]:
    """Enrol and confirm TOTP for ``user`` (their session is fresh); the secret and codes."""
    enrol = await identity.stub.EnrollTotp(pb.EnrollTotpRequest(), metadata=user.md)
    assert enrol.provisioning_uri.startswith("otpauth://totp/")
    confirmed = await identity.stub.ConfirmTotp(
        pb.ConfirmTotpRequest(totp_code=pyotp.TOTP(enrol.secret).now()), metadata=user.md
    )
    return enrol.secret, list(confirmed.recovery_codes)


def next_code(secret: str) -> str:
    """The code of the next 30-second step: accepted (one step of drift), not yet spent."""
    return pyotp.TOTP(secret).at(time.time() + 30)


async def events_of(js: Any, subject: str, timeout: float = 10.0) -> list[Any]:
    """Every envelope published on ``subject`` so far (an ephemeral ordered read)."""
    deadline = asyncio.get_running_loop().time() + timeout
    found: list[Any] = []
    sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=api.DeliverPolicy.ALL)
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=0.3)
            except nats.errors.TimeoutError:
                if found or asyncio.get_running_loop().time() > deadline:
                    return found
                continue
            found.append(EventEnvelope.FromString(msg.data))
    finally:
        await sub.unsubscribe()


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


class LocalHttp:
    """A tiny HTTP server on loopback, in a thread, answering with ``handler``."""

    def __init__(self, handler: Callable[[str, str, dict[str, str], bytes], tuple[int, str]]):
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((method, self.path, headers, body))
                status, text = handler(method, self.path, headers, body)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> LocalHttp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def challenge_server() -> Iterator[LocalHttp]:
    """A Turnstile-style verifier: the token "passed" is a solved challenge."""

    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        form = urllib.parse.parse_qs(body.decode())
        ok = form.get("response") == ["passed"] and form.get("secret") == ["challenge-secret"]
        return 200, json.dumps({"success": ok})

    with LocalHttp(answer) as server:
        yield server
