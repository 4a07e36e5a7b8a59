"""Delivery's rules without I/O: SMTP replies, backoff, suppression, templates."""

from __future__ import annotations

import pytest

from missiva.common.v1 import types_pb2
from missiva_delivery import domain
from missiva_delivery.templates import TemplateProblem, Templates, locale_chain


def test_backoff_doubles_from_a_minute_to_an_hour() -> None:
    delays = [domain.next_attempt_delay(n, 60, 3600).total_seconds() for n in range(1, 9)]
    assert delays == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_reply_classification() -> None:
    cases = {
        (250, "250 2.0.0 Ok: queued as 1234"): domain.Outcome.SENT,
        (421, "421 4.7.0 Try again later"): domain.Outcome.DEFER,
        (452, "452 4.2.2 Mailbox full"): domain.Outcome.DEFER,
        (550, "550 5.1.1 No such user"): domain.Outcome.HARD_BOUNCE,
        (550, "550 5.2.1 Mailbox disabled"): domain.Outcome.HARD_BOUNCE,
        (550, "550 No such user here"): domain.Outcome.HARD_BOUNCE,
        (550, "550 5.7.1 Rejected by policy"): domain.Outcome.FAILED,
        (552, "552 5.3.4 Message too big"): domain.Outcome.FAILED,
    }
    for (code, text), outcome in cases.items():
        assert domain.classify_reply(code, text) is outcome, text


def test_system_mail_is_stopped_only_by_a_hard_bounce() -> None:
    system, marketing = types_pb2.EMAIL_CATEGORY_SYSTEM, types_pb2.EMAIL_CATEGORY_MARKETING
    assert not domain.suppressed_by("consent", system)
    assert not domain.suppressed_by("complaint", system)
    assert domain.suppressed_by("hard_bounce", system)
    assert domain.suppressed_by("consent", marketing)
    assert not domain.suppressed_by(None, marketing)


def test_addresses_are_taken_out_of_replies() -> None:
    reply = domain.redact_addresses("550 5.1.1 <ann@example.org>: no such user bob@example.org")
    assert "example.org" not in reply
    assert reply.startswith("550 5.1.1")


def test_locale_fallback() -> None:
    assert locale_chain("it-IT") == ["it-IT", "it", "en"]
    assert locale_chain("") == ["en"]


# Every template key identity, consent and billing send today, with the variables they pass.
SENT_TODAY = {
    "identity.verify_email": {"verification_url": "u", "expires_in_hours": "24"},
    "identity.signup_existing_account": {"login_url": "u", "reset_url": "u"},
    "identity.invitation": {
        "inviter_name": "Ann", "account_name": "Acme", "accept_url": "u", "expires_in_days": "7"
    },
    "identity.confirm_email_change": {"confirm_url": "u", "expires_in_hours": "24"},
    "identity.reset_password": {"reset_url": "u", "expires_in_minutes": "60"},
    "identity.password_changed": {},
    "identity.mfa_enabled": {},
    "identity.mfa_disabled": {},
    "identity.recovery_codes_regenerated": {},
    "identity.email_change_requested": {},
    "identity.email_changed": {},
    "identity.account_deletion_requested": {"restore_url": "u", "purge_after": "2027-01-01"},
    "identity.inactivity_notice": {"login_url": "u", "deletion_in_days": "30"},
    "identity.legal_notice": {
        "document_kind": "terms_of_service", "document_title": "Terms", "version": "2",
        "effective_date": "2027-01-01", "effective_at": "2027-01-01T00:00:00Z",
        "document_url": "u", "summary_of_changes": "s",
    },
    "consent.confirm_subscription": {
        "confirm_url": "u", "confirm_token": "t", "purposes": "Newsletter",
        "account_id": "a", "expires_at": "2027-01-01T00:00:00Z",
    },
    # consent's SendMyDataLink (links.my_data_command)
    "consent.my_data_link": {
        "my_data_url": "https://missiva.example/my-data/kid1.tok.sig", "my_data_token": "t",
        "account_id": "a", "expires_at": "2027-01-01T00:00:00Z",
    },
    "billing.payment_failed": {
        "plan_name": "Pro", "amount": "EUR 59.78", "next_attempt": "2027-01-02",
        "grace_ends": "2027-01-15",
    },
}  # fmt: skip


@pytest.mark.parametrize("locale", ["en", "it"])
@pytest.mark.parametrize("key", sorted(SENT_TODAY))
def test_every_template_renders_in_english_and_italian(key: str, locale: str) -> None:
    templates = Templates()
    assert locale in templates.keys()[key]
    variables = {"recipient_name": "Ada", **SENT_TODAY[key]}
    rendered = templates.render(key, locale, variables)
    assert rendered.locale == locale
    assert rendered.subject
    assert rendered.text.strip()
    assert "<html" in rendered.html
    for name, value in SENT_TODAY[key].items():
        if name in (
            "confirm_token",
            "my_data_token",
            "account_id",
            "document_kind",
            "effective_at",
        ):
            continue  # passed along, not shown
        assert value in rendered.text, (key, name)


def test_the_template_set_is_exactly_what_is_sent() -> None:
    assert set(Templates().keys()) == set(SENT_TODAY)


def test_a_missing_variable_is_a_clear_problem() -> None:
    with pytest.raises(TemplateProblem, match="'reset_url' is undefined"):
        Templates().render("identity.reset_password", "en", {"recipient_name": ""})
    with pytest.raises(TemplateProblem, match="no template"):
        Templates().render("identity.nothing", "en", {})
