"""Delivery: a campaign from queued to accepted by Postfix's ``smtp-sink``, DKIM on.

On embedded PostgreSQL and NATS, with Postfix's C ``smtp-sink`` on loopback (Debian package
``postfix``; installed with apt-get when missing):

- (a) the raw two-signature DKIM rate of one core: RSA-2048 and Ed25519 signatures of one
  campaign message (``DkimSigner.sign``, both keys), in a loop in this process;
- (b) building one message without signing (render with merge fields, links and tokens,
  direct MIME bytes), in a loop: what the sender spends besides signing;
- (c) ``smtp-source`` blasting the same sink (20 sessions): what the sink and loopback take;
- (d) a campaign of ``BENCH_DELIVERY_MESSAGES`` recipients (20,000 by default; 100,000 in
  the issue) as ``SendBatch`` commands of 500 on NATS, sent by ``BENCH_DELIVERY_PROCESSES``
  delivery processes (``python -m missiva_delivery``, default 2: the cores) sharing the work
  queue and the ledger, from the first command published to the last row recorded ``sent``;
  the baselines are (c) and (a) times the processes;
- (e) the peak resident memory of the largest delivery process during (d);
- (f) the CPU time (user + system) the delivery processes spent during (d), per message:
  unlike (d) it hardly moves with what else the machine runs;
- (g) the same until the processes have done everything the campaign made: (d) plus the
  outbox relayed, delivery's own consumers of its events (if any) caught up and, with
  ``BENCH_DELIVERY_WEBHOOK=1`` (the account has an endpoint receiving ``message.sent``, a
  loopback HTTP receiver in this process answering 200), every webhook delivered.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nats
import nats.js.errors

from bench import Result
from missiva.campaign.v1 import campaign_service_pb2 as campaign_pb
from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.common.v1 import types_pb2
from missiva_delivery.__main__ import build
from missiva_delivery.batches import Content
from missiva_delivery.campaign_mail import CampaignMail
from missiva_delivery.campaign_render import Links, RenderCache
from missiva_delivery.config import DeliverySettings
from missiva_delivery.dkim import ED25519_SHA256, RSA_SHA256, DkimSigner, generate_key
from missiva_delivery.hooks_domain import secret_aad
from missiva_delivery.verp import Verp
from missiva_platform.crypto import TokenKeyring
from missiva_platform.db import migrate
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.processes import NatsServer, PostgresServer, die_with_parent
from missiva_platform.events import envelope
from missiva_platform.secrets import (
    EMAIL_HASH_KEY_FILE,
    FIELD_KEYS_FILE,
    TOKEN_KEYRING_FILE,
    generate_secrets,
    load_email_hasher,
    load_field_cipher,
)
from missiva_platform.streams import SEND_BATCH

MESSAGES = int(os.environ.get("BENCH_DELIVERY_MESSAGES", "20000"))
PROCESSES = int(os.environ.get("BENCH_DELIVERY_PROCESSES", "2"))
WEBHOOK = os.environ.get("BENCH_DELIVERY_WEBHOOK", "") == "1"
TENANT = "acct-bench"
SOURCE_MESSAGES = 10_000
PER_BATCH = 500
DOMAIN = "shop.example"
SINK = "/usr/sbin/smtp-sink"
SOURCE = "/usr/sbin/smtp-source"

HTML = (
    "<table><tr><td><h1>Spring news, {{ first_name }}</h1>"
    + "<p>Here is what we built this season for you in {{ attributes.city }}.</p>" * 12
    # Four fixed links: tracked (rewritten once per revision, a token per message each).
    + "".join(
        f'<p><a href="https://{DOMAIN}/spring/{n}?utm_source=missiva">Item {n}</a></p>'
        for n in range(1, 5)
    )
    + '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a> · <a href="{{ my_data_url }}">My data</a>'
    "</p></td></tr></table>"
)


def ensure_postfix() -> None:
    """Postfix's smtp-sink and smtp-source, installed with apt-get when missing."""
    if Path(SINK).exists() and Path(SOURCE).exists():
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", "postfix"],
        check=True,
        env=env,
    )


