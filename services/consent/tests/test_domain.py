"""Consent's rules without I/O: state transitions, the canonical form, the Merkle tree."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import timestamp_pb2

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import domain, legal
from missiva_consent.domain import Action, Basis, Purpose, Reason, Source, State, Status
from missiva_consent.verify_proof import (
    canonical_entry,
    leaf_hash,
    merkle_path,
    merkle_root,
    root_from_path,
)
from missiva_platform.errors import FailedPrecondition, InvalidArgument


def purpose(basis=Basis.CONSENT, **extra):
    return Purpose("p1", "acct", "news", "News", "", "email", "marketing", basis, **extra)


def test_consent_is_off_until_granted_and_legitimate_interest_on_until_objected():
    assert not domain.allowed(purpose(), State(), suppressed=False)
    assert domain.allowed(purpose(Basis.LEGITIMATE_INTEREST), State(), suppressed=False)
    assert domain.allowed(purpose(Basis.CONTRACT), State(Status.WITHDRAWN), suppressed=False)
    assert not domain.allowed(purpose(), State(Status.GRANTED), suppressed=True)
    assert not domain.allowed(purpose(), State(Status.GRANTED, restricted=True), suppressed=False)


def test_withdrawing_twice_or_what_was_never_given_changes_nothing():
    granted = domain.transition(purpose(), State(), Action.GRANT, Source.FORM)
    assert granted == State(Status.GRANTED, False, 1)
    withdrawn = domain.transition(purpose(), granted, Action.WITHDRAW, Source.API)
    assert withdrawn == State(Status.WITHDRAWN, False, 2)
    assert domain.transition(purpose(), withdrawn, Action.WITHDRAW, Source.API) is None
    assert domain.transition(purpose(), State(), Action.WITHDRAW, Source.API) is None
    objected = domain.transition(
        purpose(Basis.LEGITIMATE_INTEREST), State(), Action.OBJECT, Source.UNSUBSCRIBE_LINK
    )
    assert objected is not None
    assert objected.status is Status.OBJECTED


def test_contract_purposes_and_double_opt_in_refuse_what_the_rules_forbid():
    with pytest.raises(FailedPrecondition):
        domain.transition(purpose(Basis.CONTRACT), State(), Action.WITHDRAW, Source.ADMIN)
    with pytest.raises(FailedPrecondition, match="double opt-in"):
        domain.transition(purpose(double_opt_in=True), State(), Action.GRANT, Source.IMPORT)
    confirmed = domain.transition(
        purpose(double_opt_in=True), State(), Action.GRANT, Source.PREFERENCE_CENTER
    )
    assert confirmed is not None
    assert confirmed.status is Status.GRANTED


def test_unsubscriptions_never_stop_system_mail_but_bounces_stop_everything():
    system = purpose(Basis.CONTRACT)
    assert not domain.suppression_applies(Reason.UNSUBSCRIBED, "", system)
    assert domain.suppression_applies(Reason.HARD_BOUNCE, "", system)
    assert domain.suppression_applies(Reason.UNSUBSCRIBED, "p1", purpose())
    assert not domain.suppression_applies(Reason.UNSUBSCRIBED, "other", purpose())


def test_the_canonical_form_is_sorted_compact_utf8_json_without_the_hash():
    names = ("account_id", "action", "campaign_id", "checkbox_text", "document_id",
             "document_version", "entry_hash", "ip_hash", "legal_basis", "occurred_at",
             "person_key", "prev_hash", "purpose_id", "purpose_key", "record_id", "recorded_at",
             "resulting_status", "source", "source_detail", "user_agent")  # fmt: skip
    entry = {name: "" for name in names}
    entry.update(seq=1, state_version=1, checkbox_text="Sì, grazie", entry_hash="ignored")
    raw = canonical_entry(entry)
    assert b"entry_hash" not in raw
    assert "Sì".encode() in raw
    decoded = json.loads(raw)
    assert list(decoded) == sorted(decoded)
    assert b" " not in raw.replace("Sì, grazie".encode(), b"")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_every_leaf_has_a_path_to_the_root(size):
    leaves = [
        leaf_hash(f"person-{i}", i + 1, hashlib.sha256(bytes([i])).hexdigest()) for i in range(size)
    ]
    root = merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        assert root_from_path(leaf, merkle_path(leaves, index)) == root
    if size > 1:
        assert root_from_path(leaves[0], merkle_path(leaves, 1)) != root


def test_a_material_change_is_announced_14_days_ahead_and_sub_processors_30():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    effective = timestamp_pb2.Timestamp()
    effective.FromDatetime(now + timedelta(days=20))
    message = pb.LegalDocumentVersion(
        document_id="privacy", kind=pb.DOCUMENT_KIND_PRIVACY_POLICY, version="2", title="Privacy",
        body_markdown="text", material=True, effective_at=effective,
    )  # fmt: skip
    document = legal.document_from_pb(message, account_id="pl", platform_account_id="pl", now=now)
    assert document.notice_at == now + timedelta(days=6)
    assert document.body_sha256 == hashlib.sha256(b"text").hexdigest()
    message.kind = pb.DOCUMENT_KIND_SUB_PROCESSOR_LIST
    with pytest.raises(InvalidArgument, match="30 days"):
        legal.document_from_pb(message, account_id="pl", platform_account_id="pl", now=now)


def test_purpose_rules_match_the_email_categories():
    ok = pb.Purpose(
        key="updates", name="Updates", kind=pb.PURPOSE_KIND_EMAIL,
        category=2, legal_basis=2, max_emails_per_month=3,
    )  # fmt: skip
    parsed = domain.purpose_from_pb(ok, "acct")
    assert (parsed.frequency_cap_count, parsed.frequency_cap_days) == (3, 30)
    assert parsed.default_enabled
    assert parsed.changeable
    with pytest.raises(InvalidArgument, match="SYSTEM"):
        domain.purpose_from_pb(
            pb.Purpose(key="sys", name="S", kind=1, category=1, legal_basis=1), "acct"
        )
    with pytest.raises(InvalidArgument, match=r"purpose\.key"):
        domain.purpose_from_pb(
            pb.Purpose(key="0190b2c4-0000-7000-8000-000000000001", name="x", kind=1), "acct"
        )
