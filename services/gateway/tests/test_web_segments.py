"""The segments pages against the real platform (identity, consent, campaign, delivery,
billing in this process; the gateway app through httpx): the rule builder's rows added and
removed by posting the form, the live count and its sample matching the contacts made here,
campaign's field violations under their row, save, delete to the trash and restore, CSRF
refusals, another account's segment a 404, editing a saved segment (its rows prefilled, a
tree written over the API only renamed), and the pages in Italian.

``web_platform`` and ``web_client`` are shared with ``test_web_forms.py``."""

from __future__ import annotations

import contextlib
import re
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from missiva_campaign.segments import FIELDS as CAMPAIGN_FIELDS
from missiva_gateway.web.security import CSRF_COOKIE

sys.path.insert(0, str(Path(__file__).parent / "api"))

from platform_testkit import PASSWORD, Platform, running_platform

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def web_platform(
    make_database: Any, nats_url: str, _smtp_sink_session: Any, tmp_path_factory: Any
) -> AsyncIterator[Platform]:
    hint = f"web{uuid.uuid4().hex[:4]}"
    async with running_platform(
        make_database, nats_url, _smtp_sink_session.url, tmp_path_factory.mktemp(hint), hint
    ) as running:
        yield running


@contextlib.asynccontextmanager
async def web_client(platform: Platform, locale: str = "en") -> AsyncIterator[Any]:
    """A gateway signed in as a fresh account's admin (``client.account``, its API key for
    making contacts over REST); ``locale`` is the user's language."""
    account = await platform.account()
    if locale != "en":
        await platform.sql(
            "identity", "UPDATE users SET locale = %s WHERE id = %s", locale, account.user_id
        )
    async with platform.client() as client:
        client.account = account
        reply = await client.post(
            "/login",
            data={
                "csrf_token": await csrf(client, "/login"),
                "email": account.email,
                "password": PASSWORD,
            },
        )
        assert reply.status_code == 303, reply.text
        assert reply.headers["location"] == "/app"
        yield client


async def csrf(client: httpx.AsyncClient, path: str = "/app") -> str:
    await client.get(path)
    return str(client.cookies[CSRF_COOKIE])


async def contact(client: Any, address: str, **body: Any) -> str:
    reply = await client.post(
        "/api/v1/contacts", headers=client.account.auth, json={"email": address, **body}
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["contact_id"])


def rows(*items: tuple[str, str, str, str]) -> dict[str, str]:
    """The builder's form fields for rows of (field, key, op, value)."""
    form = {"rows": str(len(items))}
    for i, (field, key, op, value) in enumerate(items):
        form |= {f"field_{i}": field, f"key_{i}": key, f"op_{i}": op, f"value_{i}": value}
    return form


def count_of(html: str) -> int:
    found = re.search(r'id="segment-count">([\d.,]+)<', html)
    assert found, html
    return int(found.group(1).replace(",", "").replace(".", ""))


