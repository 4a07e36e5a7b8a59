"""The privacy pages (``/app/privacy``, ``/restore-account``) and the sender identity page
(``/app/settings/sender``) against the whole platform in this process (``api/platform_testkit``:
real identity, consent, campaign, delivery and billing), signed in through the web app's own
sign-up and sign-in forms, driven over httpx's ASGI transport."""

from __future__ import annotations

import csv
import io
import re
import sys
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent / "api"))

from platform_testkit import PASSWORD, Platform, running_platform

from missiva_gateway.export_csv import export_csv
from missiva_gateway.web.privacy_pages import export_summary, export_token
from missiva_gateway.web.security import CSRF_COOKIE
from missiva_identity import store
from missiva_identity.core import new_id

pytestmark = pytest.mark.asyncio(loop_scope="module")

LABELS = {"terms": "Terms of Service", "privacy": "Privacy Policy"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def platform(
    make_database: Any, nats_url: str, _smtp_sink_session: Any, tmp_path_factory: Any
) -> AsyncIterator[Platform]:
    async with running_platform(
        make_database,
        nats_url,
        _smtp_sink_session.url,
        tmp_path_factory.mktemp("web-privacy-secrets"),
        "webprivacy",
    ) as running:
        yield running


# -- helpers -------------------------------------------------------------------------------


def csrf(client: httpx.AsyncClient) -> str:
    return str(client.cookies[CSRF_COOKIE])


async def sign_up(platform: Platform, client: httpx.AsyncClient, lang: str = "en") -> str:
    """A new account through ``/signup`` (Terms and Privacy ticked), its address verified,
    then signed in; the address."""
    headers = {"accept-language": "it-IT" if lang == "it" else "en-GB"}
    form = await client.get("/signup", headers=headers)
    assert form.status_code == 200, form.text
    versions = dict(re.findall(r'name="version_([\w-]+)" value="([^"]+)"', form.text))
    assert {"terms", "privacy"} <= set(versions), versions
    email = f"owner-{uuid.uuid4().hex[:12]}@example.org"
    body = {
        "csrf_token": csrf(client),
        "idempotency_key": str(uuid.uuid4()),
        "email": email,
        "password": PASSWORD,
        "display_name": "Ada",
        "account_name": "Bottega privacy",
        "age_confirmed": "1",
        **{f"version_{doc}": version for doc, version in versions.items()},
        **{f"accept_{doc}": "1" for doc in versions},
    }
    reply = await client.post("/signup", data=body, headers=headers)
    assert reply.status_code == 200, reply.text
    user_id = await user_of(platform, email)
    await verify(platform, user_id)
    await sign_in(client, email)
    return email


async def user_of(platform: Platform, email: str) -> str:
    rows = await platform.sql("identity", "SELECT id::text FROM users WHERE email = %s", email)
    assert rows, email
    return str(rows[0][0])


async def verify(platform: Platform, user_id: str) -> None:
    core = platform.apps["identity"].services[0].servicer.core
    async with core.pool.connection() as conn, conn.transaction():
        await store.mark_verified(conn, user_id)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> None:
    await client.get("/login")
    reply = await client.post(
        "/login",
        data={"csrf_token": csrf(client), "email": email, "password": password, "next": "/app"},
    )
    assert reply.status_code == 303, reply.text
    assert reply.headers["location"] == "/app"


async def add_member(platform: Platform, owner_email: str, verified: bool = True) -> str:
    """A member (role member) in the owner's account; their address."""
    core = platform.apps["identity"].services[0].servicer.core
    rows = await platform.sql(
        "identity", "SELECT account_id::text FROM users WHERE email = %s", owner_email
    )
    email = f"member-{uuid.uuid4().hex[:12]}@example.org"
    async with core.pool.connection() as conn, conn.transaction():
        user_id = new_id()
        await store.create_user(
            conn,
            store.NewUser(
                id=user_id, account_id=str(rows[0][0]), email=email, email_normalised=email,
                person_key=core.vault.person_key(email), display_name="Grace", locale="en",
                role="member", password_hash=await core.hashing.hash(PASSWORD),
            ),
        )  # fmt: skip
        if verified:
            await store.mark_verified(conn, user_id)
    return email


async def until_text(client: httpx.AsyncClient, path: str, needle: str, timeout: float = 90) -> str:
    async def found() -> str:
        reply = await client.get(path)
        assert reply.status_code == 200, reply.text
        return reply.text if needle in reply.text else ""

    return str(await Platform.until(found, timeout=timeout))


def restore_link(sink: Any, email: str) -> str:
    for received in reversed(sink.messages):
        if email in received.rcpt_tos:
            text = received.message.get_body(("plain",)).get_content()
            found = re.search(r"/restore-account\?token=([^\s\"<>]+)", text)
            if found:
                return urllib.parse.unquote(found.group(1))
    return ""


# -- the privacy page ----------------------------------------------------------------------


async def test_a_copy_of_my_data_shows_the_terms_acceptance_with_its_ip_pseudonym(
    platform: Platform,
) -> None:
    async with platform.client() as client:
        email = await sign_up(platform, client)
        shown = await client.get("/app/privacy")
        assert shown.status_code == 200, shown.text
        assert "A copy of your data" in shown.text
        assert 'href="/app/privacy" aria-current="page"' in shown.text
        assert 'action="/app/privacy/delete-account"' in shown.text  # the primary admin
        assert shown.headers["referrer-policy"] == "no-referrer"
        opened = await client.post(
            "/app/privacy/export",
            data={"csrf_token": csrf(client), "idempotency_key": str(uuid.uuid4())},
        )
        assert opened.status_code == 303, opened.text
        path = opened.headers["location"]
        assert re.fullmatch(r"/app/privacy/requests/[0-9a-f-]{36}", path)
        page = await until_text(client, path, "Download my data")
        user_id = await user_of(platform, email)
        rows = await platform.sql(
            "identity",
            "SELECT document_id, version, ip_pseudonym FROM legal_acceptances WHERE user_id = %s",
            user_id,
        )
        assert {row[0] for row in rows} == {"terms", "privacy"}
        for document_id, version, pseudonym in rows:
            assert pseudonym
            assert re.search(
                rf"<td>{LABELS[document_id]}</td><td>{re.escape(version)}</td><td>[^<]+ UTC</td>"
                rf"<td><code>{re.escape(pseudonym)}</code>",
                page,
            ), page
        assert "News and offers" in page
        assert "off (the default)" in page
        download = re.search(r'href="(/my-data/export/[^"]+)"', page)
        assert download
        bundle = await client.get(download.group(1))
        assert bundle.status_code == 200
        assert user_id in bundle.text
        assert f'href="{download.group(1)}?format=csv"' in page
        sheet = await client.get(download.group(1), params={"format": "csv"})
        assert sheet.status_code == 200, sheet.text
        assert sheet.headers["content-type"].startswith("text/csv")
        assert re.fullmatch(
            r'attachment; filename="[\w.-]+\.csv"', sheet.headers["content-disposition"]
        )
        table = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))
        assert table[0] == ["section", "field", "value"]
        assert {len(row) for row in table} == {3}
        assert export_csv(bundle.content).removeprefix("\ufeff") == sheet.content.decode(
            "utf-8-sig"
        )
        assert any(row[0] == "consent / consent_history" for row in table[1:])
        assert any(user_id in row[2] for row in table[1:])
        assert email not in (await client.get(path)).text  # the page shows no address
    async with platform.client() as other:
        await sign_up(platform, other)
        assert (await other.get(path)).status_code == 404  # someone else's request
        assert (await other.get("/app/privacy/requests/not-an-id")).status_code == 404


