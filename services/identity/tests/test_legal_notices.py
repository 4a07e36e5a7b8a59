"""Notice emails of material changes to the platform's legal documents (send-legal-notices)."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from identity_testkit import new_email

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import events_pb2 as consent_events
from missiva_identity import legal_notices
from missiva_identity.legal_notices import record_notice, send_due_notices
from missiva_platform.events import envelope
from missiva_platform.outbox import headers_for
from missiva_platform.retention import run_retention, travel

TEMPLATE = "identity.legal_notice"


async def publish(
    identity,
    document_id: str,
    version: str,
    *,
    material: bool,
    effective: datetime,
    notice: datetime | None = None,
    account_id: str = "platform",
) -> None:
    doc = consent_events.LegalDocumentPublished(
        document_id=document_id,
        kind=1 if document_id == "terms" else 2,
        version=version,
        title="Terms of service" if document_id == "terms" else "Privacy Policy",
        url=f"https://missiva.example/legal/{document_id}/{version}",
        material=material,
        summary_of_changes="New liability clause",
        account_id=account_id,
        locale="en",
    )
    doc.effective_at.FromDatetime(effective)
    if notice is not None:
        doc.notice_at.FromDatetime(notice)
    event = envelope(doc, subject="consent.document.published", tenant_id="", producer="consent")
    await identity.js.publish(
        "consent.document.published", event.SerializeToString(), headers=headers_for(event)
    )


async def until(identity, query: str, expected: int) -> None:
    for _ in range(100):
        [(found,)] = await identity.sql(query)
        if found >= expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never {expected}: {query}")


async def announce_terms(identity, version: str = "2026-12") -> datetime:
    """A material change of the platform's Terms, consumed: effective in 15 days."""
    effective = datetime.now(UTC) + timedelta(days=15)
    await publish(
        identity,
        "terms",
        version,
        material=True,
        effective=effective,
        notice=effective - timedelta(days=14),
    )
    await until(identity, "SELECT count(*) FROM legal_notices", 1)
    return effective


async def run(identity, **kwargs) -> int:
    async with await psycopg.AsyncConnection.connect(identity.url, autocommit=True) as conn:
        return await send_due_notices(conn, identity.settings, **kwargs)


async def notices_seen(identity, expected: int) -> list:
    """The legal notices on the delivery queue, once ``expected`` arrived (and a pause more)."""
    for _ in range(100):
        await identity.mailbox.fetch()
        if len([m for m in identity.mailbox.seen if m.template_key == TEMPLATE]) >= expected:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # anything more the relay would publish
    await identity.mailbox.fetch()
    return [m for m in identity.mailbox.seen if m.template_key == TEMPLATE]


async def test_a_material_platform_change_is_noticed_once_to_each_active_verified_user(identity):
    ada, bob = await identity.user(), await identity.user()
    unverified = new_email("unverified")
    await identity.sign_up(unverified)
    removed = await identity.user()
    await identity.sql("UPDATE users SET status = 'removed' WHERE id = %s", removed.user_id)

    now = datetime.now(UTC)
    # Another account's own notice (its contacts are campaign's) and a non-material change.
    await publish(
        identity,
        "terms",
        "shop-1",
        material=True,
        effective=now + timedelta(days=14),
        notice=now - timedelta(days=1),
        account_id="some-shop",
    )
    await publish(identity, "privacy", "2026-02", material=False, effective=now)
    effective = await announce_terms(identity)
    await until(identity, "SELECT count(*) FROM legal_documents", 2)
    assert await identity.sql("SELECT document_id, version FROM legal_notices") == [
        ("terms", "2026-12")
    ]

    assert await run(identity) == 0  # notice_at is tomorrow
    assert await run(identity, now=travel(days=2)) == 2
    commands = await notices_seen(identity, 2)
    assert sorted(m.to_address for m in commands) == sorted([ada.email, bob.email])
    for command in commands:
        assert command.category == types_pb2.EMAIL_CATEGORY_SYSTEM
        assert command.variables["document_kind"] == "terms_of_service"
        assert command.variables["version"] == "2026-12"
        assert command.variables["effective_date"] == effective.date().isoformat()
        assert command.variables["document_url"] == "https://missiva.example/legal/terms/2026-12"
        assert command.variables["summary_of_changes"] == "New liability clause"
    assert len({m.idempotency_key for m in commands}) == 2

    assert await run(identity, now=travel(days=3)) == 0  # nobody twice
    assert await run(identity, now=travel(days=16)) == 0  # in force: the notice is complete
    [(completed,)] = await identity.sql("SELECT completed_at FROM legal_notices")
    assert completed is not None
    assert len(await notices_seen(identity, 2)) == 2


