"""Contacts, tags, lists, segments, purposes and consent state over REST, against the real
services: happy path, bad input naming the field, another account's key refused."""

from __future__ import annotations

import uuid

import pytest
from test_rest_auth import assert_problem

pytestmark = pytest.mark.asyncio(loop_scope="package")


def email() -> str:
    return f"person-{uuid.uuid4().hex[:10]}@example.org"


async def purpose(client, account) -> str:
    r = await client.post(
        "/api/v1/purposes",
        headers=account.auth,
        json={"key": f"news-{uuid.uuid4().hex[:6]}", "name": "Newsletter"},
    )
    assert r.status_code == 201, r.text
    return r.json()["purpose_id"]


async def test_contacts_crud_with_idempotency_and_isolation(platform) -> None:
    a = await platform.account()
    b = await platform.account()
    async with platform.client() as client:
        body = {"email": email(), "first_name": "Ada", "attributes": {"city": "Rome", "vip": True}}
        key = {"idempotency-key": uuid.uuid4().hex}
        r = await client.post("/api/v1/contacts", headers={**a.auth, **key}, json=body)
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["email"] == body["email"]
        assert made["attributes"] == body["attributes"]
        assert made["source"] == "api"
        assert made["deleted_at"] is None
        # The same key again: the first answer, no second contact.
        again = await client.post("/api/v1/contacts", headers={**a.auth, **key}, json=body)
        assert again.status_code == 201
        assert again.json()["contact_id"] == made["contact_id"]
        # The same key with another body: 409.
        other = {**body, "first_name": "Grace"}
        r = await client.post("/api/v1/contacts", headers={**a.auth, **key}, json=other)
        assert_problem(r, 409, "FAILED_PRECONDITION")
        cid = made["contact_id"]

        r = await client.get(f"/api/v1/contacts/{cid}", headers=a.auth)
        assert r.status_code == 200
        assert r.json()["first_name"] == "Ada"
        r = await client.patch(f"/api/v1/contacts/{cid}", headers=a.auth, json={"last_name": "L"})
        assert r.status_code == 200, r.text
        assert (r.json()["first_name"], r.json()["last_name"]) == ("Ada", "L")
        r = await client.get("/api/v1/contacts", headers=a.auth, params={"search": "person-"})
        assert [c["contact_id"] for c in r.json()["data"]] == [cid]

        # Account B sees none of it, whatever it tries.
        assert (await client.get("/api/v1/contacts", headers=b.auth)).json()["data"] == []
        r = await client.get(f"/api/v1/contacts/{cid}", headers=b.auth)
        assert_problem(r, 404, "NOT_FOUND")
        r = await client.patch(f"/api/v1/contacts/{cid}", headers=b.auth, json={"last_name": "X"})
        assert_problem(r, 404, "NOT_FOUND")
        assert_problem(
            await client.delete(f"/api/v1/contacts/{cid}", headers=b.auth), 404, "NOT_FOUND"
        )

        r = await client.delete(f"/api/v1/contacts/{cid}", headers=a.auth)
        assert r.status_code == 204, r.text
        r = await client.get("/api/v1/contacts", headers=a.auth, params={"in_trash": "true"})
        assert [c["contact_id"] for c in r.json()["data"]] == [cid]
        r = await client.post(f"/api/v1/contacts/{cid}/restore", headers=a.auth)
        assert r.status_code == 200
        assert r.json()["deleted_at"] is None


async def test_bad_contact_input_names_the_field(platform) -> None:
    a = await platform.account()
    async with platform.client() as client:
        r = await client.post("/api/v1/contacts", headers=a.auth, json={"email": "not-an-address"})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="email")
        r = await client.post("/api/v1/contacts", headers=a.auth, json={"email": 42})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="email")
        r = await client.post("/api/v1/contacts", headers=a.auth, json={"first_name": "x"})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="email")
        r = await client.post("/api/v1/contacts", headers=a.auth, json={"email": email(), "x": 1})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="x")
        r = await client.post(
            "/api/v1/contacts", headers={**a.auth, "idempotency-key": "has space"},
            json={"email": email()},
        )  # fmt: skip
        assert_problem(r, 400, "INVALID_ARGUMENT", field="Idempotency-Key")
        r = await client.get("/api/v1/contacts", headers=a.auth, params={"cursor": "forged"})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="cursor")
        r = await client.get("/api/v1/contacts", headers=a.auth, params={"limit": 0})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="limit")


