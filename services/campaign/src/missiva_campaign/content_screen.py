"""The content screen: signs of phishing in a campaign's content, for a person to review.

It flags, and decides nothing: a flagged campaign sends as usual, its flags are on the
campaign (``review_flags``) and counted (``missiva_campaign_content_flags_total{kind}``) for
the platform's reviewers. It looks for

- ``link_text_mismatch``: a link whose text names a domain other than the one it goes to
  ("www.mybank.example" leading to another site);
- ``url_shortener``: a link through a public URL shortener, which hides where it goes;
- ``credential_request``: wording that asks for a password or for account or payment
  details to be "verified" or "updated" (English and Italian);
- ``form_in_email``: a form or password input inside the mail.

Links whose address is a template variable (``{{ unsubscribe_url }}``) are Missiva's own and
are left alone.
"""

from __future__ import annotations

import re
import urllib.parse
from html.parser import HTMLParser
from typing import Any

from missiva_platform import metrics

SHORTENERS = frozenset(
    {
        "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly",
        "cutt.ly", "rebrand.ly", "shorturl.at", "tiny.cc", "rb.gy", "t.ly", "s.id", "v.gd",
        "shorte.st", "adf.ly", "bl.ink", "lnkd.in",
    }
)  # fmt: skip
# Second-level labels under which the registrable name is one label further down.
_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "gov", "ac", "edu", "ne", "or", "gob"})
_DOMAIN = re.compile(r"\b((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})\b", re.I)
_CREDENTIALS = re.compile(
    r"(verify|confirm|update|validate)\s+your\s+(account|password|login|identity|payment|"
    r"card|billing)|enter\s+your\s+(password|pin|card)|your\s+account\s+(will\s+be|has\s+been)"
    r"\s+(suspended|locked|closed|disabled)|"
    r"(verifica|conferma|aggiorna)\s+(il\s+tuo|la\s+tua|i\s+tuoi)\s+(account|password|"
    r"credenziali|dati\s+di\s+pagamento|carta)|inserisci\s+(la\s+tua\s+)?(password|pin)|"
    r"(il\s+tuo\s+)?account\s+(sarà|è\s+stato)\s+(sospeso|bloccato|chiuso)",
    re.I,
)
MAX_FLAGS = 20


def _flags_metric() -> Any:
    return metrics.counter(
        "content_flags_total", "Content screen findings on campaigns, by kind.", ("kind",)
    )


def registrable(host: str) -> str:
    """The name a person recognises: ``mail.shop.co.uk`` → ``shop.co.uk``."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self.forms = 0
        self.text: list[str] = []
        self._href: str | None = None
        self._anchor: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a":
            self._href = values.get("href") or ""
            self._anchor = []
        elif tag == "form" or (tag == "input" and (values.get("type") or "") == "password"):
            self.forms += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._anchor)))
            self._href = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._href is not None:
            self._anchor.append(data)


def _host(href: str) -> str:
    parsed = urllib.parse.urlsplit(href.strip())
    if parsed.scheme not in ("http", "https"):
        return ""
    return (parsed.hostname or "").lower()


def screen(subject: str, html: str, text: str = "") -> list[dict[str, str]]:
    """The findings (kind, detail) in the content, at most ``MAX_FLAGS``."""
    parser = _Links()
    parser.feed(html)
    parser.close()
    found: list[dict[str, str]] = []

    def flag(kind: str, detail: str) -> None:
        item = {"kind": kind, "detail": detail[:200]}
        if item not in found and len(found) < MAX_FLAGS:
            found.append(item)

    for href, anchor in parser.links:
        if "{{" in href:
            continue  # Missiva's own links (unsubscribe, preferences...)
        host = _host(href)
        if not host:
            continue
        if host in SHORTENERS or registrable(host) in SHORTENERS:
            flag("url_shortener", host)
        target = registrable(host)
        for named in _DOMAIN.findall(anchor):
            if registrable(named) != target:
                flag("link_text_mismatch", f"text names {named.lower()}, link goes to {host}")
    if parser.forms:
        flag("form_in_email", f"{parser.forms} form or password input(s)")
    words = " ".join([subject, *parser.text, text])
    for match in _CREDENTIALS.finditer(words):
        flag("credential_request", " ".join(match.group(0).split()))
    for item in found:
        _flags_metric().labels(kind=item["kind"]).inc()
    return found