async def test_a_run_that_fails_mid_way_is_completed_by_the_next_without_doubles(
    identity, monkeypatch
):
    users = [await identity.user() for _ in range(5)]
    await announce_terms(identity)

    real_send = legal_notices.mail.send_email
    calls = 0

    async def failing_send(conn, **fields):
        nonlocal calls
        calls += 1
        if calls == 4:  # the second email of the second batch
            raise RuntimeError("crash")
        await real_send(conn, **fields)

    monkeypatch.setattr(legal_notices.mail, "send_email", failing_send)
    with pytest.raises(RuntimeError):
        await run(identity, now=travel(days=2), batch_size=2)
    # The first batch is committed, the second rolled back with its emails.
    [(sent,)] = await identity.sql("SELECT count(*) FROM legal_notice_sends")
    assert sent == 2

    monkeypatch.setattr(legal_notices.mail, "send_email", real_send)
    assert await run(identity, now=travel(days=2), batch_size=2) == 3
    assert await run(identity, now=travel(days=2), batch_size=2) == 0
    commands = await notices_seen(identity, 5)
    assert Counter(m.to_address for m in commands) == Counter(u.email for u in users)


async def test_a_redelivered_announcement_records_one_notice(identity):
    effective = await announce_terms(identity)
    await publish(
        identity,
        "terms",
        "2026-12",
        material=True,
        effective=effective,
        notice=effective - timedelta(days=14),
    )
    doc = {
        "document_id": "terms",
        "version": "2026-12",
        "kind": 1,
        "title": "Terms",
        "url": "",
        "summary_of_changes": "",
        "material": True,
        "effective_at": effective,
        "notice_at": None,
    }
    async with await psycopg.AsyncConnection.connect(identity.url, autocommit=True) as conn:
        assert not await record_notice(conn, doc)  # the key: already there
        # Older than the notices' retention: never recorded (and sent) again.
        old = {**doc, "version": "2024-01", "effective_at": effective - timedelta(days=400)}
        assert not await record_notice(conn, old)
        # Without notice_at: consent's 14 days.
        fresh = {**doc, "version": "2027-01"}
        assert await record_notice(conn, fresh)
    await asyncio.sleep(0.5)
    rows = await identity.sql(
        "SELECT version, effective_at - notice_at FROM legal_notices ORDER BY version"
    )
    assert rows == [("2026-12", timedelta(days=14)), ("2027-01", timedelta(days=14))]


async def test_notices_and_who_got_them_go_a_year_after_the_change(identity):
    await identity.user()
    await announce_terms(identity)
    assert await run(identity, now=travel(days=2)) == 1
    rules = identity.app.retention_rules
    await run_retention(identity.url, rules, now=travel(days=15 + 364))
    assert await identity.sql("SELECT count(*) FROM legal_notice_sends") == [(1,)]
    assert await identity.sql("SELECT count(*) FROM legal_notices") == [(1,)]
    await run_retention(identity.url, rules, now=travel(days=15 + 366))
    assert await identity.sql("SELECT count(*) FROM legal_notice_sends") == [(0,)]
    assert await identity.sql("SELECT count(*) FROM legal_notices") == [(0,)]
