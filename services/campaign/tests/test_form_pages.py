"""The gateway's form pages (``missiva_gateway.forms_pages``) in front of the real campaign and
consent of ``forms_env``: the hosted page (its hidden inputs, its headers), a submission that
reaches consent and shows the thank-you text, a refused one shown again with the visitor's
input and the reason, the honeypot, and the embed script's show rules run in Node against a
small stand-in for the browser (delay, scroll, exit intent, once per visitor without cookies).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from test_forms import aged_token, make_form

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_gateway.app import create_app
from missiva_gateway.config import GatewaySettings

pytestmark = pytest.mark.asyncio(loop_scope="module")

PUBLIC = "https://forms.missiva.test"


@contextlib.asynccontextmanager
async def gateway(env) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        GatewaySettings(
            campaign_target=f"127.0.0.1:{env.app.grpc_port}",
            consent_target=f"127.0.0.1:{env.consent_app.grpc_port}",
        )
    )
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 41000))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
            yield client


def hidden(body: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', body)
    assert found, name
    return found.group(1)


async def test_the_hosted_page_and_a_submission_reaching_consent(forms_env) -> None:
    env, tenant = forms_env, forms_env.tenant()
    form, _ = await make_form(env, tenant, description="Once a month, no more.")
    async with gateway(env) as client:
        page = await client.get(f"/forms/{form.form_id}")
        assert page.status_code == 200
        body = page.text
        assert "Yes, send me the monthly letter" in body
        assert 'name="website"' in body  # the honeypot, hidden from people
        assert "<script" not in body
        assert "frame-ancestors *" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert "set-cookie" not in page.headers

        email = env.email("page")
        fields = {
            "email": email, "first_name": "Lina", "attributes.city": "Bari", "consent": "yes",
            "website": "", "render_token": aged_token(env, form.form_id),
        }  # fmt: skip
        done = await client.post(f"/forms/{form.form_id}", data=fields)
        assert done.status_code == 200, done.text
        assert "confirm" in done.text
        # Consent took it: the confirmation email is queued, with the visitor's address.
        assert (await env.confirm_url(email)).startswith("https://mail.missiva.test/confirm/")
        ip_hash = await env.sql(
            "SELECT person_key FROM form_submissions WHERE person_key = %s", env.key(email)
        )
        assert ip_hash

        # Refused (no consent ticked): the form again, with what was typed and why.
        again = await client.post(
            f"/forms/{form.form_id}", data={**fields, "consent": "", "email": env.email("x")}
        )
        assert again.status_code == 400
        assert "tick the box" in again.text
        assert 'value="Lina"' in again.text
        assert hidden(again.text, "render_token") == fields["render_token"]

        # The honeypot filled in: thanked, nothing kept.
        robot = env.email("robot")
        answered = await client.post(
            f"/forms/{form.form_id}", data={**fields, "email": robot, "website": "http://x"}
        )
        assert answered.status_code == 200
        assert (
            await env.scalar(
                "SELECT count(*) FROM form_submissions WHERE person_key = %s", env.key(robot)
            )
            == 0
        )

        missing = await client.get(f"/forms/{uuid.uuid4()}")
        assert missing.status_code == 404
        confirmed = await client.get(f"/forms/{form.form_id}/confirmed")
        assert "confirmed" in confirmed.text


NODE = shutil.which("node")
HARNESS = r"""
const fs = require("fs");
const source = fs.readFileSync(process.argv[2], "utf8");
function run(store, act) {
  const listeners = {};
  const timers = [];
  const body = { children: [], appendChild(c) { this.children.push(c); } };
  const element = () => ({ style: {}, children: [], setAttribute() {}, addEventListener() {},
    appendChild(c) { this.children.push(c); } });
  const document = {
    currentScript: { src: "https://forms.example/forms/x/embed.js", parentNode: null },
    documentElement: { scrollHeight: 1000 }, body,
    createElement: element,
    addEventListener(name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
  };
  const window = {
    localStorage: { getItem: (k) => store[k] || null, setItem: (k, v) => { store[k] = v; } },
    setTimeout: (fn, ms) => timers.push([ms, fn]), scrollY: 0, innerHeight: 500,
    addEventListener(name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
  };
  new Function("window", "document", "URL", source)(window, document, URL);
  act({ listeners, timers, window, fire: (n, e) => (listeners[n] || []).forEach((f) => f(e)) });
  return body.children.length;
}
const out = {};
const store = {};
out.before = run({}, () => {});
out.delay = run(store, (b) => b.timers.forEach(([, fn]) => fn()));
out.again = run(store, (b) => b.timers.forEach(([, fn]) => fn()));
out.scroll_short = run({}, (b) => { b.window.scrollY = 100; b.fire("scroll", {}); });
out.scroll_far = run({}, (b) => { b.window.scrollY = 300; b.fire("scroll", {}); });
out.exit = run({}, (b) => b.fire("mouseout", { relatedTarget: null, clientY: 0 }));
out.stored = Object.keys(store);
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(NODE is None, reason="Node.js runs the embed script's test")
async def test_the_popup_script_follows_its_show_rules_once_per_visitor(forms_env, tmp_path: Path):
    env, tenant = forms_env, forms_env.tenant()
    rules = pb.PopupRules(delay_seconds=4, scroll_percent=70, exit_intent=True)
    form, _ = await make_form(env, tenant, kind=pb.FORM_KIND_POPUP, popup=rules)
    async with gateway(env) as client:
        script = await client.get(f"/forms/{form.form_id}/embed.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "document.cookie" not in script.text
    path = tmp_path / "embed.js"
    path.write_text(script.text)
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(harness), str(path)], capture_output=True, text=True, timeout=30, check=True
    )
    seen = json.loads(done.stdout)
    assert seen["before"] == 0  # nothing until a rule fires
    assert seen["delay"] == 1  # the delay opened it
    assert seen["again"] == 0  # the same visitor does not see it again (localStorage)
    assert seen["scroll_short"] == 0  # 60 % scrolled, the rule says 70
    assert seen["scroll_far"] == 1
    assert seen["exit"] == 1
    assert seen["stored"] == [f"missiva-form:{form.form_id}"]
