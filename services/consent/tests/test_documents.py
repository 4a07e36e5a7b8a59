"""Legal documents: versioned, immutable once published, announced ahead when material."""

from datetime import UTC, datetime, timedelta

import grpc
import psycopg
import pytest
from google.protobuf import timestamp_pb2

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.consent.v1 import events_pb2

from .conftest import PLATFORM

pytestmark = pytest.mark.asyncio(loop_scope="module")


def ts(moment):
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def publish(consent, tenant, document_id, version, kind, *, days=0, material=False, **extra):
    document = pb.LegalDocumentVersion(
        document_id=document_id,
        kind=kind,
        version=version,
        title=f"{document_id} {version}",
        locale="en",
        body_markdown=f"# {document_id}\n\nVersion {version}.",
        url=f"https://missiva.example/legal/{document_id}/{version}",
        checkbox_text=f"I accept the {document_id}",
        material=material,
        **extra,
    )
    if days:
        document.effective_at.CopyFrom(ts(datetime.now(UTC) + timedelta(days=days)))
    return consent.stub.PublishDocumentVersion(
        pb.PublishDocumentVersionRequest(document=document),
        metadata=consent.md(tenant),
        timeout=10,
    )


async def test_published_documents_are_served_as_the_versions_in_effect(consent):
    # The stream outlives this module: other tests publish platform documents there too.
    started = datetime.now(UTC) - timedelta(seconds=1)
    first = await publish(consent, PLATFORM, "terms", "2026-01", pb.DOCUMENT_KIND_TERMS_OF_SERVICE)
    assert len(first.document.body_sha256) == 64
    await publish(consent, PLATFORM, "privacy", "2026-01", pb.DOCUMENT_KIND_PRIVACY_POLICY)
    await publish(
        consent, PLATFORM, "terms", "2026-02", pb.DOCUMENT_KIND_TERMS_OF_SERVICE, days=20,
        material=True, summary_of_changes="New liability clause",
    )  # fmt: skip
    # Anyone (the sign-up page) sees the versions in effect now, with their checkbox texts.
    current = await consent.stub.GetCurrentDocuments(pb.GetCurrentDocumentsRequest(), timeout=10)
    by_id = {d.document_id: d for d in current.documents}
    assert by_id["terms"].version == "2026-01"
    assert by_id["terms"].checkbox_text == "I accept the terms"
    assert by_id["privacy"].version == "2026-01"
    only_terms = await consent.stub.GetCurrentDocuments(
        pb.GetCurrentDocumentsRequest(kinds=[pb.DOCUMENT_KIND_TERMS_OF_SERVICE]), timeout=10
    )
    assert [d.document_id for d in only_terms.documents] == ["terms"]
    future = await consent.stub.GetDocument(
        pb.GetDocumentRequest(document_id="terms", version="2026-02"), timeout=10
    )
    assert future.document.material
    assert future.document.notice_at.seconds > 0
    versions = await consent.stub.ListDocumentVersions(
        pb.ListDocumentVersionsRequest(document_id="terms", page_size=1), timeout=10
    )
    assert [d.version for d in versions.documents] == ["2026-02"]
    assert versions.documents[0].body_markdown == ""
    rest = await consent.stub.ListDocumentVersions(
        pb.ListDocumentVersionsRequest(document_id="terms", page_token=versions.next_page_token),
        timeout=10,
    )
    assert [d.version for d in rest.documents] == ["2026-01"]

    [event] = await consent.events(
        "consent.document.published",
        lambda e: (
            e.aggregate_id == f"{PLATFORM}:document:terms"
            and e.aggregate_version == 2
            and e.occurred_at.ToDatetime(UTC) >= started
        ),
    )
    published = events_pb2.LegalDocumentPublished()
    event.payload.Unpack(published)
    assert published.material
    assert published.version == "2026-02"
    expected_notice = published.effective_at.ToDatetime() - timedelta(days=14)
    assert published.notice_at.ToDatetime() == expected_notice


async def test_a_published_version_never_changes(consent):
    await publish(consent, PLATFORM, "dpa", "1.0", pb.DOCUMENT_KIND_DATA_PROCESSING_AGREEMENT)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await publish(consent, PLATFORM, "dpa", "1.0", pb.DOCUMENT_KIND_DATA_PROCESSING_AGREEMENT)
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
    for statement in ("UPDATE legal_documents SET body_markdown = 'changed'",
                      "DELETE FROM legal_documents"):  # fmt: skip
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await consent.sql(statement)


@pytest.mark.parametrize(
    ("kind", "days", "material", "problem"),
    [
        (pb.DOCUMENT_KIND_SUB_PROCESSOR_LIST, 10, False, "30 days"),
        (pb.DOCUMENT_KIND_PRIVACY_POLICY, 5, True, "14 days"),
        (pb.DOCUMENT_KIND_UNSPECIFIED, 0, False, "document.kind"),
    ],
)
async def test_changes_without_their_notice_period_are_refused(
    consent, kind, days, material, problem
):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await publish(consent, PLATFORM, "subprocessors", "x1", kind, days=days, material=material)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert problem in err.value.details()


async def test_an_account_publishes_only_its_own_privacy_notice_and_others_do_not_see_it(consent):
    owner, other = consent.tenant(), consent.tenant()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await publish(consent, owner, "terms", "evil", pb.DOCUMENT_KIND_TERMS_OF_SERVICE)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    await publish(consent, owner, "notice", "1", pb.DOCUMENT_KIND_ACCOUNT_PRIVACY_NOTICE)
    mine = await consent.stub.GetDocument(
        pb.GetDocumentRequest(document_id="notice"), metadata=consent.md(owner), timeout=10
    )
    assert mine.document.account_id == owner
    for metadata in (consent.md(other), ()):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await consent.stub.GetDocument(
                pb.GetDocumentRequest(document_id="notice"), metadata=metadata, timeout=10
            )
        assert err.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:  # only admins publish
        await consent.stub.PublishDocumentVersion(
            pb.PublishDocumentVersionRequest(document=pb.LegalDocumentVersion(document_id="n")),
            metadata=consent.md(owner, roles=("member",)),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
