"""ListRecentMessages and GetCampaignDeliveryStats: happy path, least scope, one scope less,
another account, bad input; and every delivery rule's scope and role (the kit's table test)."""

from __future__ import annotations

import grpc
import pytest

from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva_delivery.servicer import ACCESS_RULES
from missiva_platform.auth import CallerKind
from missiva_platform.testing.access import role_denials, scope_denials

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVICE = "missiva.delivery.v1.DeliveryService"


def consent(delivery, tenant: str, scopes=("mail:read",)):
    return delivery.md(tenant, subject="consent", scopes=scopes)


def member(delivery, tenant: str, scopes=("campaigns:read",)):
    return delivery.md(tenant, kind=CallerKind.USER, subject="user-2", roles=("member",),
                       scopes=scopes)  # fmt: skip


async def _code(call) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_recent_messages_of_a_person_newest_first(delivery) -> None:
    tenant = delivery.tenant()
    address = delivery.address()
    sent = await delivery.send(delivery.request(address), metadata=delivery.admin(tenant))
    await delivery.until(sent.message_id, tenant)
    event, campaign_id = delivery.batch(tenant, [address])
    await delivery.publish_to("cmd.delivery.send_batch", event)
    await delivery.campaign_rows(tenant, campaign_id, want=1)
    request = pb.ListRecentMessagesRequest(
        person=types_pb2.PersonRef(person_key=delivery.key(address))
    )
    reply = await delivery.stub.ListRecentMessages(request, metadata=consent(delivery, tenant))
    assert len(reply.messages) == 2
    newest, older = reply.messages
    assert newest.subject == "News for Zoë"
    assert newest.sender == "Bottega Rossi <news@bottegarossi.example>"
    assert newest.category == types_pb2.EMAIL_CATEGORY_MARKETING
    assert newest.status == pb.MESSAGE_STATUS_SENT
    assert older.message_id == sent.message_id
    assert older.sender.endswith(f"<{delivery.app.settings.mail_from_address}>")
    assert newest.sent_at.ToDatetime() >= older.sent_at.ToDatetime()
    one = await delivery.stub.ListRecentMessages(
        pb.ListRecentMessagesRequest(person=request.person, limit=1),
        metadata=consent(delivery, tenant),
    )
    assert [m.message_id for m in one.messages] == [newest.message_id]
    # Another account sees none of it.
    other = await delivery.stub.ListRecentMessages(
        request, metadata=consent(delivery, delivery.tenant())
    )
    assert list(other.messages) == []
    # One scope less, or a service the rule does not name: refused.
    assert await _code(delivery.stub.ListRecentMessages(
        request, metadata=consent(delivery, tenant, scopes=("mail:send",))
    )) == grpc.StatusCode.PERMISSION_DENIED  # fmt: skip
    assert await _code(delivery.stub.ListRecentMessages(
        request, metadata=delivery.md(tenant, subject="identity", scopes=("mail:read",))
    )) == grpc.StatusCode.PERMISSION_DENIED  # fmt: skip


async def test_recent_messages_bad_input_names_the_field(delivery) -> None:
    tenant = delivery.tenant()
    cases = (
        ("", 0, "person.person_key"),
        ("xyz", 0, "person.person_key"),
        ("ab" * 32, 21, "limit"),
        ("ab" * 32, -1, "limit"),
    )
    for person_key, limit, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await delivery.stub.ListRecentMessages(
                pb.ListRecentMessagesRequest(
                    person=types_pb2.PersonRef(person_key=person_key), limit=limit
                ),
                metadata=consent(delivery, tenant),
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in err.value.details()


async def test_campaign_delivery_stats_count_the_ledger(delivery) -> None:
    tenant = delivery.tenant()
    addresses = [delivery.address(), delivery.address(), delivery.address("nouser"),
                 delivery.address("blocked")]  # fmt: skip
    event, campaign_id = delivery.batch(tenant, [*addresses, "two words@example.org"])
    await delivery.publish_to("cmd.delivery.send_batch", event)
    await delivery.campaign_rows(tenant, campaign_id, want=5)
    request = pb.GetCampaignDeliveryStatsRequest(campaign_id=campaign_id)
    reply = await delivery.stub.GetCampaignDeliveryStats(request, metadata=member(delivery, tenant))
    stats = reply.stats
    assert (stats.sent, stats.hard_bounces, stats.failed, stats.queued) == (2, 1, 2, 0)
    assert stats.suppressed == 0
    # Another account's campaign does not exist for the caller; one scope less is refused.
    assert await _code(delivery.stub.GetCampaignDeliveryStats(
        request, metadata=member(delivery, delivery.tenant())
    )) == grpc.StatusCode.NOT_FOUND  # fmt: skip
    assert await _code(delivery.stub.GetCampaignDeliveryStats(
        request, metadata=member(delivery, tenant, scopes=("campaigns:write",))
    )) == grpc.StatusCode.PERMISSION_DENIED  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await delivery.stub.GetCampaignDeliveryStats(
            pb.GetCampaignDeliveryStatsRequest(), metadata=member(delivery, tenant)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "campaign_id" in err.value.details()


async def test_a_token_lacking_the_scope_of_a_method_is_refused(delivery) -> None:
    tenant = delivery.tenant()

    def token_for(**kw):
        kw.setdefault("subject", "consent")
        return delivery.issuer.token(tenant_id=tenant, audience="delivery", **kw)

    assert await scope_denials(delivery.channel, SERVICE, ACCESS_RULES, token_for) == []


async def test_a_user_without_the_role_of_a_method_is_refused(delivery) -> None:
    tenant = delivery.tenant()

    def token_for(**kw):
        return delivery.issuer.token(tenant_id=tenant, audience="delivery", **kw)

    assert await role_denials(delivery.channel, SERVICE, ACCESS_RULES, token_for) == []
