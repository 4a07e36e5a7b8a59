"""Privacy of the new tables: a person's export lists the campaigns sent to them, an erasure
blanks them out of every snapshot (the counts stay), an erased account loses its templates
and campaigns, and an unsubscription through a campaign's link is counted for it."""

from __future__ import annotations

import json
import uuid

import pytest
from campaign_testkit import command

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import events_pb2 as consent_events
from missiva.identity.v1 import events_pb2 as identity_events
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_platform.auth import CallerKind
from missiva_platform.events import envelope

pytestmark = pytest.mark.asyncio(loop_scope="module")

PURPOSE = "0195a3d0-1111-7abc-8def-0123456789ab"


def as_consent(sender, tenant: str):
    return sender.md(tenant, kind=CallerKind.SERVICE, subject="consent", scopes=(), roles=())


async def sent_to_one(sender) -> tuple[str, pb.Contact, pb.Campaign]:
    tenant = sender.tenant()
    contact = await sender.create(tenant, first_name="Rita")
    await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 5)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, [contact])], name="Spring")
    await sender.send_now(tenant, draft.campaign_id)
    return tenant, contact, draft


async def test_export_and_erasure_cover_the_snapshots(sender) -> None:
    tenant, contact, draft = await sent_to_one(sender)
    person = types_pb2.PersonRef(person_key=contact.person_key)
    exported = await sender.privacy.ExportPersonData(
        ppb.ExportPersonDataRequest(request_id=str(uuid.uuid4()), person=person),
        metadata=as_consent(sender, tenant),
    )
    sections = {s.name: json.loads(s.content) for s in exported.sections}
    received = sections["campaigns_received"]
    assert [(r["campaign_id"], r["campaign_name"]) for r in received] == [
        (draft.campaign_id, "Spring")
    ]
    erased = await sender.privacy.ErasePersonData(
        ppb.ErasePersonDataRequest(request_id=str(uuid.uuid4()), person=person),
        metadata=as_consent(sender, tenant),
    )
    assert {e.category: e.count for e in erased.erased}["campaign_recipients"] == 1
    rows = await sender.sql(
        "SELECT contact_id, person_key FROM campaign_recipients WHERE campaign_id = %s",
        draft.campaign_id,
    )
    assert rows == [(None, None)]
    assert (await sender.get(tenant, draft.campaign_id)).recipient_count == 1


async def test_an_unsubscription_through_the_campaign_is_counted(sender) -> None:
    tenant, contact, draft = await sent_to_one(sender)
    await sender.publish(
        envelope(
            consent_events.ConsentWithdrawn(
                person_key=contact.person_key, purpose_id=PURPOSE, campaign_id=draft.campaign_id
            ),
            subject="consent.purpose.withdrawn", tenant_id=tenant, producer="consent",
            aggregate_id=f"{tenant}:{contact.person_key}:{PURPOSE}", aggregate_version=5,
        )
    )  # fmt: skip

    async def counted():
        reply = await sender.stub.GetCampaignStats(
            pb.GetCampaignStatsRequest(campaign_id=draft.campaign_id),
            metadata=sender.md(tenant, scopes=("campaigns:read",)),
            timeout=10,
        )
        return reply.stats.unsubscribes == 1

    await sender.until(counted)


async def test_an_erased_account_loses_its_templates_and_campaigns(sender) -> None:
    tenant, _, draft = await sent_to_one(sender)
    await sender.stub.CreateTemplate(
        pb.CreateTemplateRequest(
            template=pb.Template(
                name="T", subject="Hi", html_body='<a href="{{ unsubscribe_url }}">u</a>'
                '<a href="{{ my_data_url }}">d</a>',
            )
        ),
        metadata=sender.md(tenant, scopes=("templates:write",)),
        timeout=10,
    )  # fmt: skip
    await sender.publish(
        command(identity_events.AccountErased(account_id=tenant), "identity.account.erased", "")
    )

    async def gone():
        left = await sender.scalar(
            "SELECT (SELECT count(*) FROM campaigns WHERE account_id = %s)"
            " + (SELECT count(*) FROM templates WHERE account_id = %s)",
            tenant, tenant,
        )  # fmt: skip
        return left == 0

    await sender.until(gone)
    assert (
        await sender.scalar(
            "SELECT count(*) FROM campaign_recipients WHERE campaign_id = %s", draft.campaign_id
        )
        == 0
    )
