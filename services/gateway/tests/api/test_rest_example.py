"""``examples/send_campaign.sh`` (curl only) against the test platform, over real HTTP:
from an API key to the campaign's statistics."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest
from test_rest_sending import verified_sender_domain

pytestmark = pytest.mark.asyncio(loop_scope="package")

SCRIPT = Path(__file__).parents[4] / "examples" / "send_campaign.sh"
SCOPES = (
    "contacts:read", "contacts:write", "lists:write", "consent:read", "consent:write",
    "campaigns:read", "campaigns:write", "credits:read",
)  # fmt: skip


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_curl_example_sends_a_campaign(platform) -> None:
    account = await platform.account(scopes=SCOPES, credits=10)
    await verified_sender_domain(platform, account.account_id, "shop.example")
    async with platform.served() as base:
        proc = await asyncio.create_subprocess_exec(
            "bash", str(SCRIPT),
            env={
                "PATH": os.environ["PATH"], "MISSIVA_URL": base,
                "MISSIVA_API_KEY": account.key, "MISSIVA_FROM": "news@shop.example",
            },
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    text = out.decode()
    assert proc.returncode == 0, text
    assert re.search(r"sending:  status (sending|completed), 2 recipients", text), text
    assert re.search(r'stats:    \{"recipients":2,', text), text
    assert account.key not in text
