"""DKIM signatures that dkimpy (an independent implementation) verifies, for awkward
messages, both algorithms, and that break when what they cover is changed.

``test_dkimpy_verifies_over_the_loopback_dns`` publishes the key records in the loopback
DNS server and lets dkimpy look them up itself, with real DNS queries (UDP, then TCP for the
truncated RSA answer); the table tests hand dkimpy the same records through its ``dnsfunc``
hook to stay quick.
"""

from __future__ import annotations

import re
import time
from typing import Any

import dkim
import pytest
from dkim import canonicalization as dkimpy_canon
from hypothesis import given, settings
from hypothesis import strategies as st

from missiva_delivery.dkim import (
    ED25519_SHA256,
    RSA_SHA256,
    SIGNED_HEADERS,
    DkimKey,
    DkimSigner,
    generate_key,
    relaxed_body,
    relaxed_header,
)
from missiva_platform.dns_server import record

DOMAIN = "news.example.org"
NOW = int(time.time()) - 60


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[DkimKey, str]]:
    return {
        RSA_SHA256: generate_key(DOMAIN, "rsa2026", RSA_SHA256),
        ED25519_SHA256: generate_key(DOMAIN, "ed2026", ED25519_SHA256),
    }


def _dns(keys: dict[str, tuple[DkimKey, str]]):  # type: ignore[no-untyped-def]
    records = {f"{k.selector}._domainkey.{k.domain}.".encode(): txt for k, txt in keys.values()}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        txt = records.get(name)
        return txt.encode() if txt else None

    return lookup


def _verify_all(signed: bytes, keys: dict[str, tuple[DkimKey, str]]) -> list[bool]:
    checker = dkim.DKIM(signed)
    count = len(re.findall(rb"(?im)^DKIM-Signature:", signed))
    results = []
    for i in range(count):
        try:
            results.append(bool(checker.verify(idx=i, dnsfunc=_dns(keys))))
        except dkim.ValidationError:  # dkimpy raises on a body hash mismatch
            results.append(False)
    return results


def _message(headers: list[str], body: bytes) -> bytes:
    return "\r\n".join(headers).encode() + b"\r\n\r\n" + body


BASE_HEADERS = [
    'From: "Shop" <news@news.example.org>',
    "To: Ada <ada@example.com>",
    "Subject: Our spring offers",
    "Date: Mon, 07 Dec 2026 11:00:00 +0000",
    "Message-ID: <0193f3c2-7a1b@news.example.org>",
    "List-Unsubscribe: <https://m.example.org/u/abc>, <mailto:u+abc@m.example.org>",
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    "MIME-Version: 1.0",
    'Content-Type: text/plain; charset="utf-8"',
    "Content-Transfer-Encoding: 8bit",
]

MESSAGES = {
    "plain": _message(BASE_HEADERS, b"Hello Ada,\r\nsee you soon.\r\n"),
    "folded headers": _message(
        [
            *BASE_HEADERS[:2],
            "Subject: a subject long enough\r\n\tto be folded\r\n  over three lines",
            *BASE_HEADERS[3:8],
            'Content-Type: multipart/alternative;\r\n boundary="=-b1"',
        ],
        b"--=-b1\r\nContent-Type: text/plain\r\n\r\ntext\r\n--=-b1--\r\n",
    ),
    "utf-8 body and header": _message(
        [*BASE_HEADERS[:2], "Subject: =?utf-8?q?Caff=C3=A8?=", *BASE_HEADERS[3:]],
        "Perché il caffè è già pronto — 日本語 ✉\r\n".encode(),
    ),
    "trailing blank lines": _message(BASE_HEADERS, b"body\r\n\r\n\r\n  \r\n\t\r\n"),
    "long lines and whitespace": _message(
        BASE_HEADERS, b"x" * 990 + b"\r\n" + b"a  \t b\t\r\n" + b"y " * 400 + b"\r\n"
    ),
    "no final CRLF": _message(BASE_HEADERS, b"last line without an end  "),
    "empty body": _message(BASE_HEADERS, b""),
    "only blank lines": _message(BASE_HEADERS, b"\r\n\r\n\r\n"),
    "odd header spacing": _message(
        ["FROM:  news@news.example.org  ", "to:ada@example.com", "subject:\t x \t y"], b"b\r\n"
    ),
    "duplicate To and unsigned headers": _message(
        [
            "Received: from a by b; Mon, 07 Dec 2026 11:00:00 +0000",
            *BASE_HEADERS[:2],
            "To: Bob <bob@example.com>",
            "X-Mailer: missiva",
            *BASE_HEADERS[2:],
        ],
        b"two recipients\r\n",
    ),
    "bare LF line ends": b"From: news@news.example.org\nTo: ada@example.com\n\nline\nline\n",
}


