"""Our own users' address changes (identity.user.email_changed): consent links the user's
person keys, so their requests and consent's export/erasure cover the history under every
key, while the ledger stays as it was written."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf import timestamp_pb2

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.identity.v1 import events_pb2 as identity_events
from missiva.identity.v1 import identity_service_pb2
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_consent.events import HANDLERS
from missiva_consent.store import privacy_requests as dsar_store
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.privacy import EXPORT_REPLY, DataSection, export_reply

from .conftest import PLATFORM

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHANGED = "identity.user.email_changed"
OTHERS = ("identity", "campaign", "delivery", "billing")  # not running in this module
ACCOUNT = "their-account"


async def eventually(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


def _stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def changed(
    user_id: str, old: str, new: str, at: datetime, account: str = ACCOUNT
) -> EventEnvelope:
    message = identity_events.UserEmailChanged(
        user_id=user_id,
        account_id=account,
        old_person_key=old,
        new_person_key=new,
        changed_at=_stamp(at),
    )
    return envelope(
        message, subject=CHANGED, tenant_id=account, producer="identity", aggregate_id=user_id
    )


def acceptance(document: str, version: str) -> identity_service_pb2.DocumentAcceptance:
    return identity_service_pb2.DocumentAcceptance(
        document_id=document,
        version=version,
        checkbox_text=f"I accept the {document} ({version})",
        accepted_at=_stamp(datetime.now(UTC) - timedelta(seconds=5)),
        accepted=True,
    )


def registered(user_id: str, key: str) -> EventEnvelope:
    message = identity_events.UserRegistered(
        user_id=user_id,
        account_id=ACCOUNT,
        person_key=key,
        acceptances=[acceptance("terms", "2026-01"), acceptance("privacy", "2026-01")],
        ip_pseudonym="ab" * 32,
        user_agent="Firefox/141",
    )
    return envelope(
        message, subject="identity.user.registered", tenant_id=ACCOUNT, producer="identity"
    )


def accepted_again(user_id: str, key: str) -> EventEnvelope:
    message = identity_events.LegalAcceptanceRecorded(
        user_id=user_id,
        account_id=ACCOUNT,
        person_key=key,
        acceptances=[acceptance("terms", "2026-02")],
        ip_pseudonym="cd" * 32,
        user_agent="Firefox/142",
    )
    return envelope(
        message, subject="identity.legal.accepted", tenant_id=ACCOUNT, producer="identity"
    )


async def links(consent, user_id: str) -> list[tuple[str, bool]]:
    rows = await consent.sql(
        "SELECT person_key, current_since IS NOT NULL FROM user_person_keys WHERE user_id = %s"
        " ORDER BY person_key",
        user_id,
    )
    return [(key, current) for key, current in rows]


async def keys_of(consent, user_id: str) -> list[str]:
    async with await _connect(consent) as conn:
        return await dsar_store.user_person_keys(conn, PLATFORM, user_id)


async def _connect(consent) -> Any:
    import psycopg

    return await psycopg.AsyncConnection.connect(consent.url, autocommit=True)


async def history_rows(consent, user_id: str, count: int) -> None:
    async def check() -> bool:
        found = await consent.scalar(
            "SELECT count(*) FROM consent_ledger WHERE account_id = %s AND source_detail = %s",
            PLATFORM,
            f"user:{user_id}",
        )
        return bool(found == count)

    await eventually(check)


# ------------------------------------------------------------------------------ the links


async def test_a_change_links_both_keys_once_and_replays_change_nothing(consent):
    user = f"user-{uuid.uuid4().hex[:8]}"
    a, b, c = (consent.key(consent.email()) for _ in range(3))
    t1 = datetime.now(UTC) - timedelta(hours=2)
    first = changed(user, a, b, t1)

    await consent.publish(CHANGED, first)
    await consent.publish(CHANGED, first)  # the same message again (JetStream drops it)
    again = changed(user, a, b, t1)  # the same change, another event id: upserts hold
    await consent.publish(CHANGED, again)

    async def linked() -> bool:
        return await links(consent, user) == sorted([(a, False), (b, True)])

    async def both_applied() -> bool:
        inbox = await consent.scalar(
            "SELECT count(*) FROM kit_inbox WHERE event_id = ANY(%s::uuid[])",
            [first.event_id, again.event_id],
        )
        return bool(inbox == 2)

    await eventually(both_applied)
    await eventually(linked)
    assert await keys_of(consent, user) == [b, a]

    # The handler itself is idempotent too, in one transaction (what a redelivery would run).
    async with await _connect(consent) as conn, conn.transaction():
        handler = HANDLERS[CHANGED]
        for _ in range(2):
            await handler(conn, first, None)
        cur = await conn.execute(
            "SELECT count(*) FROM user_person_keys WHERE user_id = %s", (user,)
        )
        assert (await cur.fetchone())[0] == 2

    # A later change, processed before an earlier one, still ends on the latest key.
    await consent.publish(CHANGED, changed(user, c, a, t1 + timedelta(hours=1)))

    async def latest() -> bool:
        keys = await keys_of(consent, user)
        return bool(keys) and keys[0] == a and set(keys) == {a, b, c}

    await eventually(latest)
    await consent.publish(CHANGED, changed(user, b, c, t1 + timedelta(minutes=30)))

    async def three() -> bool:
        return await links(consent, user) == sorted([(a, True), (b, True), (c, True)])

    await eventually(three)
    assert (await keys_of(consent, user))[0] == a


async def test_the_ledger_is_not_rewritten_and_new_records_land_on_the_new_key(consent):
    user = f"user-{uuid.uuid4().hex[:8]}"
    old, new = consent.key(consent.email()), consent.key(consent.email())
    await consent.publish("identity.user.registered", registered(user, old))
    await history_rows(consent, user, 2)
    await consent.publish(CHANGED, changed(user, old, new, datetime.now(UTC)))
    await consent.publish("identity.legal.accepted", accepted_again(user, new))
    await history_rows(consent, user, 3)

    rows = await consent.sql(
        "SELECT person_key, document_version FROM consent_ledger"
        " WHERE account_id = %s AND source_detail = %s ORDER BY recorded_at",
        PLATFORM,
        f"user:{user}",
    )
    assert rows == [(old, "2026-01"), (old, "2026-01"), (new, "2026-02")]
    assert await keys_of(consent, user) == [new, old]


# ------------------------------------------------------------------------------ self-requests


def self_md(consent, user: str) -> Any:
    return consent.md(consent.tenant(), roles=("member",), subject=user)


async def open_self(consent, user: str, kind: int) -> pb.PrivacyRequest:
    reply = await consent.stub.OpenPrivacyRequest(
        pb.OpenPrivacyRequestRequest(kind=kind, person=types_pb2.PersonRef(user_id=user)),
        metadata=self_md(consent, user),
        timeout=10,
    )
    return reply.privacy_request


async def until_done(consent, user: str, request_id: str, check: Any) -> pb.PrivacyRequest:
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        reply = await consent.stub.GetPrivacyRequest(
            pb.GetPrivacyRequestRequest(request_id=request_id),
            metadata=self_md(consent, user),
            timeout=10,
        )
        found = reply.privacy_request
        if check(found) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def user_with_two_addresses(consent) -> tuple[str, str, str]:
    user = f"user-{uuid.uuid4().hex[:8]}"
    old, new = consent.key(consent.email()), consent.key(consent.email())
    await consent.publish("identity.user.registered", registered(user, old))
    await history_rows(consent, user, 2)
    await consent.publish(CHANGED, changed(user, old, new, datetime.now(UTC)))
    await consent.publish("identity.legal.accepted", accepted_again(user, new))
    await history_rows(consent, user, 3)

    async def linked() -> bool:
        return await keys_of(consent, user) == [new, old]

    await eventually(linked)
    return user, old, new


async def test_a_user_who_changed_address_exports_their_history_under_both_keys(consent):
    user, old, new = await user_with_two_addresses(consent)

    opened = await open_self(consent, user, ppb.PRIVACY_REQUEST_KIND_EXPORT)
    assert opened.person.person_key == new  # one request, the current key and the user id
    assert opened.person.user_id == user
    for service in OTHERS:
        sections = [DataSection("things", f"what {service} holds", b"{}")]
        await consent.publish(EXPORT_REPLY, export_reply(service, opened.request_id, sections, ""))
    found = await until_done(
        consent, user, opened.request_id, lambda r: r.status == pb.PRIVACY_REQUEST_STATUS_COMPLETED
    )
    assert found.status == pb.PRIVACY_REQUEST_STATUS_COMPLETED
    bundle = await consent.stub.DownloadPrivacyExport(
        pb.DownloadPrivacyExportRequest(token=found.export_url.rsplit("/", 1)[1]), timeout=10
    )

    document = json.loads(bundle.content)
    parts = {p["service"]: p["sections"] for p in document["services"]}
    history = next(s for s in parts["consent"] if s["name"] == "consent_history")["content"]
    assert sorted((e["person_key"], e["document_version"]) for e in history) == sorted(
        [(old, "2026-01"), (old, "2026-01"), (new, "2026-02")]
    )
    states = next(s for s in parts["consent"] if s["name"] == "consent_state")["content"]
    assert states == []  # acceptances of documents are history, not purpose states


async def test_a_users_erasure_covers_every_key_and_drops_the_links(consent):
    user, old, new = await user_with_two_addresses(consent)

    opened = await open_self(consent, user, ppb.PRIVACY_REQUEST_KIND_ERASE)
    found = await until_done(
        consent,
        user,
        opened.request_id,
        lambda r: any(s.service == "consent" and s.completed for s in r.services),
    )

    [own] = [s for s in found.services if s.service == "consent"]
    assert own.completed
    erased = {e.category: e.count for e in own.erased}
    assert erased["person_key_links"] == 2
    assert erased["erased_suppression_entries_added"] == 2  # the platform account, per key
    for key in (old, new):
        reasons = await consent.sql(
            "SELECT scope, reason FROM suppressions WHERE person_key = %s", key
        )
        assert reasons == [(PLATFORM, "erased")]
    assert await links(consent, user) == []
    ledger = await consent.scalar(
        "SELECT count(*) FROM consent_ledger WHERE person_key = ANY(%s)", [old, new]
    )
    assert ledger == 3  # the proof stays, under the keys of its time


# ------------------------------------------------------------------------------ account erasure


async def test_an_erased_account_takes_its_users_links_with_it(consent):
    account, elsewhere = consent.tenant(), consent.tenant()
    user, other = f"user-{uuid.uuid4().hex[:8]}", f"user-{uuid.uuid4().hex[:8]}"
    keys = [consent.key(consent.email()) for _ in range(4)]
    now = datetime.now(UTC)
    await consent.publish(CHANGED, changed(user, keys[0], keys[1], now, account))
    await consent.publish(CHANGED, changed(other, keys[2], keys[3], now, elsewhere))

    async def both() -> bool:
        return len(await links(consent, user)) == 2 and len(await links(consent, other)) == 2

    await eventually(both)
    erased = identity_events.AccountErased(
        account_id=account, user_ids=[user], person_keys=[keys[1]]
    )
    await consent.publish(
        "identity.account.erased",
        envelope(erased, subject="identity.account.erased", tenant_id=account, producer="identity"),
    )

    async def gone() -> bool:
        return await links(consent, user) == []

    await eventually(gone)
    assert len(await links(consent, other)) == 2  # another account's users keep theirs