async def test_a_segment_is_built_counted_saved_trashed_and_restored(
    web_platform: Platform,
) -> None:
    tag = uuid.uuid4().hex[:6]
    async with web_client(web_platform) as client:
        for i, city in enumerate(("Rome", "Rome", "Milan")):
            await contact(client, f"p{i}-{tag}@example.org", attributes={"city": city, "n": i})
        page = await client.get("/app/segments/new")
        assert page.status_code == 200
        assert 'name="field_0"' in page.text
        # The fields offered are campaign's compiler's whitelist (its ListSegmentFields).
        for field in (*CAMPAIGN_FIELDS, "attributes", "has_tag", "in_list"):
            assert f'<option value="{field}"' in page.text
        token = client.cookies[CSRF_COOKIE]
        base = {"csrf_token": token, "name": f"Romans {tag}", "combine": "all"}

        # No JavaScript: adding a row posts the form and the page comes back with two rows.
        added = await client.post(
            "/app/segments/new",
            data=base | rows(("attributes", "city", "equals", "Rome")) | {"action": "add"},
        )
        assert added.status_code == 200
        assert 'name="field_1"' in added.text
        assert 'name="field_2"' not in added.text
        assert count_of(added.text) == 0  # the empty second row is email = ""

        # HTMX: the rows alone, one removed, and the count for what is left (out of band).
        two = rows(("attributes", "city", "equals", "Rome"), ("email", "", "contains", tag))
        removed = await client.post(
            "/app/segments/rules",
            data=base | two | {"action": "remove-1"},
            headers={"hx-request": "true", "x-csrf-token": token},
        )
        assert removed.status_code == 200
        assert removed.text.lstrip().startswith('<fieldset id="rules">')
        assert 'name="field_1"' not in removed.text
        assert 'hx-swap-oob="innerHTML"' in removed.text
        assert count_of(removed.text) == 2

        live = await client.post(
            "/app/segments/preview", data=base | two, headers={"x-csrf-token": token}
        )
        assert count_of(live.text) == 2
        assert f"p0-{tag}@example.org" in live.text
        assert f"p2-{tag}@example.org" not in live.text
        anyof = await client.post(
            "/app/segments/preview",
            data=base | two | {"combine": "any"},
            headers={"x-csrf-token": token},
        )
        assert count_of(anyof.text) == 3
        negated = await client.post(
            "/app/segments/preview",
            data=base | rows(("attributes", "n", "greater", "0")) | {"negate": "1"},
            headers={"x-csrf-token": token},
        )
        assert count_of(negated.text) == 1  # n is a number: only n=0 is not greater than 0

        saved = await client.post("/app/segments/new", data=base | two | {"action": "save"})
        assert saved.status_code == 303
        listing = await client.get(saved.headers["location"])
        assert "The segment is saved." in listing.text
        sid = re.search(r'href="/app/segments/([0-9a-f-]{36})"', listing.text).group(1)  # type: ignore[union-attr]
        assert re.search(rf"Romans {tag}</a></td><td>2</td>", listing.text)
        one = await client.get(f"/app/segments/{sid}")
        assert one.status_code == 200
        assert f"p1-{tag}@example.org" in one.text
        assert f"p2-{tag}@example.org" not in one.text

        gone = await client.post(f"/app/segments/{sid}/delete", data={"csrf_token": token})
        assert gone.status_code == 303
        trash = await client.get(gone.headers["location"])
        assert "The segment is in the trash." in trash.text
        assert f'action="/app/segments/{sid}/restore"' in trash.text
        back = await client.post(f"/app/segments/{sid}/restore", data={"csrf_token": token})
        assert "The segment is restored." in (await client.get(back.headers["location"])).text

        # Another account sees none of it: its id is a 404 there, page and actions alike.
        async with web_client(web_platform) as other:
            other_token = await csrf(other)
            assert (await other.get(f"/app/segments/{sid}")).status_code == 404
            for action in ("delete", "restore"):
                reply = await other.post(
                    f"/app/segments/{sid}/{action}", data={"csrf_token": other_token}
                )
                assert reply.status_code == 404
            assert f"Romans {tag}" not in (await other.get("/app/segments")).text


async def test_campaigns_field_violations_show_under_their_row(web_platform: Platform) -> None:
    async with web_client(web_platform) as client:
        token = await csrf(client, "/app/segments/new")
        bad = rows(("email", "", "equals", "x"), ("bogus", "", "equals", "x"))
        live = await client.post(
            "/app/segments/preview",
            data={"csrf_token": token} | bad,
            headers={"x-csrf-token": token},
        )
        assert live.status_code == 200
        error = re.search(
            r'<p class="field-error" id="rerr-1" hx-swap-oob="true">([^<]+)<', live.text
        )
        assert error
        assert "unknown field" in error.group(1)
        assert "attributes.&lt;key&gt;" in error.group(1)
        assert re.search(r'id="rerr-0" hx-swap-oob="true"></p>', live.text)

        refused = await client.post(
            "/app/segments/new",
            data={"csrf_token": token, "name": "Bad", "action": "save"}
            | rows(("created_at", "", "greater", "not a time")),
        )
        assert refused.status_code == 400
        assert re.search(r'id="rerr-0">[^<]*ISO 8601', refused.text)
        assert 'aria-describedby="rerr-0"' in refused.text
        assert 'value="not a time"' in refused.text  # what was typed stays
        nameless = await client.post(
            "/app/segments/new",
            data={"csrf_token": token, "name": "", "action": "save"}
            | rows(("email", "", "exists", "")),
        )
        assert nameless.status_code == 400
        assert 'id="e-name"' in nameless.text


async def test_the_forms_refuse_a_missing_or_wrong_csrf_token(web_platform: Platform) -> None:
    async with web_client(web_platform) as client:
        await csrf(client)
        form = {"name": "x", "action": "save"} | rows(("email", "", "exists", ""))
        for path in (
            "/app/segments/new",
            "/app/segments/rules",
            "/app/segments/preview",
            f"/app/segments/{uuid.uuid4()}/delete",
            f"/app/segments/{uuid.uuid4()}/edit",
        ):
            for body in (form, form | {"csrf_token": "x" * 43}):
                reply = await client.post(path, data=body)
                assert reply.status_code == 403, path
                assert "This form has expired" in reply.text


