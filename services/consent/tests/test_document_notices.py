"""Notices of material changes to an account's own privacy notice, queued to campaign.

The job (``send-document-notices``) runs against the module's database while the service runs,
so its relay publishes the commands to campaign's work queue, where these tests read them.
The job is global: a test passes ``now`` far enough from the other tests' documents (notices
more than 30 days after a change took effect are not sent) or looks only at its own tenant.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import psycopg
import pytest
import pytest_asyncio
from google.protobuf import timestamp_pb2

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import jobs, notices
from missiva_platform import metrics
from missiva_platform.events import EventEnvelope
from missiva_platform.streams import SEND_DOCUMENT_NOTICE

from .conftest import PLATFORM

pytestmark = pytest.mark.asyncio(loop_scope="module")

DAY = timedelta(days=1)
NOTICE = timedelta(days=14)
START = datetime.now(UTC).replace(microsecond=0)


class CampaignQueue:
    """Campaign's work queue of notices, read by a test consumer (campaign has none yet)."""

    def __init__(self, sub: Any) -> None:
        self.sub = sub
        self.seen: list[EventEnvelope] = []

    async def _drain(self, wait: float) -> None:
        try:
            msgs = await self.sub.fetch(100, timeout=wait)
        except (nats.errors.TimeoutError, TimeoutError):
            msgs = []
        for msg in msgs:
            self.seen.append(EventEnvelope.FromString(msg.data))
            await msg.ack()

    async def of(self, tenant: str, *, want: int, timeout: float = 10.0, settle: float = 1.0):
        """The notices queued for ``tenant`` once ``want`` arrived (or the timeout passed),
        after a further ``settle`` seconds in which any extra one would show up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while sum(e.tenant_id == tenant for e in self.seen) < want and loop.time() < deadline:
            await self._drain(0.5)
        settle_until = loop.time() + settle
        while loop.time() < settle_until:
            await self._drain(0.3)
        return [e for e in self.seen if e.tenant_id == tenant]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def campaign_queue(consent):
    js = consent.nc.jetstream()
    durable = f"consent-notice-tests-{uuid.uuid4().hex[:8]}"
    sub = await js.pull_subscribe(SEND_DOCUMENT_NOTICE, durable=durable, stream="CAMPAIGN_COMMANDS")
    yield CampaignQueue(sub)
    await sub.unsubscribe()
    await js.delete_consumer("CAMPAIGN_COMMANDS", durable)


def ts(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def publish(
    consent,
    tenant: str,
    document_id: str,
    version: str,
    *,
    effective: datetime | None = None,
    material: bool = True,
    locale: str = "en",
    kind: int = pb.DOCUMENT_KIND_ACCOUNT_PRIVACY_NOTICE,
) -> pb.LegalDocumentVersion:
    document = pb.LegalDocumentVersion(
        document_id=document_id,
        kind=kind,
        version=version,
        title=f"Privacy notice {version} ({locale})",
        locale=locale,
        body_markdown=f"# Privacy notice\n\nVersion {version}, {locale}.",
        url=f"https://shop.example/{locale}/privacy/{version}",
        material=material,
        summary_of_changes=f"What changed in {version} ({locale})" if material else "",
    )
    if effective is not None:
        document.effective_at.CopyFrom(ts(effective))
    reply = await consent.stub.PublishDocumentVersion(
        pb.PublishDocumentVersionRequest(document=document),
        metadata=consent.md(tenant),
        timeout=10,
    )
    return reply.document


async def run(consent, now: datetime, **options: Any) -> notices.BatchResult:
    async with await psycopg.AsyncConnection.connect(consent.url, autocommit=True) as conn:
        return await jobs.send_document_notices(
            conn, platform_account_id=PLATFORM, now=now, **options
        )


async def recorded(consent, tenant: str) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    """(document, version, locale) → (superseded_by, command_id, handled_at) of ``tenant``."""
    rows = await consent.sql(
        "SELECT document_id, version, locale, superseded_by, command_id::text, handled_at"
        " FROM document_notices WHERE account_id = %s",
        tenant,
    )
    return {(r[0], r[1], r[2]): (r[3], r[4], r[5]) for r in rows}


def payload(event: EventEnvelope) -> campaign_events.SendDocumentNoticeCommand:
    command = campaign_events.SendDocumentNoticeCommand()
    assert event.payload.Unpack(command)
    return command


def announced(events: list[EventEnvelope]) -> list[tuple[str, str, str]]:
    return sorted((p.document_id, p.version, p.locale) for p in map(payload, events))


def queued_total() -> float:
    value = metrics.registry().get_sample_value("missiva_consent_document_notices_queued_total")
    return value or 0.0


async def test_a_material_change_is_queued_to_campaign_once_from_its_notice_time(
    consent, campaign_queue
):
    tenant = consent.tenant()
    effective = START + 20 * DAY
    await publish(consent, tenant, "privacy", "1", material=False)
    first = await publish(consent, tenant, "privacy", "2", effective=effective)
    await publish(consent, tenant, "privacy", "2", effective=effective, locale="it")
    notice_at = effective - NOTICE
    assert first.notice_at.ToDatetime(UTC) == notice_at

    await run(consent, notice_at - timedelta(seconds=1))
    assert await recorded(consent, tenant) == {}

    before = queued_total()
    result = await run(consent, notice_at)
    assert result.queued >= 2
    assert queued_total() - before == result.queued
    rows = await recorded(consent, tenant)
    assert sorted(rows) == [("privacy", "2", "en"), ("privacy", "2", "it")]
    assert all(superseded is None and at == notice_at for superseded, _, at in rows.values())

    events = await campaign_queue.of(tenant, want=2)
    assert announced(events) == [("privacy", "2", "en"), ("privacy", "2", "it")]
    by_locale = {payload(e).locale: (e, payload(e)) for e in events}
    event, command = by_locale["it"]
    assert event.event_type == "cmd.campaign.send_document_notice"
    assert event.producer == "consent"
    assert event.event_id == rows["privacy", "2", "it"][1]
    assert command.kind == pb.DOCUMENT_KIND_ACCOUNT_PRIVACY_NOTICE
    assert command.title == "Privacy notice 2 (it)"
    assert command.url == "https://shop.example/it/privacy/2"
    assert command.summary_of_changes == "What changed in 2 (it)"
    assert command.effective_at.ToDatetime(UTC) == effective
    assert command.published_at.ToDatetime(UTC) > first.published_at.ToDatetime(UTC)
    assert by_locale["en"][1].published_at == first.published_at
    # Campaign mails each contact once: in its locale, else in the first published one.
    assert list(command.locales) == ["en", "it"]
    assert command.fallback_locale == "en"
    assert list(by_locale["en"][1].locales) == ["en", "it"]
    # The command carries no address and no token: the tenant and the document only.
    assert "@" not in str(command)

    # A second run (or a later one) finds nothing more of this tenant to announce.
    await run(consent, notice_at)
    await run(consent, notice_at + DAY)
    assert await recorded(consent, tenant) == rows
    assert len(await campaign_queue.of(tenant, want=3, timeout=2)) == 2


async def test_non_material_changes_and_platform_documents_queue_nothing(consent, campaign_queue):
    tenant = consent.tenant()
    await publish(consent, tenant, "notice", "1", material=False, effective=START + 20 * DAY)
    material = await publish(consent, tenant, "notice", "2", effective=START + 21 * DAY)
    # A later non-material correction does not hold back the material change before it.
    await publish(consent, tenant, "notice", "2.1", material=False, effective=START + 22 * DAY)
    # The platform's own documents are identity's to announce to our users.
    await publish(
        consent, PLATFORM, "privacy", f"p-{uuid.uuid4().hex[:6]}",
        kind=pb.DOCUMENT_KIND_PRIVACY_POLICY, effective=START + 21 * DAY,
    )  # fmt: skip
    # Even an account privacy notice in the platform account (the API refuses one).
    forged = f"forged-{uuid.uuid4().hex[:6]}"
    await consent.sql(
        "INSERT INTO legal_documents (account_id, document_id, version, locale, kind, title,"
        " body_markdown, body_sha256, material, published_at, effective_at, notice_at)"
        " VALUES (%s, %s, '1', 'en', 'account_privacy_notice', 't', 'b', %s, true, %s, %s, %s)",
        PLATFORM, forged, "0" * 64, START, START + 21 * DAY, START + 7 * DAY,
    )  # fmt: skip

    await run(consent, START + 8 * DAY)

    rows = await recorded(consent, tenant)
    assert list(rows) == [("notice", "2", "en")]
    assert material.notice_at.ToDatetime(UTC) == START + 7 * DAY
    platform = await consent.scalar(
        "SELECT count(*) FROM document_notices WHERE account_id = %s", PLATFORM
    )
    assert platform == 0
    assert announced(await campaign_queue.of(tenant, want=1)) == [("notice", "2", "en")]


async def test_only_the_last_due_version_is_announced_and_a_later_one_at_its_own_time(
    consent, campaign_queue
):
    tenant = consent.tenant()
    # "a": v2 and v3 both due when the job runs: v3 governs after v2, so only v3 is told.
    await publish(consent, tenant, "a", "2", effective=START + 50 * DAY)
    await publish(consent, tenant, "a", "3", effective=START + 51 * DAY)
    # "b": v3 is published before v2's notice time but takes effect later: v2 comes into
    # force first, so it is announced at its time, and v3 (the newest) at its own.
    await publish(consent, tenant, "b", "2", effective=START + 50 * DAY)
    await publish(consent, tenant, "b", "3", effective=START + 60 * DAY)

    first = await run(consent, START + 37 * DAY)
    rows = await recorded(consent, tenant)
    assert rows["a", "2", "en"][0] == "3"  # superseded by 3, without a command
    assert rows["a", "2", "en"][1] is None
    assert rows["a", "3", "en"][0] is None
    assert rows["b", "2", "en"][0] is None
    assert ("b", "3", "en") not in rows
    assert first.superseded >= 1

    await run(consent, START + 46 * DAY)
    rows = await recorded(consent, tenant)
    assert rows["b", "3", "en"][0] is None
    assert len(rows) == 4

    events = await campaign_queue.of(tenant, want=3)
    assert announced(events) == [("a", "3", "en"), ("b", "2", "en"), ("b", "3", "en")]


async def test_a_failure_mid_batch_leaves_nothing_half_done_and_the_rerun_completes(
    consent, campaign_queue, monkeypatch
):
    # Far from every other test's documents: only these five are due at ``now``.
    tenant = consent.tenant()
    base = START + 400 * DAY
    for n in range(5):
        await publish(consent, tenant, f"n{n}", "1", effective=base + n * timedelta(minutes=1))
    now = base - NOTICE + timedelta(minutes=10)

    real_add_event = notices.add_event
    added: list[str] = []

    async def failing_add_event(conn: Any, event: EventEnvelope, **kwargs: Any) -> None:
        document = payload(event).document_id
        if event.tenant_id == tenant and document == "n3":
            raise RuntimeError("the database went away")
        await real_add_event(conn, event, **kwargs)
        added.append(document)

    monkeypatch.setattr(notices, "add_event", failing_add_event)
    with pytest.raises(RuntimeError, match="went away"):
        await run(consent, now, batch_size=2)
    monkeypatch.setattr(notices, "add_event", real_add_event)

    # Batch [n0, n1] committed; batch [n2, n3] wrote n2's row and command, then failed:
    # neither stays, and n4 was never reached.
    assert added == ["n0", "n1", "n2"]
    assert sorted(key[0] for key in await recorded(consent, tenant)) == ["n0", "n1"]
    assert announced(await campaign_queue.of(tenant, want=2)) == [
        ("n0", "1", "en"), ("n1", "1", "en"),
    ]  # fmt: skip

    result = await run(consent, now, batch_size=2)
    assert (result.queued, result.superseded) == (3, 0)
    rows = await recorded(consent, tenant)
    assert sorted(key[0] for key in rows) == ["n0", "n1", "n2", "n3", "n4"]
    events = await campaign_queue.of(tenant, want=5)
    assert announced(events) == [(f"n{n}", "1", "en") for n in range(5)]
    assert sorted(e.event_id for e in events) == sorted(value[1] for value in rows.values())


async def test_overlapping_runs_queue_each_notice_once(consent, campaign_queue):
    tenant = consent.tenant()
    base = START + 500 * DAY
    for n in range(6):
        await publish(consent, tenant, f"o{n}", "1", effective=base + n * timedelta(minutes=1))
    now = base - NOTICE + timedelta(minutes=10)

    results = await asyncio.gather(*(run(consent, now, batch_size=2) for _ in range(3)))

    assert sum(r.queued for r in results) == 6
    assert len(await recorded(consent, tenant)) == 6
    events = await campaign_queue.of(tenant, want=6)
    assert announced(events) == [(f"o{n}", "1", "en") for n in range(6)]


async def test_the_notice_record_is_append_only(consent):
    tenant = consent.tenant()
    await publish(consent, tenant, "kept", "1", effective=START + 300 * DAY)
    await run(consent, START + 286 * DAY)
    assert list(await recorded(consent, tenant)) == [("kept", "1", "en")]
    for statement in ("UPDATE document_notices SET handled_at = now()",
                      "DELETE FROM document_notices", "TRUNCATE document_notices"):  # fmt: skip
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await consent.sql(statement)


async def test_the_admin_command_queues_what_is_due_now(consent, campaign_queue):
    tenant = consent.tenant()
    # The earliest a material change may take effect: its notice time is in a few seconds.
    effective = datetime.now(UTC) + NOTICE + timedelta(seconds=3)
    await publish(consent, tenant, "cli", "1", effective=effective)
    await asyncio.sleep(max(0.0, (effective - NOTICE - datetime.now(UTC)).total_seconds()) + 0.2)

    env = {
        **os.environ,
        "DATABASE_URL": consent.url,
        "NATS_URL": consent.app.settings.nats_url,
        "PLATFORM_ACCOUNT_ID": PLATFORM,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "missiva_consent", "send-document-notices", "--batch-size", "7",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert "notice(s) queued to campaign" in out.decode()
    assert list(await recorded(consent, tenant)) == [("cli", "1", "en")]
    assert announced(await campaign_queue.of(tenant, want=1)) == [("cli", "1", "en")]

    refused = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "missiva_consent", "send-document-notices", "--batch-size", "0",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(refused.communicate(), timeout=60)
    assert refused.returncode == 2
    assert "--batch-size must be at least 1" in out.decode()
