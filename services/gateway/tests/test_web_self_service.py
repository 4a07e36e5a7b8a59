"""What a person does for themselves on the web app and the public pages, against the whole
platform in this process (``api/platform_testkit``): their own email preferences with
Missiva on ``/app/privacy``, a recipient's correction of their details from the my-data
link, and the services' refusals shown in the page's language."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent / "api"))
sys.path.insert(0, str(Path(__file__).parent))

from platform_testkit import PASSWORD, Platform, running_platform
from test_web_privacy import csrf, sign_up, until_text

from missiva_platform.secrets import (
    EMAIL_HASH_KEY_FILE,
    TOKEN_KEYRING_FILE,
    load_email_hasher,
    load_token_keyring,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def platform(
    make_database: Any, nats_url: str, _smtp_sink_session: Any, tmp_path_factory: Any
) -> AsyncIterator[Platform]:
    async with running_platform(
        make_database,
        nats_url,
        _smtp_sink_session.url,
        tmp_path_factory.mktemp("web-self-secrets"),
        "webself",
    ) as running:
        yield running


async def test_a_user_changes_their_own_email_preferences_on_the_privacy_page(
    platform: Platform,
) -> None:
    async with platform.client() as client:
        email = await sign_up(platform, client)
        shown = await until_text(client, "/app/privacy", "Save my email preferences")
        boxes = dict(
            re.findall(r'<input type="checkbox" name="enabled" value="([^"]+)"( checked)?>', shown)
        )
        assert len(boxes) == 2, shown  # PRODUCT_UPDATE and MARKETING; SYSTEM is not a choice
        assert "always on: security, billing and legal notices" in shown
        assert '<input type="checkbox" checked disabled>' in shown
        choice = next(purpose for purpose, checked in boxes.items() if not checked)
        refused = await client.post(
            "/app/privacy/email-preferences", data={"enabled": choice, "shown": choice}
        )
        assert refused.status_code == 403  # no CSRF token
        saved = await client.post(
            "/app/privacy/email-preferences",
            data={"csrf_token": csrf(client), "enabled": choice, "shown": list(boxes)},
        )
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == "/app/privacy?saved=preferences#email-preferences"
        after = await client.get("/app/privacy?saved=preferences")
        assert "Your email preferences are saved." in after.text
        assert f'name="enabled" value="{choice}" checked>' in after.text
        person_key = load_email_hasher(platform.files[EMAIL_HASH_KEY_FILE]).person_key(email)
        rows = await platform.sql(
            "consent",
            "SELECT count(*) FROM consent_ledger WHERE person_key = %s AND purpose_id = %s",
            person_key,
            choice,
        )
        assert rows[0][0] >= 1
        off = await client.post(
            "/app/privacy/email-preferences",
            data={"csrf_token": csrf(client), "shown": list(boxes)},
        )
        assert off.status_code == 303
        assert f'name="enabled" value="{choice}">' in (await client.get("/app/privacy")).text


async def test_service_refusals_on_italian_pages_are_in_italian(platform: Platform) -> None:
    """Identity's violations (a short password, a bad address) are English; an Italian page
    shows them from the catalogue, an English page as identity wrote them."""
    for lang, short, bad_email in (
        ("it", "deve avere almeno 8 caratteri", "non è un indirizzo email valido"),
        ("en", "must be at least 8 characters", "is not an email address ("),
    ):
        headers = {"accept-language": lang}
        async with platform.client() as client:
            form = await client.get("/signup", headers=headers)
            versions = dict(re.findall(r'name="version_([\w-]+)" value="([^"]+)"', form.text))
            body = {
                "csrf_token": csrf(client),
                "idempotency_key": str(uuid.uuid4()),
                "account_name": "Bottega",
                "age_confirmed": "1",
                **{f"version_{doc}": version for doc, version in versions.items()},
                **{f"accept_{doc}": "1" for doc in versions},
            }
            weak = await client.post(
                "/signup",
                data={
                    **body,
                    "email": f"w-{uuid.uuid4().hex[:8]}@example.org",
                    "password": "short",
                },
                headers=headers,
            )
            assert weak.status_code == 400, weak.text
            assert f'<p class="field-error" id="e-password">{short}</p>' in weak.text
            wrong = await client.post(
                "/signup",
                data={**body, "email": "not-an-address", "password": PASSWORD},
                headers=headers,
            )
            assert wrong.status_code == 400, wrong.text
            assert re.search(
                f'<p class="field-error" id="e-email">{re.escape(bad_email)}', wrong.text
            )


async def test_a_recipient_corrects_their_details_from_the_my_data_link(platform: Platform) -> None:
    """The my-data page links to the correction form (campaign's GetMyContact and
    CorrectMyContact, by the link's token alone); bad values come back under their field, in
    the page's language; a token of another kind or a forged one shows no form."""
    account = await platform.account()
    async with platform.client() as client:
        address = f"r-{uuid.uuid4().hex[:8]}@example.org"
        made = await client.post(
            "/api/v1/contacts",
            headers={**account.auth, "idempotency-key": uuid.uuid4().hex},
            json={"email": address, "first_name": "Mrio"},
        )
        assert made.status_code == 201, made.text
        contact = made.json()
        keyring = load_token_keyring(platform.files[TOKEN_KEYRING_FILE])
        person_key = load_email_hasher(platform.files[EMAIL_HASH_KEY_FILE]).person_key(address)
        claims = {"a": account.account_id, "k": person_key}
        token = keyring.sign("my_data", claims, ttl=timedelta(hours=1))  # as consent signs it
        data_page = await client.get(f"/my-data/{token}")
        assert data_page.status_code == 200, data_page.text
        assert f'href="/my-data/{token}/correct"' in data_page.text
        form = await client.get(f"/my-data/{token}/correct")
        assert form.status_code == 200, form.text
        assert form.headers["referrer-policy"] == "no-referrer"
        assert 'name="first_name" value="Mrio"' in form.text
        values = {"first_name": "Mario", "last_name": "Rossi", "locale": "it-it", "timezone": ""}
        saved = await client.post(f"/my-data/{token}/correct", data=values)
        assert saved.status_code == 200, saved.text
        assert "Your details are corrected." in saved.text
        assert 'name="locale" value="it-IT"' in saved.text
        held = await client.get(f"/api/v1/contacts/{contact['contact_id']}", headers=account.auth)
        assert (held.json()["first_name"], held.json()["last_name"]) == ("Mario", "Rossi")
        bad = await client.post(
            f"/my-data/{token}/correct",
            data={**values, "timezone": "Mars/Olympus"},
            headers={"accept-language": "it"},
        )
        assert bad.status_code == 400, bad.text
        assert (
            '<p class="problem" id="e-timezone">non è un nome di fuso orario IANA come '
            "Europe/Rome</p>" in bad.text
        )
        assert 'aria-invalid="true" aria-errormessage="e-timezone"' in bad.text
        other_kind = keyring.sign("preferences", claims, ttl=timedelta(hours=1))
        for refused in (other_kind, "v1.x.y.z"):
            page = await client.get(f"/my-data/{refused}/correct")
            assert page.status_code == 400, page.text
            assert 'name="first_name"' not in page.text
            posted = await client.post(f"/my-data/{refused}/correct", data=values)
            assert posted.status_code == 400
        stranger = keyring.sign(
            "my_data", {"a": account.account_id, "k": "k" * 43}, ttl=timedelta(hours=1)
        )
        nothing = await client.get(f"/my-data/{stranger}/correct")
        assert nothing.status_code == 200
        assert "there is nothing to correct" in nothing.text