async def test_the_segment_pages_speak_italian(web_platform: Platform) -> None:
    async with web_client(web_platform, locale="it") as client:
        listing = await client.get("/app/segments")
        assert 'lang="it"' in listing.text
        assert "Nuovo segmento" in listing.text
        builder = await client.get("/app/segments/new")
        assert "Aggiungi una regola" in builder.text
        assert "Conteggio in tempo reale" in builder.text


async def a_list_of(client: Any, contact_ids: list[str]) -> str:
    auth = client.account.auth
    reply = await client.post(
        "/api/v1/purposes",
        headers=auth,
        json={"key": f"news-{uuid.uuid4().hex[:6]}", "name": "Newsletter"},
    )
    assert reply.status_code == 201, reply.text
    reply = await client.post(
        "/api/v1/lists",
        headers=auth,
        json={"name": "Friends", "purpose_id": reply.json()["purpose_id"]},
    )
    assert reply.status_code == 201, reply.text
    list_id = str(reply.json()["list_id"])
    reply = await client.post(
        f"/api/v1/lists/{list_id}/members", headers=auth, json={"contact_ids": contact_ids}
    )
    assert reply.status_code == 200, reply.text
    return list_id


async def test_a_list_rule_picks_one_of_the_accounts_lists(web_platform: Platform) -> None:
    tag = uuid.uuid4().hex[:6]
    async with web_client(web_platform) as client:
        ids = [await contact(client, f"l{i}-{tag}@example.org") for i in range(3)]
        list_id = await a_list_of(client, ids[:2])
        token = await csrf(client, "/app/segments/new")
        headers = {"hx-request": "true", "x-csrf-token": token}
        # Every row offers the account's lists; a list rule counts that list's members.
        page = await client.get("/app/segments/new")
        assert re.search(
            rf'<select id="f-list_0" name="list_0">\s*<option value="{list_id}"', page.text
        )
        chosen = await client.post(
            "/app/segments/preview",
            data=rows(("in_list", "", "equals", "")) | {"list_0": list_id},
            headers=headers,
        )
        assert count_of(chosen.text) == 2
        narrowed = await client.post(
            "/app/segments/preview",
            data=rows(("in_list", "", "equals", ""), ("email", "", "contains", "l1-"))
            | {"list_0": list_id},
            headers=headers,
        )
        assert count_of(narrowed.text) == 1
        async with web_client(web_platform) as other:
            theirs = await other.post(
                "/app/segments/preview",
                data=rows(("in_list", "", "equals", "")) | {"list_0": list_id},
                headers={"x-csrf-token": await csrf(other, "/app/segments/new")},
            )
            assert theirs.status_code == 200
            assert "segment-count" not in theirs.text
            assert 'id="count-problem"' in theirs.text


async def api_segment(client: Any, name: str, rules: Any) -> str:
    reply = await client.post(
        "/api/v1/segments", headers=client.account.auth, json={"name": name, "rules": rules}
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["segment_id"])


