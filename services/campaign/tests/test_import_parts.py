"""An import chunk whose consents and created contacts outgrow the byte budget of one message:
the commands that reach consent's work queue and the ``ContactsImported`` events are each
within the budget, and together carry every contact of the import exactly once, numbered by
chunk and part, each with its own event id."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import nats
import pytest

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import events_pb2
from missiva_campaign.config import CampaignSettings
from missiva_campaign.import_events import CONTACTS_IMPORTED, RECORD_IMPORTED_CONSENTS
from missiva_platform.config import ConfigError, load_settings
from missiva_platform.events import EventEnvelope, unpack

pytestmark = pytest.mark.asyncio(loop_scope="module")

BUDGET = 1024  # about six consents a command
SETTINGS = {"import_chunk_rows": 40, "import_message_bytes": BUDGET}
PURPOSE = "0195a3d0-1111-7abc-8def-0123456789ab"
ROWS = 100


def proof_options() -> pb.ImportOptions:
    options = pb.ImportOptions(
        purpose_id=PURPOSE,
        consent_proof=pb.ImportConsentProof(
            collected_by="Acme Srl, trade fair stand",
            consent_text="Yes, send me the Acme newsletter.",
        ),
    )
    options.consent_proof.given_at.FromDatetime(datetime.now(UTC) - timedelta(days=30))
    return options


async def requests(data: bytes):
    yield pb.ImportContactsRequest(options=proof_options())
    for start in range(0, len(data), 512):
        yield pb.ImportContactsRequest(csv_chunk=data[start : start + 512])


async def test_a_chunk_over_the_budget_is_split_and_every_contact_sent_once(campaign) -> None:
    js = campaign.nc.jetstream()
    durable = f"campaign-import-parts-{uuid.uuid4().hex[:8]}"
    sub = await js.pull_subscribe(
        RECORD_IMPORTED_CONSENTS, durable=durable, stream="CONSENT_COMMANDS"
    )
    created_sub = await js.pull_subscribe(
        CONTACTS_IMPORTED, durable=f"{durable}-created", stream="CAMPAIGN_EVENTS"
    )
    tenant = campaign.tenant()
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        [["email", "first_name"], *[[f"part{i}@example.org", f"P{i}"] for i in range(ROWS)]]
    )
    reply = await campaign.stub.ImportContacts(
        requests(out.getvalue().encode()),
        metadata=campaign.md(tenant, scopes=("contacts:write",)),
        timeout=30,
    )
    assert reply.created == ROWS

    raw: list[bytes] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    mine: list[tuple[EventEnvelope, events_pb2.RecordImportedConsentsCommand]] = []
    while sum(len(c.consents) for _, c in mine) < ROWS and loop.time() < deadline:
        with contextlib.suppress(nats.errors.TimeoutError, TimeoutError):
            for msg in await sub.fetch(50, timeout=0.3):
                event = EventEnvelope.FromString(msg.data)
                if event.tenant_id == tenant:
                    raw.append(msg.data)
                    mine.append((event, unpack(event, events_pb2.RecordImportedConsentsCommand)))
                await msg.ack()
    created: list[events_pb2.ContactsImported] = []
    deadline = loop.time() + 15
    while sum(len(c.contacts) for c in created) < ROWS and loop.time() < deadline:
        with contextlib.suppress(nats.errors.TimeoutError, TimeoutError):
            for msg in await created_sub.fetch(50, timeout=0.3):
                event = EventEnvelope.FromString(msg.data)
                if event.tenant_id == tenant:
                    raw.append(msg.data)
                    created.append(unpack(event, events_pb2.ContactsImported))
                await msg.ack()
    await sub.unsubscribe()
    await created_sub.unsubscribe()
    await js.delete_consumer("CONSENT_COMMANDS", durable)
    await js.delete_consumer("CAMPAIGN_EVENTS", f"{durable}-created")

    assert all(len(data) <= BUDGET for data in raw)  # consents commands and created events
    made = sorted(c.person_key for event in created for c in event.contacts)
    assert made == sorted(campaign.key(f"part{i}@example.org") for i in range(ROWS))
    assert all(event.parts > 1 for event in created)
    assert len({(e.chunk, e.part) for e in created}) == len(created)
    assert {(e.chunk, e.part) for e in created} == {
        (e.chunk, n) for e in created for n in range(1, e.parts + 1)
    }
    keys = [c.person_key for _, cmd in mine for c in cmd.consents]
    assert sorted(keys) == sorted(campaign.key(f"part{i}@example.org") for i in range(ROWS))
    assert len({e.event_id for e, _ in mine}) == len(mine)  # each part its own inbox key
    by_chunk: dict[int, list[events_pb2.RecordImportedConsentsCommand]] = defaultdict(list)
    for _, cmd in mine:
        by_chunk[cmd.chunk].append(cmd)
    assert sorted(by_chunk) == [1, 2, 3]  # 40 + 40 + 20 rows
    for commands in by_chunk.values():
        parts = commands[0].parts
        assert parts > 1  # every chunk outgrew the budget
        assert sorted(c.part for c in commands) == list(range(1, parts + 1))
        assert {c.parts for c in commands} == {parts}
    lines = sorted(c.line for _, cmd in mine for c in cmd.consents)
    assert lines == list(range(2, ROWS + 2))
    first = mine[0][1]
    assert (first.import_id, first.purpose_id) == (reply.import_id, PURPOSE)
    assert all(cmd.collected_by == "Acme Srl, trade fair stand" for _, cmd in mine)
    assert all(cmd.HasField("given_at") for _, cmd in mine)


@pytest.mark.parametrize("value", ["1023", "786433"])
async def test_a_message_budget_out_of_range_is_refused_at_start(value) -> None:
    env = {"DATABASE_URL": "postgresql://x@127.0.0.1/x", "IMPORT_MESSAGE_BYTES": value}
    with pytest.raises(ConfigError, match="IMPORT_MESSAGE_BYTES"):
        load_settings(CampaignSettings, env)
    env["IMPORT_MESSAGE_BYTES"] = "1024"
    assert load_settings(CampaignSettings, env).import_message_bytes == 1024
