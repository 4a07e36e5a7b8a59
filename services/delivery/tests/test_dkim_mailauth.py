"""A second, independent DKIM verifier: mailauth (Node.js), besides dkimpy.

The messages are real ones: campaign mail and transactional mail sent by the service, signed
with RSA-2048 and Ed25519 keys (DKIM_KEYS_FILE), taken from the SMTP sink as received.
mailauth looks the key records up itself, with Node's DNS resolver pointed at the loopback
DNS server they were published to (``dkim_node/verify.js``).

mailauth and its dependencies are pinned by ``dkim_node/package-lock.json`` and installed
with ``npm ci`` into ``.missiva/cache/`` (once per lock file). Without ``node`` and ``npm`` the
tests fail, naming the Makefile target that installs them (``make node``): never skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from missiva_delivery.dkim import ED25519_SHA256, RSA_SHA256, generate_key
from missiva_platform.dns_server import record

pytestmark = pytest.mark.asyncio(loop_scope="module")

HERE = Path(__file__).parent / "dkim_node"
CACHE = Path(__file__).parents[3] / ".missiva" / "cache"
CAMPAIGN_DOMAIN = "bottegarossi.example"  # the conftest batches' From domain
SYSTEM_DOMAIN = "mail.missiva.example"
KEYS = [
    generate_key(domain, f"{name}1", algorithm)
    for domain in (CAMPAIGN_DOMAIN, SYSTEM_DOMAIN)
    for name, algorithm in (("rsa", RSA_SHA256), ("ed", ED25519_SHA256))
]
_FOLDER = Path(tempfile.mkdtemp(prefix="delivery-mailauth-"))
(_FOLDER / "dkim.json").write_text(
    json.dumps(
        [
            {"domain": k.domain, "selector": k.selector, "algorithm": k.algorithm,
             "private_key_pem": k.private_key_pem.decode()}
            for k, _ in KEYS
        ]
    )
)  # fmt: skip
SETTINGS = {
    "dkim_keys_file": str(_FOLDER / "dkim.json"),
    "mail_from_address": f"no-reply@{SYSTEM_DOMAIN}",
}


def _node_modules() -> Path:
    """mailauth installed with ``npm ci`` from the pinned lock file, in a cache folder."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are required for the mailauth DKIM check: run `make node`")
    lock = (HERE / "package-lock.json").read_bytes()
    target = CACHE / f"dkim_node-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not (target / "node_modules" / "mailauth" / "package.json").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=CACHE, prefix=".dkim_node-"))
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, work / name)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=work, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            shutil.rmtree(work, ignore_errors=True)
            pytest.fail(f"npm ci failed for {HERE}: {done.stderr[-2000:]}")
        try:
            work.rename(target)
        except OSError:  # another session installed it first
            shutil.rmtree(work, ignore_errors=True)
    return target / "node_modules"


@pytest.fixture(scope="module")
def mailauth(tmp_path_factory: pytest.TempPathFactory, _dns_server_session: Any) -> Any:
    """``verify([message bytes, ...])`` → per message, mailauth's result per signature."""
    modules = _node_modules()
    folder = tmp_path_factory.mktemp("mailauth")

    def verify(messages: list[bytes]) -> list[list[dict[str, str]]]:
        files = []
        for i, data in enumerate(messages):
            path = folder / f"m{i}.eml"
            path.write_bytes(data)
            files.append(str(path))
        done = subprocess.run(
            ["node", str(HERE / "verify.js"), _dns_server_session.address, *files],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "NODE_PATH": str(modules)},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        answers: list[list[dict[str, str]]] = json.loads(done.stdout)
        return answers

    return verify


def _publish_keys(dns_server: Any) -> None:
    for domain in (CAMPAIGN_DOMAIN, SYSTEM_DOMAIN):
        dns_server.publish(
            domain,
            [
                record(f"{k.selector}._domainkey.{k.domain}", "TXT", txt)
                for k, txt in KEYS
                if k.domain == domain
            ],
        )