def _content() -> Content:
    return Content(
        campaign_id=str(uuid.uuid4()), template_revision=1, template_id="t", subject=
        "Spring news for you, {{ first_name }}", preheader="Three things we built",
        html_body=HTML, text_body="Hello {{ first_name }}\n\nUnsubscribe: {{ unsubscribe_url }}",
        category=types_pb2.EMAIL_CATEGORY_MARKETING, purpose_id=str(uuid.uuid4()),
        from_name="Bottega Rossi", from_address=f"news@{DOMAIN}", reply_to="",
        sender_domain_id="sd",
    )  # fmt: skip


def _rate(seconds: float, work: Any) -> float:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(50):
            work()
        done += 50
    return done / (time.perf_counter() - started)


def _local_rates(keys: list[Any]) -> tuple[float, float, int]:
    keyring = TokenKeyring.generate()
    mail = CampaignMail(
        links=Links(keyring, "https://app.example", timedelta(days=730)),
        verp=Verp(keyring, "bounces.example"), list_id_domain="lists.example",
        feedback_sender_id="bench",
    )  # fmt: skip
    compiled = RenderCache().get("acct", _content())
    payload = {
        "to_name": "Ada Lovelace",
        "fields": {"first_name": "Ada", "attributes.city": "Pisa"},
    }

    def one() -> bytes:
        row = {"id": str(uuid.uuid4()), "tenant_id": "acct", "person_key": "ab" * 32,
               "rfc822_message_id": "<x@bench.example>"}  # fmt: skip
        return mail.build(compiled, row, "ada@example.org", payload, datetime.now(UTC)).data

    message = one()
    signer = DkimSigner(keys)
    signing = _rate(3.0, lambda: signer.sign(message))
    building = _rate(3.0, one)
    return signing, building, len(message)