async def test_keyset_pages_with_opaque_cursors(platform) -> None:
    a = await platform.account()
    b = await platform.account()
    async with platform.client() as client:
        made = set()
        for _ in range(5):
            r = await client.post("/api/v1/contacts", headers=a.auth, json={"email": email()})
            made.add(r.json()["contact_id"])
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            r = await client.get("/api/v1/contacts", headers=a.auth, params=params)
            assert r.status_code == 200, r.text
            seen += [c["contact_id"] for c in r.json()["data"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
            first_cursor = cursor
        assert sorted(seen) == sorted(made)
        assert len(seen) == 5
        # Another account's cursor shows it nothing of this account (campaign binds its
        # contact cursors to the filters, and every query to the token's account).
        r = await client.get("/api/v1/contacts", headers=b.auth, params={"cursor": first_cursor})
        assert r.status_code in (200, 400), r.text
        assert r.status_code == 400 or r.json()["data"] == []


async def test_tags_lists_and_members(platform) -> None:
    a = await platform.account()
    b = await platform.account()
    async with platform.client() as client:
        pid = await purpose(client, a)
        cid = (
            await client.post("/api/v1/contacts", headers=a.auth, json={"email": email()})
        ).json()["contact_id"]
        r = await client.post(
            f"/api/v1/contacts/{cid}/tags", headers=a.auth, json={"tags": ["vip"]}
        )
        assert r.json() == {"updated": 1}
        r = await client.post(
            f"/api/v1/contacts/{cid}/tags", headers=a.auth, json={"tags": ["vip"]}
        )
        assert r.json() == {"updated": 0}  # idempotent by nature
        r = await client.get("/api/v1/tags", headers=a.auth)
        assert r.json()["data"] == [{"name": "vip", "contact_count": 1}]
        assert (await client.get("/api/v1/tags", headers=b.auth)).json()["data"] == []
        r = await client.post(f"/api/v1/contacts/{cid}/tags", headers=a.auth, json={"tags": []})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="tags")
        r = await client.post(f"/api/v1/contacts/{cid}/tags", headers=b.auth, json={"tags": ["x"]})
        assert r.status_code in (404, 200)
        if r.status_code == 200:  # a foreign id is nothing to tag in B's account
            assert r.json() == {"updated": 0}
        r = await client.delete(f"/api/v1/contacts/{cid}/tags/vip", headers=a.auth)
        assert r.json() == {"updated": 1}

        r = await client.post(
            "/api/v1/lists", headers=a.auth, json={"name": "News", "purpose_id": pid}
        )
        assert r.status_code == 201, r.text
        lid = r.json()["list_id"]
        r = await client.post("/api/v1/lists", headers=a.auth, json={"name": "", "purpose_id": pid})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="name")
        r = await client.post(
            f"/api/v1/lists/{lid}/members", headers=a.auth, json={"contact_ids": [cid]}
        )
        assert r.json() == {"added": 1}
        r = await client.put(f"/api/v1/contacts/{cid}/lists/{lid}", headers=a.auth)
        assert r.json() == {"added": 0}
        lists = (await client.get("/api/v1/lists", headers=a.auth)).json()["data"]
        assert [(x["list_id"], x["member_count"]) for x in lists] == [(lid, 1)]
        assert (await client.get("/api/v1/lists", headers=b.auth)).json()["data"] == []
        r = await client.post(
            f"/api/v1/lists/{lid}/members", headers=b.auth, json={"contact_ids": [cid]}
        )
        assert_problem(r, 404, "NOT_FOUND")
        r = await client.get("/api/v1/contacts", headers=a.auth, params={"list_id": lid})
        assert [c["contact_id"] for c in r.json()["data"]] == [cid]
        r = await client.delete(f"/api/v1/contacts/{cid}/lists/{lid}", headers=a.auth)
        assert r.json() == {"removed": 1}