@pytest.mark.parametrize("name", list(MESSAGES))
def test_dkimpy_verifies_both_signatures(name: str, keys: dict[str, tuple[DkimKey, str]]) -> None:
    message = MESSAGES[name]
    signer = DkimSigner([k for k, _ in keys.values()])
    header = signer.sign(message, now=NOW)
    assert header.count(b"DKIM-Signature:") == 2
    assert header.endswith(b"\r\n")
    assert all(len(line) <= 998 for line in header.split(b"\r\n"))
    wire = header + message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not wire.endswith(b"\r\n"):
        wire += b"\r\n"  # as SMTP delivers it: DATA always ends with CRLF
    assert _verify_all(wire, keys) == [True, True]


@pytest.mark.parametrize("name", ["plain", "folded headers", "utf-8 body and header"])
def test_dkimpy_verifies_over_the_loopback_dns(
    name: str, keys: dict[str, tuple[DkimKey, str]], dns_server: Any, loopback_resolver: Any
) -> None:
    dns_server.publish(
        DOMAIN,
        [record(f"{k.selector}._domainkey.{k.domain}", "TXT", txt) for k, txt in keys.values()],
    )
    message = MESSAGES[name]
    signed = DkimSigner([k for k, _ in keys.values()]).sign(message) + message
    checker = dkim.DKIM(signed)
    assert [checker.verify(idx=i) for i in range(2)] == [True, True]  # dkimpy's own lookups
    assert dkim.verify(signed)
    assert not dkim.verify(signed + b"one more line\r\n")
    # A key that is not published does not verify.
    dns_server.publish(DOMAIN, [])
    assert not dkim.DKIM(signed).verify(idx=0)


def test_a_changed_body_or_header_fails_and_a_refolded_one_passes(
    keys: dict[str, tuple[DkimKey, str]],
) -> None:
    message = MESSAGES["plain"]
    signer = DkimSigner([k for k, _ in keys.values()])
    header = signer.sign(message)
    assert _verify_all(header + message, keys) == [True, True]
    assert _verify_all(header + message.replace(b"Hello Ada", b"Hello Bob"), keys) == [
        False,
        False,
    ]
    assert _verify_all(header + message.replace(b"spring", b"summer"), keys) == [False, False]
    # Relaxed canonicalisation: re-folding and whitespace changes in transit do not matter.
    refolded = message.replace(b"Subject: Our spring offers", b"Subject:  Our\r\n spring  offers")
    assert _verify_all(header + refolded.replace(b"Hello Ada,", b"Hello   Ada,  "), keys) == [
        True,
        True,
    ]


@pytest.mark.parametrize(
    "added",
    [b"From: attacker@evil.example\r\n", b"List-Unsubscribe: <https://evil.example/u>\r\n"],
)
def test_an_added_oversigned_header_breaks_the_signature(
    added: bytes, keys: dict[str, tuple[DkimKey, str]]
) -> None:
    message = MESSAGES["plain"]
    header = DkimSigner([keys[RSA_SHA256][0]]).sign(message)
    assert _verify_all(header + message, keys) == [True]
    assert _verify_all(header + added + message, keys) == [False]


