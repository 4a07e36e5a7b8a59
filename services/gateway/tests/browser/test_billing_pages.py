"""The billing pages against the real platform (no browser): the plan chosen, changed and
cancelled, the credits ledger, invoices as files, and the billing profile with billing's
field violations under their fields; every form refuses a request without its CSRF token."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
from test_session import PASSWORD, form_token, signed_up

COMPANY = {
    "business_name": "Hopper Consulenze",
    "legal_form": "S.r.l.",
    "line1": "Via Roma 1",
    "line2": "",
    "postal_code": "20121",
    "city": "Milano",
    "province": "MI",
    "country_code": "it",
    "vat_number": "IT00743110157",
    "tax_code": "00743110157",
    "sdi_code": "ABC1234",
    "pec": "",
    "rea_number": "MI-1234567",
    "invoice_email": "fatture@hopper.example",
}


def signed_in(client: httpx.Client, mail: Path) -> str:
    address = signed_up(client, mail)
    token = form_token(client, "/login")
    login = client.post(
        "/login", data={"csrf_token": token, "email": address, "password": PASSWORD}
    )
    assert login.status_code == 303
    return address


def post(client: httpx.Client, path: str, **data: str) -> httpx.Response:
    token = form_token(client, "/app/billing")
    return client.post(path, data={"csrf_token": token, **data})


def notice(page: httpx.Response) -> str:
    found = re.search(r'<p class="notice" role="status">([^<]+)</p>', page.text)
    return found.group(1) if found else ""


def test_a_plan_is_chosen_changed_and_cancelled_with_the_profile_billing_asks_for(
    platform: tuple[str, Path],
) -> None:
    base, mail = platform
    with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as client:
        signed_in(client, mail)
        start = client.get("/app/billing")
        assert start.status_code == 200
        assert "Free plan" in start.text
        assert "Business" in start.text  # the catalogue, to choose from
        assert "/r/" in start.text  # the referral link

        # Billing needs a complete profile first: its refusal is shown on the page.
        refused = post(client, "/app/billing/plan", plan_id="business-monthly",
                       idempotency_key=str(uuid.uuid4()))  # fmt: skip
        assert refused.status_code == 409, refused.text
        problem = re.search(r'id="form-problem"><p>([^<]+)<', refused.text)
        assert problem, refused.text
        assert "Complete the billing profile first: Business or person name" in problem.group(1)
        assert 'href="/app/billing/profile"' in refused.text

        # A wrong check digit lands under the VAT field; what was typed stays.
        bad = post(client, "/app/billing/profile", **{**COMPANY, "vat_number": "IT00743110158"})
        assert bad.status_code == 400
        assert 'id="e-vat_number"' in bad.text
        assert 'value="Hopper Consulenze"' in bad.text
        saved = post(client, "/app/billing/profile", **COMPANY)
        assert saved.status_code == 200, saved.text
        assert notice(saved) == "The billing profile is saved."
        assert 'value="IT"' in saved.text  # the country as billing keeps it

        chosen = post(client, "/app/billing/plan", plan_id="business-monthly",
                      idempotency_key=str(uuid.uuid4()))  # fmt: skip
        assert chosen.status_code == 200, chosen.text
        assert notice(chosen) == "You are subscribed: the first invoice is issued, below."
        pdf = re.search(r'href="(/app/billing/invoices/[^"]+/pdf)"', chosen.text)
        assert pdf
        download = client.get(pdf.group(1))
        assert download.status_code == 200
        assert download.content.startswith(b"%PDF")
        xml = client.get(pdf.group(1).replace("/pdf", "/xml"))
        assert xml.status_code == 200
        assert b"FatturaElettronica" in xml.content

        cheaper = post(client, "/app/billing/plan", plan_id="starter-monthly",
                       idempotency_key=str(uuid.uuid4()))  # fmt: skip
        assert cheaper.status_code == 200, cheaper.text
        assert notice(cheaper) == "The plan changes when the current period ends."
        assert "Changes to Starter" in cheaper.text

        unknown = post(client, "/app/billing/plan", plan_id="platinum",
                       idempotency_key=str(uuid.uuid4()))  # fmt: skip
        assert 400 <= unknown.status_code < 500
        assert 'class="problem"' in unknown.text

        cancelled = post(client, "/app/billing/cancel", idempotency_key=str(uuid.uuid4()))
        assert cancelled.status_code == 200, cancelled.text
        # Never paid, it ends at once (a paid one would last to the period's end).
        assert (
            notice(cancelled) == "The subscription is cancelled: the account is on the Free plan."
        )
        assert "Free plan: the starting credits" in cancelled.text

        ledger = client.get("/app/billing").text
        assert "Credits ledger" in ledger
        assert "granted" in ledger  # the free credits, at least


def test_billing_forms_refuse_a_missing_or_foreign_csrf_token(platform: tuple[str, Path]) -> None:
    base, mail = platform
    with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as client:
        signed_in(client, mail)
        for path, data in (
            ("/app/billing/plan", {"plan_id": "pro-monthly"}),
            ("/app/billing/cancel", {}),
            ("/app/billing/profile", COMPANY),
        ):
            assert client.post(path, data=data).status_code == 403, path
            wrong = client.post(path, data={**data, "csrf_token": "x" * 43})
            assert wrong.status_code == 403, path
        assert client.get("/app/billing").text.count("Free plan") == 1  # nothing changed
