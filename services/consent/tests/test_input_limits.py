"""Limits on consent's inputs: import rows and streams, person keys of a stream, page tokens.

An oversized input is INVALID_ARGUMENT naming the field (or RESOURCE_EXHAUSTED for a whole
stream), never INTERNAL, and nothing of the refused call is written. An import writes in
bulk and still publishes one ContactSuppressed event per new entry.
"""

import base64

import grpc
import pytest

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import domain, rpc_suppressions

from .conftest import status_details

pytestmark = pytest.mark.asyncio(loop_scope="module")


def member(consent, tenant):
    return consent.md(tenant, roles=("member",))


def importing(consent, tenant):
    return consent.md(tenant, roles=("admin",))


async def suppressed_in(consent, tenant) -> int:
    return await consent.scalar("SELECT count(*) FROM suppressions WHERE scope = %s", tenant)


def chunked(rows, *, size=1000, key="", reason=pb.SUPPRESSION_REASON_MANUAL):
    async def chunks():
        for start in range(0, len(rows), size):
            yield pb.ImportSuppressionsRequest(
                reason=reason if start == 0 else 0,
                idempotency_key=key if start == 0 else "",
                rows=rows[start : start + size],
            )

    return chunks()


def violated_field(err) -> str:
    [bad] = status_details(err)
    return bad.field_violations[0].field


# -- ImportSuppressions --------------------------------------------------------------------