def _summary(answer: list[dict[str, str]]) -> list[tuple[str, str, str, str]]:
    return [(r["result"], r["algo"], r["domain"], r["selector"]) for r in answer]


# mailauth's words: a body hash that does not match is "neutral" (RFC 6376 6.1.3 leaves the
# result name to the verifier; dkimpy says False), a header hash that does not is "fail".
BODY_CHANGED = ("neutral", "body hash did not verify")
BAD_SIGNATURE = ("fail", "bad signature")


def _results(answer: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(r["result"], r["comment"]) for r in answer]


def _change_body(data: bytes) -> bytes:
    """One line more at the start of the body (the MIME preamble: no reader shows it)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep
    assert body
    return head + sep + b"A line added on the way.\r\n" + body


async def test_mailauth_passes_campaign_mail_and_fails_it_once_changed(
    delivery, dns_server, mailauth
) -> None:
    _publish_keys(dns_server)
    tenant = delivery.tenant()
    addresses = [delivery.address() for _ in range(2)]
    event, campaign_id = delivery.batch(tenant, addresses)
    await delivery.publish_to("cmd.delivery.send_batch", event)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=2)
    assert {r[3] for r in rows} == {"sent"}
    received = [delivery.sink.for_address(a)[0].data for a in addresses]
    for data in received:
        assert re.search(rb"(?im)^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$", data)
    tampered = [
        _change_body(received[0]),
        received[0].replace(b"List-Unsubscribe=One-Click", b"nothing", 1),
    ]
    answers = mailauth(received + tampered)
    expected = [
        ("pass", "rsa-sha256", CAMPAIGN_DOMAIN, "rsa1"),
        ("pass", "ed25519-sha256", CAMPAIGN_DOMAIN, "ed1"),
    ]
    assert [_summary(a) for a in answers[:2]] == [expected, expected]
    # A changed body breaks both signatures; so does a changed signed header.
    assert _results(answers[2]) == [BODY_CHANGED, BODY_CHANGED]
    assert _results(answers[3]) == [BAD_SIGNATURE, BAD_SIGNATURE]


async def test_mailauth_passes_transactional_mail_and_fails_it_once_changed(
    delivery, dns_server, mailauth
) -> None:
    _publish_keys(dns_server)
    address = delivery.address()
    reply = await delivery.send(delivery.request(address, to_name="Zoë Çelik", locale="it-IT"))
    status = await delivery.until(reply.message_id)
    assert status.message.last_smtp_response.startswith("250")
    [received] = delivery.sink.for_address(address)
    data = received.data
    assert data.count(b"DKIM-Signature:") == 2
    answers = mailauth([data, _change_body(data)])
    assert _summary(answers[0]) == [
        ("pass", "rsa-sha256", SYSTEM_DOMAIN, "rsa1"),
        ("pass", "ed25519-sha256", SYSTEM_DOMAIN, "ed1"),
    ]
    assert _results(answers[1]) == [BODY_CHANGED, BODY_CHANGED]
    changed = data.replace(b"Subject: ", b"Subject: Re: ", 1)
    assert changed != data
    [answer] = mailauth([changed])
    assert _results(answer) == [BAD_SIGNATURE, BAD_SIGNATURE]


async def test_mailauth_does_not_pass_a_key_that_is_not_published(
    delivery, dns_server, mailauth
) -> None:
    """The records come from the DNS server: with none published nothing passes."""
    tenant = delivery.tenant()
    address = delivery.address()
    event, campaign_id = delivery.batch(tenant, [address])
    await delivery.publish_to("cmd.delivery.send_batch", event)
    await delivery.campaign_rows(tenant, campaign_id, want=1)
    [received] = delivery.sink.for_address(address)
    [answer] = mailauth([received.data])
    assert _results(answer) == [("neutral", "no key"), ("neutral", "no key")]
