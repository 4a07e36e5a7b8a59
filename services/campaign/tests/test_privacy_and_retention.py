"""A person's contact rows exported and erased through the kit's privacy contract (one account,
or every account for a request about one of our users), over gRPC and over the bus; an erased
account purged (identity's event); retention rules as time travel."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import grpc
import pytest
from campaign_testkit import command

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import events_pb2 as consent_events
from missiva.identity.v1 import events_pb2 as identity_events
from missiva.privacy.v1 import events_pb2 as privacy_events
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_campaign.retention import RULES
from missiva_platform.auth import CallerKind
from missiva_platform.retention import run_retention, travel

pytestmark = pytest.mark.asyncio(loop_scope="module")


def as_consent(campaign, tenant: str = "") -> Any:
    return campaign.md(tenant, kind=CallerKind.SERVICE, subject="consent", scopes=(), roles=())


async def eventually(check, timeout: float = 10.0) -> None:
    for _ in range(int(timeout * 10)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition never held")


async def test_export_covers_one_account_or_every_account(campaign) -> None:
    a, b = campaign.tenant(), campaign.tenant()
    email = campaign.email("subject")
    news = await campaign.stub.CreateList(
        pb.CreateListRequest(list=pb.ContactList(name="News", purpose_id="newsletter")),
        metadata=campaign.md(a, scopes=["lists:write"]),
    )
    mine = (
        await campaign.stub.CreateContact(
            pb.CreateContactRequest(
                contact=pb.Contact(email=email, first_name="Rita", tags=["vip"]),
                list_ids=[news.list.list_id],
            ),
            metadata=campaign.md(a),
        )
    ).contact
    await campaign.create(b, email, first_name="Rita B")
    await campaign.create(a)  # someone else
    person = types_pb2.PersonRef(person_key=campaign.key(email))
    one = await campaign.privacy.ExportPersonData(
        ppb.ExportPersonDataRequest(request_id=str(uuid.uuid4()), person=person),
        metadata=as_consent(campaign, a),
    )
    sections = {s.name: json.loads(s.content) for s in one.sections}
    assert [c["id"] for c in sections["contacts"]] == [mine.contact_id]
    assert sections["contacts"][0]["email"] == email
    assert sections["contacts"][0]["tags"] == ["vip"]
    assert sections["contacts"][0]["list_ids"] == [news.list.list_id]
    assert "person_key" not in sections["contacts"][0]
    everywhere = await campaign.privacy.ExportPersonData(
        ppb.ExportPersonDataRequest(request_id=str(uuid.uuid4()), person=person, all_accounts=True),
        metadata=as_consent(campaign),
    )
    contacts = json.loads({s.name: s for s in everywhere.sections}["contacts"].content)
    assert sorted(c["account_id"] for c in contacts) == sorted([a, b])


async def test_only_consent_and_identity_may_ask(campaign) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.privacy.ExportPersonData(
            ppb.ExportPersonDataRequest(
                request_id="r", person=types_pb2.PersonRef(person_key="ab" * 32)
            ),
            metadata=campaign.md(campaign.tenant(), scopes=["*"], roles=["admin"]),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_erasure_in_one_account_keeps_the_others(campaign) -> None:
    a, b = campaign.tenant(), campaign.tenant()
    email = campaign.email("erase")
    live = await campaign.create(a, email)
    await campaign.stub.DeleteContact(
        pb.DeleteContactRequest(contact_id=live.contact_id), metadata=campaign.md(a)
    )
    again = await campaign.create(a, email)  # a trashed row and a live one
    kept = await campaign.create(b, email)
    reply = await campaign.privacy.ErasePersonData(
        ppb.ErasePersonDataRequest(
            request_id=str(uuid.uuid4()), person=types_pb2.PersonRef(person_key=campaign.key(email))
        ),
        metadata=as_consent(campaign, a),
    )
    assert {e.category: e.count for e in reply.erased} == {"contacts": 2}
    rows = await campaign.sql(
        "SELECT id::text FROM contacts WHERE person_key = %s", campaign.key(email)
    )
    assert rows == [(kept.contact_id,)]
    assert again.contact_id != kept.contact_id


async def test_erasure_over_the_bus_everywhere(campaign) -> None:
    a, b = campaign.tenant(), campaign.tenant()
    email = campaign.email("bus")
    key = campaign.key(email)
    await campaign.create(a, email)
    await campaign.create(b, email)
    await campaign.publish(
        command(
            consent_events.ContactSuppressed(
                person_key=key, reason=consent_pb.SUPPRESSION_REASON_ERASED, platform_wide=True
            ),
            "consent.contact.suppressed",
            "",
            aggregate_id=f"platform:{key}:suppression:erased:",
            aggregate_version=1,
        )
    )
    request_id = str(uuid.uuid4())
    await campaign.publish(
        command(
            privacy_events.ErasePersonDataCommand(
                request_id=request_id,
                person=types_pb2.PersonRef(person_key=key),
                service="campaign",
                all_accounts=True,
            ),
            "cmd.campaign.erase_person_data",
            "",  # a request about one of our users: every account
        )
    )

    async def gone() -> bool:
        return (
            await campaign.scalar("SELECT count(*) FROM contacts WHERE person_key = %s", key) == 0
        )

    await eventually(gone)
    answered = await campaign.scalar(
        "SELECT count(*) FROM kit_privacy_answers WHERE request_id = %s", request_id
    )
    assert answered == 1
    # the erased suppression stays, so the address is never mailed again
    assert await campaign.scalar(
        "SELECT active FROM suppressions WHERE person_key = %s AND reason = 'erased'", key
    )


async def test_an_erased_account_is_purged(campaign) -> None:
    erased, other = campaign.tenant(), campaign.tenant()
    for _ in range(3):
        await campaign.create(erased)
    made = await campaign.stub.CreateList(
        pb.CreateListRequest(list=pb.ContactList(name="L", purpose_id="newsletter")),
        metadata=campaign.md(erased, scopes=["lists:write"]),
    )
    await campaign.stub.AddToList(
        pb.AddToListRequest(
            list_id=made.list.list_id,
            contact_ids=[r[0] for r in await campaign.sql(
                "SELECT id::text FROM contacts WHERE account_id = %s", erased)],
        ),
        metadata=campaign.md(erased, scopes=["lists:write"]),
    )  # fmt: skip
    survivor = await campaign.create(other)
    await campaign.sql(
        "INSERT INTO segments (id, account_id, name, rule_tree) VALUES (gen_random_uuid(), %s,"
        " 'S', '{\"has_tag\": \"x\"}')", erased,
    )  # fmt: skip
    await campaign.sql(
        "INSERT INTO contact_imports (id, account_id, status, options, consent_mode, actor_kind,"
        " actor_id) VALUES (gen_random_uuid(), %s, 'completed', '{}', 'proof', 'user', 'u')",
        erased,
    )
    await campaign.publish(
        command(identity_events.AccountErased(account_id=erased), "identity.account.erased", "")
    )

    async def purged() -> bool:
        return (
            await campaign.scalar("SELECT count(*) FROM contacts WHERE account_id = %s", erased)
            == 0
        )

    await eventually(purged)
    lists_left = "SELECT count(*) FROM contact_lists WHERE account_id = %s"
    assert await campaign.scalar(lists_left, erased) == 0
    for table in ("segments", "contact_imports"):
        left = f"SELECT count(*) FROM {table} WHERE account_id = %s"
        assert await campaign.scalar(left, erased) == 0
    got = await campaign.stub.GetContact(
        pb.GetContactRequest(contact_id=survivor.contact_id), metadata=campaign.md(other)
    )
    assert got.contact.contact_id == survivor.contact_id


async def test_retention_of_lifted_suppressions_and_sent_notices(campaign) -> None:
    tenant = campaign.tenant()
    contact = await campaign.create(tenant)
    lifted, held = "11" * 32, "22" * 32
    await campaign.sql(
        "INSERT INTO suppressions (scope, person_key, reason, purpose_id, active,"
        " aggregate_version) VALUES (%s, %s, 'manual', '', false, 2), (%s, %s, 'erased', '',"
        " true, 1)",
        tenant, lifted, tenant, held,
    )  # fmt: skip
    await campaign.sql(
        "INSERT INTO document_notices_sent (account_id, document_id, version, contact_id, locale)"
        " VALUES (%s, 'privacy-notice', 'v1', %s, 'en')",
        tenant,
        contact.contact_id,
    )
    await run_retention(campaign.url, RULES, now=travel(days=29))
    keys = {r[0] for r in await campaign.sql("SELECT person_key FROM suppressions")}
    assert {lifted, held} <= keys
    await run_retention(campaign.url, RULES, now=travel(days=31))
    keys = {r[0] for r in await campaign.sql("SELECT person_key FROM suppressions")}
    assert lifted not in keys
    assert held in keys
    notices = "SELECT count(*) FROM document_notices_sent WHERE account_id = %s"
    assert await campaign.scalar(notices, tenant) == 1
    await run_retention(campaign.url, RULES, now=travel(days=731))
    assert await campaign.scalar(notices, tenant) == 0
    assert await campaign.scalar("SELECT count(*) FROM contacts WHERE id = %s", contact.contact_id)
