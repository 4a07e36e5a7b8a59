"""The subscribe-forms pages against the real platform: the builder's defaults (double
opt-in on), create, edit, campaign's field violations under their field, the embed snippet
and the hosted page it points at, delete, CSRF refusals, another account's form a 404, and
the pages in Italian."""

from __future__ import annotations

import html
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_web_segments import csrf, web_client, web_platform  # noqa: F401 (a fixture)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def a_list(client: Any) -> str:
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
        json={"name": "Subscribers", "purpose_id": reply.json()["purpose_id"]},
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["list_id"])


def filled(token: str, list_id: str, **extra: str) -> dict[str, Any]:
    return {
        "csrf_token": token,
        "name": f"Footer {uuid.uuid4().hex[:6]}",
        "kind": "hosted",
        "title": "Our letter",
        "submit_label": "Join",
        "locale": "en",
        "input_0": "first_name",
        "label_0": "Your first name",
        "required_0": "1",
        "input_1": "attributes.city",
        "label_1": "City",
        "list_ids": [list_id],
        "consent_text": "Yes, send me the monthly letter.",
        "double_opt_in": "1",
        "thank_you_message": "Thanks: check your inbox.",
        "min_fill_seconds": "3",
        "idempotency_key": str(uuid.uuid4()),
        **extra,
    }


async def test_a_form_is_built_embedded_edited_and_deleted(web_platform: Any) -> None:  # noqa: F811
    async with web_client(web_platform) as client:
        list_id = await a_list(client)
        new = await client.get("/app/forms/new")
        assert new.status_code == 200
        assert re.search(r'name="double_opt_in" value="1" checked', new.text)  # on by default
        assert f'value="{list_id}"' in new.text
        token = await csrf(client)

        made = await client.post("/app/forms/new", data=filled(token, list_id))
        assert made.status_code == 303, made.text
        form_id = re.fullmatch(r"/app/forms/([0-9a-f-]{36})\?saved=1", made.headers["location"])
        assert form_id
        fid = form_id.group(1)
        rows = await web_platform.sql(
            "campaign",
            "SELECT single_opt_in, list_ids::text[], fields FROM forms WHERE id = %s",
            fid,
        )
        assert rows[0][0] is False
        assert rows[0][1] == [list_id]
        assert [f["name"] for f in rows[0][2]] == ["first_name", "attributes.city"]

        page = await client.get(made.headers["location"])
        assert "The form is saved." in page.text
        text = html.unescape(page.text)
        assert f'<script src="http://gateway.test/forms/{fid}/embed.js"></script>' in text
        assert f'<iframe src="http://gateway.test/forms/{fid}?embed=1" title="Our letter"' in text
        framed = await client.get(f"/forms/{fid}?embed=1")
        assert framed.status_code == 200
        assert "frame-ancestors *" in framed.headers["content-security-policy"]
        assert f'id="hosted-link" href="http://gateway.test/forms/{fid}"' in page.text
        hosted = await client.get(f"/forms/{fid}")
        assert hosted.status_code == 200
        assert "Our letter" in hosted.text
        assert "Yes, send me the monthly letter." in hosted.text
        script = await client.get(f"/forms/{fid}/embed.js")
        assert script.status_code == 200
        assert (await client.get("/app/forms")).text.count(f'href="/app/forms/{fid}"') == 1

        changed = filled(token, list_id, title="Our new letter", double_opt_in="", active="1")
        edited = await client.post(f"/app/forms/{fid}", data=changed)
        assert edited.status_code == 303, edited.text
        again = await client.get(edited.headers["location"])
        assert 'value="Our new letter"' in again.text
        assert not re.search(r'name="double_opt_in" value="1" checked', again.text)
        assert "Our new letter" in (await client.get(f"/forms/{fid}")).text

        async with web_client(web_platform) as other:
            other_token = await csrf(other)
            assert (await other.get(f"/app/forms/{fid}")).status_code == 404
            update = await other.post(f"/app/forms/{fid}", data=filled(other_token, list_id))
            assert update.status_code == 404
            gone = await other.post(f"/app/forms/{fid}/delete", data={"csrf_token": other_token})
            assert gone.status_code == 404
            assert fid not in (await other.get("/app/forms")).text

        deleted = await client.post(f"/app/forms/{fid}/delete", data={"csrf_token": token})
        assert deleted.status_code == 303
        listing = await client.get(deleted.headers["location"])
        assert "The form is in the trash." in listing.text
        assert f'href="/app/forms/{fid}"' not in listing.text
        assert f'action="/app/forms/{fid}/restore"' in listing.text  # in the trash
        assert (await client.get(f"/forms/{fid}")).status_code == 404

        # Restored from the trash: listed, its hosted page answers again. Another account's
        # restore of it is a 404; a live form with its name makes the restore a problem shown.
        async with web_client(web_platform) as other:
            other_token = await csrf(other)
            stolen = await other.post(f"/app/forms/{fid}/restore", data={"csrf_token": other_token})
            assert stolen.status_code == 404
        same_name = filled(token, list_id, name=changed["name"].upper())
        clash = await client.post("/app/forms/new", data=same_name)
        assert clash.status_code == 303, clash.text
        refused = await client.post(f"/app/forms/{fid}/restore", data={"csrf_token": token})
        assert refused.status_code == 409
        assert "rename that one first" in refused.text
        clash_id = clash.headers["location"].split("/")[3].split("?")[0]
        await client.post(f"/app/forms/{clash_id}/delete", data={"csrf_token": token})
        back = await client.post(f"/app/forms/{fid}/restore", data={"csrf_token": token})
        assert back.status_code == 303
        listing = await client.get(back.headers["location"])
        assert "The form is restored." in listing.text
        assert f'href="/app/forms/{fid}"' in listing.text
        assert (await client.get(f"/forms/{fid}")).status_code == 200