def test_only_present_headers_are_signed_and_the_tags_are_as_documented(
    keys: dict[str, tuple[DkimKey, str]],
) -> None:
    message = _message(["From: a@news.example.org", "To: b@example.com", "X-Other: 1"], b"b")
    key = keys[ED25519_SHA256][0]
    header = DkimSigner([key]).sign(message, now=NOW).decode()
    tags = dict(
        part.strip().split("=", 1)
        for part in re.sub(r"\r\n[ \t]", "", header.partition(":")[2]).split(";")
    )
    assert tags["v"] == "1"
    assert tags["a"] == "ed25519-sha256"
    assert tags["c"] == "relaxed/relaxed"
    assert tags["d"] == DOMAIN
    assert tags["s"] == "ed2026"
    assert tags["t"] == str(NOW)
    assert tags["h"] == "from:from:to:to"  # From and To, each once more (oversigned)


def test_generated_records_and_keys(keys: dict[str, tuple[DkimKey, str]]) -> None:
    rsa_key, rsa_txt = keys[RSA_SHA256]
    ed_key, ed_txt = keys[ED25519_SHA256]
    assert rsa_txt.startswith("v=DKIM1; k=rsa; p=MIIBIjAN")  # SubjectPublicKeyInfo, 2048 bits
    assert ed_txt.startswith("v=DKIM1; k=ed25519; p=")
    assert len(ed_txt.partition("p=")[2]) == 44  # 32 raw bytes, base64
    assert rsa_key.private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert ed_key.private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert generate_key(DOMAIN, "rsa2026", RSA_SHA256)[1] != rsa_txt


def test_bad_keys_and_messages_are_refused_naming_what_is_wrong(
    keys: dict[str, tuple[DkimKey, str]],
) -> None:
    rsa_key = keys[RSA_SHA256][0]
    ed_key = keys[ED25519_SHA256][0]
    wrong_type = DkimKey(DOMAIN, "s1", ED25519_SHA256, rsa_key.private_key_pem)
    cases: list[tuple[list[DkimKey], str]] = [
        ([wrong_type], "private_key_pem"),
        ([DkimKey(DOMAIN, "s1", "rsa-sha1", rsa_key.private_key_pem)], "algorithm"),
        ([DkimKey("bücher.example", "s1", RSA_SHA256, rsa_key.private_key_pem)], "domain"),
        ([DkimKey(DOMAIN, "s1; a=x", RSA_SHA256, rsa_key.private_key_pem)], "selector"),
        ([DkimKey("nodot", "s1", RSA_SHA256, rsa_key.private_key_pem)], "domain"),
        ([], "keys"),
    ]
    for bad, field in cases:
        with pytest.raises(ValueError, match=field):
            DkimSigner(bad)
    with pytest.raises(ValueError, match="headers"):
        DkimSigner([ed_key], headers=["To", "Subject"])
    with pytest.raises(ValueError, match="headers"):
        DkimSigner([ed_key], headers=["From", "Bad:Name"])
    with pytest.raises(ValueError, match="From"):
        DkimSigner([ed_key]).sign(b"To: a@example.com\r\n\r\nbody\r\n")
    with pytest.raises(ValueError, match="algorithm"):
        generate_key(DOMAIN, "s1", "rsa-sha1")


def test_signed_header_list_is_the_documented_one() -> None:
    assert [h.lower() for h in SIGNED_HEADERS] == [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    ]


_LINE = st.text(alphabet=st.sampled_from(["a", "b", " ", "\t", "é", "x"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=8), st.booleans())
def test_body_canonicalisation_matches_dkimpy(lines: list[str], trailing: bool) -> None:
    # Bodies as SMTP delivers them: every line CRLF-terminated.
    body = b"".join(line.encode() + b"\r\n" for line in lines)
    if trailing:
        body += b"\r\n\r\n"
    assert relaxed_body(body) == dkimpy_canon.Relaxed.canonicalize_body(body)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["Subject", "FROM", "to ", "X-A"]),
    st.lists(_LINE, min_size=1, max_size=4),
)
def test_header_canonicalisation_matches_dkimpy(name: str, parts: list[str]) -> None:
    # Continuation lines start with whitespace, as a folded header's do.
    value = "\r\n ".join(parts).encode()
    field = name.encode() + b":" + value
    expected = dkimpy_canon.Relaxed.canonicalize_headers([(name.encode(), value + b"\r\n")])
    ours = relaxed_header(field)
    assert [(ours.partition(b":")[0], ours.partition(b":")[2] + b"\r\n")] == expected
