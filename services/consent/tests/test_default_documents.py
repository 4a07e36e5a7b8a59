"""The default platform documents published at first start, and the operator's command."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.consent.v1 import events_pb2
from missiva_consent.legal_defaults import (
    DEFAULT_VERSION,
    publish_defaults,
    publish_document_command,
)
from missiva_platform.events import unpack

pytestmark = pytest.mark.asyncio(loop_scope="module")
# A platform account of this module's own: the events stream is shared by every module, and
# others look for their own platform account's document events.
PLATFORM = "platform-defaults"
SETTINGS = {"publish_default_documents": True, "platform_account_id": PLATFORM}


async def test_a_fresh_platform_has_draft_terms_and_privacy_in_english_and_italian(consent):
    for locale, words in (("en", "DRAFT"), ("it", "BOZZA")):
        current = await consent.stub.GetCurrentDocuments(
            pb.GetCurrentDocumentsRequest(locale=locale), timeout=10
        )
        found = {d.document_id: d for d in current.documents}
        assert set(found) == {"terms", "privacy"}
        for document in found.values():
            assert document.version == DEFAULT_VERSION
            assert document.locale == locale
            assert document.account_id == PLATFORM
            assert words in document.body_markdown
            assert document.checkbox_text
        assert found["terms"].kind == pb.DOCUMENT_KIND_TERMS_OF_SERVICE
        assert found["privacy"].kind == pb.DOCUMENT_KIND_PRIVACY_POLICY
    published = await consent.events(
        "consent.document.published",
        lambda e: e.aggregate_id in (f"{PLATFORM}:document:terms", f"{PLATFORM}:document:privacy"),
        want=4,
    )
    assert len(published) == 4
    assert {unpack(e, events_pb2.LegalDocumentPublished).version for e in published} == {
        DEFAULT_VERSION
    }


async def test_a_restart_or_a_second_replica_publishes_nothing_more(consent):
    async with await psycopg.AsyncConnection.connect(consent.url, autocommit=True) as conn:
        assert await publish_defaults(conn, PLATFORM) == []
    other = f"platform-{uuid.uuid4().hex[:6]}"

    async def replica():
        async with await psycopg.AsyncConnection.connect(consent.url, autocommit=True) as conn:
            return await publish_defaults(conn, other)

    first, second = await asyncio.gather(replica(), replica())
    assert sorted([len(first), len(second)]) == [0, 4]
    assert (
        await consent.scalar("SELECT count(*) FROM legal_documents WHERE account_id = %s", other)
        == 4
    )


async def test_a_document_the_operator_published_is_not_replaced(consent, tmp_path):
    account = f"platform-{uuid.uuid4().hex[:6]}"
    async with await psycopg.AsyncConnection.connect(consent.url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO legal_documents (account_id, document_id, version, locale, kind, title,"
            " body_markdown, body_sha256, material, published_at, effective_at)"
            " VALUES (%s, 'terms', 'own-1', 'en', 'terms_of_service', 'Ours', '# Ours', 'x',"
            " false, now(), now())",
            (account,),
        )
        published = await publish_defaults(conn, account)
    assert {(d.document_id, d.locale) for d in published} == {("privacy", "en"), ("privacy", "it")}


async def test_the_operator_command_publishes_a_new_version(consent, tmp_path, capsys):
    body = tmp_path / "terms.md"
    body.write_text("# Our Terms of Service\n\nThe real text.\n", encoding="utf-8")
    version = f"2027-{uuid.uuid4().hex[:6]}"
    args = ["--kind", "terms", "--locale", "en", "--file", str(body), "--version", version]
    assert await publish_document_command(consent.app, args) == 0
    assert f"published terms version {version}" in capsys.readouterr().out
    current = await consent.stub.GetCurrentDocuments(
        pb.GetCurrentDocumentsRequest(locale="en", kinds=[pb.DOCUMENT_KIND_TERMS_OF_SERVICE]),
        timeout=10,
    )
    [terms] = current.documents
    assert terms.version == version
    assert terms.title == "Our Terms of Service"
    assert terms.checkbox_text == "I have read and accept the Terms of Service"
    [event] = await consent.events(
        "consent.document.published",
        lambda e: unpack(e, events_pb2.LegalDocumentPublished).version == version,
    )
    assert event.tenant_id == PLATFORM
    # A version never changes: the same one again is refused.
    assert await publish_document_command(consent.app, args) == 1
    assert "already published" in capsys.readouterr().out


async def test_a_material_change_is_announced_and_takes_effect_later(consent, tmp_path, capsys):
    body = tmp_path / "privacy.it.md"
    body.write_text("# Informativa privacy\n\nNuovo testo.\n", encoding="utf-8")
    version = f"2027-{uuid.uuid4().hex[:6]}"
    base = ["--kind", "privacy", "--locale", "it", "--file", str(body), "--version", version]
    assert await publish_document_command(consent.app, [*base, "--material"]) == 2
    assert "--summary" in capsys.readouterr().out
    soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    assert (
        await publish_document_command(
            consent.app, [*base, "--material", "--summary", "x", "--effective-at", soon]
        )
        == 2
    )
    assert "14 days" in capsys.readouterr().out
    later = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    assert (
        await publish_document_command(
            consent.app,
            [*base, "--material", "--summary", "Nuovi sub-responsabili", "--effective-at", later],
        )
        == 0
    )
    [event] = await consent.events(
        "consent.document.published",
        lambda e: unpack(e, events_pb2.LegalDocumentPublished).version == version,
    )
    published = unpack(event, events_pb2.LegalDocumentPublished)
    assert published.material
    assert published.HasField("notice_at")


async def test_the_command_refuses_a_missing_file_and_a_bad_version(consent, tmp_path, capsys):
    missing = ["--kind", "terms", "--locale", "en", "--file", str(tmp_path / "nope.md"),
               "--version", "v1"]  # fmt: skip
    assert await publish_document_command(consent.app, missing) == 2
    assert "file" in capsys.readouterr().out
    body = tmp_path / "t.md"
    body.write_text("# T\n\nx\n", encoding="utf-8")
    bad = ["--kind", "terms", "--locale", "en", "--file", str(body), "--version", "no spaces"]
    assert await publish_document_command(consent.app, bad) == 2
    assert "document.version" in capsys.readouterr().out