async def test_forms_refuse_a_missing_or_wrong_csrf_token(platform: Platform) -> None:
    async with platform.client() as client:
        await sign_up(platform, client)
        for path in (
            "/app/privacy/export",
            "/app/privacy/delete-account",
            "/app/privacy/erase",
            "/app/settings/sender",
            "/restore-account",
        ):
            for body in ({}, {"csrf_token": "w" * 43}):
                reply = await client.post(path, data={**body, "password": PASSWORD})
                assert reply.status_code == 403, (path, body, reply.text)
                assert "This form has expired" in reply.text
        # Nothing happened: the account is still there and the session too.
        assert (await client.get("/app/privacy")).status_code == 200


async def test_deleting_the_account_needs_the_password_and_the_emailed_link_restores_it(
    platform: Platform, smtp_sink: Any
) -> None:
    async with platform.client() as client:
        email = await sign_up(platform, client)
        wrong = await client.post(
            "/app/privacy/delete-account",
            data={"csrf_token": csrf(client), "password": "not my password", "reason": "testing"},
        )
        assert wrong.status_code == 400, wrong.text
        assert re.search(r'<p class="field-error" id="e-password">is incorrect</p>', wrong.text)
        assert 'aria-invalid="true"' in wrong.text
        assert ">testing</textarea>" in wrong.text  # what was typed is kept
        deleted = await client.post(
            "/app/privacy/delete-account",
            data={
                "csrf_token": csrf(client),
                "password": PASSWORD,
                "reason": "testing",
                "idempotency_key": str(uuid.uuid4()),
            },
        )
        assert deleted.status_code == 200, deleted.text
        assert "Your account is deleted" in deleted.text
        assert re.search(r"restorable until \d{4}-\d{2}-\d{2}", deleted.text)
        assert "missiva_session=" in deleted.headers.get("set-cookie", "")
        gone = await client.get("/app/privacy", follow_redirects=False)
        assert gone.status_code == 303
        assert gone.headers["location"].startswith("/login")
        await client.get("/login")
        refused = await client.post(
            "/login", data={"csrf_token": csrf(client), "email": email, "password": PASSWORD}
        )
        assert refused.status_code == 409, refused.text
        assert "This account is being deleted, so nobody can sign in to it." in refused.text
        assert "use the restore link" not in refused.text  # identity's raw text is not shown
        await client.get("/login")
        italian = await client.post(
            "/login",
            data={"csrf_token": csrf(client), "email": email, "password": PASSWORD},
            headers={"accept-language": "it"},
        )
        assert italian.status_code == 409, italian.text
        assert "apri il link di ripristino" in italian.text

        async def link() -> str:
            return restore_link(smtp_sink, email)

        token = await Platform.until(link, timeout=60)
        button = await client.get("/restore-account", params={"token": token})
        assert button.status_code == 200
        assert 'action="/restore-account"' in button.text
        restored = await client.post(
            "/restore-account", data={"csrf_token": csrf(client), "token": token}
        )
        assert restored.status_code == 200, restored.text
        assert "Your account is restored" in restored.text
        again = await client.post(
            "/restore-account", data={"csrf_token": csrf(client), "token": token}
        )
        assert again.status_code == 400  # spent
        await sign_in(client, email)
        assert (await client.get("/app/privacy")).status_code == 200