def _smtp_source(port: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [SOURCE, "-s", "20", "-m", str(SOURCE_MESSAGES), "-l", "4000", "-f", "a@bench.example",
         "-t", "b@example.org", f"127.0.0.1:{port}"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return SOURCE_MESSAGES / (time.perf_counter() - started)


def _batch(hasher: Any, tenant: str, content: Content, n: int, start: int, count: int) -> Any:
    command = campaign_events.SendBatch(
        campaign_id=content.campaign_id,
        batch_id=f"{n:05d}",
        recipients=[
            campaign_events.Recipient(
                contact_id=f"c{i}", person_key=hasher.person_key(f"r{i}@example.org"),
                email=f"r{i}@example.org",
                merge_fields={"first_name": "Ada", "attributes.city": "Pisa"},
            )
            for i in range(start, start + count)
        ],
        content=campaign_events.RenderedContent(
            subject=content.subject, preheader=content.preheader, html_body=content.html_body,
            text_body=content.text_body, template_revision=1,
        ),
        category=content.category,
        purpose_id=content.purpose_id,
        sender=campaign_pb.Sender(from_name=content.from_name, from_address=content.from_address),
        credit_reservation_id=str(uuid.uuid4()),
    )  # fmt: skip
    return envelope(command, subject=SEND_BATCH, tenant_id=tenant, producer="campaign")


def _peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Receiver(BaseHTTPRequestHandler):
    """A customer's webhook endpoint: takes every POST with 200."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


async def _add_endpoint(url: str, receiver_url: str, secrets: dict) -> None:
    """The bench account's endpoint receiving ``message.sent`` (as CreateWebhookEndpoint
    stores it: the secret sealed for the tenant and endpoint)."""
    import psycopg

    endpoint_id = str(uuid.uuid4())
    sealed = load_field_cipher(secrets[FIELD_KEYS_FILE]).encrypt(
        "whsec_bench", secret_aad(TENANT, endpoint_id)
    )
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, secret_enc)"
            " VALUES (%s, %s, %s, %s, %s)",
            (endpoint_id, TENANT, receiver_url, ["message.sent"], sealed),
        )


async def _settled(conn: Any, js: Any) -> bool:
    """Nothing the campaign made is left: the outbox relayed, delivery's own consumers of
    DELIVERY_EVENTS (if any) caught up, every webhook delivered (with BENCH_DELIVERY_WEBHOOK)."""
    cur = await conn.execute("SELECT count(*) FROM kit_outbox")
    row = await cur.fetchone()
    if row and row[0]:
        return False
    if WEBHOOK:
        cur = await conn.execute(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"
        )
        row = await cur.fetchone()
        if not row or row[0] < MESSAGES:
            return False
    try:
        consumers = await js.consumers_info("DELIVERY_EVENTS")
    except nats.js.errors.NotFoundError:
        return True
    return all(
        c.num_pending == 0 and c.num_ack_pending == 0
        for c in consumers
        if c.name.startswith("delivery-")
    )


def _start(folder: Path, env: dict[str, str]) -> list[tuple[Any, Any]]:
    """The delivery processes, each with its log file (closed when it is stopped)."""
    children = []
    for n in range(PROCESSES):
        log = open(folder / f"delivery-{n}.log", "ab")  # noqa: SIM115 - closed with the child
        children.append(
            (subprocess.Popen(
                [sys.executable, "-m", "missiva_delivery", "serve"],
                env={**env, "GRPC_PORT": str(free_port()), "HTTP_PORT": str(free_port())},
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            ), log)
        )  # fmt: skip
    return children


async def _campaign(folder: Path, url: str, nats_url: str, sink_port: int, keys_file: Path,
                    secrets: dict) -> tuple[float, float, float, float]:  # fmt: skip
    env = {
        **os.environ, "DATABASE_URL": url, "NATS_URL": nats_url,
        "SMTP_URL": f"smtp://127.0.0.1:{sink_port}", "SMTP_POOL_SIZE": "8",
        "FIELD_KEYS_FILE": str(secrets[FIELD_KEYS_FILE]),
        "TOKEN_KEYRING_FILE": str(secrets[TOKEN_KEYRING_FILE]),
        "EMAIL_HASH_KEY_FILE": str(secrets[EMAIL_HASH_KEY_FILE]),
        "DKIM_KEYS_FILE": str(keys_file), "SENDER_POLL_SECONDS": "0.05", "LOG_LEVEL": "WARNING",
        "DB_POOL_MAX": "20", "WEBHOOK_ALLOW_LOOPBACK_HTTP": "true",
    }  # fmt: skip
    children = _start(folder, env)
    hasher = load_email_hasher(secrets[EMAIL_HASH_KEY_FILE])
    content = _content()
    events = [
        _batch(hasher, TENANT, content, n, start, min(PER_BATCH, MESSAGES - start))
        for n, start in enumerate(range(0, MESSAGES, PER_BATCH))
    ]
    import psycopg

    nc = await nats.connect(nats_url)
    try:
        await asyncio.sleep(3)  # the processes start and declare their consumers
        js = nc.jetstream()
        cpu_before = sum(_cpu_seconds(p.pid) for p, _ in children)
        started = time.perf_counter()
        for event in events:
            for _ in range(600):  # the stream exists once a delivery process declared it
                try:
                    await js.publish(SEND_BATCH, event.SerializeToString(),
                                     headers={"Nats-Msg-Id": event.event_id})  # fmt: skip
                    break
                except nats.js.errors.NoStreamResponseError:
                    await asyncio.sleep(0.1)
        peak = 0.0
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            while True:
                cur = await conn.execute("SELECT count(*) FROM messages WHERE status = 'sent'")
                row = await cur.fetchone()
                peak = max([peak, *(_peak_rss_mib(p.pid) for p, _ in children)])
                if row and row[0] >= MESSAGES:
                    break
                if time.perf_counter() - started > 1800:
                    raise TimeoutError(f"{row} of {MESSAGES} sent after 30 minutes")
                await asyncio.sleep(0.25)
            seconds = time.perf_counter() - started
            cpu = sum(_cpu_seconds(p.pid) for p, _ in children) - cpu_before
            while not await _settled(conn, js):
                if time.perf_counter() - started > 1800:
                    raise TimeoutError("the campaign's events and webhooks not done in 30 minutes")
                await asyncio.sleep(0.25)
            settled = sum(_cpu_seconds(p.pid) for p, _ in children) - cpu_before
        peak = max([peak, *(_peak_rss_mib(p.pid) for p, _ in children)])
    finally:
        await nc.close()
        for proc, log in children:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    return MESSAGES / seconds, peak, cpu * 1e6 / MESSAGES, settled * 1e6 / MESSAGES


async def _measure(folder: Path, pg: PostgresServer, nats_url: str, sink_port: int) -> list[Result]:
    secrets = generate_secrets(folder / "secrets", now=datetime.now(UTC))
    keys = [
        generate_key(DOMAIN, "rsa1", RSA_SHA256)[0],
        generate_key(DOMAIN, "ed1", ED25519_SHA256)[0],
    ]
    keys_file = folder / "dkim.json"
    keys_file.write_text(json.dumps([
        {"domain": k.domain, "selector": k.selector, "algorithm": k.algorithm,
         "private_key_pem": k.private_key_pem.decode()} for k in keys
    ]))  # fmt: skip
    signing, building, size = _local_rates(keys)
    source = _smtp_source(sink_port)
    probe = build(DeliverySettings(database_url="postgresql://x@127.0.0.1/x"))
    url = pg.create_database("bench_delivery")
    await migrate(url, probe.migration_sets)
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        if WEBHOOK:
            hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"
            await _add_endpoint(url, hook_url, secrets)
        rate, peak, cpu, settled = await _campaign(
            folder, url, nats_url, sink_port, keys_file, secrets
        )
    finally:
        receiver.shutdown()
        receiver.server_close()
    a = "(a) raw RSA-2048 + Ed25519 signing, one core"
    c = "(c) smtp-source into the same smtp-sink"
    cores = f"(a) x {PROCESSES} processes"
    return [
        Result(a, signing, "messages/s", note=f"one {size:,}-byte campaign message, both keys"),
        Result(
            "(b) render + MIME bytes, one core (no signing)", building, "messages/s", a, signing
        ),
        Result(c, source, "messages/s", note=f"{SOURCE_MESSAGES:,} messages, 20 sessions"),
        Result(
            f"(d) campaign queued → accepted, DKIM on (goal ≥ 2,000), {PROCESSES} processes",
            rate,
            "messages/s",
            c,
            source,
            note=f"{MESSAGES:,} recipients in SendBatch commands of {PER_BATCH}, "
            f"{PROCESSES} delivery processes (SMTP_POOL_SIZE 8) on one work queue",
        ),
        Result(
            "(d') the same against the signing rate of the cores used (goal ≥ 0.67)",
            rate,
            "messages/s",
            cores,
            signing * PROCESSES,
        ),
        Result(
            "(e) peak RSS of a delivery process (goal ≤ 400)", peak, "MiB", higher_is_better=False
        ),
        Result(
            "(f) CPU time of the delivery processes per message during (d)",
            cpu,
            "µs",
            higher_is_better=False,
            note="user + system time of every delivery process (/proc/<pid>/stat) over the "
            "messages sent: what one message costs, whatever else the machine runs",
        ),
        Result(
            "(g) the same until everything the campaign made is done"
            + (" (a webhook endpoint receiving message.sent)" if WEBHOOK else ""),
            settled,
            "µs",
            higher_is_better=False,
            note="(f) plus the outbox relayed, delivery's own consumers of its events caught up"
            + (f" and {MESSAGES:,} webhooks delivered" if WEBHOOK else ""),
        ),
    ]


def run() -> list[Result]:
    ensure_postfix()
    with tempfile.TemporaryDirectory(prefix="missiva-bench-") as name:
        folder = Path(name)
        pg = PostgresServer(folder / "pg", free_port(), durable=False)
        nats_server = NatsServer(folder / "nats", free_port())
        sink_port = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        sink = subprocess.Popen([SINK, *user, f"127.0.0.1:{sink_port}", "1000"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        pg.start()
        nats_server.start()
        try:
            time.sleep(0.3)
            return asyncio.run(_measure(folder, pg, nats_server.url, sink_port))
        finally:
            sink.terminate()
            sink.wait(10)
            nats_server.stop()
            pg.stop()
            shutil.rmtree(folder / "secrets", ignore_errors=True)
