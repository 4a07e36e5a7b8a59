"""Rendering campaign mail: the compiled template of a campaign revision, per recipient.

Campaign compiles (sanitises, inlines, derives the text part) and checks a template when it
is saved and when the campaign starts; the result travels in every ``SendBatch``. Delivery
turns it into Jinja2 templates once per (campaign, template revision) — ``RenderCache`` —
and renders each recipient with their merge fields, the links made for them (signed tokens
of the same keyring and purposes the gateway's pages verify) and the sender. Same language as
campaign's preview: the sandbox, undefined names render empty, ``attributes.x`` flat fields
read as ``attributes.x``.
"""

from __future__ import annotations

import html
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jinja2 import Template, Undefined
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from missiva_delivery import online, tracking
from missiva_delivery.batches import Content
from missiva_platform.crypto import TokenKeyring

# Token purposes and claims the consent pages verify (consent's links.LinkScope).
UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
ALL_BUT_SYSTEM = "*"


class RenderProblem(Exception):
    """The content cannot be rendered for a recipient (the reason, for the ledger)."""


class _Sandbox(SandboxedEnvironment):
    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"access to attribute {attribute!r} is not allowed")


@dataclass(frozen=True)
class Compiled:
    content: Content
    subject: Template
    preheader: Template
    html: Template
    text: Template
    # Tracked revisions (their purpose allows tracking): the link set the tokens name and
    # the targets by position (tracking.py); None for untracked mail.
    link_set: uuid.UUID | None = None
    links: tuple[str, ...] = ()
    online: bool = False  # the template links to the message's online copy (online.py)


@dataclass(frozen=True)
class RenderedCampaign:
    subject: str
    text: str
    html: str


class Links:
    """The per-recipient links: one-click unsubscribe and preference centre tokens."""

    def __init__(self, keyring: TokenKeyring, public_base_url: str, ttl: timedelta) -> None:
        self.keyring = keyring
        self.base = public_base_url.rstrip("/")
        self.ttl = ttl

    def unsubscribe_token(self, tenant_id: str, person_key: str, purpose_id: str,
                          campaign_id: str) -> str:  # fmt: skip
        claims = {"a": tenant_id, "k": person_key, "u": purpose_id or ALL_BUT_SYSTEM}
        if campaign_id:
            claims["c"] = campaign_id
        return self.keyring.sign(UNSUBSCRIBE, claims, ttl=self.ttl)

    def preferences_token(self, tenant_id: str, person_key: str) -> str:
        return self.keyring.sign(PREFERENCES, {"a": tenant_id, "k": person_key}, ttl=self.ttl)

    def for_recipient(
        self, tenant_id: str, person_key: str, purpose_id: str, campaign_id: str
    ) -> dict[str, str]:
        unsubscribe = self.unsubscribe_token(tenant_id, person_key, purpose_id, campaign_id)
        preferences = f"{self.base}/preferences/{self.preferences_token(tenant_id, person_key)}"
        return {
            "unsubscribe_url": f"{self.base}/unsubscribe/{unsubscribe}",
            "preferences_url": preferences,
            # The preference centre is where a person asks for their my-data link (consent's
            # SendMyDataLink mails it to the address only).
            "my_data_url": preferences,
            # Campaign mail replaces it with the message's own /v/ link (online.py).
            "view_online_url": preferences,
        }


class RenderCache:
    """Compiled templates by (tenant, campaign, revision); the least recently used go."""

    def __init__(self, size: int = 64, *, public_base_url: str = "", track: bool = True) -> None:
        self.size = size
        self.own_base = public_base_url.rstrip("/")
        self.track = track  # False: the template's own links, no pixel (view online, untracked)
        self._html = _Sandbox(autoescape=True)
        self._plain = _Sandbox(autoescape=False)
        self._cache: OrderedDict[tuple[str, str, int], Compiled] = OrderedDict()
        self.compilations = 0

    def get(self, tenant_id: str, content: Content) -> Compiled:
        key = (tenant_id, content.campaign_id, content.template_revision)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        html_body, text_body = content.html_body, content.text_body
        link_set: uuid.UUID | None = None
        links: tuple[str, ...] = ()
        if self.track and tracking.tracked(content.category):  # rewritten once, here
            rewritten = tracking.rewrite(html_body, text_body, self.own_base)
            html_body, text_body, links = rewritten.html, rewritten.text, rewritten.links
            link_set = tracking.link_set_id(tenant_id, content.campaign_id,
                                            content.template_revision)  # fmt: skip
        try:
            compiled = Compiled(
                content=content,
                subject=self._plain.from_string(content.subject),
                preheader=self._plain.from_string(content.preheader),
                html=self._html.from_string(html_body),
                text=self._plain.from_string(text_body),
                link_set=link_set,
                links=links,
                online=online.linked(content),
            )
        except TemplateError as exc:
            raise RenderProblem(f"the campaign's template does not compile: {exc}") from None
        self.compilations += 1
        self._cache[key] = compiled
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return compiled

    def cached(self, tenant_id: str, campaign_id: str, revision: int) -> Compiled | None:
        return self._cache.get((tenant_id, campaign_id, revision))

    def forget(self, tenant_id: str, campaign_id: str, revision: int) -> None:
        self._cache.pop((tenant_id, campaign_id, revision), None)


def values_of(fields: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, Any]:
    """Flat merge fields → the template's variables (``attributes.x`` → ``attributes['x']``)."""
    values: dict[str, Any] = {"attributes": {}}
    for key, value in (*fields.items(), *extra.items()):
        if key.startswith("attributes."):
            values["attributes"][key.removeprefix("attributes.")] = value
        else:
            values[key] = value
    return values


def _page(subject: str, preheader: str, body: str, lang: str) -> str:
    hidden = ""
    if preheader:
        hidden = (
            '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;">'
            f"{html.escape(preheader)}</div>"
        )
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(lang or "en")}">\n<head>\n'
        '<meta charset="utf-8">\n<meta name="viewport" content="width=device-width">\n'
        f"<title>{html.escape(subject)}</title>\n</head>\n<body>\n{hidden}{body}\n</body>\n</html>\n"
    )


def render(compiled: Compiled, values: Mapping[str, Any]) -> RenderedCampaign:
    try:
        subject = " ".join(compiled.subject.render(values).split())
        preheader = " ".join(compiled.preheader.render(values).split())
        body = compiled.html.render(values)
        text = compiled.text.render(values)
    except SecurityError as exc:
        raise RenderProblem(f"not allowed in a template: {exc}") from None
    except TemplateError as exc:
        raise RenderProblem(f"the template cannot be rendered: {exc}") from None
    if not subject:
        raise RenderProblem("the subject rendered empty")
    lang = str(values.get("locale") or "en").split("-")[0][:8]
    return RenderedCampaign(
        subject=subject, text=text.strip() + "\n", html=_page(subject, preheader, body, lang)
    )
