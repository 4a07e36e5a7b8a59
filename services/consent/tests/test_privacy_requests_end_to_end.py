"""A data-subject request across the whole platform: consent asks identity, consent, campaign,
delivery and billing over real NATS work queues; each answers through the kit's privacy
consumers; the request completes and the export bundle holds every service's part."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.identity.v1 import identity_service_pb2 as ipb
from missiva.identity.v1 import identity_service_pb2_grpc
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_identity.config import IdentitySettings
from missiva_platform import secrets
from missiva_platform.auth import CallerKind
from missiva_platform.streams import (
    SEND_TRANSACTIONAL_EMAIL,
    SERVICES,
    command_subject,
    commands_stream,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

SKELETONS = ("campaign", "delivery", "billing")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def platform(consent, make_database, nats_url, secrets_dir) -> AsyncIterator[dict[str, Any]]:
    """identity, campaign, delivery and billing running beside the module's consent."""
    js = consent.nc.jetstream()
    for service in SERVICES:  # commands left by other modules would only slow the queues
        for verb in ("export_person_data", "erase_person_data"):
            with contextlib.suppress(Exception):
                await js.purge_stream(
                    commands_stream(service).name, subject=command_subject(service, verb)
                )
    files = {name: str(path) for name, path in secrets_dir.items()}
    common = {
        "nats_url": nats_url,
        "grpc_port": 0,
        "http_port": 0,
        "health_interval_seconds": 0.5,
        "shutdown_grace_seconds": 1.0,
        "email_hash_key_file": files[secrets.EMAIL_HASH_KEY_FILE],  # consent's: same person keys
        "ip_salts_file": files[secrets.IP_SALTS_FILE],
        "field_keys_file": files[secrets.FIELD_KEYS_FILE],
        "token_keyring_file": files[secrets.TOKEN_KEYRING_FILE],
    }
    apps: dict[str, Any] = {}
    from missiva_identity.__main__ import build as build_identity

    identity_extra = {
        "service_credentials_file": files[secrets.SERVICE_CREDENTIALS_FILE],
        "jwt_signing_keys_file": files[secrets.JWT_SIGNING_KEYS_FILE],
        "argon2_memory_kib": 1024,
        "argon2_time_cost": 1,
    }
    probe = build_identity(IdentitySettings(database_url="postgresql://x@h/x", nats_url=nats_url))
    url = make_database(probe.migration_sets, "e2e_identity")
    apps["identity"] = build_identity(
        IdentitySettings(database_url=url, **common, **identity_extra)
    )
    for name in SKELETONS:
        entry = importlib.import_module(f"missiva_{name}.__main__")
        config = importlib.import_module(f"missiva_{name}.config")
        settings_cls = getattr(config, f"{name.capitalize()}Settings")
        probe = entry.build(settings_cls(database_url="postgresql://x@h/x", nats_url=nats_url))
        url = make_database(probe.migration_sets, f"e2e_{name}")
        apps[name] = entry.build(settings_cls(database_url=url, **common))
    # Delivery consumes cmd.delivery.send_transactional now, and a work queue admits one
    # consumer per subject: the harness's reader of those commands steps aside meanwhile.
    info = await consent._commands.consumer_info()
    await consent._commands.unsubscribe()
    await js.delete_consumer(info.stream_name, info.name)
    started = []
    try:
        for app in apps.values():
            await app.start()
            started.append(app)
        yield apps
    finally:
        for app in reversed(started):
            await app.stop()
        for spec, _ in apps["delivery"].consumers:
            with contextlib.suppress(Exception):
                await js.delete_consumer(spec.stream, spec.durable)
        consent._commands = await js.pull_subscribe(
            SEND_TRANSACTIONAL_EMAIL, durable=info.name, stream=info.stream_name
        )


async def until_completed(consent, request_id: str, metadata: Any) -> pb.PrivacyRequest:
    deadline = asyncio.get_running_loop().time() + 40
    while True:
        reply = await consent.stub.GetPrivacyRequest(
            pb.GetPrivacyRequestRequest(request_id=request_id), metadata=metadata, timeout=10
        )
        found = reply.privacy_request
        if found.status == pb.PRIVACY_REQUEST_STATUS_COMPLETED:
            return found
        waiting = [s.service for s in found.services if not s.completed]
        assert asyncio.get_running_loop().time() < deadline, f"still waiting for {waiting}"
        await asyncio.sleep(0.2)


