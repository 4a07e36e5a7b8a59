"""The 24-month inactivity rule and the account's contact policy: contacts with no
interaction for 24 months are flagged; where the account chose so they go to the trash
(ContactDeleted through the outbox) and are purged 30 days later; an interaction clears the
flag; the policy is an admin's to set and each account's own."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import nats.js.errors
import pytest

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import events_pb2
from missiva_campaign.retention import RULES
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.retention import run_retention, travel

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def deleted_event(campaign, contact_id: str) -> None:
    js = campaign.nc.jetstream()
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            msg = await js.get_last_msg("CAMPAIGN_EVENTS", "campaign.contact.deleted")
            event = unpack(EventEnvelope.FromString(msg.data), events_pb2.ContactDeleted)
            if event.contact_id == contact_id:
                return
        assert asyncio.get_running_loop().time() < deadline, "no ContactDeleted"
        await asyncio.sleep(0.1)


READ = ("contacts:read",)
WRITE = ("contacts:write",)


async def test_the_policy_is_an_admins_and_each_accounts_own(campaign) -> None:
    tenant, other = campaign.tenant(), campaign.tenant()
    got = await campaign.stub.GetContactPolicy(
        pb.GetContactPolicyRequest(), metadata=campaign.md(tenant, scopes=READ)
    )
    assert not got.policy.delete_inactive
    request = pb.SetContactPolicyRequest(policy=pb.ContactPolicy(delete_inactive=True))
    for md in (
        campaign.md(tenant, scopes=WRITE),
        campaign.md(tenant, scopes=READ, roles=("admin",)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:  # a member; one scope less
            await campaign.stub.SetContactPolicy(request, metadata=md)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    set_ = await campaign.stub.SetContactPolicy(
        request, metadata=campaign.md(tenant, scopes=WRITE, roles=("admin",))
    )
    assert set_.policy.delete_inactive
    theirs = await campaign.stub.GetContactPolicy(
        pb.GetContactPolicyRequest(), metadata=campaign.md(other, scopes=READ)
    )
    assert not theirs.policy.delete_inactive


async def test_inactive_contacts_are_flagged_or_deleted_by_policy(campaign) -> None:
    deleting, keeping = campaign.tenant(), campaign.tenant()
    await campaign.stub.SetContactPolicy(
        pb.SetContactPolicyRequest(policy=pb.ContactPolicy(delete_inactive=True)),
        metadata=campaign.md(deleting, scopes=WRITE, roles=("admin",)),
    )
    doomed = await campaign.create(deleting)
    idle, active = await campaign.create(keeping), await campaign.create(keeping)
    await run_retention(campaign.url, RULES, now=travel(days=700))
    state = "SELECT inactive_since IS NOT NULL, deleted_at IS NOT NULL FROM contacts WHERE id = %s"
    assert await campaign.sql(state, idle.contact_id) == [(False, False)]
    # active interacts (a counted open) a year on.
    await campaign.sql(
        "UPDATE contacts SET last_interaction_at = now() + interval '365 days' WHERE id = %s",
        active.contact_id,
    )
    await run_retention(campaign.url, RULES, now=travel(days=731))
    assert await campaign.sql(state, idle.contact_id) == [(True, False)]
    assert await campaign.sql(state, active.contact_id) == [(False, False)]
    assert await campaign.sql(state, doomed.contact_id) == [(True, True)]
    got = await campaign.stub.GetContact(
        pb.GetContactRequest(contact_id=idle.contact_id), metadata=campaign.md(keeping, scopes=READ)
    )
    assert got.contact.HasField("inactive_since")
    await deleted_event(campaign, doomed.contact_id)  # delivery and consent are told
    await run_retention(campaign.url, RULES, now=travel(days=731 + 31))
    assert await campaign.sql(state, doomed.contact_id) == []
    assert await campaign.sql(state, idle.contact_id) == [(True, False)]