async def test_a_member_cannot_delete_the_account_and_erasing_needs_confirmation(
    platform: Platform,
) -> None:
    async with platform.client() as owner:
        owner_email = await sign_up(platform, owner)
    member_email = await add_member(platform, owner_email)
    async with platform.client() as client:
        await sign_in(client, member_email)
        shown = await client.get("/app/privacy")
        assert "delete-account" not in shown.text
        assert 'action="/app/privacy/erase"' in shown.text
        refused = await client.post("/app/privacy/delete-account", data={
            "csrf_token": csrf(client), "password": PASSWORD,
        })  # fmt: skip
        assert refused.status_code == 403, refused.text
        unticked = await client.post(
            "/app/privacy/erase", data={"csrf_token": csrf(client), "password": ""}
        )
        assert unticked.status_code == 400
        assert 'id="e-confirm">Tick this box to confirm.' in unticked.text
        assert 'id="e-password">Type your password.' in unticked.text
        wrong = await client.post(
            "/app/privacy/erase",
            data={"csrf_token": csrf(client), "password": "nope nope nope", "confirm": "1"},
        )
        assert wrong.status_code == 400, wrong.text
        assert 'id="e-password">is incorrect' in wrong.text
        erased = await client.post(
            "/app/privacy/erase",
            data={
                "csrf_token": csrf(client),
                "password": PASSWORD,
                "confirm": "1",
                "idempotency_key": str(uuid.uuid4()),
            },
        )
        assert erased.status_code == 200, erased.text
        assert "Your data is being erased" in erased.text

    async def member_gone() -> bool:
        rows = await platform.sql("identity", "SELECT 1 FROM users WHERE email = %s", member_email)
        return not rows

    await Platform.until(member_gone, timeout=60)


async def test_a_copy_needs_a_verified_address(platform: Platform) -> None:
    async with platform.client() as owner:
        owner_email = await sign_up(platform, owner)
    member_email = await add_member(platform, owner_email, verified=False)
    async with platform.client() as client:
        await sign_in(client, member_email)
        shown = await client.get("/app/privacy")
        assert "Confirm your email address first" in shown.text
        assert 'action="/app/privacy/export"' not in shown.text
        refused = await client.post(
            "/app/privacy/export",
            data={"csrf_token": csrf(client), "idempotency_key": str(uuid.uuid4())},
        )
        assert refused.status_code == 403, refused.text
        assert "verify your email address first" in refused.text


# -- the sender identity -------------------------------------------------------------------


