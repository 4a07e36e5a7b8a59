"""Every id-taking endpoint: a malformed id is a 400 problem naming the path parameter, and
another account's id is a 404 (the services filter by the token's account)."""

from __future__ import annotations

import pytest
from test_rest_audience import email, purpose
from test_rest_auth import assert_problem

pytestmark = pytest.mark.asyncio(loop_scope="package")

# (method, path, json body) with {contact}, {list}, {segment}, {template}, {campaign} ids.
BY_ID = [
    ("GET", "/contacts/{contact}", None),
    ("PATCH", "/contacts/{contact}", {"first_name": "X"}),
    ("DELETE", "/contacts/{contact}", None),
    ("POST", "/contacts/{contact}/restore", None),
    ("GET", "/contacts/{contact}/consent", None),
    ("DELETE", "/contacts/{contact}/tags/vip", None),
    ("PUT", "/contacts/{contact}/lists/{list}", None),
    ("DELETE", "/contacts/{contact}/lists/{list}", None),
    ("POST", "/lists/{list}/members", {"contact_ids": ["{contact}"]}),
    ("GET", "/segments/{segment}", None),
    ("PATCH", "/segments/{segment}", {"name": "X"}),
    ("DELETE", "/segments/{segment}", None),
    ("GET", "/templates/{template}", None),
    ("PATCH", "/templates/{template}", {"name": "X"}),
    ("POST", "/templates/{template}/preview", {}),
    ("GET", "/campaigns/{campaign}", None),
    ("PATCH", "/campaigns/{campaign}", {"name": "X"}),
    ("POST", "/campaigns/{campaign}/schedule", {"send_at": "2099-01-01T00:00:00Z"}),
    ("POST", "/campaigns/{campaign}/send", None),
    ("POST", "/campaigns/{campaign}/pause", {}),
    ("POST", "/campaigns/{campaign}/resume", None),
    ("POST", "/campaigns/{campaign}/cancel", {}),
    ("GET", "/campaigns/{campaign}/stats", None),
    ("GET", "/imports/{import}", None),
    ("POST", "/imports/{import}/cancel", None),
    ("GET", "/imports/{import}/report", None),
]
PARAMS = {
    "contact": "contact_id", "list": "list_id", "segment": "segment_id",
    "template": "template_id", "campaign": "campaign_id", "import": "import_id",
}  # fmt: skip


def fill(value, ids: dict[str, str]):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


async def owned_by(platform, client, account) -> dict[str, str]:
    """One of each resource in ``account``."""
    h = account.auth
    pid = await purpose(client, account)
    ids = {
        "contact": (await client.post("/api/v1/contacts", headers=h, json={"email": email()}))
        .json()["contact_id"],
        "list": (await client.post(
            "/api/v1/lists", headers=h, json={"name": "L", "purpose_id": pid}
        )).json()["list_id"],
        "segment": (await client.post(
            "/api/v1/segments", headers=h, json={"name": "S", "rules": {"has_tag": "vip"}}
        )).json()["segment_id"],
    }  # fmt: skip
    starter = (await client.get("/api/v1/templates/starter-en", headers=h)).json()
    ids["template"] = (await client.post(
        "/api/v1/templates", headers=h,
        json={"name": "T", "subject": "S", "html_body": starter["html_body"]},
    )).json()["template_id"]  # fmt: skip
    ids["campaign"] = (await client.post(
        "/api/v1/campaigns", headers=h,
        json={"name": "C", "purpose_id": pid, "template_id": "starter-en",
              "list_ids": [ids["list"]], "sender": {"from_address": "news@bottega.example"}},
    )).json()["campaign_id"]  # fmt: skip
    r = await client.post(
        "/api/v1/imports", headers={**h, "content-type": "text/csv"},
        params={"list_id": ids["list"], "require_double_opt_in": "true"},
        content=f"email\n{email()}\n".encode(),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    ids["import"] = r.json()["import_id"]
    return ids


async def test_another_accounts_ids_are_not_found_everywhere(platform) -> None:
    a = await platform.account()
    b = await platform.account()
    async with platform.client() as client:
        theirs = await owned_by(platform, client, a)
        mine = await owned_by(platform, client, b)
        for method, path, body in BY_ID:
            # B names A's resource (with B's own for the other ids in the path or body).
            for kind in PARAMS:
                if "{" + kind + "}" not in path and "{" + kind + "}" not in str(body):
                    continue
                ids = {**mine, kind: theirs[kind]}
                r = await client.request(
                    method, "/api/v1" + fill(path, ids), headers=b.auth, json=fill(body, ids)
                )
                assert r.status_code == 404, (method, path, kind, r.text)
                assert_problem(r, 404, "NOT_FOUND")
        # And A's resources are untouched.
        r = await client.get(f"/api/v1/contacts/{theirs['contact']}", headers=a.auth)
        assert r.status_code == 200
        assert r.json()["deleted_at"] is None


async def test_a_malformed_id_is_a_400_naming_the_path_parameter(platform) -> None:
    a = await platform.account()
    async with platform.client() as client:
        ids = {kind: "x" * 65 for kind in PARAMS}
        for method, path, body in BY_ID:
            r = await client.request(
                method, "/api/v1" + fill(path, ids), headers=a.auth, json=fill(body, ids)
            )
            first = path.split("{", 1)[1].split("}", 1)[0]
            assert_problem(r, 400, "INVALID_ARGUMENT", field=PARAMS[first])
