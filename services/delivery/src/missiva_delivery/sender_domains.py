"""Sender domains, without I/O: the name rule, the records to publish, and how a record
found in DNS is judged.

A domain publishes, for mail sent from it:

- two DKIM keys, RSA-2048 and Ed25519 (RFC 8463), TXT at ``<selector>._domainkey.<domain>``;
  selectors are ``mv<generation>-rsa`` and ``mv<generation>-ed25519``, a rotation moves to
  the next generation and keeps the previous one published while mail signed with it is
  young (``DKIM_RETIRE_AFTER_DAYS``);
- the return path ``<RETURN_PATH_LABEL>.<domain>`` (VERP addresses
  ``bounce+<token>@bounces.<domain>``, see ``verp.py``): an MX to the platform's inbound
  server, so bounces come back to us, and its SPF TXT including the platform's senders, so
  SPF passes aligned with the From domain;
- a DMARC policy TXT at ``_dmarc.<domain>`` (any ``v=DMARC1`` record counts; we suggest
  ``p=none`` to start).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva_delivery.dkim import ED25519_SHA256, RSA_SHA256
from missiva_platform.errors import InvalidArgument

MAX_DOMAIN = 253 - len("mv999999-ed25519._domainkey.")  # room for the longest record name
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
ALGORITHM_SUFFIX = {RSA_SHA256: "rsa", ED25519_SHA256: "ed25519"}
_SELECTOR = re.compile(r"^mv(\d{1,6})-(rsa|ed25519)$")


class Purpose(StrEnum):
    DKIM = "dkim"
    SPF = "spf"
    DMARC = "dmarc"
    RETURN_PATH = "return_path"


PURPOSE_PB = {
    Purpose.DKIM: pb.DNS_RECORD_PURPOSE_DKIM,
    Purpose.SPF: pb.DNS_RECORD_PURPOSE_SPF,
    Purpose.DMARC: pb.DNS_RECORD_PURPOSE_DMARC,
    Purpose.RETURN_PATH: pb.DNS_RECORD_PURPOSE_RETURN_PATH,
}
STATUS_PB = {
    "pending": pb.SENDER_DOMAIN_STATUS_PENDING,
    "verified": pb.SENDER_DOMAIN_STATUS_VERIFIED,
    "failed": pb.SENDER_DOMAIN_STATUS_FAILED,
}


def valid_domain(field: str, value: str) -> str:
    """The domain in canonical form (lower case, no final dot); INVALID_ARGUMENT naming
    ``field`` for anything that is not a registrable-looking ASCII host name."""
    name = value.strip().rstrip(".").lower()
    if not name:
        raise InvalidArgument.field(field, "is required")
    if not name.isascii():
        try:
            ascii_form = name.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_form = ""
        hint = f" ({ascii_form})" if ascii_form else ""
        raise InvalidArgument.field(
            field, f"must be written in ASCII: give an internationalised name's A-labels{hint}"
        )
    if len(name) > MAX_DOMAIN:
        raise InvalidArgument.field(field, f"is longer than {MAX_DOMAIN} characters")
    labels = name.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidArgument.field(
            field, "is not a domain name (labels of letters, digits and hyphens, dot-separated)"
        )
    if labels[-1].isdigit():
        raise InvalidArgument.field(field, "is an address, not a domain name")
    return name


def selector(generation: int, algorithm: str) -> str:
    return f"mv{generation}-{ALGORITHM_SUFFIX[algorithm]}"


def generation_of(selector_: str) -> int:
    match = _SELECTOR.match(selector_)
    return int(match.group(1)) if match else 0


@dataclass(frozen=True)
class Expected:
    """One record the domain must publish, and whether signing depends on it."""

    purpose: Purpose
    type: str
    name: str
    value: str
    required: bool = True

    @property
    def key(self) -> str:
        return f"{self.type} {self.name}"


@dataclass(frozen=True)
class Platform:
    """What the platform's side of the records names (settings)."""

    return_path_label: str
    bounce_mx_host: str
    spf_include: str


def return_path(domain: str, platform: Platform) -> str:
    return f"{platform.return_path_label}.{domain}"


def expected_records(domain: str, keys: list[dict[str, Any]], platform: Platform) -> list[Expected]:
    """Every record to publish: the DKIM keys (rows of ``dkim_keys``, oldest first), the
    return path's MX and SPF, and DMARC. Only the keys that sign are required: a rotation's
    pending keys and the retiring ones are listed, and a check notes whether they are found."""
    bounce = return_path(domain, platform)
    records = [
        Expected(
            Purpose.DKIM,
            "TXT",
            f"{key['selector']}._domainkey.{domain}",
            key["dns_value"],
            required=key["state"] == "active",
        )
        for key in keys
    ]
    records += [
        Expected(Purpose.RETURN_PATH, "MX", bounce, f"10 {platform.bounce_mx_host}"),
        Expected(Purpose.SPF, "TXT", bounce, f"v=spf1 include:{platform.spf_include} -all"),
        Expected(
            Purpose.DMARC,
            "TXT",
            f"_dmarc.{domain}",
            f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}; adkim=r; aspf=r",
        ),
    ]
    return records


def _tags(text: str) -> dict[str, str]:
    tags = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = re.sub(r"\s+", "", value)
    return tags


def judge(expected: Expected, found: list[str]) -> tuple[bool, str]:
    """Whether what DNS answered satisfies ``expected``, and the answer worth showing."""
    shown = " | ".join(found)[:1000]
    if expected.type == "MX":
        want = expected.value.split()[-1].rstrip(".").lower()
        hosts = [item.split()[-1].rstrip(".").lower() for item in found if item.split()]
        return want in hosts, shown
    if expected.purpose is Purpose.DKIM:
        key = _tags(expected.value)
        ok = any(
            _tags(item).get("p") == key["p"] and _tags(item).get("k", "rsa") == key["k"]
            for item in found
        )
        return ok, shown
    if expected.purpose is Purpose.SPF:
        spf = [item for item in found if item.lower().startswith("v=spf1")]
        include = expected.value.split()[1].lower()
        # Exactly one SPF record (RFC 7208 4.5), which includes ours.
        ok = len(spf) == 1 and include in spf[0].lower().split()
        return ok, shown
    if expected.purpose is Purpose.DMARC:
        dmarc = [item for item in found if item.replace(" ", "").upper().startswith("V=DMARC1")]
        return len(dmarc) == 1, shown
    return expected.value in found, shown


def record_pb(expected: Expected, check: dict[str, Any] | None) -> pb.DnsRecord:
    ok = bool(check and check.get("ok"))
    return pb.DnsRecord(
        purpose=PURPOSE_PB[expected.purpose],  # type: ignore[arg-type]
        type=expected.type,
        name=expected.name,
        value=expected.value,
        verified=ok,
        found_value="" if ok or not check else str(check.get("found", "")),
    )
