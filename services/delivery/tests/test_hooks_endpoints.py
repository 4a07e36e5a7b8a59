"""Outbound webhook endpoints over gRPC: create (idempotent, the secret sealed), list,
update, delete, the SSRF guard, bad input naming the field, another account's ids NOT_FOUND,
the scopes and roles, retention in time, a person's erasure and an erased account."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import field_mask_pb2

from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.identity.v1 import events_pb2 as identity_events
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_delivery import hooks_domain as hd
from missiva_delivery.hooks_events import HookSources
from missiva_delivery.hooks_sender import Refused, resolve
from missiva_delivery.retention import rules
from missiva_platform.auth import CallerKind
from missiva_platform.errors import InvalidArgument
from missiva_platform.events import envelope
from missiva_platform.retention import run_retention

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETTINGS = {
    "webhook_allow_loopback_http": True,
    "webhook_retry_base_seconds": 0.2,
    "webhook_retry_max_seconds": 0.4,
    "webhook_poll_seconds": 0.1,
    "webhook_timeout_seconds": 3.0,
}


# -- helpers ----------------------------------------------------------------------------------


def _key(delivery: Any, tenant: str, *scopes: str) -> Any:
    return delivery.md(tenant, kind=CallerKind.API_KEY, subject="key-1", scopes=scopes)


def _member(delivery: Any, tenant: str) -> Any:
    return delivery.md(tenant, kind=CallerKind.USER, subject="user-2", roles=("member",),
                       scopes=("*",))  # fmt: skip


async def _create(delivery: Any, tenant: str, url: str, types: list[str], **kw: Any) -> Any:
    return await delivery.stub.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(url=url, event_types=types, **kw),
        metadata=_key(delivery, tenant, "webhooks:write"),
        timeout=10,
    )


# -- tests ------------------------------------------------------------------------------------


async def test_the_ssrf_guard_refuses_private_addresses_and_plain_http(delivery) -> None:
    tenant = delivery.tenant()
    refused = (
        "https://10.1.2.3/hook", "https://192.168.0.10/hook", "https://169.254.169.254/",
        "https://[::ffff:10.0.0.1]/hook", "https://[fd00::1]/x", "ftp://example.com/x",
        "https://user:pw@hooks.example.com/", "not a url", "https://intranet/hook",
    )  # fmt: skip
    for url in refused:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _create(delivery, tenant, url, ["message.sent"])
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, url
        assert "url" in err.value.details()
    # Without the embedded platform's setting, loopback and plain http are refused too.
    for url in (
        "http://127.0.0.1:8080/hook",
        "https://localhost/hook",
        "http://hooks.example.com/",
    ):
        with pytest.raises(InvalidArgument):
            hd.valid_url("url", url, allow_loopback_http=False)
    assert hd.valid_url("url", "https://Hooks.Example.com", allow_loopback_http=False) == (
        "https://hooks.example.com/"
    )
    # At send time the resolved addresses are checked again (a name may point anywhere).
    with pytest.raises(Refused, match="loopback"):
        await resolve("https://localhost:9/hook", allow_loopback=False)
    with pytest.raises(Refused, match="https"):
        await resolve("http://93.184.216.34/hook", allow_loopback=True)
    assert (await resolve("http://127.0.0.1:9/", allow_loopback=True))[0] == "127.0.0.1"


async def test_bad_input_names_the_field(delivery) -> None:
    tenant = delivery.tenant()
    cases = [
        ({"url": "https://hooks.example.com/", "event_types": []}, "event_types"),
        ({"url": "https://hooks.example.com/", "event_types": ["message.opened"]},
         "event_types[0]"),
        ({"url": "", "event_types": ["message.sent"]}, "url"),
        ({"url": "https://hooks.example.com/", "event_types": ["message.sent"],
          "description": "x" * 501}, "description"),
    ]  # fmt: skip
    for fields, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await delivery.stub.CreateWebhookEndpoint(
                pb.CreateWebhookEndpointRequest(**fields), metadata=delivery.admin(tenant)
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith(field + ":"), err.value.details()
    created = await _create(delivery, tenant, "https://hooks.example.com/", ["message.sent"])
    endpoint_id = created.webhook_endpoint.webhook_endpoint_id
    for mask, field in ((["secret"], "update_mask"), ([], "update_mask"),
                        (["event_types"], "webhook_endpoint.event_types")):  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await delivery.stub.UpdateWebhookEndpoint(
                pb.UpdateWebhookEndpointRequest(
                    webhook_endpoint_id=endpoint_id,
                    update_mask=field_mask_pb2.FieldMask(paths=mask),
                ),
                metadata=delivery.admin(tenant),
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith(field + ":"), err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await delivery.stub.GetWebhookEndpoint(
            pb.GetWebhookEndpointRequest(webhook_endpoint_id="nope"),
            metadata=delivery.admin(tenant),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Nothing changed by the refused updates.
    got = await delivery.stub.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(webhook_endpoint_id=endpoint_id),
        metadata=delivery.admin(tenant),
    )
    assert list(got.webhook_endpoint.event_types) == ["message.sent"]


async def test_create_is_idempotent_list_pages_update_and_delete(delivery) -> None:
    tenant = delivery.tenant()
    request = {"url": "https://hooks.example.com/x", "event_types": ["message.sent"],
               "idempotency_key": "create-1"}  # fmt: skip
    one = await _create(delivery, tenant, **{"types": request.pop("event_types"), **request})
    two = await delivery.stub.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(
            url="https://hooks.example.com/x", event_types=["message.sent"],
            idempotency_key="create-1",
        ),
        metadata=delivery.admin(tenant),
    )  # fmt: skip
    assert two.webhook_endpoint.webhook_endpoint_id == one.webhook_endpoint.webhook_endpoint_id
    assert two.signing_secret == one.signing_secret
    for n in range(2):
        await _create(delivery, tenant, f"https://hooks.example.com/{n}", ["campaign.started"])
    seen, token = [], ""
    while True:
        page = await delivery.stub.ListWebhookEndpoints(
            pb.ListWebhookEndpointsRequest(page_size=2, page_token=token),
            metadata=_member(delivery, tenant),
        )
        seen += [e.webhook_endpoint_id for e in page.webhook_endpoints]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 3
    assert len(set(seen)) == 3
    endpoint_id = seen[0]
    updated = await delivery.stub.UpdateWebhookEndpoint(
        pb.UpdateWebhookEndpointRequest(
            webhook_endpoint_id=endpoint_id,
            webhook_endpoint=pb.WebhookEndpoint(
                event_types=["message.bounced", "message.complained"], enabled=False,
                description="ops", url="https://other.example.com/h",
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["event_types", "enabled", "description"]),
        ),
        metadata=delivery.admin(tenant),
    )  # fmt: skip
    e = updated.webhook_endpoint
    assert list(e.event_types) == ["message.bounced", "message.complained"]
    assert not e.enabled
    assert e.description == "ops"
    assert e.url == "https://hooks.example.com/x"
    await delivery.stub.DeleteWebhookEndpoint(
        pb.DeleteWebhookEndpointRequest(webhook_endpoint_id=endpoint_id),
        metadata=delivery.admin(tenant),
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await delivery.stub.GetWebhookEndpoint(
            pb.GetWebhookEndpointRequest(webhook_endpoint_id=endpoint_id),
            metadata=delivery.admin(tenant),
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_another_accounts_endpoint_is_not_found(delivery) -> None:
    mine, theirs = delivery.tenant(), delivery.tenant()
    created = await _create(delivery, mine, "https://hooks.example.com/m", ["message.sent"])
    endpoint_id = created.webhook_endpoint.webhook_endpoint_id
    admin = delivery.admin(theirs)
    calls = [
        ("GetWebhookEndpoint", pb.GetWebhookEndpointRequest(webhook_endpoint_id=endpoint_id)),
        ("UpdateWebhookEndpoint", pb.UpdateWebhookEndpointRequest(
            webhook_endpoint_id=endpoint_id, webhook_endpoint=pb.WebhookEndpoint(enabled=False),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled"]))),
        ("DeleteWebhookEndpoint", pb.DeleteWebhookEndpointRequest(webhook_endpoint_id=endpoint_id)),
        ("RotateWebhookSecret", pb.RotateWebhookSecretRequest(webhook_endpoint_id=endpoint_id)),
        ("SendTestWebhook", pb.SendTestWebhookRequest(webhook_endpoint_id=endpoint_id)),
        ("ListWebhookDeliveries",
         pb.ListWebhookDeliveriesRequest(webhook_endpoint_id=endpoint_id)),
    ]  # fmt: skip
    for method, request in calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await getattr(delivery.stub, method)(request, metadata=admin)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND, method
    listed = await delivery.stub.ListWebhookEndpoints(
        pb.ListWebhookEndpointsRequest(), metadata=admin
    )
    assert list(listed.webhook_endpoints) == []
    # Still there and unchanged for its own account.
    got = await delivery.stub.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(webhook_endpoint_id=endpoint_id),
        metadata=delivery.admin(mine),
    )
    assert got.webhook_endpoint.enabled


async def test_reading_needs_webhooks_read_and_writing_webhooks_write(delivery) -> None:
    tenant = delivery.tenant()
    created = await _create(delivery, tenant, "https://hooks.example.com/s", ["message.sent"])
    endpoint_id = created.webhook_endpoint.webhook_endpoint_id
    reader = _key(delivery, tenant, "webhooks:read")
    await delivery.stub.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(webhook_endpoint_id=endpoint_id), metadata=reader
    )
    for metadata in (reader, _member(delivery, tenant)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await delivery.stub.CreateWebhookEndpoint(
                pb.CreateWebhookEndpointRequest(
                    url="https://hooks.example.com/", event_types=["message.sent"]
                ),
                metadata=metadata,
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await delivery.stub.ListWebhookEndpoints(
            pb.ListWebhookEndpointsRequest(), metadata=_key(delivery, tenant, "webhooks:write")
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:  # a service acts for no account here
        await delivery.stub.ListWebhookEndpoints(
            pb.ListWebhookEndpointsRequest(),
            metadata=delivery.md(tenant, scopes=("webhooks:read",)),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_deliveries_go_after_30_days_and_with_the_person_or_account(delivery) -> None:
    tenant = delivery.tenant()
    created = await _create(delivery, tenant, "https://hooks.example.com/r", ["campaign.started"])
    endpoint_id = created.webhook_endpoint.webhook_endpoint_id
    person = "cd" * 32
    async with await psycopg.AsyncConnection.connect(delivery.url) as conn:
        from missiva_delivery.store import hooks as store

        for n in range(3):
            await store.enqueue(
                conn, tenant_id=tenant, endpoint_ids=[endpoint_id], event_id=f"evt_{n}",
                event_type="contact.unsubscribed", person_key=person if n else "", body="{}",
            )  # fmt: skip
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'delivered' WHERE tenant_id = %s", (tenant,)
        )
        await conn.commit()
    count = "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = %s"
    now = datetime.now(UTC)
    await run_retention(delivery.url, rules(delivery.app.settings), now=now + timedelta(days=29))
    assert await delivery.scalar(count, tenant) == 3
    # A person's erasure takes their rows (of the caller's account).
    erased = await delivery.privacy.ErasePersonData(
        ppb.ErasePersonDataRequest(
            request_id=f"dsar-{uuid.uuid4().hex[:6]}",
            person=types_pb2.PersonRef(person_key=person),
        ),
        metadata=delivery.md(tenant, subject="consent", scopes=("*",)),
        timeout=10,
    )
    assert {e.category: e.count for e in erased.erased}.get("delivery.webhook_deliveries") == 2
    assert await delivery.scalar(count, tenant) == 1
    await run_retention(delivery.url, rules(delivery.app.settings), now=now + timedelta(days=31))
    assert await delivery.scalar(count, tenant) == 0
    # The erased account's endpoints (and secrets) go with it.
    erased_account = envelope(
        identity_events.AccountErased(account_id=tenant), subject="identity.account.erased",
        tenant_id=tenant, producer="identity",
    )  # fmt: skip
    async with await psycopg.AsyncConnection.connect(delivery.url) as conn:
        await HookSources().account_erased(conn, erased_account, None)
        await conn.commit()
    assert (
        await delivery.scalar("SELECT count(*) FROM webhook_endpoints WHERE tenant_id = %s", tenant)
        == 0
    )


async def test_an_answers_excerpt_is_text_the_database_holds() -> None:
    kept = hd.excerpt(b"bad\x00gateway\x1b[31m\n\xff" + b"x" * 600)
    assert kept.startswith("badgateway[31m\n\ufffd")
    assert "\x00" not in kept
    assert len(kept) <= hd.RESPONSE_EXCERPT
