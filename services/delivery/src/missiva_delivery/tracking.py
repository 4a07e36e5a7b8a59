"""Link and open tracking of campaign mail, without I/O: which mail is tracked, rewriting a
template's links once per compiled revision, and the click and open tokens.

**Which mail.** Only mail whose purpose allows tracking: campaign mail of the MARKETING and
PRODUCT_UPDATE categories. SYSTEM mail is never rewritten and carries no pixel. Whether an
open or click is kept *with the person* is decided when it happens (``RecordEngagement``):
only when the recipient allowed engagement tracking (the batch's flag, and no later
withdrawal); otherwise only a count per (campaign, link position) grows.

**Rewriting.** When a revision is compiled (once per process, ``RenderCache``), every
``<a href>`` of the HTML part and every URL of the text part that is a fixed ``http(s)``
address becomes ``{{ _links[i] }}``: distinct targets get positions 1, 2, ... in order of first
appearance (HTML first). Links the template builds from merge fields (``{{ unsubscribe_url }}``,
``{{ preferences_url }}``, ``{{ my_data_url }}``, anything with ``{{``) and links to the
platform's own pages (``PUBLIC_BASE_URL``) are left alone: the List-Unsubscribe, preference
and my-data links are never rewritten. A 1x1 pixel ``{{ _open }}`` closes the HTML part. Per
message only the tokens are made (one HMAC per link), no parsing.

**Tokens.** ``<data>.<kid>.<tag>``, base64url: the data names the revision's link set (a UUID
derived from tenant, campaign and revision), the message and, for a click, the position; the
tag is a 12-byte HMAC of the data under the token keyring's ``delivery-click`` or
``delivery-open`` derivation (an open token is no click token). No URL is in a token: the
target is looked up from the link set, so the redirect cannot be aimed anywhere else. A
recipient who did not allow engagement tracking gets the revision's *anonymous* tokens
instead, whose message is the nil UUID: the same for every such recipient, made once per
revision and process, so their links carry nothing that could name them (and cost nothing
per message).
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import uuid
from dataclasses import dataclass

from missiva.common.v1 import types_pb2
from missiva_platform.crypto import TokenKeyring

TRACKED_CATEGORIES = frozenset(
    {types_pb2.EMAIL_CATEGORY_MARKETING, types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE}
)
CLICK = "click"
OPEN = "open"
MAX_LINKS = 200  # positions are a smallint; a template with more keeps the rest untracked
MAX_URL = 2000
_TAG = 12
_NAMESPACE = uuid.UUID("6f1d2c3e-8a4b-5c6d-9e0f-a1b2c3d4e5f6")
NOBODY = uuid.UUID(int=0)  # the message of an anonymous token
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_TEXT_URL = re.compile(r"""https?://[^\s<>"'{}()\[\]]+""", re.IGNORECASE)
_TRAILING = ".,;:!?"
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{22,64})\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{16})$")
PIXEL = (
    '<img src="{{ _open }}" width="1" height="1" alt="" '
    'style="display:block;width:1px;height:1px;border:0;">'
)


def tracked(category: int) -> bool:
    """Whether mail of ``category`` has its links rewritten and carries an open pixel."""
    return category in TRACKED_CATEGORIES


def link_set_id(tenant_id: str, campaign_id: str, revision: int) -> uuid.UUID:
    """The id click and open tokens carry for one campaign revision (the same in every
    delivery process)."""
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}\0{campaign_id}\0{revision}")


@dataclass(frozen=True)
class Rewritten:
    html: str
    text: str
    links: tuple[str, ...]  # position - 1 → target URL


def _trackable(url: str, own_base: str) -> bool:
    lowered = url.lower()
    return (
        lowered.startswith(("http://", "https://"))
        and "{{" not in url
        and "{%" not in url
        and len(url) <= MAX_URL
        and not any(c.isspace() for c in url)
        and not (own_base and lowered.startswith(own_base.lower()))
    )