async def test_campaigns_field_violations_show_under_their_field(web_platform: Any) -> None:  # noqa: F811
    async with web_client(web_platform) as client:
        list_id = await a_list(client)
        token = await csrf(client)
        for extra, field in (
            ({"consent_text": ""}, "consent_text"),
            ({"input_1": "favourite_colour"}, "input_1"),
            ({"list_ids": []}, "list_ids"),
            ({"thank_you_url": "javascript:alert(1)"}, "thank_you_url"),
            ({"kind": "popup", "scroll_percent": "140"}, "scroll_percent"),
        ):
            body = filled(token, list_id, **extra)
            reply = await client.post("/app/forms/new", data=body)
            assert reply.status_code == 400, field
            assert f'id="e-{field}"' in reply.text, (field, reply.text)
            assert 'value="Our letter"' in reply.text  # what was typed stays
        assert (await client.get("/app/forms")).text.count('href="/app/forms/') == 1  # "new"


async def test_the_forms_refuse_a_missing_or_wrong_csrf_token(web_platform: Any) -> None:  # noqa: F811
    async with web_client(web_platform) as client:
        await csrf(client)
        fid = str(uuid.uuid4())
        for path in (
            "/app/forms/new",
            f"/app/forms/{fid}",
            f"/app/forms/{fid}/delete",
            f"/app/forms/{fid}/restore",
        ):
            for body in ({"name": "x"}, {"name": "x", "csrf_token": "x" * 43}):
                reply = await client.post(path, data=body)
                assert reply.status_code == 403, path
                assert "This form has expired" in reply.text


async def test_the_form_pages_speak_italian(web_platform: Any) -> None:  # noqa: F811
    async with web_client(web_platform, locale="it") as client:
        await a_list(client)
        listing = await client.get("/app/forms")
        assert "Nuovo modulo" in listing.text
        new = await client.get("/app/forms/new")
        assert 'lang="it"' in new.text
        assert "Chiedi conferma via email (doppio opt-in)" in new.text
        assert 'value="Iscriviti alla nostra newsletter"' in new.text
