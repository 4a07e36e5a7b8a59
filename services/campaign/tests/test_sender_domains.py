"""A campaign is scheduled or sent only from a sender domain delivery verified: the
projection follows delivery's events (newest version wins), and the refusal names the
domain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from campaign_testkit import status_details
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.delivery.v1 import events_pb2 as delivery
from missiva_platform.events import envelope

pytestmark = pytest.mark.asyncio(loop_scope="module")
WRITE = ("campaigns:write",)


def _event(tenant: str, domain_id: str, domain: str, version: int, *, ok: bool):  # type: ignore[no-untyped-def]
    if ok:
        message: object = delivery.SenderDomainVerified(sender_domain_id=domain_id, domain=domain)
        subject = "delivery.sender_domain.verified"
    else:
        message = delivery.SenderDomainUnverified(
            sender_domain_id=domain_id, domain=domain, failed_records=[f"TXT _dmarc.{domain}"]
        )
        subject = "delivery.sender_domain.unverified"
    return envelope(
        message, subject=subject, tenant_id=tenant, producer="delivery",
        aggregate_id=domain_id, aggregate_version=version,
    )  # fmt: skip


async def _state(sender, tenant: str, domain_id: str, version: int):  # type: ignore[no-untyped-def]
    async def seen():  # type: ignore[no-untyped-def]
        return await sender.scalar(
            "SELECT version >= %s FROM sender_domains WHERE account_id = %s"
            " AND sender_domain_id = %s",
            version, tenant, domain_id,
        )  # fmt: skip

    await sender.until(seen)
    return await sender.scalar(
        "SELECT verified FROM sender_domains WHERE account_id = %s AND sender_domain_id = %s",
        tenant, domain_id,
    )  # fmt: skip


async def _schedule(sender, tenant: str, campaign_id: str):  # type: ignore[no-untyped-def]
    at = timestamp_pb2.Timestamp()
    at.FromDatetime(datetime.now(UTC) + timedelta(hours=2))
    return await sender.stub.ScheduleCampaign(
        pb.ScheduleCampaignRequest(campaign_id=campaign_id, send_at=at),
        metadata=sender.md(tenant, scopes=WRITE),
        timeout=10,
    )


async def test_only_a_verified_sender_domain_may_send(sender) -> None:  # type: ignore[no-untyped-def]
    tenant = sender.tenant()
    domain = f"shop-{uuid.uuid4().hex[:6]}.example"
    contact = await sender.create(tenant)
    list_id = await sender.list_with(tenant, [contact])
    draft = await sender.draft(
        tenant, [list_id], verified_domain=False,
        sender=pb.Sender(from_name="Shop", from_address=f"news@mail.{domain}"),
    )  # fmt: skip
    for call in (
        lambda: _schedule(sender, tenant, draft.campaign_id),
        lambda: sender.send_now(tenant, draft.campaign_id),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call()
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert f"mail.{domain} is not verified" in refused.value.details()
        (details,) = status_details(refused.value)
        assert isinstance(details, error_details_pb2.PreconditionFailure)
        assert details.violations[0].type == "SENDER_DOMAIN_UNVERIFIED"

    # Delivery verifies the parent domain (DMARC's relaxed alignment): scheduling works.
    domain_id = str(uuid.uuid4())
    await sender.publish(_event(tenant, domain_id, domain, 2, ok=True))
    assert await _state(sender, tenant, domain_id, 2) is True
    assert (await _schedule(sender, tenant, draft.campaign_id)).campaign.status == (
        pb.CAMPAIGN_STATUS_SCHEDULED
    )

    # A failed re-check unverifies it; an older "verified" arriving late changes nothing.
    await sender.publish(_event(tenant, domain_id, domain, 4, ok=False))
    assert await _state(sender, tenant, domain_id, 4) is False
    await sender.publish(_event(tenant, domain_id, domain, 3, ok=True))
    second = await sender.draft(
        tenant, [list_id], verified_domain=False,
        sender=pb.Sender(from_name="Shop", from_address=f"news@{domain}"),
    )  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await _schedule(sender, tenant, second.campaign_id)
    assert again.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert (
        await sender.scalar(
            "SELECT version FROM sender_domains WHERE sender_domain_id = %s", domain_id
        )
        == 4
    )


async def test_another_accounts_verified_domain_does_not_count(sender) -> None:  # type: ignore[no-untyped-def]
    tenant, other = sender.tenant(), sender.tenant()
    domain = f"shared-{uuid.uuid4().hex[:6]}.example"
    domain_id = str(uuid.uuid4())
    await sender.publish(_event(other, domain_id, domain, 2, ok=True))
    assert await _state(sender, other, domain_id, 2) is True
    contact = await sender.create(tenant)
    draft = await sender.draft(
        tenant, [await sender.list_with(tenant, [contact])], verified_domain=False,
        sender=pb.Sender(from_name="Shop", from_address=f"news@{domain}"),
    )  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _schedule(sender, tenant, draft.campaign_id)
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    # Its own verification of the same name counts; a look-alike name does not.
    own_id = str(uuid.uuid4())
    await sender.publish(_event(tenant, own_id, domain, 2, ok=True))
    assert await _state(sender, tenant, own_id, 2) is True
    look_alike = await sender.draft(
        tenant, [await sender.list_with(tenant, [contact])], verified_domain=False,
        sender=pb.Sender(from_name="Shop", from_address=f"news@evil-{domain}"),
    )  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as fake:
        await _schedule(sender, tenant, look_alike.campaign_id)
    assert f"evil-{domain} is not verified" in fake.value.details()
    assert (await _schedule(sender, tenant, draft.campaign_id)).campaign.status == (
        pb.CAMPAIGN_STATUS_SCHEDULED
    )
