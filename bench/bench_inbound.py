"""Delivery's inbound side: reading bounce reports, and applying them over SMTP.

- (a) the standard library parsing the sample reports (``email.message_from_bytes``), the
  floor under any reading of them;
- (b) ``bounces.parse_dsn`` on the same reports (flufl.bounce's detectors, the
  delivery-status fields, the classification table), against (a);
- (c) SMTP transactions per second against delivery's inbound server for an auto-reply
  (read, found to be no report, dropped: no database work);
- (d) DSNs applied per second over SMTP (each one: the ledger row locked, the record, the
  bounce, its event in the outbox, the suppression; one transaction), 8 concurrent senders,
  against (c).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import tempfile
import time
import uuid
from pathlib import Path

import aiosmtplib

from bench import Result
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.processes import NatsServer, PostgresServer

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "services" / "delivery" / "tests" / "data" / "reports"
PARSE_ROUNDS = 30
REPORTS = 1_000
SENDERS = 8
BOUNCE_DOMAIN = "bounces.bench.test"


def _samples() -> list[bytes]:
    return [
        p.read_text().replace("@@VERP@@", "bounce+x@b.test").replace("@@RCPT@@", "a@example.org")
        .encode()
        for p in sorted(SAMPLES.glob("*.eml"))
    ]  # fmt: skip


def _parse_rates() -> list[Result]:
    from missiva_delivery import bounces

    samples = _samples()
    count = PARSE_ROUNDS * len(samples)
    started = time.perf_counter()
    for _ in range(PARSE_ROUNDS):
        for raw in samples:
            email.message_from_bytes(raw, policy=email.policy.compat32)
    floor = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(PARSE_ROUNDS):
        for raw in samples:
            bounces.parse_dsn(bounces.parse_message(raw))
    read = count / (time.perf_counter() - started)
    base = "(a) email.message_from_bytes"
    return [
        Result(base, floor, "reports/s", note=f"{len(samples)} samples of tests/data/reports"),
        Result("(b) parse_dsn + classify", read, "reports/s", base, floor),
    ]


async def _smtp(port: int, items: list[tuple[str, bytes]]) -> float:
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def sender() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await client.connect()
        while not queue.empty():
            to, raw = queue.get_nowait()
            await client.sendmail("", [to], raw)
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    return len(items) / (time.perf_counter() - started)


async def _smtp_rates(pg: PostgresServer, nats_url: str) -> list[Result]:
    from missiva_delivery.__main__ import build
    from missiva_delivery.config import DeliverySettings
    from missiva_delivery.verp import Verp
    from missiva_platform.db import migrate
    from missiva_platform.secrets import (
        EMAIL_HASH_KEY_FILE,
        FIELD_KEYS_FILE,
        TOKEN_KEYRING_FILE,
        generate_secrets,
        load_token_keyring,
    )
    from missiva_platform.testing import harness

    files = generate_secrets(Path(tempfile.mkdtemp(prefix="missiva-bench-secrets-")))
    url = pg.create_database("delivery_inbound_bench")
    port = free_port()
    settings = DeliverySettings(
        database_url=url, nats_url=nats_url, grpc_port=0, http_port=0,
        field_keys_file=str(files[FIELD_KEYS_FILE]),
        email_hash_key_file=str(files[EMAIL_HASH_KEY_FILE]),
        token_keyring_file=str(files[TOKEN_KEYRING_FILE]),
        inbound_smtp_port=port, bounce_domain=BOUNCE_DOMAIN, smtp_url="smtp://127.0.0.1:9",
    )  # fmt: skip
    app = build(settings)
    await migrate(url, app.migration_sets)
    await app.start()
    verp = Verp(load_token_keyring(files[TOKEN_KEYRING_FILE]), BOUNCE_DOMAIN)
    try:
        ids = [str(uuid.uuid4()) for _ in range(REPORTS)]
        await harness.sql(
            url,
            "INSERT INTO messages (id, tenant_id, idempotency_key, lane, category, campaign_id,"
            " person_key, rfc822_message_id, status, attempts, sent_at)"
            " SELECT id::uuid, 'acct-bench', id, 'campaign', 2, 'c-' || (n %% 10),"
            " md5(id) || md5(id),"
            " '<' || id || '@bench>', 'sent', 1, now()"
            " FROM unnest(%s::text[]) WITH ORDINALITY AS t(id, n)",
            ids,
        )  # fmt: skip
        dsn = (SAMPLES / "postfix_user_unknown.eml").read_text()
        reply = (SAMPLES / "auto_reply_vacation.eml").read_text()

        def fill(text: str, mid: str) -> tuple[str, bytes]:
            to = verp.address(mid)
            return to, text.replace("@@VERP@@", to).replace("@@RCPT@@", "a@example.org").encode()

        dropped = await _smtp(port, [fill(reply, mid) for mid in ids])
        applied = await _smtp(port, [fill(dsn, mid) for mid in ids])
        bounced = await harness.scalar(
            url, "SELECT count(*) FROM messages WHERE status = 'bounced'"
        )
        assert bounced == REPORTS, bounced
    finally:
        await app.stop()
    base = "(c) SMTP auto-reply, dropped"
    return [
        Result(base, dropped, "messages/s", note=f"{SENDERS} concurrent SMTP clients"),
        Result("(d) SMTP DSN applied", applied, "reports/s", base, dropped,
               note=f"{REPORTS} hard bounces, one transaction each (row, record, event)"),
    ]  # fmt: skip


def run() -> list[Result]:
    results = _parse_rates()
    with tempfile.TemporaryDirectory(prefix="missiva-bench-") as folder:
        pg = PostgresServer(Path(folder) / "pg", free_port(), durable=False)
        nats_server = NatsServer(Path(folder) / "nats", free_port())
        pg.start()
        nats_server.start()
        try:
            results += asyncio.run(_smtp_rates(pg, nats_server.url))
        finally:
            nats_server.stop()
            pg.stop()
    return results
