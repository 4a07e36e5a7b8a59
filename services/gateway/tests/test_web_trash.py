"""The web app's trash of templates, campaigns and lists: each live row has a delete button
(POST with the CSRF token), the notice after a delete offers a restore, the trash is listed with
restore buttons, a refusal shows on the listing, the pages speak Italian; another account's id
is a 404 and a post without the CSRF token is refused."""

from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "api"))
sys.path.insert(0, str(Path(__file__).parent))

from platform_testkit import Platform
from test_web_segments import csrf, web_client, web_platform  # noqa: F401 (a fixture)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def made(client: Any, kind: str, body: dict[str, Any]) -> str:
    reply = await client.post(f"/api/v1/{kind}", headers=client.account.auth, json=body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()[f"{kind.rstrip('s')}_id"])


async def a_template(client: Any, name: str) -> str:
    starter = await client.get("/api/v1/templates/starter-en", headers=client.account.auth)
    body = {"name": name, "subject": "S", "html_body": starter.json()["html_body"]}
    return await made(client, "templates", body)


async def test_each_kind_is_deleted_restored_from_the_notice_and_listed_in_the_trash(
    web_platform: Platform,  # noqa: F811
) -> None:
    async with web_client(web_platform) as client:
        token = await csrf(client)
        tag = uuid.uuid4().hex[:6]
        list_id = await made(client, "lists", {"name": f"News {tag}", "purpose_id": "newsletter"})
        ids = {
            "templates": await a_template(client, f"Tpl {tag}"),
            "lists": list_id,
            "campaigns": await made(
                client,
                "campaigns",
                {
                    "name": f"Camp {tag}",
                    "purpose_id": "newsletter",
                    "template_id": "starter-en",
                    "list_ids": [list_id],
                    "sender": {"from_address": "news@bottega.example"},
                },
            ),
        }
        notices = {"templates": "template", "campaigns": "campaign", "lists": "list"}
        for kind in ("campaigns", "templates", "lists"):  # the campaign first: it uses the list
            item = ids[kind]
            listing = await client.get(f"/app/{kind}")
            assert f'action="/app/trash/{kind}/{item}/delete"' in listing.text
            gone = await client.post(f"/app/trash/{kind}/{item}/delete", data={"csrf_token": token})
            assert gone.status_code == 303
            assert gone.headers["location"] == f"/app/{kind}?done=deleted&undo={item}"
            trash = await client.get(gone.headers["location"])
            assert f"The {notices[kind]} is in the trash." in trash.text
            restore = f'action="/app/trash/{kind}/{item}/restore"'
            assert trash.text.count(restore) == 2  # in the notice and in the trash's table
            assert f'action="/app/trash/{kind}/{item}/delete"' not in trash.text
            back = await client.post(
                f"/app/trash/{kind}/{item}/restore", data={"csrf_token": token}
            )
            assert back.headers["location"] == f"/app/{kind}?done=restored"
            live = await client.get(back.headers["location"])
            assert f"The {notices[kind]} is restored." in live.text
            assert restore not in live.text
        starters = await client.get("/app/templates")
        assert "/app/trash/templates/starter-en/delete" not in starters.text

        # Another account sees none of it: its ids are a 404 there.
        async with web_client(web_platform) as other:
            other_token = await csrf(other)
            for kind, item in ids.items():
                for action in ("delete", "restore"):
                    reply = await other.post(
                        f"/app/trash/{kind}/{item}/{action}", data={"csrf_token": other_token}
                    )
                    assert reply.status_code == 404, (kind, action)
        for path in (f"/app/trash/forms/{list_id}/delete", f"/app/trash/lists/{list_id}/purge"):
            reply = await client.post(path, data={"csrf_token": token})
            assert reply.status_code == 404, path


async def test_a_refusal_shows_on_the_listing(web_platform: Platform) -> None:  # noqa: F811
    async with web_client(web_platform) as client:
        token = await csrf(client)
        reply = await client.post(
            "/app/trash/templates/not-an-id/delete", data={"csrf_token": token}
        )
        assert reply.status_code == 400
        assert re.search(r'<p class="problem" role="alert">[^<]*template_id', reply.text)
        assert "New template" in reply.text


async def test_a_post_without_the_csrf_token_is_refused(web_platform: Platform) -> None:  # noqa: F811
    async with web_client(web_platform) as client:
        await csrf(client)
        reply = await client.post(f"/app/trash/lists/{uuid.uuid4()}/delete", data={})
        assert reply.status_code == 403
        assert "This form has expired" in reply.text


async def test_the_trash_speaks_italian(web_platform: Platform) -> None:  # noqa: F811
    async with web_client(web_platform, locale="it") as client:
        token = await csrf(client)
        list_id = await made(client, "lists", {"name": "Notizie", "purpose_id": "newsletter"})
        gone = await client.post(f"/app/trash/lists/{list_id}/delete", data={"csrf_token": token})
        page = await client.get(gone.headers["location"])
        assert 'lang="it"' in page.text
        assert "La lista è nel cestino." in page.text
        assert "Ripristina" in page.text
