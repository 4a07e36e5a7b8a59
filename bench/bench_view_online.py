"""View online: what the link costs per campaign message, and what a page costs to render.

One core, in this process, on the delivery bench's template (bench_delivery.py: 4.6 kB, four
tracked links, merge fields), 20 interleaved rounds of 0.5 s, best round each:

- (a) building one message (render + MIME bytes) from the template as it is: the baseline;
- (b) the same template with a "View online" link in its HTML and text parts: each message
  gets its own ``/v/<token>`` (one HMAC more) and, when sent, a copy of its sealed merge data
  (one INSERT ... SELECT per slice of messages, not measured here: no database);
- (c) ``RenderOnline``'s work besides its three indexed reads: opening the sealed merge data
  (AES-GCM) and rendering the page again (untracked compile: the person allows no tracking).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import Result
from bench.bench_delivery import _content
from missiva_delivery import campaign_render
from missiva_delivery.campaign_mail import CampaignMail
from missiva_delivery.campaign_render import Links, RenderCache
from missiva_delivery.verp import Verp
from missiva_platform.crypto import FieldCipher, TokenKeyring

ROUNDS = 20
ROUND_SECONDS = 0.5
LINK = '<p><a href="{{ view_online_url }}">View online</a></p>'


def _rate(seconds: float, work: Any) -> float:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(20):
            work()
        done += 20
    return done / (time.perf_counter() - started)


def run() -> list[Result]:
    keyring = TokenKeyring.generate()
    mail = CampaignMail(
        links=Links(keyring, "https://app.example", timedelta(days=730)),
        verp=Verp(keyring, "bounces.example"), list_id_domain="lists.example",
        feedback_sender_id="bench",
    )  # fmt: skip
    plain = _content()
    linked = replace(
        plain,
        campaign_id=str(uuid.uuid4()),
        html_body=plain.html_body + LINK,
        text_body=plain.text_body + "\nView online: {{ view_online_url }}\n",
    )
    compiled_plain = RenderCache().get("acct", plain)
    compiled_linked = RenderCache().get("acct", linked)
    assert compiled_linked.online
    assert not compiled_plain.online
    untracked = RenderCache(track=False).get("acct", linked)
    payload = {
        "to_name": "Ada Lovelace",
        "fields": {"first_name": "Ada", "attributes.city": "Pisa", "email": "ada@example.org"},
    }
    cipher = FieldCipher.generate()
    message_id = str(uuid.uuid4())
    sealed = cipher.encrypt(json.dumps(payload), f"delivery:payload:{message_id}")

    def row() -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "tenant_id": "acct", "person_key": "ab" * 32,
                "rfc822_message_id": "<x@bench.example>"}  # fmt: skip

    def build(compiled: Any) -> Any:
        return lambda: mail.build(compiled, row(), "ada@example.org", payload, datetime.now(UTC))

    def page() -> str:
        opened = json.loads(cipher.decrypt(sealed, f"delivery:payload:{message_id}"))
        values, _ = mail.values(untracked, {"id": message_id, "tenant_id": "acct",
                                            "person_key": "ab" * 32},
                                "ada@example.org", opened, personal=False)  # fmt: skip
        return campaign_render.render(untracked, values).html

    assert "/v/" in page()
    best = {"a": 0.0, "b": 0.0, "c": 0.0}
    work = {"a": build(compiled_plain), "b": build(compiled_linked), "c": page}
    for _ in range(ROUNDS):
        for key, fn in work.items():
            best[key] = max(best[key], _rate(ROUND_SECONDS, fn))
    base = "(a) build one message, no view-online link"
    return [
        Result(base, best["a"], "messages/s",
               note="the delivery bench's template, render + MIME bytes, one core"),
        Result("(b) build one message with its view-online link", best["b"], "messages/s",
               base, best["a"], note="one HMAC tag and a longer link in both parts"),
        Result("(c) a view-online page: open the merge data, render again", best["c"],
               "pages/s", base, best["a"],
               note="RenderOnline without its three indexed reads; untracked compile"),
    ]  # fmt: skip
