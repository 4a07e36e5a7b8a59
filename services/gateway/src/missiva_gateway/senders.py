"""Who sent a public link: the sender block every public page shows, and the read-only
check of a link's token before its page shows anything (consent's ``DescribeLink``)."""

from __future__ import annotations

import urllib.parse
from typing import Any

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_gateway.backends import Backends
from missiva_platform.validation import has_control_characters

UNSUBSCRIBE = pb.LINK_KIND_UNSUBSCRIBE
CONFIRM = pb.LINK_KIND_CONFIRM
MY_DATA = pb.LINK_KIND_MY_DATA


def safe_link(url: str) -> str:
    """Only http(s) links reach an ``href``."""
    return url if urllib.parse.urlsplit(url).scheme in ("http", "https") else ""


def sender_view(sender: Any) -> dict[str, Any]:
    """A ``SenderIdentity`` for the templates: the address in lines, the contact as a link
    (``mailto:`` for an address, the page for an https address)."""
    contact = sender.privacy_contact
    if "@" in contact and not has_control_characters(contact) and ":" not in contact:
        contact_href = "mailto:" + urllib.parse.quote(contact, safe="@.+-_")
    else:
        contact_href = safe_link(contact)
    return {
        "name": sender.name,
        "address_lines": [line for line in sender.postal_address.splitlines() if line.strip()],
        "postal_address": sender.postal_address,
        "privacy_contact": contact,
        "privacy_contact_href": contact_href,
        "privacy_policy_url": safe_link(sender.privacy_policy_url),
    }


async def describe(backends: Backends, token: str, kind: pb.LinkKind) -> pb.DescribeLinkResponse:
    """The link checked without being used; a bad or expired token raises consent's error
    (the pages' exception handler shows it)."""
    reply: pb.DescribeLinkResponse = await backends.consent().DescribeLink(
        pb.DescribeLinkRequest(token=token, kind=kind), timeout=backends.call_timeout
    )
    return reply
