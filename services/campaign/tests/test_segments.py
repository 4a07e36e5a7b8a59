"""Segments: save, list, preview (live count and sample) over the whitelisted fields, the
consent projection, tags and lists; bad trees named by field; other accounts; the trash."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import grpc
import pytest
from campaign_testkit import violated_fields

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign.retention import RULES
from missiva_platform.retention import run_retention, travel

pytestmark = pytest.mark.asyncio(loop_scope="module")

PURPOSE = "0195a3d0-1111-7abc-8def-0123456789ab"
READ = ("segments:read", "contacts:read")
WRITE = ("segments:write",)


def tree(**node) -> str:
    return json.dumps(node)


async def preview(campaign, tenant, rule: str, *, scopes=READ, sample: int = 10):
    return await campaign.stub.PreviewSegment(
        pb.PreviewSegmentRequest(rule_tree_json=rule, sample_size=sample),
        metadata=campaign.md(tenant, scopes=scopes),
        timeout=10,
    )


async def create(campaign, tenant, name: str, rule: str, *, scopes=WRITE):
    reply = await campaign.stub.CreateSegment(
        pb.CreateSegmentRequest(segment=pb.Segment(name=name, rule_tree_json=rule)),
        metadata=campaign.md(tenant, scopes=scopes),
        timeout=10,
    )
    return reply.segment


async def people(campaign, tenant):
    """Five contacts: Rome/Milan, ages, tags, one on a list, consent states."""
    made = []
    specs = [
        ("Ada", {"city": "Rome", "age": 36}, ["vip"]),
        ("Bea", {"city": "Rome", "age": 17}, []),
        ("Cloe", {"city": "Milan", "age": 52, "langs": ["it", "en"]}, ["vip"]),
        ("Dora", {"city": "rome-east"}, []),
        ("Eva", {}, ["vip", "new"]),
    ]
    for first, attributes, tags in specs:
        contact = pb.Contact(email=campaign.email(first.lower()), first_name=first)
        contact.attributes.update(attributes)
        made.append(await campaign.create(tenant, contact.email, first_name=first,
                                          attributes=contact.attributes))  # fmt: skip
        if tags:
            await campaign.stub.AddTags(
                pb.AddTagsRequest(contact_ids=[made[-1].contact_id], tags=tags),
                metadata=campaign.md(tenant),
            )
    return made


async def test_preview_counts_and_samples_a_tree_of_three_predicates(campaign) -> None:
    tenant = campaign.tenant()
    ada, bea, cloe, dora, eva = await people(campaign, tenant)
    await campaign.sql(
        "INSERT INTO consent_states (account_id, person_key, purpose_id, status,"
        " aggregate_version, changed_at) VALUES (%s, %s, %s, 'granted', 1, now()),"
        " (%s, %s, %s, 'withdrawn', 2, now())",
        tenant, ada.person_key, PURPOSE, tenant, cloe.person_key, PURPOSE,
    )  # fmt: skip
    rule = tree(
        all=[
            {"field": "attributes.city", "op": "eq", "value": "Rome"},
            {"field": "attributes.age", "op": "gt", "value": 18},
            {"has_tag": "vip"},
        ]
    )
    reply = await preview(campaign, tenant, rule)
    assert reply.matching_count == 1
    assert [c.contact_id for c in reply.sample] == [ada.contact_id]

    cases = {
        tree(any=[{"has_tag": "new"}, {"field": "first_name", "op": "in", "value": ["Bea"]}]): {
            bea.contact_id,
            eva.contact_id,
        },
        tree(**{"not": {"field": "attributes.city", "op": "exists"}}): {eva.contact_id},
        tree(field="attributes.city", op="contains", value="ROME"): {
            ada.contact_id,
            bea.contact_id,
            dora.contact_id,
        },
        tree(field="attributes.langs", op="contains", value="en"): {cloe.contact_id},
        tree(field="attributes.age", op="less", value=40): {ada.contact_id, bea.contact_id},
        tree(field="attributes.city", op="ne", value="Rome"): {
            cloe.contact_id,
            dora.contact_id,
            eva.contact_id,
        },
        tree(consent={"purpose_id": PURPOSE, "state": "granted"}): {ada.contact_id},
        tree(consent={"purpose_id": PURPOSE, "state": "not_recorded"}): {
            bea.contact_id,
            dora.contact_id,
            eva.contact_id,
        },
        tree(created_after="2000-01-01"): {c.contact_id for c in (ada, bea, cloe, dora, eva)},
        tree(created_before="2000-01-01T00:00:00Z"): set(),
        tree(field="email", op="equals", value=ada.email.upper()): {ada.contact_id},
    }
    for rule, expected in cases.items():
        reply = await preview(campaign, tenant, rule)
        assert reply.matching_count == len(expected), rule
        assert {c.contact_id for c in reply.sample} == expected, rule


async def test_a_segment_is_saved_listed_and_its_lists_checked(campaign) -> None:
    tenant = campaign.tenant()
    listed = await campaign.stub.CreateList(
        pb.CreateListRequest(list=pb.ContactList(name="News", purpose_id=PURPOSE)),
        metadata=campaign.md(tenant, scopes=["lists:write"]),
    )
    contact = await campaign.create(tenant)
    await campaign.stub.AddToList(
        pb.AddToListRequest(list_id=listed.list.list_id, contact_ids=[contact.contact_id]),
        metadata=campaign.md(tenant, scopes=["lists:write"]),
    )
    rule = tree(in_list=listed.list.list_id)
    saved = await create(campaign, tenant, "On the news list", rule)
    assert json.loads(saved.rule_tree_json) == {"in_list": listed.list.list_id}
    assert (await preview(campaign, tenant, rule)).matching_count == 1
    second = await create(campaign, tenant, "VIPs", tree(has_tag="vip"))
    page = await campaign.stub.ListSegments(
        pb.ListSegmentsRequest(page_size=1), metadata=campaign.md(tenant, scopes=["segments:read"])
    )
    rest = await campaign.stub.ListSegments(
        pb.ListSegmentsRequest(page_size=1, page_token=page.next_page_token),
        metadata=campaign.md(tenant, scopes=["segments:read"]),
    )
    assert [s.segment_id for s in [*page.segments, *rest.segments]] == [
        saved.segment_id,
        second.segment_id,
    ]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create(campaign, tenant, "vips", tree(has_tag="x"))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS

    # Another account's list, segment and contacts are not there for this one.
    other = campaign.tenant()
    for call in (
        preview(campaign, other, rule),
        create(campaign, other, "Theirs", rule),
        campaign.stub.DeleteSegment(
            pb.DeleteSegmentRequest(segment_id=saved.segment_id),
            metadata=campaign.md(other, scopes=WRITE),
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await preview(campaign, other, tree(created_after="2000-01-01"))).matching_count == 0
    empty = await campaign.stub.ListSegments(
        pb.ListSegmentsRequest(), metadata=campaign.md(other, scopes=["segments:read"])
    )
    assert list(empty.segments) == []


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        (tree(all=[{"field": "password", "op": "eq", "value": "x"}]),
         "rule_tree_json.all[0].field", "allowed fields: email, first_name"),
        (tree(field="attributes.bad key", op="eq", value=1), "rule_tree_json.field", "letter"),
        (tree(field="first_name", op="like", value="a"), "rule_tree_json.op", "one of"),
        (tree(field="first_name", op="eq"), "rule_tree_json.value", "required"),
        (tree(field="first_name", op="eq", value=3), "rule_tree_json.value", "text"),
        (tree(field="created_at", op="gt", value="yesterday"), "rule_tree_json.value", "ISO"),
        (tree(all=[]), "rule_tree_json.all", "non-empty"),
        (tree(engaged={"days": 30}), "rule_tree_json.engaged", "until statistics exist"),
        (tree(in_list="nope"), "rule_tree_json.in_list", "list id"),
        (tree(consent={"purpose_id": PURPOSE, "state": "maybe"}),
         "rule_tree_json.consent.state", "granted"),
        ("{not json", "rule_tree_json", "JSON"),
        ("", "rule_tree_json", "required"),
        ("[1]", "rule_tree_json", "object"),
        (tree(has_tag="a", in_list=PURPOSE), "rule_tree_json", "exactly one"),
    ],
)  # fmt: skip
async def test_a_bad_tree_names_the_field(campaign, rule, field, words) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await preview(campaign, campaign.tenant(), rule)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == [field]
    assert words in caught.value.details()


async def test_create_names_its_bad_fields(campaign) -> None:
    tenant = campaign.tenant()
    for segment, field in [
        (pb.Segment(rule_tree_json=tree(has_tag="x")), "segment.name"),
        (pb.Segment(name="S", rule_tree_json=tree(field="nope", op="exists")),
         "segment.rule_tree_json.field"),
    ]:  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await campaign.stub.CreateSegment(
                pb.CreateSegmentRequest(segment=segment), metadata=campaign.md(tenant, scopes=WRITE)
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(caught.value) == [field]


async def test_least_scopes_work_and_one_less_is_refused(campaign) -> None:
    tenant = campaign.tenant()
    saved = await create(campaign, tenant, "Any", tree(has_tag="x"), scopes=["segments:write"])
    await preview(campaign, tenant, tree(has_tag="x"), scopes=READ)
    await campaign.stub.ListSegments(
        pb.ListSegmentsRequest(), metadata=campaign.md(tenant, scopes=["segments:read"])
    )
    denied = [
        preview(campaign, tenant, tree(has_tag="x"), scopes=["segments:read"]),
        create(campaign, tenant, "Other", tree(has_tag="x"), scopes=["segments:read"]),
        campaign.stub.ListSegments(
            pb.ListSegmentsRequest(), metadata=campaign.md(tenant, scopes=["contacts:read"])
        ),
        campaign.stub.DeleteSegment(
            pb.DeleteSegmentRequest(segment_id=saved.segment_id),
            metadata=campaign.md(tenant, scopes=["segments:read"]),
        ),
    ]
    for call in denied:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_deleted_segment_waits_in_the_trash_then_is_purged(campaign) -> None:
    tenant = campaign.tenant()
    md = campaign.md(tenant, scopes=["segments:write", "segments:read"])
    saved = await create(campaign, tenant, "Old", tree(has_tag="old"))
    gone = await campaign.stub.DeleteSegment(
        pb.DeleteSegmentRequest(segment_id=saved.segment_id), metadata=md
    )
    assert gone.segment.HasField("deleted_at")
    until = gone.segment.restorable_until.ToDatetime(tzinfo=UTC)
    assert 29 <= (until - datetime.now(UTC)).days <= 30
    live = await campaign.stub.ListSegments(pb.ListSegmentsRequest(), metadata=md)
    assert list(live.segments) == []
    trash = await campaign.stub.ListSegments(pb.ListSegmentsRequest(in_trash=True), metadata=md)
    assert [s.segment_id for s in trash.segments] == [saved.segment_id]
    # Its name is free while it is in the trash; restoring it then clashes.
    clash = await create(campaign, tenant, "old", tree(has_tag="x"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.RestoreSegment(
            pb.RestoreSegmentRequest(segment_id=saved.segment_id), metadata=md
        )
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    await campaign.stub.DeleteSegment(
        pb.DeleteSegmentRequest(segment_id=clash.segment_id), metadata=md
    )
    back = await campaign.stub.RestoreSegment(
        pb.RestoreSegmentRequest(segment_id=saved.segment_id), metadata=md
    )
    assert not back.segment.HasField("deleted_at")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.RestoreSegment(
            pb.RestoreSegmentRequest(segment_id=saved.segment_id),
            metadata=campaign.md(campaign.tenant(), scopes=WRITE),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    await run_retention(campaign.url, RULES, now=travel(days=29))
    assert await campaign.scalar("SELECT count(*) FROM segments WHERE id = %s", clash.segment_id)
    await run_retention(campaign.url, RULES, now=travel(days=31))
    assert not await campaign.scalar(
        "SELECT count(*) FROM segments WHERE id = %s", clash.segment_id
    )
    assert await campaign.scalar("SELECT count(*) FROM segments WHERE id = %s", saved.segment_id)


async def test_a_saved_segments_contacts_are_listed_page_by_page(campaign) -> None:
    tenant = campaign.tenant()
    vips = [await campaign.create(tenant) for _ in range(3)]
    await campaign.create(tenant)  # not a VIP
    await campaign.stub.AddTags(
        pb.AddTagsRequest(contact_ids=[c.contact_id for c in vips], tags=["vip"]),
        metadata=campaign.md(tenant),
    )
    saved = await create(campaign, tenant, "VIPs", tree(has_tag="vip"))
    md = campaign.md(tenant, scopes=["contacts:read"])
    first = await campaign.stub.ListContacts(
        pb.ListContactsRequest(segment_id=saved.segment_id, page_size=2), metadata=md
    )
    rest = await campaign.stub.ListContacts(
        pb.ListContactsRequest(
            segment_id=saved.segment_id, page_size=2, page_token=first.next_page_token
        ),
        metadata=md,
    )
    assert [c.contact_id for c in [*first.contacts, *rest.contacts]] == sorted(
        c.contact_id for c in vips
    )
    assert rest.next_page_token == ""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.ListContacts(
            pb.ListContactsRequest(segment_id=saved.segment_id),
            metadata=campaign.md(campaign.tenant(), scopes=["contacts:read"]),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.ListContacts(
            pb.ListContactsRequest(segment_id=saved.segment_id, tag="vip"), metadata=md
        )
    assert violated_fields(caught.value) == ["segment_id"]
