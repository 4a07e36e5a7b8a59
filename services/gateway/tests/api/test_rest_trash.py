"""Lists, templates, campaigns and segments go to the trash and come back over REST, against
the real services: the write scope is needed, another account's ids are not found, and a
deleted item is listed only with ``in_trash``."""

from __future__ import annotations

import uuid

import pytest
from test_rest_auth import assert_problem
from test_rest_sending import list_of, verified_sender_domain

pytestmark = pytest.mark.asyncio(loop_scope="package")

WRITERS = (
    "consent:read", "consent:write", "lists:read", "lists:write", "templates:read",
    "templates:write", "campaigns:read", "campaigns:write", "segments:read", "segments:write",
)  # fmt: skip
READERS = ("lists:read", "templates:read", "campaigns:read", "segments:read")


async def trash_and_restore(client, a, b, reader, path: str, item_id: str, id_key: str) -> None:
    """The round trip every kind shares, with its refusals."""
    url = f"/api/v1/{path}/{item_id}"
    assert_problem(await client.delete(url, headers=reader.auth), 403, "PERMISSION_DENIED")
    assert_problem(await client.delete(url, headers=b.auth), 404, "NOT_FOUND")
    r = await client.delete(url, headers=a.auth)
    assert r.status_code == 200, r.text
    assert r.json()["deleted_at"] is not None
    assert r.json()["restorable_until"] > r.json()["deleted_at"]
    live = (await client.get(f"/api/v1/{path}", headers=a.auth)).json()["data"]
    assert item_id not in [x[id_key] for x in live]
    trash = await client.get(f"/api/v1/{path}", headers=a.auth, params={"in_trash": "true"})
    assert [x[id_key] for x in trash.json()["data"]] == [item_id]
    other = await client.get(f"/api/v1/{path}", headers=b.auth, params={"in_trash": "true"})
    assert other.json()["data"] == []
    restore = f"{url}/restore"
    assert_problem(await client.post(restore, headers=reader.auth), 403, "PERMISSION_DENIED")
    assert_problem(await client.post(restore, headers=b.auth), 404, "NOT_FOUND")
    r = await client.post(restore, headers=a.auth)
    assert r.status_code == 200, r.text
    assert r.json()["deleted_at"] is None
    live = (await client.get(f"/api/v1/{path}", headers=a.auth)).json()["data"]
    assert item_id in [x[id_key] for x in live]


async def test_lists_templates_campaigns_and_segments_go_to_the_trash_and_back(platform) -> None:
    a = await platform.account(scopes=WRITERS)
    b = await platform.account()
    reader = await platform.account(scopes=READERS)
    async with platform.client() as client:
        pid, lid = await list_of(client, a)
        await trash_and_restore(client, a, b, reader, "lists", lid, "list_id")

        starter = (await client.get("/api/v1/templates/starter-en", headers=a.auth)).json()
        body = {"name": "Spring", "subject": "Hello", "html_body": starter["html_body"]}
        r = await client.post("/api/v1/templates", headers=a.auth, json=body)
        assert r.status_code == 201, r.text
        tid = r.json()["template_id"]
        await trash_and_restore(client, a, b, reader, "templates", tid, "template_id")
        r = await client.delete("/api/v1/templates/starter-en", headers=a.auth)
        assert_problem(r, 409, "FAILED_PRECONDITION")

        await verified_sender_domain(platform, a.account_id, "bottega.example")
        draft = {
            "name": "Spring", "purpose_id": pid, "template_id": tid, "list_ids": [lid],
            "sender": {"from_name": "Bottega", "from_address": "news@bottega.example"},
        }  # fmt: skip
        r = await client.post("/api/v1/campaigns", headers=a.auth, json=draft)
        assert r.status_code == 201, r.text
        cid = r.json()["campaign_id"]
        await trash_and_restore(client, a, b, reader, "campaigns", cid, "campaign_id")

        rules = {"all": [{"field": "attributes.city", "op": "eq", "value": "Rome"}]}
        r = await client.post(
            "/api/v1/segments", headers=a.auth, json={"name": "All", "rules": rules}
        )
        assert r.status_code == 201, r.text
        sid = r.json()["segment_id"]
        await trash_and_restore(client, a, b, reader, "segments", sid, "segment_id")


async def test_a_bad_id_is_refused_naming_the_field(platform) -> None:
    a = await platform.account(scopes=WRITERS)
    async with platform.client() as client:
        for path in ("lists", "templates", "campaigns"):
            r = await client.delete(f"/api/v1/{path}/not-an-id", headers=a.auth)
            assert r.status_code in (400, 404), r.text
            assert r.json()["status"] == r.status_code
        r = await client.delete(f"/api/v1/lists/{'x' * 65}", headers=a.auth)
        assert r.status_code == 400, r.text
        r = await client.post(f"/api/v1/campaigns/{uuid.uuid4()}/restore", headers=a.auth)
        assert_problem(r, 404, "NOT_FOUND")
