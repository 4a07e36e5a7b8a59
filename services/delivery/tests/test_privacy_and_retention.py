"""The send log under the privacy contract (export, erase) and its 90-day retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_delivery.retention import RULES
from missiva_platform.auth import CallerKind
from missiva_platform.retention import run_retention

pytestmark = pytest.mark.asyncio(loop_scope="module")


def consent_md(delivery, tenant: str = "") -> tuple[tuple[str, str], ...]:
    return delivery.md(tenant, kind=CallerKind.SERVICE, subject="consent", scopes=("*",))


async def test_export_holds_the_send_log_and_suppressions(delivery) -> None:
    address = delivery.address("nouser")
    reply = await delivery.send(delivery.request(address))
    await delivery.until(reply.message_id)
    exported = await delivery.privacy.ExportPersonData(
        ppb.ExportPersonDataRequest(
            request_id="dsar-1",
            person=types_pb2.PersonRef(person_key=delivery.key(address)),
            all_accounts=True,
        ),
        metadata=consent_md(delivery),
        timeout=10,
    )
    sections = {s.name: json.loads(s.content) for s in exported.sections}
    [entry] = sections["delivery.send_log"]
    assert entry["message_id"] == reply.message_id
    assert entry["status"] == "bounced"
    assert entry["template"] == "identity.verify_email"
    assert [s["reason"] for s in sections["delivery.suppressions"]] == ["hard_bounce"]


async def test_export_is_for_services_only(delivery) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await delivery.privacy.ExportPersonData(
            ppb.ExportPersonDataRequest(
                request_id="x", person=types_pb2.PersonRef(person_key="ab" * 32)
            ),
            metadata=delivery.admin(delivery.tenant()),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_erasure_is_limited_to_the_callers_account(delivery) -> None:
    address = delivery.address()
    mine, theirs = delivery.tenant(), delivery.tenant()
    kept = await delivery.send(delivery.request(address), metadata=delivery.admin(theirs))
    gone = await delivery.send(delivery.request(address), metadata=delivery.admin(mine))
    erased = await delivery.privacy.ErasePersonData(
        ppb.ErasePersonDataRequest(
            request_id="dsar-2", person=types_pb2.PersonRef(person_key=delivery.key(address))
        ),
        metadata=consent_md(delivery, mine),
        timeout=10,
    )
    assert {e.category: e.count for e in erased.erased} == {"delivery.send_log": 1}
    assert (
        await delivery.scalar("SELECT count(*) FROM messages WHERE id = %s", gone.message_id) == 0
    )
    assert (
        await delivery.scalar("SELECT count(*) FROM messages WHERE id = %s", kept.message_id) == 1
    )
    status = await delivery.status(kept.message_id, metadata=delivery.admin(theirs))
    assert status.message.status != pb.MESSAGE_STATUS_UNSPECIFIED


async def test_the_send_log_is_kept_90_days(delivery) -> None:
    address = delivery.address()
    reply = await delivery.send(delivery.request(address))
    await delivery.until(reply.message_id)
    now = datetime.now(UTC)
    await run_retention(delivery.url, RULES, now=now + timedelta(days=89))
    assert await delivery.scalar("SELECT count(*) FROM messages WHERE id = %s", reply.message_id)
    await run_retention(delivery.url, RULES, now=now + timedelta(days=91))
    assert (
        await delivery.scalar("SELECT count(*) FROM messages WHERE id = %s", reply.message_id) == 0
    )
    assert (
        await delivery.scalar(
            "SELECT count(*) FROM message_events WHERE message_id = %s", reply.message_id
        )
        == 0
    )


async def test_a_lifted_consent_block_goes_after_30_days_an_active_one_stays(delivery) -> None:
    active, lifted = "c1" * 32, "c2" * 32
    tenant = delivery.tenant()
    for key, on in ((active, True), (lifted, False)):
        await delivery.sql(
            "INSERT INTO consent_blocks (tenant_id, person_key, purpose_id, source, active)"
            " VALUES (%s, %s, '', 'suppression:unsubscribed', %s)", tenant, key, on,
        )  # fmt: skip
    await delivery.sql(
        "INSERT INTO campaign_contents (tenant_id, campaign_id, template_revision, subject,"
        " html_body, category, from_address) VALUES (%s, 'c', 1, 's', 'h', 3, 'a@example.org')",
        tenant,
    )
    now = datetime.now(UTC)

    async def left() -> tuple[int, int]:
        blocks = await delivery.scalar(
            "SELECT count(*) FROM consent_blocks WHERE person_key IN (%s, %s)", active, lifted
        )
        contents = await delivery.scalar(
            "SELECT count(*) FROM campaign_contents WHERE tenant_id = %s", tenant
        )
        return blocks, contents

    await run_retention(delivery.url, RULES, now=now + timedelta(days=29))
    assert await left() == (2, 1)
    await run_retention(delivery.url, RULES, now=now + timedelta(days=31))
    assert await left() == (1, 1)
    await run_retention(delivery.url, RULES, now=now + timedelta(days=91))
    assert await left() == (1, 0)
    assert await delivery.scalar("SELECT active FROM consent_blocks WHERE person_key = %s", active)