async def test_segments_with_count_preview(platform) -> None:
    a = await platform.account()
    b = await platform.account()
    async with platform.client() as client:
        for city in ("Rome", "Rome", "Milan"):
            body = {"email": email(), "attributes": {"city": city}}
            assert (
                await client.post("/api/v1/contacts", headers=a.auth, json=body)
            ).status_code == 201
        rules = {"all": [{"field": "attributes.city", "op": "eq", "value": "Rome"}]}
        r = await client.post(
            "/api/v1/segments/preview", headers=a.auth, json={"rules": rules, "sample_size": 1}
        )
        assert r.status_code == 200, r.text
        assert r.json()["matching_count"] == 2
        assert len(r.json()["sample"]) == 1
        r = await client.post("/api/v1/segments/preview", headers=b.auth, json={"rules": rules})
        assert r.json()["matching_count"] == 0
        r = await client.post(
            "/api/v1/segments/preview", headers=a.auth, json={"rules": {"all": [{"op": "zz"}]}}
        )
        assert_problem(r, 400, "INVALID_ARGUMENT", field="rules")

        r = await client.post(
            "/api/v1/segments", headers=a.auth, json={"name": "Romans", "rules": rules}
        )
        assert r.status_code == 201, r.text
        sid = r.json()["segment_id"]
        assert r.json()["rules"] == rules
        listed = (await client.get("/api/v1/segments", headers=a.auth)).json()["data"]
        assert [s["segment_id"] for s in listed] == [sid]
        r = await client.get("/api/v1/contacts", headers=a.auth, params={"segment_id": sid})
        assert len(r.json()["data"]) == 2
        assert (await client.get("/api/v1/segments", headers=b.auth)).json()["data"] == []
        assert_problem(
            await client.delete(f"/api/v1/segments/{sid}", headers=b.auth), 404, "NOT_FOUND"
        )

        # Read back and changed: only the fields sent, the tree checked again by campaign.
        r = await client.get(f"/api/v1/segments/{sid}", headers=a.auth)
        assert r.status_code == 200, r.text
        assert (r.json()["name"], r.json()["rules"]) == ("Romans", rules)
        r = await client.patch(f"/api/v1/segments/{sid}", headers=a.auth, json={"name": "Rome"})
        assert r.status_code == 200, r.text
        assert (r.json()["name"], r.json()["rules"]) == ("Rome", rules)
        milan = {"all": [{"field": "attributes.city", "op": "eq", "value": "Milan"}]}
        r = await client.patch(f"/api/v1/segments/{sid}", headers=a.auth, json={"rules": milan})
        assert (r.json()["name"], r.json()["rules"]) == ("Rome", milan)
        r = await client.get("/api/v1/contacts", headers=a.auth, params={"segment_id": sid})
        assert len(r.json()["data"]) == 1
        bad = {"all": [{"field": "password", "op": "eq", "value": "x"}]}
        r = await client.patch(f"/api/v1/segments/{sid}", headers=a.auth, json={"rules": bad})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="rules.all[0].field")
        r = await client.patch(f"/api/v1/segments/{sid}", headers=a.auth, json={"name": ""})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="name")
        r = await client.patch(f"/api/v1/segments/{sid}", headers=a.auth, json={})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="update_mask")
        assert_problem(
            await client.get(f"/api/v1/segments/{sid}", headers=b.auth), 404, "NOT_FOUND"
        )
        reader = await platform.account(scopes=("segments:read",))
        r = await client.patch(f"/api/v1/segments/{sid}", headers=reader.auth, json={"name": "X"})
        assert_problem(r, 403, "PERMISSION_DENIED")
        fields = await client.get("/api/v1/segments/fields", headers=reader.auth)
        assert fields.status_code == 200, fields.text
        names = [f["name"] for f in fields.json()["fields"]]
        assert names[0] == "email"
        assert names[-1] == "attributes.<key>"
        ops = {o["name"]: o for o in fields.json()["operators"]}
        assert "eq" in ops["equals"]["aliases"]

        r = await client.delete(f"/api/v1/segments/{sid}", headers=a.auth)
        assert r.status_code == 200
        assert r.json()["deleted_at"] is not None
        assert_problem(
            await client.get(f"/api/v1/segments/{sid}", headers=a.auth), 404, "NOT_FOUND"
        )