async def test_our_users_export_completes_with_every_services_part(consent, platform):
    email = consent.email()
    identity = platform["identity"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{identity.grpc_port}") as channel:
        signed = await identity_service_pb2_grpc.IdentityServiceStub(channel).SignUp(
            ipb.SignUpRequest(
                email=email,
                password="violet tractor harbour 42",
                display_name="Ada",
                account_name="Ada's shop",
                acceptances=[
                    ipb.DocumentAcceptance(
                        document_id=doc,
                        version="2025-01",
                        checkbox_text=f"I accept {doc}",
                        accepted=True,
                    )
                    for doc in ("terms", "privacy")
                ],
                age_confirmed=True,
                locale="en",
            ),
            timeout=10,
        )
    # Identity tells consent about the sign-up (the acceptances land in the platform ledger).
    deadline = asyncio.get_running_loop().time() + 20
    while not await consent.scalar(
        "SELECT count(*) FROM consent_ledger WHERE source_detail = %s", f"user:{signed.user_id}"
    ):
        assert asyncio.get_running_loop().time() < deadline, "consent never saw the sign-up"
        await asyncio.sleep(0.2)
    user = consent.md(signed.account_id, roles=("primary_admin", "admin"), subject=signed.user_id)

    # The verification mail reaches delivery's send log before the request asks for it.
    async with platform["delivery"].pool.connection() as conn:
        for _ in range(200):
            cur = await conn.execute(
                "SELECT count(*) FROM messages WHERE person_key = %s", (consent.key(email),)
            )
            if (await cur.fetchone())[0]:
                break
            await asyncio.sleep(0.05)
    reply = await consent.stub.OpenPrivacyRequest(
        pb.OpenPrivacyRequestRequest(
            kind=ppb.PRIVACY_REQUEST_KIND_EXPORT,
            person=types_pb2.PersonRef(user_id=signed.user_id),
            idempotency_key="my-export",
        ),
        metadata=user,
        timeout=10,
    )
    opened = reply.privacy_request
    assert opened.person.person_key == consent.key(email)  # found through the ledger
    done = await until_completed(consent, opened.request_id, user)
    bundle = await consent.stub.DownloadPrivacyExport(
        pb.DownloadPrivacyExportRequest(token=done.export_url.rsplit("/", 1)[1]), timeout=10
    )

    document = json.loads(bundle.content)
    parts = {p["service"]: {s["name"]: s["content"] for s in p["sections"]}
             for p in document["services"]}  # fmt: skip
    assert set(parts) == set(SERVICES)
    assert parts["identity"]["profile"][0]["email"] == email
    assert parts["identity"]["profile"][0]["user_id"] == signed.user_id
    accepted = {e["document_id"] for e in parts["consent"]["consent_history"]}
    assert accepted == {"terms", "privacy"}
    assert all(parts[name] == {} for name in ("campaign", "billing"))  # nothing on anyone yet
    # Delivery holds the send log of the verification mail (the mail itself could not go out:
    # no SMTP server here, so it waits, deferred).
    [mail] = parts["delivery"]["delivery.send_log"]
    assert mail["template"] == "identity.verify_email"


async def test_an_erasure_of_a_contact_completes_with_what_each_service_kept(consent, platform):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)

    reply = await consent.stub.OpenPrivacyRequest(
        pb.OpenPrivacyRequestRequest(
            kind=ppb.PRIVACY_REQUEST_KIND_ERASE, person=consent.person(email)
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )
    done = await until_completed(consent, reply.privacy_request.request_id, consent.md(tenant))

    progress = {s.service: s for s in done.services}
    assert set(progress) == set(SERVICES)
    assert {r.category for r in progress["consent"].retained} == {"consent_history", "suppressions"}
    assert done.export_url == ""
    check = await consent.check(tenant, email, purpose.purpose_id)
    assert check.suppressed
    assert not check.allowed
    for name in SKELETONS:  # each answered once for this request
        async with platform[name].pool.connection() as conn:
            cur = await conn.execute(
                "SELECT kind FROM kit_privacy_answers WHERE request_id = %s", (done.request_id,)
            )
            assert await cur.fetchall() == [("erase",)]


async def test_a_member_cannot_open_a_request_for_a_contact(consent, platform):
    err = None
    try:
        await consent.stub.OpenPrivacyRequest(
            pb.OpenPrivacyRequestRequest(
                kind=ppb.PRIVACY_REQUEST_KIND_ERASE, person=consent.person(consent.email())
            ),
            metadata=consent.md(consent.tenant(), kind=CallerKind.USER, roles=("member",)),
            timeout=10,
        )
    except grpc.aio.AioRpcError as exc:
        err = exc
    assert err is not None
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
