"""The one-statement unsubscribe: prepared without a lock, applied only on an unchanged head.

``ConsentCore.unsubscribe`` reads the chain head and state, prepares the rows in Python
and hands them to ``consent_apply_unsubscribe``, which re-checks the head under its lock.
These tests prove the stored rows are the ones the proof script accepts, and that a head or
suppression that moved between read and write leaves nothing behind and the locking path
finishes the job.
"""

import asyncio
import dataclasses
import json

import pytest

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import verify_proof as verifier
from missiva_consent.store import ledger as ledger_store
from missiva_consent.store import unsubscribe as unsubscribe_store

from .test_unsubscribe import tokens, unsubscribe

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Spy:
    """Counts what ``apply_unsubscribe`` answered: applied or head moved (None)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: list[object] = []
        real = unsubscribe_store.apply_unsubscribe

        async def spy(*args, **kwargs):
            answer = await real(*args, **kwargs)
            self.answers.append(answer)
            return answer

        monkeypatch.setattr(unsubscribe_store, "apply_unsubscribe", spy)


async def proof(consent, tenant, email) -> dict:
    reply = await consent.stub.ExportProof(
        pb.ExportProofRequest(person=consent.person(email)), metadata=consent.md(tenant), timeout=10
    )
    return json.loads(reply.bundle_json)


async def test_the_common_case_is_one_statement_and_its_rows_verify(consent, monkeypatch):
    spy = Spy(monkeypatch)
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)
    links = await tokens(consent, tenant, email, purpose.purpose_id)

    reply = await unsubscribe(consent, links.unsubscribe_token)
    assert not reply.already_unsubscribed
    assert spy.answers == [(True, True, 1)]  # an entry, a new suppression, one person

    bundle = await proof(consent, tenant, email)
    assert verifier.verify(bundle).startswith("OK: 2 entries chained")
    withdrawal = bundle["entries"][1]
    assert (withdrawal["action"], withdrawal["resulting_status"]) == ("withdraw", "withdrawn")
    assert withdrawal["source_detail"] == "rfc8058-one-click"
    assert withdrawal["campaign_id"] == "camp-1"
    head = await consent.sql(
        "SELECT seq, head_hash FROM ledger_chains WHERE account_id = %s AND person_key = %s",
        tenant,
        consent.key(email),
    )
    assert head == [(2, withdrawal["entry_hash"])]
    [(version, since)] = await consent.sql(
        "SELECT version, since FROM consent_states WHERE account_id = %s AND person_key = %s",
        tenant,
        consent.key(email),
    )
    assert version == withdrawal["state_version"] == 2
    assert since.isoformat().replace("+00:00", "Z") == withdrawal["recorded_at"]
    [suppressed] = await consent.events(
        "consent.contact.suppressed",
        lambda e: e.tenant_id == tenant and e.aggregate_id.startswith(f"{tenant}:"),
    )
    assert suppressed.aggregate_version == 1

    # The replay reads the withdrawn state: nothing to append, the suppression exists.
    replay = await unsubscribe(consent, links.unsubscribe_token)
    assert replay.already_unsubscribed
    assert spy.answers[-1] == (False, False, 1)
    assert verifier.verify(await proof(consent, tenant, email)).startswith("OK: 2 entries")


async def test_a_head_that_moved_writes_nothing_and_the_locking_path_finishes(consent, monkeypatch):
    spy = Spy(monkeypatch)
    tenant, email = consent.tenant(), consent.email()
    newsletter = await consent.purpose(tenant, "newsletter")
    offers = await consent.purpose(tenant, "offers")
    await consent.grant(tenant, email, newsletter.purpose_id)
    links = await tokens(consent, tenant, email, newsletter.purpose_id)
    real_read = unsubscribe_store.read_for_unsubscribe

    async def read_then_someone_writes(*args, **kwargs):
        read = await real_read(*args, **kwargs)
        if len(spy.answers) == 0:
            await consent.grant(tenant, email, offers.purpose_id)  # the head moves on
        return read

    monkeypatch.setattr(unsubscribe_store, "read_for_unsubscribe", read_then_someone_writes)
    reply = await unsubscribe(consent, links.unsubscribe_token)

    assert not reply.already_unsubscribed
    assert spy.answers == [None]  # the prepared rows were refused, then the lock took over
    bundle = await proof(consent, tenant, email)
    assert verifier.verify(bundle).startswith("OK: 3 entries chained")
    assert [e["action"] for e in bundle["entries"]] == ["grant", "grant", "withdraw"]
    suppressions = await consent.sql(
        "SELECT reason, purpose_id FROM suppressions WHERE scope = %s AND person_key = %s",
        tenant,
        consent.key(email),
    )
    assert suppressions == [("unsubscribed", newsletter.purpose_id)]
    assert not (await consent.check(tenant, email, newsletter.purpose_id)).allowed
    assert (await consent.check(tenant, email, offers.purpose_id)).allowed


async def test_a_suppression_that_changed_meanwhile_rolls_back_and_the_lock_finishes(
    consent, monkeypatch
):
    spy = Spy(monkeypatch)
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    await consent.grant(tenant, email, purpose.purpose_id)
    links = await tokens(consent, tenant, email, purpose.purpose_id)
    real_read = unsubscribe_store.read_for_unsubscribe

    async def stale_version(*args, **kwargs):
        read = await real_read(*args, **kwargs)
        # As if the entry had been added and removed since: its event version is stale.
        return dataclasses.replace(read, suppression_version=read.suppression_version + 5)

    monkeypatch.setattr(unsubscribe_store, "read_for_unsubscribe", stale_version)
    reply = await unsubscribe(consent, links.unsubscribe_token)

    assert not reply.already_unsubscribed
    assert spy.answers == []  # serialization_failure: the statement rolled back as a whole
    assert verifier.verify(await proof(consent, tenant, email)).startswith("OK: 2 entries chained")
    events = await consent.events(
        "consent.contact.suppressed", lambda e: e.aggregate_id.startswith(f"{tenant}:")
    )
    assert [e.aggregate_version for e in events] == [1]  # one event, from the locking path


async def test_concurrent_unsubscribes_and_grants_of_one_person_never_fork_the_chain(
    consent, monkeypatch
):
    """Several people, each unsubscribing from many purposes from one address while being
    granted others, half of the unsubscribes through each path: no fork, no deadlock (both
    paths lock link hit, head, suppression in that order), every state right."""
    service = consent.app.services[0].servicer.svc
    one_statement = service._unsubscribe_in_one_statement

    async def every_other_one_locks(scope, **kwargs):
        if scope.purpose_id in locking:
            return None  # as if the head had moved: the locking path
        return await one_statement(scope, **kwargs)

    monkeypatch.setattr(service, "_unsubscribe_in_one_statement", every_other_one_locks)
    tenant = consent.tenant()
    leaving = [await consent.purpose(tenant, f"leaving-{i}") for i in range(8)]
    joining = [await consent.purpose(tenant, f"joining-{i}") for i in range(8)]
    locking = {p.purpose_id for p in leaving[::2]}
    people = [consent.email() for _ in range(3)]
    links = {}
    for email in people:
        for purpose in leaving:
            await consent.grant(tenant, email, purpose.purpose_id)
        links[email] = [await tokens(consent, tenant, email, p.purpose_id) for p in leaving]

    await asyncio.gather(
        *(
            unsubscribe(consent, link.unsubscribe_token)
            for email in people
            for link in links[email]
        ),
        *(consent.grant(tenant, email, p.purpose_id) for email in people for p in joining),
    )

    for email in people:
        bundle = await proof(consent, tenant, email)
        assert verifier.verify(bundle).startswith(f"OK: {8 + 8 + 8} entries chained")
        for purpose in leaving:
            assert not (await consent.check(tenant, email, purpose.purpose_id)).allowed
        for purpose in joining:
            assert (await consent.check(tenant, email, purpose.purpose_id)).allowed
        count = await consent.scalar(
            "SELECT count(*) FROM suppressions WHERE scope = %s AND person_key = %s",
            tenant,
            consent.key(email),
        )
        assert count == 8


async def test_both_paths_take_their_locks_in_one_order(consent, monkeypatch):
    """The locking path records the link visit, then locks the chain head; the one-statement
    path must do the same, or a person unsubscribing twice at once from one address deadlocks:
    here the locking path holds the (first) visit row while the other statement runs."""
    service = consent.app.services[0].servicer.svc
    one_statement = service._unsubscribe_in_one_statement
    real_append = ledger_store.append
    tenant, email = consent.tenant(), consent.email()
    first, second = await consent.purpose(tenant, "first"), await consent.purpose(tenant, "second")
    for purpose in (first, second):
        await consent.grant(tenant, email, purpose.purpose_id)
    links = [await tokens(consent, tenant, email, p.purpose_id) for p in (first, second)]

    async def first_locks(scope, **kwargs):
        if scope.purpose_id == first.purpose_id:
            return None
        return await one_statement(scope, **kwargs)

    async def slow_append(conn, account_id, person_key, changes, **kwargs):
        await asyncio.sleep(0.5)  # the visit row is written and not yet committed
        return await real_append(conn, account_id, person_key, changes, **kwargs)

    monkeypatch.setattr(service, "_unsubscribe_in_one_statement", first_locks)
    monkeypatch.setattr(ledger_store, "append", slow_append)
    locking = asyncio.ensure_future(unsubscribe(consent, links[0].unsubscribe_token))
    await asyncio.sleep(0.2)
    replies = await asyncio.gather(locking, unsubscribe(consent, links[1].unsubscribe_token))

    assert [r.already_unsubscribed for r in replies] == [False, False]
    for purpose in (first, second):
        assert not (await consent.check(tenant, email, purpose.purpose_id)).allowed
    assert verifier.verify(await proof(consent, tenant, email)).startswith("OK: 4 entries")
