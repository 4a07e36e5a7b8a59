"""The projection of consent's state (consent.purpose.* events): the highest aggregate version
wins, its lag is observed, and erasure, account erasure and retention remove it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from campaign_testkit import command

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import events_pb2 as consent_events
from missiva.identity.v1 import events_pb2 as identity_events
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_campaign.retention import RULES
from missiva_platform import metrics
from missiva_platform.auth import CallerKind
from missiva_platform.retention import run_retention, travel

pytestmark = pytest.mark.asyncio(loop_scope="module")

PURPOSE = "0195a3d0-1111-7abc-8def-0123456789ab"
STATE = "SELECT status FROM consent_states WHERE account_id = %s AND person_key = %s"


def change(tenant: str, key: str, message: Any, subject: str, version: int):
    return command(
        message,
        f"consent.purpose.{subject}",
        tenant,
        aggregate_id=f"{tenant}:{key}:{PURPOSE}",
        aggregate_version=version,
    )


def granted(tenant: str, key: str, version: int):
    return change(
        tenant,
        key,
        consent_events.ConsentGranted(
            person_key=key, purpose_id=PURPOSE, kind=consent_pb.PURPOSE_KIND_EMAIL
        ),
        "granted",
        version,
    )


def withdrawn(tenant: str, key: str, version: int):
    return change(
        tenant,
        key,
        consent_events.ConsentWithdrawn(person_key=key, purpose_id=PURPOSE),
        "withdrawn",
        version,
    )


async def state_becomes(campaign, tenant: str, key: str, want: Any) -> None:
    for _ in range(100):
        if await campaign.scalar(STATE, tenant, key) == want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"state never became {want!r}: {await campaign.scalar(STATE, tenant, key)}"
    )


def lag_count() -> float:
    value = metrics.registry().get_sample_value(
        "missiva_campaign_consent_projection_lag_seconds_count"
    )
    return value or 0.0


async def test_the_latest_version_wins(campaign) -> None:
    tenant, key = campaign.tenant(), "a1" * 32
    before = lag_count()
    await campaign.publish(granted(tenant, key, 1))
    await state_becomes(campaign, tenant, key, "granted")
    assert await campaign.scalar(
        "SELECT kind FROM consent_states WHERE person_key = %s", key
    ) == "email"  # fmt: skip
    await campaign.publish(withdrawn(tenant, key, 3))
    await state_becomes(campaign, tenant, key, "withdrawn")
    await campaign.publish(granted(tenant, key, 2))  # late and older: ignored
    barrier = "b2" * 32  # the same consumer handles it after the late grant
    await campaign.publish(granted(tenant, barrier, 1))
    await state_becomes(campaign, tenant, barrier, "granted")
    assert await campaign.scalar(STATE, tenant, key) == "withdrawn"
    await campaign.publish(
        change(
            tenant,
            key,
            consent_events.ConsentRestricted(person_key=key, purpose_id=PURPOSE),
            "restricted",
            4,
        )
    )
    await state_becomes(campaign, tenant, key, "restricted")
    await campaign.publish(
        change(
            tenant,
            key,
            consent_events.ConsentRestrictionLifted(
                person_key=key,
                purpose_id=PURPOSE,
                resulting_status=consent_pb.CONSENT_STATUS_GRANTED,
            ),
            "restriction_lifted",
            5,
        )
    )
    await state_becomes(campaign, tenant, key, "granted")
    assert await campaign.scalar(
        "SELECT kind FROM consent_states WHERE person_key = %s", key
    ) == "email"  # an event without a kind keeps it  # fmt: skip
    assert lag_count() - before >= 6


async def test_erasure_and_account_erasure_remove_the_states(campaign) -> None:
    tenant, other = campaign.tenant(), campaign.tenant()
    key = "c3" * 32
    await campaign.publish(granted(tenant, key, 1))
    await campaign.publish(granted(other, key, 1))
    await state_becomes(campaign, tenant, key, "granted")
    await state_becomes(campaign, other, key, "granted")
    reply = await campaign.privacy.ErasePersonData(
        ppb.ErasePersonDataRequest(
            request_id=str(uuid.uuid4()), person=types_pb2.PersonRef(person_key=key)
        ),
        metadata=campaign.md(
            tenant, kind=CallerKind.SERVICE, subject="consent", scopes=(), roles=()
        ),
    )
    assert {e.category: e.count for e in reply.erased} == {"consent_states": 1}
    assert await campaign.scalar(STATE, tenant, key) is None
    assert await campaign.scalar(STATE, other, key) == "granted"
    await campaign.publish(
        command(identity_events.AccountErased(account_id=other), "identity.account.erased", "")
    )
    await state_becomes(campaign, other, key, None)


async def test_retention_drops_states_that_mean_no_consent(campaign) -> None:
    tenant = campaign.tenant()
    gone, kept = "d4" * 32, "e5" * 32
    await campaign.publish(withdrawn(tenant, gone, 1))
    await campaign.publish(granted(tenant, kept, 1))
    await state_becomes(campaign, tenant, gone, "withdrawn")
    await state_becomes(campaign, tenant, kept, "granted")
    await run_retention(campaign.url, RULES, now=travel(days=29))
    assert await campaign.scalar(STATE, tenant, gone) == "withdrawn"
    await run_retention(campaign.url, RULES, now=travel(days=31))
    assert await campaign.scalar(STATE, tenant, gone) is None
    assert await campaign.scalar(STATE, tenant, kept) == "granted"
