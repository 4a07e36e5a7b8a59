"""One campaign message: rendered for its recipient, written as bytes with every header the
receiving servers and the law ask for, and its VERP envelope sender.

Headers: From, Reply-To (when the sender has one), To, Subject, Date, Message-ID (the
ledger's, kept on a resend), and for mail that is not SYSTEM mail ``List-Unsubscribe`` (one
https URI with a signed token the gateway's one-click page accepts, plus a mailto on the
bounce domain naming the message), ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
(RFC 8058), then ``List-Id`` (RFC 2919, per account and purpose) and ``Feedback-ID`` (campaign,
account, category, sender id: no personal data).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from missiva.common.v1 import types_pb2
from missiva_delivery import campaign_render, fastmime, online, tracking
from missiva_delivery.batches import Content
from missiva_delivery.campaign_render import Compiled, Links
from missiva_delivery.verp import Verp

SYSTEM = types_pb2.EMAIL_CATEGORY_SYSTEM
CATEGORY_NAMES: dict[int, str] = {
    types_pb2.EMAIL_CATEGORY_MARKETING: "marketing",
    types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE: "product",
    types_pb2.EMAIL_CATEGORY_SYSTEM: "system",
}


@dataclass(frozen=True)
class Built:
    data: bytes
    envelope_sender: str
    subject: str


def _label(value: str) -> str:
    """A List-Id label part: letters, digits and hyphens only."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c == "-") else "-" for c in value)
    return cleaned.strip("-")[:63] or "x"


class CampaignMail:
    def __init__(
        self, *, links: Links, verp: Verp, list_id_domain: str, feedback_sender_id: str,
        tracker: tracking.LinkMaker | None = None,
    ) -> None:  # fmt: skip
        self.links = links
        self.tracker = tracker or tracking.LinkMaker(tracking.Tokens(links.keyring), links.base)
        self.online = online.OnlineTokens(links.keyring, links.base)
        self.verp = verp
        self.list_id_domain = list_id_domain
        self.feedback_sender_id = feedback_sender_id
        self._shared: dict[tuple[str, str, int], list[bytes]] = {}
        self._date_cache: tuple[int, bytes] = (-1, b"")

    def list_id(self, tenant_id: str, content: Content) -> str:
        purpose = _label(content.purpose_id or "system")
        return f"<{purpose}.{_label(tenant_id)}.{self.list_id_domain}>"

    def feedback_id(self, tenant_id: str, content: Content) -> str:
        category = CATEGORY_NAMES.get(content.category, "other")
        parts = (_label(content.campaign_id), _label(tenant_id), category, self.feedback_sender_id)
        return ":".join(parts)

    def _campaign_headers(self, tenant_id: str, content: Content) -> list[bytes]:
        """The headers every message of a campaign shares (written once per campaign)."""
        key = (tenant_id, content.campaign_id, content.template_revision)
        found = self._shared.get(key)
        if found is None:
            if len(self._shared) > 256:
                self._shared.clear()
            found = self._shared[key] = [
                fastmime.raw("List-Id", self.list_id(tenant_id, content)),
                fastmime.raw("Feedback-ID", self.feedback_id(tenant_id, content)),
            ]
        return found

    def _date(self, now: datetime) -> bytes:
        second = int(now.timestamp())
        if self._date_cache[0] != second:
            self._date_cache = (second, fastmime.raw("Date", format_datetime(now)))
        return self._date_cache[1]

    def unsubscribe_mailto(self, message_id: str, verp_address: str = "") -> str:
        """The List-Unsubscribe mailto of the row; ``verp_address``: its VERP address, when
        the caller made it already (it carries the same token)."""
        address = verp_address or self.verp.address(message_id)
        token = address.split("@", 1)[0].removeprefix("bounce+")
        return f"mailto:unsubscribe@{self.verp.domain}?subject=unsubscribe%20{token}"

    def values(
        self, compiled: Compiled, row: dict[str, Any], address: str, payload: dict[str, Any],
        *, personal: bool,
    ) -> tuple[dict[str, Any], dict[str, str]]:  # fmt: skip
        """The template's variables for one message (and its consent page links): merge
        fields, links, sender, and for a tracked revision the message's tokens (its own when
        ``personal``, the revision's anonymous ones otherwise)."""
        content = compiled.content
        links = self.links.for_recipient(
            row["tenant_id"], row["person_key"], content.purpose_id, content.campaign_id
        )
        if compiled.online:
            links["view_online_url"] = self.online.url(row["id"])
        fields: dict[str, str] = dict(payload.get("fields") or {})
        extra = {
            **links,
            "email": address,
            "sender_name": content.from_name,
            "sender_address": content.from_address,
            "reply_to": content.reply_to,
        }
        values = campaign_render.values_of(fields, extra)
        if compiled.link_set is not None:  # a tracked revision: this message's tokens
            values.update(self.tracker.values(
                compiled.link_set, len(compiled.links), row["id"], personal=personal,
            ))  # fmt: skip
        return values, links

    def build(
        self,
        compiled: Compiled,
        row: dict[str, Any],
        address: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> Built:
        content = compiled.content
        tenant = row["tenant_id"]
        values, links = self.values(
            compiled, row, address, payload, personal=bool(payload.get("tracking"))
        )
        rendered = campaign_render.render(compiled, values)
        headers = [
            fastmime.address_header("From", content.from_name, content.from_address),
        ]
        if content.reply_to:
            headers.append(fastmime.address_header("Reply-To", "", content.reply_to))
        headers += [
            fastmime.address_header("To", str(payload.get("to_name") or ""), address),
            fastmime.unstructured("Subject", rendered.subject),
            self._date(now),
            fastmime.raw("Message-ID", row["rfc822_message_id"]),
        ]
        envelope_sender = self.verp.address(row["id"])
        if content.category != SYSTEM:
            url = links["unsubscribe_url"]
            mailto = self.unsubscribe_mailto(row["id"], envelope_sender)
            headers += [
                fastmime.raw("List-Unsubscribe", f"<{url}>, <{mailto}>"),
                fastmime.raw("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ]
        headers += self._campaign_headers(tenant, content)
        data = fastmime.build(
            headers=headers,
            text=rendered.text,
            html=rendered.html,
            boundary=f"=_{uuid.UUID(row['id']).hex}",
        )
        return Built(data=data, envelope_sender=envelope_sender, subject=rendered.subject)
