"""Proof of consent: a self-contained bundle that a third party verifies offline."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg
import pytest

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.consent.v1 import events_pb2
from missiva_consent import jobs
from missiva_consent import verify_proof as verifier
from missiva_consent.domain import Action, Change, Evidence, Source
from missiva_consent.store import ledger as ledger_store
from missiva_consent.store import purposes as purpose_store
from missiva_consent.verify_proof import entry_hash

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCRIPT = Path(verifier.__file__)


def run_verifier(bundle: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    # -I -S: isolated and without site-packages, so only the standard library is at hand.
    return subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


async def export(consent, tenant, email):
    reply = await consent.stub.ExportProof(
        pb.ExportProofRequest(person=consent.person(email)), metadata=consent.md(tenant), timeout=10
    )
    return reply, json.loads(reply.bundle_json)


YESTERDAY = datetime.now(UTC) - timedelta(days=1)


async def append_yesterday(consent, tenant, email, purpose_id, action=Action.GRANT):
    """Entries as if made yesterday, so that yesterday can be sealed for real."""
    async with await psycopg.AsyncConnection.connect(consent.url) as conn, conn.transaction():
        purpose = await purpose_store.find_purpose(conn, tenant, purpose_id)
        change = Change(action, Evidence(source=Source.ADMIN, checkbox_text="ok"), purpose)
        await ledger_store.append(conn, tenant, consent.key(email), [change], now=YESTERDAY)


async def seal_yesterday(consent):
    async with await psycopg.AsyncConnection.connect(consent.url, autocommit=True) as conn:
        return await jobs.seal_digests(conn, YESTERDAY.date())


async def test_a_proof_bundle_verifies_offline_and_one_edited_row_breaks_it(consent, tmp_path):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    for other in (consent.email(), consent.email()):
        await append_yesterday(consent, tenant, other, purpose.purpose_id)  # other chains
    await append_yesterday(consent, tenant, email, purpose.purpose_id)
    await append_yesterday(consent, tenant, email, purpose.purpose_id, Action.WITHDRAW)
    sealed = await seal_yesterday(consent)
    mine = next(d for d in sealed if d["account_id"] == tenant)
    assert mine["chain_count"] == 3
    assert mine["record_count"] == 4
    await consent.grant(tenant, email, purpose.purpose_id)  # after the seal

    reply, bundle = await export(consent, tenant, email)
    assert [r.sequence for r in reply.records] == [1, 2, 3]
    assert bundle["digest"]["covered_seq"] == 2
    assert bundle["digest"]["digest"] == mine["digest"]
    result = run_verifier(bundle, tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("OK: 3 entries chained; entries 1-2 sealed")

    edited = json.loads(reply.bundle_json)
    edited["entries"][0]["checkbox_text"] = "I agree to everything"
    result = run_verifier(edited, tmp_path)
    assert result.returncode == 1
    assert "entry 1 was altered" in result.stdout

    # Re-hashing the edited entry breaks the link to the next one...
    edited["entries"][0]["entry_hash"] = entry_hash(edited["entries"][0])
    result = run_verifier(edited, tmp_path)
    assert result.returncode == 1
    assert "entry 2: prev_hash" in result.stdout
    # ...and rewriting the whole chain no longer matches the sealed digest.
    previous = verifier.GENESIS
    for entry in edited["entries"]:
        entry["prev_hash"] = previous
        entry["entry_hash"] = previous = entry_hash(entry)
    result = run_verifier(edited, tmp_path)
    assert result.returncode == 1
    assert "digest covers entry 2" in result.stdout

    removed = json.loads(reply.bundle_json)
    del removed["entries"][1]
    assert run_verifier(removed, tmp_path).returncode == 1

    [event] = await consent.events("consent.digest.published", lambda e: e.tenant_id == tenant)
    published = events_pb2.DailyDigestPublished()
    event.payload.Unpack(published)
    assert (published.digest, published.merkle_root) == (mine["digest"], mine["merkle_root"])
    assert published.algorithm == "sha256"


async def test_sealing_is_idempotent_and_refuses_a_day_not_over(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await append_yesterday(consent, tenant, email, purpose.purpose_id)
    assert [d["account_id"] for d in await seal_yesterday(consent)] == [tenant]
    assert await seal_yesterday(consent) == []
    async with await psycopg.AsyncConnection.connect(consent.url, autocommit=True) as conn:
        with pytest.raises(ValueError, match="not over yet"):
            await jobs.seal_digests(conn, datetime.now(UTC).date())


async def test_proof_of_an_unknown_person_or_a_bad_reference_is_refused(consent):
    tenant = consent.tenant()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await export(consent, tenant, consent.email())
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.ExportProof(
            pb.ExportProofRequest(), metadata=consent.md(tenant), timeout=10
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_another_tenant_gets_no_proof_of_an_accounts_people(consent):
    owner, other, email = consent.tenant(), consent.tenant(), consent.email()
    purpose = await consent.purpose(owner)
    await consent.grant(owner, email, purpose.purpose_id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await export(consent, other, email)
    assert err.value.code() is grpc.StatusCode.NOT_FOUND


async def test_tampering_behind_the_databases_back_is_detected(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await append_yesterday(consent, tenant, email, purpose.purpose_id)
    await seal_yesterday(consent)
    # Only the table owner can do this, by switching the append-only trigger off.
    await consent.sql("ALTER TABLE consent_ledger DISABLE TRIGGER consent_ledger_append_only")
    try:
        await consent.sql(
            "UPDATE consent_ledger SET entry_hash = repeat('0', 64) WHERE account_id = %s", tenant
        )
    finally:
        await consent.sql("ALTER TABLE consent_ledger ENABLE TRIGGER consent_ledger_append_only")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await export(consent, tenant, email)
    assert err.value.code() is grpc.StatusCode.INTERNAL