async def test_a_saved_segment_opens_in_the_builder_and_is_updated(web_platform: Platform) -> None:
    tag = uuid.uuid4().hex[:6]
    async with web_client(web_platform) as client:
        for i, city in enumerate(("Rome", "Milan")):
            await contact(client, f"e{i}-{tag}@example.org", attributes={"city": city, "n": i})
        listed = {"field": "email", "op": "in", "value": ["a@b.c", "d@e.f"]}
        gt = {"field": "attributes.n", "op": "gt", "value": 5}
        rules = {"not": {"any": [gt, {"has_tag": "x"}, listed]}}
        sid = await api_segment(client, f"Edit me {tag}", rules)
        page = await client.get(f"/app/segments/{sid}/edit")
        assert page.status_code == 200
        assert f'action="/app/segments/{sid}/edit"' in page.text
        assert f'value="Edit me {tag}"' in page.text
        assert 'name="rows" value="3"' in page.text
        assert re.search(r'name="negate" value="1"[^>]*checked', page.text)
        assert re.search(r'<option value="any" selected>', page.text)
        assert re.search(
            r'name="op_0">\s*(<option[^>]*>[^<]*</option>)*?<option value="greater"'
            r" selected>",
            page.text,
        )  # "gt" is shown as its canonical name
        assert 'name="key_0" value="n"' in page.text
        assert 'name="value_0" value="5"' in page.text
        assert 'name="value_1" value="x"' in page.text
        assert 'name="value_2" value="a@b.c, d@e.f"' in page.text
        assert 'id="fixed-rules"' not in page.text

        token = client.cookies[CSRF_COOKIE]
        base = {"csrf_token": token, "name": f"Romans {tag}", "combine": "all"}
        wanted = rows(("attributes", "city", "equals", "Rome"), ("email", "", "contains", tag))
        bad = await client.post(
            f"/app/segments/{sid}/edit",
            data=base | rows(("created_at", "", "greater", "not a time")) | {"action": "save"},
        )
        assert bad.status_code == 400
        assert re.search(r'id="rerr-0">[^<]*ISO 8601', bad.text)
        assert f'action="/app/segments/{sid}/edit"' in bad.text  # still the edit form
        added = await client.post(
            f"/app/segments/{sid}/edit", data=base | wanted | {"action": "add"}
        )
        assert added.status_code == 200
        assert 'name="field_2"' in added.text
        assert count_of(added.text) == 0  # the empty third row is email = ""
        saved = await client.post(
            f"/app/segments/{sid}/edit", data=base | wanted | {"action": "save"}
        )
        assert saved.status_code == 303, saved.text
        listing = await client.get(saved.headers["location"])
        assert "The segment is updated." in listing.text
        assert re.search(rf"Romans {tag}</a></td><td>1</td>", listing.text)
        one = await client.get(f"/app/segments/{sid}")
        assert f"e0-{tag}@example.org" in one.text
        assert f"e1-{tag}@example.org" not in one.text

        async with web_client(web_platform) as other:
            other_token = await csrf(other)
            assert (await other.get(f"/app/segments/{sid}/edit")).status_code == 404
            stolen = await other.post(
                f"/app/segments/{sid}/edit",
                data={"csrf_token": other_token, "name": "Mine", "action": "save"} | wanted,
            )
            assert stolen.status_code == 404
        assert f"Romans {tag}" in (await client.get("/app/segments")).text


async def test_rules_the_builder_cannot_show_keep_and_only_the_name_changes(
    web_platform: Platform,
) -> None:
    async with web_client(web_platform) as client:
        rules = {"all": [{"any": [{"has_tag": "a"}, {"has_tag": "b"}]}, {"has_tag": "c"}]}
        sid = await api_segment(client, "Nested", rules)
        page = await client.get(f"/app/segments/{sid}/edit")
        assert page.status_code == 200
        assert 'id="fixed-rules"' in page.text
        assert 'name="keep_rules" value="1"' in page.text
        assert 'name="field_0"' not in page.text
        token = client.cookies[CSRF_COOKIE]
        saved = await client.post(
            f"/app/segments/{sid}/edit",
            data={"csrf_token": token, "name": "Nested, renamed", "keep_rules": "1"},
        )
        assert saved.status_code == 303, saved.text
        got = await client.get(f"/api/v1/segments/{sid}", headers=client.account.auth)
        assert got.status_code == 200, got.text
        assert got.json()["name"] == "Nested, renamed"
        assert got.json()["rules"] == rules


async def test_the_rows_hold_a_saved_tree_only_when_they_rebuild_it_exactly() -> None:
    from missiva_gateway.web.segment_rules import builder_of

    aliases = {"equals": "equals", "eq": "equals", "in": "in", "exists": "exists"}
    held = {"all": [{"field": "attributes.age", "op": "eq", "value": 36},
                    {"field": "first_name", "op": "exists"}, {"in_list": "l1"}]}  # fmt: skip
    builder = builder_of("S", held, aliases)
    assert builder is not None
    assert [(r.field, r.key, r.op, r.value) for r in builder.rows] == [
        ("attributes", "age", "equals", "36"), ("first_name", "", "exists", ""),
        ("in_list", "", "equals", ""),
    ]  # fmt: skip
    assert builder.rows[2].list_id == "l1"
    assert builder.tree() == {"all": [{**held["all"][0], "op": "equals"}, *held["all"][1:]]}
    for lost in (
        {"all": [{"field": "attributes.zip", "op": "eq", "value": "12"}]},  # text, read as 12
        {"all": [{"field": "email", "op": "in", "value": ["a,b"]}]},  # a comma splits it
        {"all": [{"any": [{"has_tag": "a"}]}]},  # nested
        {"consent": {"purpose_id": "p", "state": "granted"}},
        {"all": [{"field": "email", "op": "starts", "value": "a"}]},  # not campaign's
        {"all": []},
        [],
    ):
        assert builder_of("S", lost, aliases) is None, lost
    single = builder_of("S", {"not": {"has_tag": "vip"}}, aliases)
    assert single is not None
    assert single.negate
    assert single.tree() == {"not": {"all": [{"has_tag": "vip"}]}}