async def test_purposes_and_read_only_consent_state(platform) -> None:
    a = await platform.account()
    b = await platform.account()
    async with platform.client() as client:
        pid = await purpose(client, a)
        r = await client.post("/api/v1/purposes", headers=a.auth, json={"key": "", "name": "x"})
        assert_problem(r, 400, "INVALID_ARGUMENT", field="key")
        listed = (await client.get("/api/v1/purposes", headers=a.auth)).json()["data"]
        assert [p["purpose_id"] for p in listed] == [pid]
        assert (await client.get("/api/v1/purposes", headers=b.auth)).json()["data"] == []

        cid = (
            await client.post("/api/v1/contacts", headers=a.auth, json={"email": email()})
        ).json()["contact_id"]
        r = await client.get(f"/api/v1/contacts/{cid}/consent", headers=a.auth)
        assert r.status_code == 200, r.text
        state = r.json()
        assert state["contact_id"] == cid
        assert state["suppressed"] is False
        assert [(p["purpose_id"], p["status"], p["allowed"]) for p in state["purposes"]] == [
            (pid, "not_recorded", False)
        ]
        assert_problem(
            await client.get(f"/api/v1/contacts/{cid}/consent", headers=b.auth), 404, "NOT_FOUND"
        )
        # Read-only: there is no way to write consent through the contact.
        r = await client.post(f"/api/v1/contacts/{cid}/consent", headers=a.auth, json={})
        assert_problem(r, 405, "METHOD_NOT_ALLOWED")


async def test_the_sender_identity_is_read_and_replaced_per_account(platform) -> None:
    a = await platform.account(scopes=("consent:read", "consent:write"))
    b = await platform.account(scopes=("consent:read",))
    body = {
        "name": "Bottega Rossi",
        "postal_address": "Via Roma 1\n00100 Roma",
        "privacy_contact": "privacy@rossi.example",
    }
    async with platform.client() as client:
        empty = await client.get("/api/v1/sender-identity", headers=a.auth)
        assert empty.status_code == 200, empty.text
        assert (empty.json()["name"], empty.json()["updated_at"]) == ("", None)
        r = await client.put("/api/v1/sender-identity", headers=a.auth, json=body)
        assert r.status_code == 200, r.text
        assert {k: r.json()[k] for k in body} == body
        assert r.json()["updated_at"]
        read = (await client.get("/api/v1/sender-identity", headers=a.auth)).json()
        assert read["privacy_contact"] == "privacy@rossi.example"
        # Bad input names the field and keeps what was stored.
        bad = await client.put(
            "/api/v1/sender-identity", headers=a.auth, json={**body, "privacy_contact": "ftp://x"}
        )
        assert_problem(bad, 400, "INVALID_ARGUMENT", field="privacy_contact")
        missing = await client.put("/api/v1/sender-identity", headers=a.auth, json={"name": "x"})
        assert missing.status_code == 400
        assert (await client.get("/api/v1/sender-identity", headers=a.auth)).json() == read
        # Another account sees its own (none); a key without consent:write cannot replace it.
        assert (await client.get("/api/v1/sender-identity", headers=b.auth)).json()["name"] == ""
        refused = await client.put("/api/v1/sender-identity", headers=b.auth, json=body)
        assert_problem(refused, 403, "PERMISSION_DENIED")
