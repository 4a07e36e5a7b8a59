"""ExportContacts: CSV, JSON and XLSX read back with their own readers (csv, json, openpyxl),
pages of the keyset read one after another (the page is made small here so a few contacts
cross several), one list's or one segment's contacts, formula cells defused, bad input naming
its field, the least scope working and one less refused, another account's contacts, list
and segment never reached."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime

import grpc
import openpyxl
import pytest
from campaign_testkit import violated_fields

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import rpc_exports

pytestmark = pytest.mark.asyncio(loop_scope="module")

READ = ("contacts:read",)
PAGE = 3


@pytest.fixture(autouse=True)
def small_pages(monkeypatch):
    monkeypatch.setattr(rpc_exports, "EXPORT_PAGE", PAGE)


async def export(
    campaign, tenant, fmt, *, scopes=READ, **filters
) -> list[pb.ExportContactsResponse]:
    request = pb.ExportContactsRequest(format=fmt, **filters)
    call = campaign.stub.ExportContacts(request, metadata=campaign.md(tenant, scopes=scopes))
    return [piece async for piece in call]


def whole(pieces) -> bytes:
    return b"".join(p.chunk for p in pieces)


async def account(campaign):
    tenant = campaign.tenant()
    made = [
        await campaign.create(tenant, first_name=f"P{i}", tags=["t"], attributes={"n": i})
        for i in range(6)
    ]
    made.append(await campaign.create(tenant, first_name='=HYPERLINK("http://x.example")'))
    return tenant, made


async def test_csv_has_every_contact_once_with_formulas_defused(campaign) -> None:
    tenant, made = await account(campaign)
    stranger = await campaign.create(campaign.tenant())
    pieces = await export(campaign, tenant, pb.EXPORT_FORMAT_CSV)
    assert pieces[0].content_type == "text/csv; charset=utf-8"
    assert pieces[0].filename == "contacts.csv"
    assert len(pieces) >= 3  # one piece per page of 3: sent as it is read
    assert pieces[-1].contacts == 7
    rows = list(csv.DictReader(io.StringIO(whole(pieces).decode())))
    assert sorted(r["email"] for r in rows) == sorted(c.email for c in made)
    assert stranger.email not in {r["email"] for r in rows}
    by_id = {r["contact_id"]: r for r in rows}
    assert by_id[made[6].contact_id]["first_name"] == '\'=HYPERLINK("http://x.example")'
    assert json.loads(by_id[made[2].contact_id]["attributes"]) == {"n": 2}
    assert by_id[made[2].contact_id]["tags"] == "t"
    assert by_id[made[2].contact_id]["created_at"].endswith("Z")


async def test_json_is_one_array_of_contact_objects(campaign) -> None:
    tenant, made = await account(campaign)
    pieces = await export(campaign, tenant, pb.EXPORT_FORMAT_JSON)
    assert pieces[0].content_type == "application/json"
    items = json.loads(whole(pieces))
    assert [i["contact_id"] for i in items] == sorted(c.contact_id for c in made)
    first = next(i for i in items if i["contact_id"] == made[0].contact_id)
    assert first["attributes"] == {"n": 0}
    assert first["tags"] == ["t"]
    assert first["suppressed"] is False
    datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    empty = await export(campaign, campaign.tenant(), pb.EXPORT_FORMAT_JSON)
    assert json.loads(whole(empty)) == []


async def test_xlsx_opens_in_a_spreadsheet_reader_with_text_cells(campaign, tmp_path) -> None:
    tenant, made = await account(campaign)
    pieces = await export(campaign, tenant, pb.EXPORT_FORMAT_XLSX)
    assert pieces[0].filename == "contacts.xlsx"
    path = tmp_path / "contacts.xlsx"
    path.write_bytes(whole(pieces))
    book = openpyxl.load_workbook(path, read_only=True)
    sheet = book["contacts"]
    rows = list(sheet.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert header[:3] == ("contact_id", "email", "first_name")
    assert "created_at (UTC)" in header
    assert sorted(r[1] for r in body) == sorted(c.email for c in made)
    formula = next(r for r in body if r[0] == made[6].contact_id)
    assert formula[2] == '=HYPERLINK("http://x.example")'  # kept as text, never a formula
    assert isinstance(body[0][header.index("created_at (UTC)")], datetime)
    cells = {c.value: c.data_type for r in sheet.iter_rows(min_row=2) for c in r if c.value}
    assert cells['=HYPERLINK("http://x.example")'] == "s"
    book.close()


async def test_one_list_or_one_segment(campaign) -> None:
    tenant, made = await account(campaign)
    lists_md = campaign.md(tenant, scopes=("lists:write",))
    created = await campaign.stub.CreateList(
        pb.CreateListRequest(list=pb.ContactList(name="L", purpose_id=str(uuid.uuid4()))),
        metadata=lists_md,
    )
    list_id = created.list.list_id
    await campaign.stub.AddToList(
        pb.AddToListRequest(list_id=list_id, contact_ids=[made[0].contact_id, made[5].contact_id]),
        metadata=lists_md,
    )
    listed = json.loads(
        whole(await export(campaign, tenant, pb.EXPORT_FORMAT_JSON, list_id=list_id))
    )
    assert {i["contact_id"] for i in listed} == {made[0].contact_id, made[5].contact_id}
    assert all(i["list_ids"] == [list_id] for i in listed)
    rule = '{"field": "attributes.n", "op": "greater", "value": 2}'
    saved = await campaign.stub.CreateSegment(
        pb.CreateSegmentRequest(segment=pb.Segment(name="big", rule_tree_json=rule)),
        metadata=campaign.md(tenant, scopes=("segments:write",)),
    )
    segment_id = saved.segment.segment_id
    matched = json.loads(
        whole(await export(campaign, tenant, pb.EXPORT_FORMAT_JSON, segment_id=segment_id))
    )
    assert {i["contact_id"] for i in matched} == {c.contact_id for c in made[3:6]}

    # Another account's list and segment are not found.
    other = campaign.tenant()
    for filters in ({"list_id": list_id}, {"segment_id": segment_id}):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await export(campaign, other, pb.EXPORT_FORMAT_CSV, **filters)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_bad_input_names_its_field(campaign) -> None:
    tenant = campaign.tenant()
    for filters, field in (
        ({}, "format"),
        ({"format": pb.EXPORT_FORMAT_CSV, "list_id": "nope"}, "list_id"),
        ({"format": pb.EXPORT_FORMAT_CSV, "segment_id": "nope"}, "segment_id"),
        ({"format": pb.EXPORT_FORMAT_CSV, "list_id": str(uuid.uuid4()),
          "segment_id": str(uuid.uuid4())}, "segment_id"),
    ):  # fmt: skip
        fmt = filters.pop("format", pb.EXPORT_FORMAT_UNSPECIFIED)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await export(campaign, tenant, fmt, **filters)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(caught.value) == [field]


async def test_the_least_scope_works_and_one_less_is_denied(campaign) -> None:
    tenant, _ = await account(campaign)
    assert whole(await export(campaign, tenant, pb.EXPORT_FORMAT_CSV, scopes=READ))
    for scopes in ((), ("contacts:write", "lists:read", "segments:read")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await export(campaign, tenant, pb.EXPORT_FORMAT_CSV, scopes=scopes)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
