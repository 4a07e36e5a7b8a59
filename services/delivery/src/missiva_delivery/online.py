"""View online: a campaign message shown in a browser at ``PUBLIC_BASE_URL/v/<token>``.

"View online re-renders; message bodies are not stored." A message whose template uses
``{{ view_online_url }}`` gets a link naming its ledger row; when it is sent, delivery keeps
the row's merge data (sealed with the field cipher as the ledger held it, ``online_copies``)
for ``VIEW_ONLINE_DAYS`` after the send, and the campaign's compiled template stays as long
(retention.py). ``RenderOnline`` renders the message again from both: the same subject, body,
links and sender as the mail, with tracking links only when the person allows engagement
tracking now (else the template's plain links and no pixel). A message whose template has no
such link keeps nothing.

**Tokens.** ``<data>.<kid>.<tag>``, base64url, the scheme of the tracking tokens
(tracking.py): the data is the ledger row's id (16 bytes, a random UUIDv7 nobody can guess),
the tag a 12-byte HMAC of it under the token keyring's ``delivery-online`` derivation (no
click or open token is a view-online token, nor the reverse). No URL and no account is in a
token: everything is looked up from the row, so a token can show only its own message, and
a bad, tampered, expired or erased one is the same NOT_FOUND.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid

from missiva_delivery.batches import Content
from missiva_platform.crypto import TokenKeyring

VARIABLE = "view_online_url"
PATH = "/v/"
_TAG = 12
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{16})$")
MAX_TOKEN = 100


def linked(content: Content) -> bool:
    """Whether a campaign revision links to its messages' online copies (then each sent
    message's merge data is kept for a while; otherwise nothing is)."""
    return any(VARIABLE in part for part in (content.html_body, content.text_body))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class OnlineTokens:
    """Makes and checks view-online tokens."""

    def __init__(self, keyring: TokenKeyring, public_base_url: str) -> None:
        self._keys = keyring.derive("delivery-online")
        self.base = public_base_url.rstrip("/")

    def token(self, message_id: str) -> str:
        data = uuid.UUID(message_id).bytes
        kid, tag = self._keys.tag(data, size=_TAG)
        return f"{_b64(data)}.{kid}.{_b64(tag)}"

    def url(self, message_id: str) -> str:
        return f"{self.base}{PATH}{self.token(message_id)}"

    def check(self, token: str) -> str | None:
        """The ledger row ``token`` names, or None when it is not a view-online token of
        ours (malformed, another key or kind, a tag that does not verify)."""
        found = _TOKEN.fullmatch(token) if len(token) <= MAX_TOKEN else None
        if found is None:
            return None
        data_text, kid, tag_text = found.groups()
        try:
            data, tag = _unb64(data_text), _unb64(tag_text)
        except (binascii.Error, ValueError):
            return None
        if len(data) != 16 or kid not in self._keys.key_ids:
            return None
        if not self._keys.check_tag(kid, data, tag):
            return None
        return str(uuid.UUID(bytes=data))