async def test_an_oversized_row_is_refused_by_name_and_nothing_is_imported(consent):
    tenant = consent.tenant()
    rows = [pb.SuppressionImportRow(row_number=i + 1, email=consent.email()) for i in range(1500)]
    rows[1203].note = "x" * 5000  # a note of 5,000 bytes, far past any valid row
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.ImportSuppressions(
            chunked(rows), metadata=importing(consent, tenant), timeout=30
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_field(err.value) == "rows[1203]"
    assert "row 1204" in err.value.details()
    assert await suppressed_in(consent, tenant) == 0


async def test_a_stream_past_its_byte_cap_is_resource_exhausted(consent, monkeypatch):
    tenant = consent.tenant()
    monkeypatch.setattr(rpc_suppressions, "MAX_IMPORT_BYTES", 64 * 1024)
    rows = [
        pb.SuppressionImportRow(row_number=i + 1, email=consent.email(), note="n" * 400)
        for i in range(400)  # about 180 KB: within the row cap, past the stream's
    ]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.ImportSuppressions(
            chunked(rows, size=50), metadata=importing(consent, tenant), timeout=30
        )
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "rows" in err.value.details()
    assert await suppressed_in(consent, tenant) == 0


async def test_a_stream_past_its_row_cap_is_refused(consent, monkeypatch):
    tenant = consent.tenant()
    monkeypatch.setattr(rpc_suppressions, "MAX_IMPORT_ROWS", 100)
    rows = [pb.SuppressionImportRow(row_number=i + 1, email=consent.email()) for i in range(101)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.ImportSuppressions(
            chunked(rows, size=40), metadata=importing(consent, tenant), timeout=30
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_field(err.value) == "rows"
    assert await suppressed_in(consent, tenant) == 0


async def test_a_large_import_is_written_in_bulk(consent, monkeypatch):
    tenant = consent.tenant()

    async def one_at_a_time(*args, **kwargs):
        raise AssertionError("an import does not add its rows one by one")

    monkeypatch.setattr(rpc_suppressions.suppression_store, "add_suppression", one_at_a_time)
    emails = [consent.email() for _ in range(20_000)]
    rows = [pb.SuppressionImportRow(row_number=i + 1, email=e) for i, e in enumerate(emails)]
    reply = await consent.stub.ImportSuppressions(
        chunked(rows, key="bulk-1"), metadata=importing(consent, tenant), timeout=120
    )
    assert (reply.received, reply.added, reply.already_suppressed, reply.rejected) == (
        20_000,
        20_000,
        0,
        0,
    )
    assert await suppressed_in(consent, tenant) == 20_000
    versions = await consent.scalar(
        "SELECT count(*) FROM aggregate_versions WHERE aggregate_id LIKE %s AND version = 1",
        f"{tenant}:%:suppression:manual:",
    )
    assert versions == 20_000


async def test_an_import_publishes_one_event_per_new_entry_and_counts_the_rest(consent):
    tenant = consent.tenant()
    known, fresh, twice = consent.email(), consent.email(), consent.email()
    # An entry that exists without its address (as a bounce from delivery may add it).
    await consent.sql(
        "INSERT INTO suppressions (scope, person_key, reason, source) "
        "VALUES (%s, %s, 'manual', 'admin')",
        tenant,
        consent.key(known),
    )
    rows = [
        pb.SuppressionImportRow(row_number=1, email=known),
        pb.SuppressionImportRow(row_number=2, email=fresh, note="from the old system"),
        pb.SuppressionImportRow(row_number=3, email=twice),
        pb.SuppressionImportRow(row_number=4, email=twice),
        pb.SuppressionImportRow(row_number=5, email="not an address"),
    ]
    reply = await consent.stub.ImportSuppressions(
        chunked(rows, size=2), metadata=importing(consent, tenant), timeout=30
    )
    assert (reply.received, reply.added, reply.already_suppressed, reply.rejected) == (5, 2, 2, 1)
    assert [e.row_number for e in reply.errors] == [5]
    remembered = await consent.scalar(
        "SELECT email FROM suppressions WHERE scope = %s AND person_key = %s",
        tenant,
        consent.key(known),
    )
    assert remembered == known
    events = await consent.events(
        "consent.contact.suppressed", lambda e: e.tenant_id == tenant, want=2, timeout=10
    )
    assert sorted(e.aggregate_id for e in events) == sorted(
        domain.suppression_aggregate(tenant, consent.key(email), domain.Reason.MANUAL, "")
        for email in (fresh, twice)
    )
    assert {e.aggregate_version for e in events} == {1}
    note = await consent.scalar(
        "SELECT note FROM suppressions WHERE scope = %s AND person_key = %s",
        tenant,
        consent.key(fresh),
    )
    assert note == "from the old system"


# -- StreamCheckConsent ----------------------------------------------------------------------


async def test_a_stream_check_names_at_most_fifty_thousand_person_keys(consent):
    tenant = consent.tenant()
    purpose = await consent.purpose(tenant)
    keys = [f"{index:064x}" for index in range(50_001)]
    call = consent.stub.StreamCheckConsent(
        pb.StreamCheckConsentRequest(purpose_id=purpose.purpose_id, person_keys=keys),
        metadata=member(consent, tenant),
        timeout=30,
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call.read()
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_field(err.value) == "person_keys"
    within = consent.stub.StreamCheckConsent(
        pb.StreamCheckConsentRequest(
            purpose_id=purpose.purpose_id, person_keys=keys[:50_000], chunk_size=1000
        ),
        metadata=member(consent, tenant),
        timeout=60,
    )
    checked = [check async for reply in within for check in reply.checks]
    assert len(checked) == 50_000
    assert not any(check.allowed for check in checked)


# -- page tokens -----------------------------------------------------------------------------


def raw_token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


BAD_TOKENS = [
    raw_token("²"),  # a digit to str.isdigit, not to int() in SQL
    raw_token(str(2**63)),  # past bigint
    raw_token("99999999999999999999999"),
    raw_token("-1"),
    raw_token("abc"),
    "%%%not-base64%%%",
    raw_token("\x00"),
]


@pytest.mark.parametrize("token", BAD_TOKENS)
async def test_list_suppressions_refuses_a_malformed_page_token_by_name(consent, token):
    tenant = consent.tenant()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.ListSuppressions(
            pb.ListSuppressionsRequest(page_token=token),
            metadata=member(consent, tenant),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_field(err.value) == "page_token"


def listings(consent, tenant, token):
    """Each consent list RPC called with ``token`` (the least-scoped caller that may list)."""
    admin, reader = consent.md(tenant), member(consent, tenant)
    return {
        "ListPurposes": lambda: consent.stub.ListPurposes(
            pb.ListPurposesRequest(page_token=token), metadata=reader, timeout=10
        ),
        "ListSuppressions": lambda: consent.stub.ListSuppressions(
            pb.ListSuppressionsRequest(page_token=token), metadata=reader, timeout=10
        ),
        "ListDocumentVersions": lambda: consent.stub.ListDocumentVersions(
            pb.ListDocumentVersionsRequest(document_id="privacy", page_token=token), timeout=10
        ),
        "ListPrivacyRequests": lambda: consent.stub.ListPrivacyRequests(
            pb.ListPrivacyRequestsRequest(page_token=token), metadata=admin, timeout=10
        ),
    }


LISTS = ["ListPurposes", "ListSuppressions", "ListDocumentVersions", "ListPrivacyRequests"]


@pytest.mark.parametrize("method", LISTS)
@pytest.mark.parametrize("token", [BAD_TOKENS[0], BAD_TOKENS[1], BAD_TOKENS[5], "v1.x.y.z"])
async def test_every_list_refuses_a_malformed_page_token_by_name(consent, method, token):
    tenant = consent.tenant()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await listings(consent, tenant, token)[method]()
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_field(err.value) == "page_token"


async def next_suppressions_token(consent, tenant, **request) -> str:
    for _ in range(2):
        await consent.stub.AddSuppression(
            pb.AddSuppressionRequest(person=consent.person(consent.email())),
            metadata=consent.md(tenant),
            timeout=10,
        )
    page = await consent.stub.ListSuppressions(
        pb.ListSuppressionsRequest(page_size=1, **request),
        metadata=member(consent, tenant),
        timeout=10,
    )
    assert page.next_page_token
    return page.next_page_token


async def test_a_page_token_is_refused_by_another_listing_account_or_filter(consent):
    tenant = consent.tenant()
    token = await next_suppressions_token(consent, tenant)
    second = await consent.stub.ListSuppressions(
        pb.ListSuppressionsRequest(page_size=1, page_token=token),
        metadata=member(consent, tenant),
        timeout=10,
    )
    assert len(second.suppressions) == 1  # the token works where it came from
    for method in ("ListPurposes", "ListDocumentVersions", "ListPrivacyRequests"):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await listings(consent, tenant, token)[method]()
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, method
        assert violated_field(err.value) == "page_token"
    other_account = listings(consent, consent.tenant(), token)["ListSuppressions"]
    other_filter = consent.stub.ListSuppressions(
        pb.ListSuppressionsRequest(page_token=token, reason=pb.SUPPRESSION_REASON_MANUAL),
        metadata=member(consent, tenant),
        timeout=10,
    )
    for call in (other_account(), other_filter):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert violated_field(err.value) == "page_token"
