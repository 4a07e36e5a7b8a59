"""Campaign mail without I/O: the direct MIME bytes parse back with the standard library,
every header rule, the batch checks, the transport limits."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser

import pytest

from missiva.common.v1 import types_pb2
from missiva_delivery import batches, fastmime
from missiva_delivery.batches import Content
from missiva_delivery.campaign_mail import CampaignMail
from missiva_delivery.campaign_render import Links, RenderCache, RenderProblem
from missiva_delivery.transport import DomainLimit, Limits, LimitSettings, parse_limits
from missiva_delivery.verp import Verp
from missiva_platform.crypto import TokenKeyring
from missiva_platform.errors import InvalidArgument

KEYRING = TokenKeyring.generate()
TENANT = "acct-1"
PERSON = "ab" * 32


def content(**fields) -> Content:
    values = {
        "campaign_id": "0195a4e0-2222-7bcd-9ef0-123456789abc",
        "template_revision": 3,
        "template_id": "t1",
        "subject": "Novità per te, {{ first_name }} — un oggetto abbastanza lungo da essere"
        " piegato su più righe",
        "preheader": "Tre cose",
        "html_body": "<p>Ciao {{ first_name }} da {{ attributes.city }}</p>"
        '<p><a href="{{ unsubscribe_url }}">Disiscriviti</a></p>' + "<p>" + "è" * 400 + "</p>",
        "text_body": "Ciao {{ first_name }}\n\n" + "una riga lunga " * 20 + "\n= uguale\n",
        "category": types_pb2.EMAIL_CATEGORY_MARKETING,
        "purpose_id": "0195a3d0-1111-7abc-8def-0123456789ab",
        "from_name": "Bottega Rossi, Torino",
        "from_address": "news@bottegarossi.example",
        "reply_to": "info@bottegarossi.example",
        "sender_domain_id": "sd-1",
    }
    values.update(fields)
    return Content(**values)


def mail() -> CampaignMail:
    return CampaignMail(
        links=Links(KEYRING, "https://app.missiva.example", timedelta(days=730)),
        verp=Verp(KEYRING, "bounces.missiva.example"),
        list_id_domain="lists.missiva.example",
        feedback_sender_id="missiva",
    )


def row(**fields) -> dict:
    message_id = str(uuid.uuid4())
    return {"id": message_id, "tenant_id": TENANT, "person_key": PERSON,
            "rfc822_message_id": f"<{message_id}@missiva.example>", **fields}  # fmt: skip


def build(c: Content | None = None, to_name: str = "Zoë Żółw", **row_fields):
    c = c or content()
    compiled = RenderCache().get(TENANT, c)
    r = row(**row_fields)
    payload = {"to_name": to_name, "fields": {"first_name": "Zoë", "attributes.city": "Torino"}}
    built = mail().build(compiled, r, "zoe@example.org", payload, datetime(2026, 12, 7, tzinfo=UTC))
    return built, BytesParser(policy=policy.default).parsebytes(built.data), r


def test_the_bytes_parse_back_with_the_standard_library() -> None:
    built, parsed, _ = build()
    assert parsed.defects == []
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = list(parsed.iter_parts())
    assert text.get_content_type() == "text/plain"
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert html["Content-Transfer-Encoding"] == "base64"
    body = text.get_content().replace("\r\n", "\n")  # CRLF on the wire
    assert body.startswith("Ciao Zoë\n")
    assert "una riga lunga " * 20 in body.replace("\n", "")  # soft breaks undone
    assert "= uguale" in body
    page = html.get_content()
    assert "Ciao Zoë da Torino" in page
    assert "è" * 400 in page
    assert "Tre cose" in page  # the preheader, hidden at the top
    for line in built.data.split(b"\r\n"):
        assert len(line) <= 998
    assert b"\n" not in built.data.replace(b"\r\n", b"")  # CRLF only


def test_headers_from_to_subject_date_message_id() -> None:
    _, parsed, r = build()
    assert parsed["From"].addresses[0].display_name == "Bottega Rossi, Torino"
    assert parsed["From"].addresses[0].addr_spec == "news@bottegarossi.example"
    assert parsed["Reply-To"].addresses[0].addr_spec == "info@bottegarossi.example"
    assert parsed["To"].addresses[0].display_name == "Zoë Żółw"
    assert parsed["To"].addresses[0].addr_spec == "zoe@example.org"
    assert str(parsed["Subject"]).startswith("Novità per te, Zoë — un oggetto")
    assert parsed["Date"].datetime == datetime(2026, 12, 7, tzinfo=UTC)
    assert parsed["Message-ID"] == r["rfc822_message_id"]
    assert parsed["MIME-Version"] == "1.0"


def test_a_display_name_with_quotes_and_a_long_subject_fold_correctly() -> None:
    _, parsed, _ = build(to_name='Ann "the Boss" O\'Neil')
    assert parsed["To"].addresses[0].display_name == 'Ann "the Boss" O\'Neil'
    long = "x" * 30 + " parola" * 30
    _, parsed, _ = build(content(subject=long))
    assert str(parsed["Subject"]) == long


def test_list_unsubscribe_is_one_https_uri_and_a_mailto_with_one_click_post() -> None:
    _, parsed, r = build()
    value = str(parsed["List-Unsubscribe"])
    uris = [u.strip().strip("<>") for u in value.split(",")]
    assert len(uris) == 2
    https, mailto = uris
    assert https.startswith("https://app.missiva.example/unsubscribe/")
    claims = KEYRING.verify(https.rsplit("/", 1)[1], "unsubscribe")
    assert claims["a"] == TENANT
    assert claims["k"] == PERSON
    assert claims["u"] == "0195a3d0-1111-7abc-8def-0123456789ab"
    assert claims["c"] == "0195a4e0-2222-7bcd-9ef0-123456789abc"
    assert mailto.startswith("mailto:unsubscribe@bounces.missiva.example?subject=unsubscribe%20")
    token = mailto.rsplit("%20", 1)[1]
    verp = Verp(KEYRING, "bounces.missiva.example")
    assert verp.message_id(f"bounce+{token}@bounces.missiva.example") == r["id"]
    assert str(parsed["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"


def test_system_mail_carries_no_unsubscribe_headers() -> None:
    _, parsed, _ = build(content(category=types_pb2.EMAIL_CATEGORY_SYSTEM, purpose_id=""))
    assert parsed["List-Unsubscribe"] is None
    assert parsed["List-Unsubscribe-Post"] is None


def test_list_id_and_feedback_id_name_no_person() -> None:
    _, parsed, _ = build()
    assert parsed["List-Id"] == (
        "<0195a3d0-1111-7abc-8def-0123456789ab.acct-1.lists.missiva.example>"
    )
    assert parsed["Feedback-ID"] == (
        "0195a4e0-2222-7bcd-9ef0-123456789abc:acct-1:marketing:missiva"
    )
    assert PERSON not in parsed["List-Id"] + parsed["Feedback-ID"]


def test_the_envelope_sender_is_the_verp_address_of_the_row() -> None:
    built, _, r = build()
    verp = Verp(KEYRING, "bounces.missiva.example")
    assert built.envelope_sender.startswith("bounce+")
    assert verp.message_id(built.envelope_sender) == r["id"]


def test_header_injection_and_non_ascii_addresses_are_refused() -> None:
    with pytest.raises(fastmime.HeaderProblem):
        fastmime.unstructured("Subject", "hi\r\nBcc: x@example.org")
    with pytest.raises(fastmime.HeaderProblem):
        fastmime.address_header("To", "", "zoë@example.org")


def test_the_sandbox_refuses_unsafe_templates() -> None:
    bad = content(html_body="{{ first_name.__class__.__mro__ }}")
    compiled = RenderCache().get(TENANT, bad)
    with pytest.raises(RenderProblem, match="not allowed"):
        mail().build(compiled, row(), "a@example.org", {"fields": {"first_name": "x"}},
                     datetime.now(UTC))  # fmt: skip
    with pytest.raises(RenderProblem, match="does not compile"):
        RenderCache().get(TENANT, content(html_body="{% if %}"))


def test_the_render_cache_compiles_once_per_revision() -> None:
    cache = RenderCache(size=2)
    first = cache.get(TENANT, content())
    assert cache.get(TENANT, content()) is first
    cache.get(TENANT, content(template_revision=4))
    assert cache.compilations == 2


def test_limits_from_json_and_bad_files_name_the_setting() -> None:
    base = LimitSettings()
    limits = parse_limits(
        '{"global_rate": 500, "per_domain": {"rate": 50, "concurrency": 4},'
        ' "domains": {"Gmail.com": {"rate": 200, "concurrency": 16}}}',
        base,
    )
    assert limits.global_rate == 500
    assert limits.for_domain("gmail.com") == DomainLimit(rate=200, concurrency=16)
    assert limits.for_domain("example.org") == DomainLimit(rate=50, concurrency=4)
    for text, problem in (
        ("[]", "object"),
        ('{"global_rte": 1}', "global_rte"),
        ('{"per_domain": {"rate": -1}}', "per_domain.rate"),
        ('{"per_domain": {"concurrency": 1.5}}', "whole number"),
        ("{", "not JSON"),
    ):
        with pytest.raises(ValueError, match=problem):
            parse_limits(text, base)


async def test_a_domain_rate_is_kept_and_can_be_raised_while_sending() -> None:
    limits = Limits(LimitSettings(per_domain=DomainLimit(rate=20, burst=1)))
    started = time.monotonic()
    for _ in range(6):  # one at once, then one every 50 ms
        await limits.acquire("example.org")
        await limits.release("example.org")
    assert time.monotonic() - started >= 0.2
    limits.update(LimitSettings(per_domain=DomainLimit(rate=0)))
    started = time.monotonic()
    for _ in range(200):
        await limits.acquire("example.org")
        await limits.release("example.org")
    assert limits.throttled["example.org"] >= 4
    assert time.monotonic() - started < 0.2 + 1.0  # unlimited now (generous bound)


async def test_domain_concurrency_caps_messages_in_flight() -> None:
    limits = Limits(LimitSettings(per_domain=DomainLimit(concurrency=2)))
    in_flight, peak = 0, 0

    async def one() -> None:
        nonlocal in_flight, peak
        await limits.acquire("example.org")
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        await limits.release("example.org")

    await asyncio.gather(*(one() for _ in range(10)))
    assert peak == 2


def test_a_batch_that_cannot_be_recorded_names_the_field() -> None:
    command = batches.campaign_events.SendBatch(batch_id="1")
    with pytest.raises(InvalidArgument, match="campaign_id"):
        batches.valid_batch(command)
    command.campaign_id = "c1"
    with pytest.raises(InvalidArgument, match="recipients"):
        batches.valid_batch(command)
    command.recipients.add(contact_id="k1", person_key="ab" * 32, email="a@example.org")
    with pytest.raises(InvalidArgument, match=r"content\.subject"):
        batches.valid_batch(command)
    command.content.subject = "Hi"
    command.content.html_body = "<p>Hi</p>"
    with pytest.raises(InvalidArgument, match="category"):
        batches.valid_batch(command)
    command.category = 3  # MARKETING
    with pytest.raises(InvalidArgument, match="purpose_id"):
        batches.valid_batch(command)
    command.purpose_id = "p1"
    with pytest.raises(InvalidArgument, match=r"sender\.from_address"):
        batches.valid_batch(command)
    command.sender.from_address = "news@example.org"
    assert batches.valid_batch(command).recipients[0].problem == ""
