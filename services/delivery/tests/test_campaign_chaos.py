"""Chaos: the delivery process is killed with SIGKILL five times while it sends a campaign.

The campaign (DELIVERY_CHAOS_MESSAGES recipients, 20,000 in the issue, 2,000 by default)
arrives as SendBatch commands; delivery runs as a child process (``python -m
missiva_delivery``) and is restarted at once after each kill. In the end the SMTP sink has
every recipient's message; a recipient got it twice only if their row was being sent at the
instant of a kill (it is then sent again with the same Message-ID, and the row counts the
resend), at most one slice of rows in flight per kill; the ledger has one sent row per
recipient.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import pytest
from aiosmtpd.controller import Controller

from missiva.campaign.v1 import campaign_service_pb2 as campaign_pb
from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.common.v1 import types_pb2
from missiva_delivery.__main__ import build
from missiva_delivery.config import DeliverySettings
from missiva_delivery.events import DeliveryConsumers, consumer_spec
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.processes import die_with_parent
from missiva_platform.devstack.smtp_sink import SinkHandler
from missiva_platform.events import envelope
from missiva_platform.secrets import (
    EMAIL_HASH_KEY_FILE,
    FIELD_KEYS_FILE,
    TOKEN_KEYRING_FILE,
    load_email_hasher,
)
from missiva_platform.streams import SEND_BATCH
from missiva_platform.testing import harness as kit

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

MESSAGES = int(os.environ.get("DELIVERY_CHAOS_MESSAGES", "2000"))
PER_BATCH = 500
KILLS = 5
SLICE = 32  # SUPPRESSION_CHECK_SIZE: the rows sent at once, so in flight at a kill


def _batch(hasher: Any, tenant: str, campaign_id: str, batch_id: str,
           addresses: list[str]) -> Any:  # fmt: skip
    command = campaign_events.SendBatch(
        campaign_id=campaign_id,
        batch_id=batch_id,
        recipients=[
            campaign_events.Recipient(
                contact_id=str(uuid.uuid5(uuid.NAMESPACE_URL, a)),
                person_key=hasher.person_key(a),
                email=a,
                merge_fields={"first_name": "Ada"},
            )
            for a in addresses
        ],
        content=campaign_events.RenderedContent(
            subject="Hello {{ first_name }}",
            html_body='<p>Hi {{ first_name }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>',
            text_body="Hi {{ first_name }}",
            template_revision=1,
        ),
        category=types_pb2.EMAIL_CATEGORY_MARKETING,
        purpose_id="0195a3d0-1111-7abc-8def-0123456789ab",
        sender=campaign_pb.Sender(from_name="Shop", from_address="news@shop.example"),
        credit_reservation_id=str(uuid.uuid4()),
    )
    return envelope(command, subject=SEND_BATCH, tenant_id=tenant, producer="campaign")


class Child:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "missiva_delivery", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,  # default SIGINT; dies if the test dies
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


async def test_five_kills_during_a_campaign_lose_nothing(
    make_database, nats_url, secrets_dir, tmp_path, request
) -> None:
    probe = build(DeliverySettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url))
    url = make_database(probe.migration_sets, request.module.__name__)
    handler = SinkHandler()
    smtp_port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "NATS_URL": nats_url,
        "GRPC_PORT": str(free_port()),
        "HTTP_PORT": str(free_port()),
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "FIELD_KEYS_FILE": str(secrets_dir[FIELD_KEYS_FILE]),
        "TOKEN_KEYRING_FILE": str(secrets_dir[TOKEN_KEYRING_FILE]),
        "EMAIL_HASH_KEY_FILE": str(secrets_dir[EMAIL_HASH_KEY_FILE]),
        "CLAIM_STALE_SECONDS": "2",
        "RETRY_BASE_SECONDS": "0.2",
        "RETRY_MAX_SECONDS": "0.5",
        "SENDER_POLL_SECONDS": "0.1",
        "SHUTDOWN_GRACE_SECONDS": "1",
        "SUPPRESSION_CHECK_SIZE": str(SLICE),
        "LOG_LEVEL": "WARNING",
    }
    child = Child(env, tmp_path / "delivery.log")
    nc = await nats.connect(nats_url)
    hasher = load_email_hasher(secrets_dir[EMAIL_HASH_KEY_FILE])
    tenant = f"acct-{uuid.uuid4().hex[:10]}"
    addresses = [f"chaos-{i}-{uuid.uuid4().hex[:6]}@example.org" for i in range(MESSAGES)]
    campaign_id = str(uuid.uuid4())
    try:
        child.start()
        js = nc.jetstream()
        for n, start in enumerate(range(0, MESSAGES, PER_BATCH)):
            event = _batch(hasher, tenant, campaign_id, f"{n:04d}",
                           addresses[start : start + PER_BATCH])  # fmt: skip
            for _ in range(100):  # the stream exists once the child (or we) provisioned it
                try:
                    await js.publish("cmd.delivery.send_batch", event.SerializeToString(),
                                     headers={"Nats-Msg-Id": event.event_id})  # fmt: skip
                    break
                except nats.js.errors.NoStreamResponseError:
                    await asyncio.sleep(0.1)
        in_flight: list[set[str]] = []
        for k in range(KILLS):
            threshold = MESSAGES * (k + 1) // (KILLS + 2)
            for _ in range(1200):
                if len(handler.messages) >= threshold:
                    break
                await asyncio.sleep(0.05)
            assert len(handler.messages) >= threshold, (tmp_path / "delivery.log").read_text()
            child.kill()
            sending = await kit.sql(
                url, "SELECT rfc822_message_id FROM messages WHERE status = 'sending'"
            )
            in_flight.append({r[0] for r in sending})
            child.start()
        rows: list[tuple[Any, ...]] = []
        for _ in range(1800):  # a killed consumer's unacknowledged batch comes back in 30 s
            rows = await kit.sql(
                url, "SELECT rfc822_message_id, status, resends FROM messages"
                " WHERE campaign_id = %s", campaign_id,
            )  # fmt: skip
            if len(rows) == MESSAGES and all(r[1] == "sent" for r in rows):
                break
            await asyncio.sleep(0.1)
    finally:
        child.stop()
        js = nc.jetstream()
        for subject in DeliveryConsumers(None).handlers():
            spec = consumer_spec(subject)
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_consumer(spec.stream, spec.durable)
        await nc.close()
        controller.stop()
    assert len(rows) == MESSAGES
    assert Counter(r[1] for r in rows) == {"sent": MESSAGES}
    received = Counter(m.message["Message-ID"] for m in handler.messages)
    ledger = {r[0] for r in rows}
    assert set(received) == ledger  # every recipient's message, under the ledger's id
    assert {rcpt for m in handler.messages for rcpt in m.rcpt_tos} == set(addresses)
    duplicates = {mid: n - 1 for mid, n in received.items() if n > 1}
    caught = set().union(*in_flight)
    assert set(duplicates) <= caught  # only what was being sent at a kill went twice
    assert sum(duplicates.values()) <= KILLS * SLICE
    resent = {r[0] for r in rows if r[2] > 0}
    assert set(duplicates) <= resent  # and the ledger counted each resend
    assert all(in_flight)  # each kill did catch messages mid-send
    assert resent  # rows claimed at a kill were taken over once their claim went stale
