"""'Every account' is an explicit flag, never an empty tenant; service tokens name the
service they are for, and a service's verifier refuses tokens meant for another."""

from typing import Any

import grpc
import psycopg
import pytest

from missiva.common.v1 import types_pb2
from missiva.privacy.v1 import events_pb2 as privacy_events
from missiva.privacy.v1 import privacy_service_pb2, privacy_service_pb2_grpc
from missiva_platform.auth import CallerKind, TokenVerifier
from missiva_platform.config import ServiceSettings
from missiva_platform.db import kit_migrations
from missiva_platform.errors import Unauthenticated
from missiva_platform.events import envelope
from missiva_platform.privacy import (
    DataSection,
    Erasure,
    Person,
    add_privacy_service,
    command_handlers,
    export_subject,
)
from missiva_platform.service import ServiceApp
from missiva_platform.testing.tokens import TestIssuer


class Remembering:
    def __init__(self) -> None:
        self.seen: list[Person] = []

    async def export(self, person: Person) -> list[DataSection]:
        self.seen.append(person)
        return []

    async def erase(self, person: Person) -> Erasure:
        self.seen.append(person)
        return Erasure()


def test_a_person_is_about_one_account_or_explicitly_every_account():
    assert Person("r", "pk", tenant_id="acme").all_accounts is False
    assert Person("r", "pk", all_accounts=True).tenant_id == ""
    with pytest.raises(ValueError, match="all_accounts"):
        Person("r", "pk")
    with pytest.raises(ValueError, match="all_accounts"):
        Person("r", "pk", tenant_id="acme", all_accounts=True)


@pytest.fixture
async def served(make_database, nats_url):
    issuer = TestIssuer()
    url = make_database([kit_migrations()], "all_accounts")
    settings = ServiceSettings(
        database_url=url, nats_url=nats_url, grpc_port=0, http_port=0,
        health_interval_seconds=0.2, shutdown_grace_seconds=1,
    )  # fmt: skip
    app = ServiceApp("testsvc", settings, jwks=issuer.source())
    privacy = Remembering()
    add_privacy_service(app, privacy)
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    yield privacy_service_pb2_grpc.PrivacyServiceStub(channel), issuer, privacy
    await channel.close()
    await app.stop()


async def _export(stub, token: str, **fields: Any) -> Any:
    return await stub.ExportPersonData(
        privacy_service_pb2.ExportPersonDataRequest(
            request_id="r1", person=types_pb2.PersonRef(person_key="pk1"), **fields
        ),
        metadata=(("authorization", f"Bearer {token}"),),
        timeout=5,
    )


async def test_a_token_for_no_account_must_ask_for_every_account(served):
    stub, issuer, privacy = served
    platform = issuer.token(kind=CallerKind.SERVICE, subject="consent", tenant_id="",
                            audience="testsvc")  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _export(stub, platform)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "all_accounts" in err.value.details()
    assert privacy.seen == []

    await _export(stub, platform, all_accounts=True)
    assert privacy.seen[-1].all_accounts is True
    assert privacy.seen[-1].tenant_id == ""

    acme = issuer.token(kind=CallerKind.SERVICE, subject="consent", tenant_id="acme",
                        audience="testsvc")  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _export(stub, acme, all_accounts=True)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    await _export(stub, acme)
    assert (privacy.seen[-1].tenant_id, privacy.seen[-1].all_accounts) == ("acme", False)


async def test_a_service_token_for_another_service_is_refused(served):
    stub, issuer, privacy = served
    for audience in ("delivery", ""):
        token = issuer.token(kind=CallerKind.SERVICE, subject="consent", tenant_id="acme",
                             audience=audience)  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _export(stub, token)
        assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert privacy.seen == []


async def test_the_verifier_checks_a_service_tokens_audience():
    issuer = TestIssuer()
    verifier = TokenVerifier(issuer.source(), audience="consent")
    ok = issuer.token(kind=CallerKind.SERVICE, subject="campaign", audience="consent")
    assert (await verifier.verify(ok)).subject == "campaign"
    with pytest.raises(Unauthenticated, match="another service"):
        await verifier.verify(
            issuer.token(kind=CallerKind.SERVICE, subject="campaign", audience="billing")
        )
    # User and API-key tokens are for the whole platform.
    assert (await verifier.verify(issuer.token(scopes=("*",)))).kind is CallerKind.USER
    # A verifier that does not know whom it serves accepts no service token.
    with pytest.raises(Unauthenticated, match="service"):
        await TokenVerifier(issuer.source()).verify(ok)


@pytest.fixture
def url(make_database) -> str:
    return make_database([kit_migrations()], "all_accounts_bus")


def _command(tenant: str, all_accounts: bool) -> Any:
    message = privacy_events.ExportPersonDataCommand(
        request_id=f"r-{tenant}-{all_accounts}", person=types_pb2.PersonRef(person_key="pk"),
        service="billing", all_accounts=all_accounts,
    )  # fmt: skip
    return envelope(message, subject=export_subject("billing"), tenant_id=tenant,
                    producer="consent")  # fmt: skip


async def test_a_command_for_no_account_must_say_every_account(url):
    privacy = Remembering()
    handle = command_handlers("billing", privacy)[export_subject("billing")]
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for tenant, flag in (("", False), ("acme", True)):
            with pytest.raises(ValueError, match="all_accounts"):
                await handle(conn, _command(tenant, flag), None)
            await conn.rollback()
        await handle(conn, _command("", True), None)
        await handle(conn, _command("acme", False), None)
        await conn.rollback()
    assert [(p.tenant_id, p.all_accounts) for p in privacy.seen] == [("", True), ("acme", False)]
