"""A saved segment read back (GetSegment) and changed (UpdateSegment, the tree checked by the
compiler as at creation), and the compiler's whitelist as rule builders see it
(ListSegmentFields): least scopes, one less refused, bad input by field, other accounts."""

from __future__ import annotations

import json

import grpc
import pytest
from campaign_testkit import violated_fields
from google.protobuf import field_mask_pb2

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import segments

pytestmark = pytest.mark.asyncio(loop_scope="module")

READ = ("segments:read",)
WRITE = ("segments:write",)
PURPOSE = "0195a3d0-1111-7abc-8def-0123456789ab"


def tree(**node) -> str:
    return json.dumps(node)


async def create(campaign, tenant, name: str, rule: str):
    reply = await campaign.stub.CreateSegment(
        pb.CreateSegmentRequest(segment=pb.Segment(name=name, rule_tree_json=rule)),
        metadata=campaign.md(tenant, scopes=WRITE),
        timeout=10,
    )
    return reply.segment


async def update(campaign, tenant, segment_id: str, paths, *, scopes=WRITE, **fields):
    return await campaign.stub.UpdateSegment(
        pb.UpdateSegmentRequest(
            segment=pb.Segment(segment_id=segment_id, **fields),
            update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
        ),
        metadata=campaign.md(tenant, scopes=scopes),
        timeout=10,
    )


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_a_segment_is_read_and_updated_with_the_least_scopes(campaign) -> None:
    tenant = campaign.tenant()
    vip = await campaign.create(tenant)
    await campaign.stub.AddTags(
        pb.AddTagsRequest(contact_ids=[vip.contact_id], tags=["vip"]), metadata=campaign.md(tenant)
    )
    saved = await create(campaign, tenant, "News", tree(has_tag="news"))
    got = await campaign.stub.GetSegment(
        pb.GetSegmentRequest(segment_id=saved.segment_id), metadata=campaign.md(tenant, scopes=READ)
    )
    assert got.segment.name == "News"
    assert json.loads(got.segment.rule_tree_json) == {"has_tag": "news"}

    renamed = await update(campaign, tenant, saved.segment_id, ["name"], name="VIPs")
    assert renamed.segment.name == "VIPs"
    assert json.loads(renamed.segment.rule_tree_json) == {"has_tag": "news"}  # not in the mask
    changed = await update(
        campaign, tenant, saved.segment_id, ["rule_tree_json"], name="ignored",
        rule_tree_json=tree(all=[{"has_tag": "vip"}]),
    )  # fmt: skip
    assert changed.segment.name == "VIPs"
    assert changed.segment.updated_at.ToDatetime() >= saved.updated_at.ToDatetime()
    # The saved tree is the one compiled at use: the segment's contacts follow the update.
    found = await campaign.stub.ListContacts(
        pb.ListContactsRequest(segment_id=saved.segment_id),
        metadata=campaign.md(tenant, scopes=["contacts:read"]),
    )
    assert [c.contact_id for c in found.contacts] == [vip.contact_id]

    for call in (
        campaign.stub.GetSegment(
            pb.GetSegmentRequest(segment_id=saved.segment_id),
            metadata=campaign.md(tenant, scopes=["contacts:read"]),
        ),
        update(campaign, tenant, saved.segment_id, ["name"], name="X", scopes=READ),
        campaign.stub.ListSegmentFields(
            pb.ListSegmentFieldsRequest(), metadata=campaign.md(tenant, scopes=["contacts:read"])
        ),
    ):
        assert (await refused(call)).code() == grpc.StatusCode.PERMISSION_DENIED


async def test_another_accounts_segment_and_lists_are_not_found(campaign) -> None:
    tenant, other = campaign.tenant(), campaign.tenant()
    saved = await create(campaign, tenant, "Mine", tree(has_tag="a"))
    theirs = await campaign.stub.CreateList(
        pb.CreateListRequest(list=pb.ContactList(name="Theirs", purpose_id=PURPOSE)),
        metadata=campaign.md(other, scopes=["lists:write"]),
    )
    for call in (
        campaign.stub.GetSegment(
            pb.GetSegmentRequest(segment_id=saved.segment_id),
            metadata=campaign.md(other, scopes=READ),
        ),
        update(campaign, other, saved.segment_id, ["name"], name="Taken"),
        update(campaign, tenant, saved.segment_id, ["rule_tree_json"],
               rule_tree_json=tree(in_list=theirs.list.list_id)),
    ):  # fmt: skip
        assert (await refused(call)).code() == grpc.StatusCode.NOT_FOUND
    got = await campaign.stub.GetSegment(
        pb.GetSegmentRequest(segment_id=saved.segment_id), metadata=campaign.md(tenant, scopes=READ)
    )
    assert got.segment.name == "Mine"
    assert json.loads(got.segment.rule_tree_json) == {"has_tag": "a"}


