"""Bounce and complaint reports as real servers write them (Postfix, Exim, Microsoft, Gmail;
composed for these tests in ``tests/data/reports``), read and classified.

The placeholders ``@@VERP@@`` (our return path) and ``@@RCPT@@`` (the failed recipient) are
filled in by ``report()``: the end-to-end tests fill them with a real ledger row's VERP
address.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from missiva_delivery import bounces, complaints
from missiva_delivery.bounces import BounceClass, classify

DATA = Path(__file__).parent / "data" / "reports"
HARD, SOFT, BLOCKED = BounceClass.HARD, BounceClass.SOFT, BounceClass.BLOCKED


def report(name: str, verp: str = "bounce+abc@bounces.missiva.example",
           rcpt: str = "ann.example@example.org") -> bytes:  # fmt: skip
    text = (DATA / name).read_text()
    return text.replace("@@VERP@@", verp).replace("@@RCPT@@", rcpt).encode()


# (sample, action, enhanced status, class): every DSN sample in the folder is listed.
CASES = [
    ("postfix_user_unknown.eml", "failed", "5.1.1", HARD),
    ("postfix_mailbox_full.eml", "failed", "5.2.2", SOFT),
    ("postfix_spamhaus_block.eml", "failed", "5.7.1", BLOCKED),
    ("postfix_no_such_domain.eml", "failed", "5.4.4", HARD),
    ("postfix_gave_up_greylist.eml", "failed", "4.7.1", SOFT),
    ("postfix_delayed.eml", "delayed", "4.4.1", SOFT),
    ("exim_user_unknown.eml", "failed", "5.1.1", HARD),
    ("exim_legacy_quota.eml", "failed", "5.2.2", SOFT),
    ("exim_legacy_unrouteable.eml", "failed", "", HARD),
    ("microsoft_recipient_not_found.eml", "failed", "5.1.10", HARD),
    ("microsoft_outlook_block.eml", "failed", "5.7.1", BLOCKED),
    ("microsoft_dbeb_access_denied.eml", "failed", "5.4.1", HARD),
    ("microsoft_mailbox_full.eml", "failed", "5.2.2", SOFT),
    ("gmail_no_such_user.eml", "failed", "5.1.1", HARD),
    ("gmail_over_quota.eml", "failed", "4.2.2", SOFT),
    ("gmail_blocked_unsolicited.eml", "failed", "5.7.1", BLOCKED),
    ("gmail_unauthenticated_5726.eml", "failed", "5.7.26", BLOCKED),
]


def test_every_sample_is_in_a_table() -> None:
    listed = {name for name, *_ in CASES} | {"arf_abuse.eml", "auto_reply_vacation.eml"}
    assert {p.name for p in DATA.glob("*.eml")} == listed


@pytest.mark.parametrize(("name", "action", "status", "klass"), CASES)
def test_a_real_servers_report_is_read_and_classified(name, action, status, klass) -> None:
    message = bounces.parse_message(report(name))
    [failure] = bounces.parse_dsn(message)
    assert failure.action == action
    assert failure.status == status
    assert failure.verdict.bounce_class is klass, failure.verdict.rule
    assert failure.recipient_domain == "example.org"
    assert "ann.example" not in failure.diagnostic  # kept without the address
    assert complaints.parse_arf(message) is None


def test_the_diagnostic_is_the_servers_reply_unfolded() -> None:
    [failure] = bounces.parse_dsn(bounces.parse_message(report("gmail_no_such_user.eml")))
    assert failure.diagnostic.startswith("550-5.1.1 The email account that you tried to reach")
    assert "\n" not in failure.diagnostic
    [legacy] = bounces.parse_dsn(bounces.parse_message(report("exim_legacy_quota.eml")))
    assert legacy.diagnostic == "552 5.2.2 Mailbox quota exceeded for this recipient"


def test_the_returned_messages_headers_are_found() -> None:
    for name in ("postfix_user_unknown.eml", "gmail_no_such_user.eml", "exim_user_unknown.eml"):
        message = bounces.parse_message(report(name, verp="bounce+x@b.example"))
        original = bounces.original_headers(message)
        assert original is not None
        assert "bounce+x@b.example" in original["Return-Path"]


def test_an_auto_reply_is_no_bounce() -> None:
    message = bounces.parse_message(report("auto_reply_vacation.eml"))
    assert bounces.parse_dsn(message) == []
    assert complaints.parse_arf(message) is None


def test_an_arf_abuse_report_is_a_complaint() -> None:
    message = bounces.parse_message(report("arf_abuse.eml", verp="bounce+x@b.example"))
    found = complaints.parse_arf(message)
    assert found is not None
    assert found.feedback_type == "abuse"
    assert found.is_complaint
    assert found.return_paths == ("bounce+x@b.example", "bounce+x@b.example")
    assert found.recipient_domain == "example.org"
    assert bounces.parse_dsn(message) == []  # a complaint is not a bounce


def test_a_not_spam_report_is_not_a_complaint() -> None:
    raw = report("arf_abuse.eml").replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam")
    found = complaints.parse_arf(bounces.parse_message(raw))
    assert found is not None
    assert not found.is_complaint


# The table itself, line by line (status, reply text, class).
TABLE = [
    ("5.1.1", "550 5.1.1 user unknown", HARD),
    ("5.1.2", "550 5.1.2 bad destination system address", HARD),
    ("5.1.8", "553 5.1.8 Sender address rejected: Domain not found", BLOCKED),
    ("5.2.1", "550 5.2.1 The email account that you tried to reach is disabled", HARD),
    ("5.2.2", "552 5.2.2 Mailbox full", SOFT),
    ("4.2.2", "452 4.2.2 over quota", SOFT),
    ("5.0.0", "550 5.0.0 Mailbox full, try again later", SOFT),
    ("4.4.7", "Delivery time expired", SOFT),
    ("4.7.0", "421 4.7.0 Try again later, closing connection", SOFT),
    ("5.7.1", "550 5.7.1 Message rejected by policy", BLOCKED),
    ("5.7.1", "550 5.7.1 <x>: Recipient address rejected: user unknown", BLOCKED),
    ("5.7.606", "550 5.7.606 Access denied, banned sending IP", BLOCKED),
    ("5.3.4", "552 5.3.4 Message size exceeds fixed limit", BLOCKED),
    ("5.6.0", "550 5.6.0 Lone CR or LF in headers", SOFT),
    ("5.0.0", "554 5.0.0 rejected: listed at bl.example.net", BLOCKED),
    ("", "550 Requested action not taken: mailbox unavailable", HARD),
    ("", "550 No such user here", HARD),
    ("", "554 delivery error", SOFT),
    ("5.4.4", "Host or domain name not found", HARD),
    ("5.4.1", "550 5.4.1 Recipient address rejected: Access denied", HARD),
]


@pytest.mark.parametrize(("status", "reply", "klass"), TABLE)
def test_the_classification_table(status, reply, klass) -> None:
    assert classify(status, reply).bounce_class is klass