async def test_an_admin_saves_the_sender_identity_and_a_member_only_reads_it(
    platform: Platform,
) -> None:
    async with platform.client() as client:
        owner_email = await sign_up(platform, client)
        empty = await client.get("/app/settings/sender")
        assert empty.status_code == 200
        assert 'href="/app/settings/sender" aria-current="page"' in empty.text
        assert "unsubscribe, preferences and my-data page" in empty.text
        bad = await client.post(
            "/app/settings/sender",
            data={
                "csrf_token": csrf(client),
                "name": "",
                "postal_address": "Via Roma 1",
                "privacy_contact": "privacy@bottega.example",
            },
        )
        assert bad.status_code == 400, bad.text
        assert '<p class="field-error" id="e-name">is required</p>' in bad.text
        assert ">Via Roma 1</textarea>" in bad.text  # what was typed is kept
        contact = await client.post(
            "/app/settings/sender",
            data={"csrf_token": csrf(client), "name": "Bottega", "privacy_contact": "nope"},
        )
        assert contact.status_code == 400
        assert 'id="e-privacy_contact"' in contact.text
        saved = await client.post(
            "/app/settings/sender",
            data={
                "csrf_token": csrf(client),
                "name": "Bottega Srl",
                "postal_address": "Via Roma 1\r\n20121 Milano",
                "privacy_contact": "privacy@bottega.example",
            },
        )
        assert saved.status_code == 200, saved.text
        assert "Saved." in saved.text
        shown = await client.get("/app/settings/sender")
        assert 'value="Bottega Srl"' in shown.text
        assert ">Via Roma 1\n20121 Milano</textarea>" in shown.text
    member_email = await add_member(platform, owner_email)
    async with platform.client() as member:
        await sign_in(member, member_email)
        nav = await member.get("/app")
        assert "/app/settings/sender" not in nav.text  # linked for admins only
        read = await member.get("/app/settings/sender")
        assert read.status_code == 200
        assert '<form method="post" action="/app/settings/sender">' not in read.text
        assert "<dd>Bottega Srl</dd>" in read.text
        assert "Via Roma 1<br>20121 Milano<br>" in read.text
        refused = await member.post(
            "/app/settings/sender",
            data={
                "csrf_token": csrf(member),
                "name": "Taken over",
                "privacy_contact": "a@b.example",
            },
        )
        assert refused.status_code == 403, refused.text
        assert "<dd>Bottega Srl</dd>" in refused.text
    async with platform.client() as client:
        await sign_in(client, owner_email)
        assert 'value="Bottega Srl"' in (await client.get("/app/settings/sender")).text


async def test_the_pages_speak_italian(platform: Platform) -> None:
    async with platform.client() as client:
        await sign_up(platform, client, lang="it")
        privacy = await client.get("/app/privacy")
        assert 'lang="it"' in privacy.text
        assert "Una copia dei tuoi dati" in privacy.text
        assert "Elimina l'account" in privacy.text
        sender = await client.get("/app/settings/sender")
        assert "Identità del mittente" in sender.text
        bad = await client.post(
            "/app/privacy/delete-account", data={"csrf_token": csrf(client), "password": ""}
        )
        assert bad.status_code == 400
        assert "La tua password, per confermare" in bad.text
    async with platform.client() as anonymous:
        restore = await anonymous.get(
            "/restore-account", params={"token": "x"}, headers={"accept-language": "it"}
        )
        assert "Ripristina il mio account" in restore.text


# -- the export's summary, without the platform ---------------------------------------------


async def test_the_summary_keeps_missivas_own_records_and_the_token_is_the_links_tail() -> None:
    bundle = {
        "services": [
            {"service": "identity", "sections": []},
            {
                "service": "consent",
                "sections": [
                    {"name": "consent_state", "content": [
                        {"account_id": "platform", "purpose": "marketing", "status": "granted"},
                        {"account_id": "shop", "purpose": "marketing", "status": "withdrawn"},
                    ]},
                    {"name": "consent_history", "content": [
                        {"account_id": "shop", "action": "grant", "purpose_key": "news",
                         "occurred_at": "2026-01-01T00:00:00.000000Z", "seq": 1},
                        {"account_id": "platform", "action": "accept", "document_id": "terms",
                         "occurred_at": "2026-01-02T00:00:00.000000Z", "seq": 2},
                        {"account_id": "platform", "action": "grant", "purpose_key": "marketing",
                         "occurred_at": "2026-01-01T00:00:00.000000Z", "seq": 1},
                    ]},
                ],
            },
        ]
    }  # fmt: skip
    import json

    summary = export_summary(json.dumps(bundle).encode(), "u-1")
    assert summary["states"] == {"marketing": "granted"}
    assert [e["action"] for e in summary["history"]] == ["grant", "accept"]
    assert [e["document_id"] for e in summary["acceptances"]] == ["terms"]
    assert export_token("https://mail.example/my-data/export/abc.def") == "abc.def"
    assert export_token("https://mail.example/elsewhere/abc") == ""
    assert export_token("") == ""