def rewrite(html_source: str, text_source: str, own_base: str) -> Rewritten:
    """The template sources with their fixed links replaced by ``{{ _links[i] }}`` and the
    pixel appended, and the targets by position."""
    positions: dict[str, int] = {}

    def slot(url: str) -> str | None:
        if url not in positions:
            if len(positions) >= MAX_LINKS:
                return None
            positions[url] = len(positions)
        return f"{{{{ _links[{positions[url]}] }}}}"

    def in_html(found: re.Match[str]) -> str:
        target = html.unescape(found.group(3)).strip()
        placed = slot(target) if _trackable(target, own_base) else None
        if placed is None:
            return found.group(0)
        return f"{found.group(1)}{found.group(2)}{placed}{found.group(2)}"

    def in_text(found: re.Match[str]) -> str:
        url = found.group(0)
        kept = ""
        while url and url[-1] in _TRAILING:
            url, kept = url[:-1], url[-1] + kept
        following = found.string[found.end() : found.end() + 2]
        if following.startswith("{") or not _trackable(url, own_base):
            return found.group(0)
        placed = slot(url)
        return found.group(0) if placed is None else placed + kept

    body = _HREF.sub(in_html, html_source)
    text = _TEXT_URL.sub(in_text, text_source)
    return Rewritten(html=body + PIXEL, text=text, links=tuple(positions))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Engagement:
    """What a verified token names."""

    kind: str
    link_set_id: str
    message_id: str  # "" for an anonymous token
    position: int  # 0 for an open


class Tokens:
    """Makes and checks click and open tokens."""

    def __init__(self, keyring: TokenKeyring) -> None:
        self._keys = {
            CLICK: keyring.derive("delivery-click"),
            OPEN: keyring.derive("delivery-open"),
        }

    def _make(self, kind: str, data: bytes) -> str:
        kid, tag = self._keys[kind].tag(data, size=_TAG)
        return f"{_b64(data)}.{kid}.{_b64(tag)}"

    def click(self, link_set: uuid.UUID, message_id: uuid.UUID, position: int) -> str:
        return self._make(CLICK, link_set.bytes + message_id.bytes + position.to_bytes(2, "big"))

    def open(self, link_set: uuid.UUID, message_id: uuid.UUID) -> str:
        return self._make(OPEN, link_set.bytes + message_id.bytes)

    def check(self, kind: str, token: str) -> Engagement | None:
        """What ``token`` names, or None when it is not a valid ``kind`` token of ours
        (malformed, another key, a tag that does not verify, the other kind's)."""
        keys = self._keys.get(kind)
        found = _TOKEN.fullmatch(token.strip()) if keys is not None else None
        if keys is None or found is None:
            return None
        data_text, kid, tag_text = found.groups()
        try:
            data, tag = _unb64(data_text), _unb64(tag_text)
        except (binascii.Error, ValueError):
            return None
        size = 34 if kind == CLICK else 32
        if len(data) != size or kid not in keys.key_ids or not keys.check_tag(kid, data, tag):
            return None
        position = int.from_bytes(data[32:34], "big") if kind == CLICK else 0
        if kind == CLICK and position < 1:
            return None
        message = uuid.UUID(bytes=data[16:32])
        return Engagement(
            kind=kind,
            link_set_id=str(uuid.UUID(bytes=data[:16])),
            message_id="" if message == NOBODY else str(message),
            position=position,
        )


class LinkMaker:
    """The per-message tracking variables of a tracked revision: ``_links`` and ``_open``,
    the message's own for a person who allows tracking, else the revision's anonymous ones
    (kept for the ``ANONYMOUS_KEPT`` revisions used last)."""

    ANONYMOUS_KEPT = 256

    def __init__(self, tokens: Tokens, public_base_url: str) -> None:
        self.tokens = tokens
        self.base = public_base_url.rstrip("/")
        self._anonymous: dict[tuple[uuid.UUID, int], dict[str, object]] = {}

    def values(
        self, link_set: uuid.UUID, links: int, message_id: str, *, personal: bool
    ) -> dict[str, object]:
        if personal:
            return self._made(link_set, links, uuid.UUID(message_id))
        key = (link_set, links)
        found = self._anonymous.get(key)
        if found is None:
            if len(self._anonymous) >= self.ANONYMOUS_KEPT:
                self._anonymous.clear()
            found = self._anonymous[key] = self._made(link_set, links, NOBODY)
        return found

    def _made(self, link_set: uuid.UUID, links: int, message: uuid.UUID) -> dict[str, object]:
        click, base = self.tokens.click, self.base
        return {
            "_links": [f"{base}/t/c/{click(link_set, message, p)}" for p in range(1, links + 1)],
            "_open": f"{self.base}/t/o/{self.tokens.open(link_set, message)}",
        }


def device_class(user_agent: str) -> str:
    """A coarse device class from a user agent (kept only with tracking consent)."""
    agent = user_agent.lower()
    if not agent:
        return ""
    if "ipad" in agent or "tablet" in agent:
        return "tablet"
    if "mobi" in agent or "android" in agent or "iphone" in agent:
        return "mobile"
    return "desktop"