async def test_bad_updates_name_their_field_and_change_nothing(campaign) -> None:
    tenant = campaign.tenant()
    saved = await create(campaign, tenant, "Kept", tree(has_tag="a"))
    await create(campaign, tenant, "Other", tree(has_tag="b"))
    bad_rule = tree(all=[{"has_tag": "a"}, {"field": "password", "op": "eq", "value": "x"}])
    for paths, fields, field in (
        ([], {"name": "X"}, "update_mask"),
        (["created_at"], {}, "update_mask"),
        (["name"], {"name": ""}, "segment.name"),
        (["name"], {"name": "x" * 201}, "segment.name"),
        (["rule_tree_json"], {"rule_tree_json": ""}, "segment.rule_tree_json"),
        (["rule_tree_json"], {"rule_tree_json": "{"}, "segment.rule_tree_json"),
        (["rule_tree_json"], {"rule_tree_json": bad_rule}, "segment.rule_tree_json.all[1].field"),
    ):
        err = await refused(update(campaign, tenant, saved.segment_id, paths, **fields))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert violated_fields(err) == [field]
    err = await refused(update(campaign, tenant, "not-an-id", ["name"], name="X"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(err) == ["segment.segment_id"]
    err = await refused(
        campaign.stub.GetSegment(pb.GetSegmentRequest(), metadata=campaign.md(tenant, scopes=READ))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(err) == ["segment_id"]
    err = await refused(update(campaign, tenant, saved.segment_id, ["name"], name="other"))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    got = await campaign.stub.GetSegment(
        pb.GetSegmentRequest(segment_id=saved.segment_id), metadata=campaign.md(tenant, scopes=READ)
    )
    assert (got.segment.name, got.segment.rule_tree_json) == ("Kept", saved.rule_tree_json)


async def test_a_segment_in_the_trash_is_neither_read_nor_updated(campaign) -> None:
    tenant = campaign.tenant()
    saved = await create(campaign, tenant, "Gone", tree(has_tag="a"))
    await campaign.stub.DeleteSegment(
        pb.DeleteSegmentRequest(segment_id=saved.segment_id),
        metadata=campaign.md(tenant, scopes=WRITE),
    )
    for call in (
        campaign.stub.GetSegment(
            pb.GetSegmentRequest(segment_id=saved.segment_id),
            metadata=campaign.md(tenant, scopes=READ),
        ),
        update(campaign, tenant, saved.segment_id, ["name"], name="Back"),
    ):
        assert (await refused(call)).code() == grpc.StatusCode.NOT_FOUND


async def test_the_field_list_is_what_the_compiler_accepts(campaign) -> None:
    tenant = campaign.tenant()
    reply = await campaign.stub.ListSegmentFields(
        pb.ListSegmentFieldsRequest(), metadata=campaign.md(tenant, scopes=READ)
    )
    names = [f.name for f in reply.fields]
    assert names == [*segments.FIELDS, "attributes.<key>"]
    ops = {o.name: o for o in reply.operators}
    assert set(ops) == set(segments.OPS.values())
    assert "eq" in ops["equals"].aliases
    assert ops["exists"].no_value
    assert ops["in"].list_value
    assert "engaged" not in reply.rules
    assert "has_tag" in reply.rules
    assert list(reply.consent_states) == list(segments.CONSENT_STATES)
    # Every advertised (field, operator) pair compiles; the operators left out are refused.
    for described in reply.fields:
        name = "attributes.city" if described.name == "attributes.<key>" else described.name
        for op in ops:
            value = {
                "exists": None,
                "in": ["2026-01-01T00:00:00Z"],
            }.get(op, "2026-01-01T00:00:00Z")
            node = {"field": name, "op": op}
            if value is not None:
                node["value"] = value
            if op in described.operators:
                segments.check(node)
            else:
                with pytest.raises(segments.InvalidArgument):
                    segments.check(node)
