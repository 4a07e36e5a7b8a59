"""The import pages when campaign's refusal of the options comes after the start stopped
waiting for it (a loaded machine): the progress page sends the browser back to the mapping
form, the violation under its field and what was chosen kept, and the import can then start
with the options corrected. The real platform in this process (``test_web_segments``)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_web_segments import csrf, web_client, web_platform  # noqa: F401 (a fixture)

from missiva_gateway.web import imports as web_imports

pytestmark = pytest.mark.asyncio(loop_scope="module")

CSV = b"email,first_name\nada@example.org,Ada\ngrace@example.org,Grace\n"


async def test_a_late_refusal_of_the_options_goes_back_under_its_field(
    web_platform: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(web_imports, "START_WAIT_SECONDS", 0.0)  # never waits for campaign
    async with web_client(web_platform) as client:
        auth = client.account.auth
        purpose = await client.post(
            "/api/v1/purposes", headers=auth, json={"key": "news", "name": "News"}
        )
        assert purpose.status_code == 201, purpose.text
        made = await client.post(
            "/api/v1/lists",
            headers=auth,
            json={"name": "Readers", "purpose_id": purpose.json()["purpose_id"]},
        )
        assert made.status_code == 201, made.text
        list_id = made.json()["list_id"]
        token = await csrf(client, "/app/import")
        upload = await client.post(
            "/app/import",
            data={"csrf_token": token},
            files={"file": ("people.csv", CSV, "text/csv")},
        )
        assert upload.status_code == 200, upload.text
        key = re.search(r'action="/app/import/([^/"]+)/start"', upload.text)
        assert key, upload.text
        start = f"/app/import/{key.group(1)}/start"
        form = {"csrf_token": token, "map_0": "email", "map_1": "first_name",
                "consent_mode": "proof", "collected_by": "the shop's form",
                "given_at": "2026-01-10", "list_id": list_id}  # fmt: skip
        started = await client.post(start, data=form)  # no consent text
        assert started.status_code == 200
        assert 'id="import-bar"' in started.text  # the progress page: nothing refused yet
        progress = f"/app/import/{key.group(1)}/progress"
        for _ in range(100):
            polled = await client.get(progress, headers={"HX-Request": "true"})
            if "HX-Redirect" in polled.headers:
                break
            await asyncio.sleep(0.1)
        mapping = f"/app/import/{key.group(1)}/mapping"
        assert polled.headers.get("HX-Redirect") == mapping, polled.text
        again = await client.get(polled.headers["HX-Redirect"])
        assert 'id="e-consent_text"' in again.text, again.text
        assert 'aria-invalid="true"' in again.text
        assert "the shop&#39;s form" in again.text or "the shop's form" in again.text
        # Corrected, it starts (waiting for it this time, as the page does).
        monkeypatch.setattr(web_imports, "START_WAIT_SECONDS", 30.0)
        fixed = await client.post(start, data={**form, "consent_text": "Yes, the news."})
        assert fixed.status_code == 200
        assert 'id="e-consent_text"' not in fixed.text
        assert 'id="import-bar"' in fixed.text
