"""Templates: the sandboxed Jinja2 language, its documented variables, and compilation.

A template is Jinja2 source run in a ``SandboxedEnvironment`` that knows only the documented
variables (``VARIABLES``): the contact's fields and attributes, the links delivery makes for
each recipient (unsubscribe, preferences, my data, view online) and the sender identity.

Compiling (``compile_template``) happens when a template is saved (to refuse bad ones) and
once when a campaign starts sending, never per message: the CSS of ``<style>`` blocks is
inlined (css-inline), the HTML is sanitised against an allowlist (nh3), a plain-text part is
generated when the template has none, and the result is checked to still be a valid
template over the same variables. The compiled source travels in every ``SendBatch``
(``RenderedContent``), each recipient's ``merge_fields`` beside it: delivery renders it in
the same sandbox with those fields, the links it makes for the recipient and the batch's
sender. Merge fields are flat strings; a custom attribute ``city`` travels as
``attributes.city`` and is read in a template as ``{{ attributes.city }}``.

No I/O here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import css_inline
import nh3
from jinja2 import Undefined, meta
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from missiva_platform.errors import InvalidArgument

CONTACT_VARIABLES = (
    "first_name",
    "last_name",
    "display_name",
    "email",
    "locale",
    "timezone",
    "attributes",
)
LINK_VARIABLES = ("unsubscribe_url", "preferences_url", "my_data_url", "view_online_url")
SENDER_VARIABLES = ("sender_name", "sender_address", "reply_to")
VARIABLES = frozenset((*CONTACT_VARIABLES, *LINK_VARIABLES, *SENDER_VARIABLES))
# What a template that is not SYSTEM mail must link to (the law and our own rules).
REQUIRED_LINKS = ("unsubscribe_url", "my_data_url")

MAX_SUBJECT = 300
MAX_PREHEADER = 300
MAX_BODY = 512 * 1024

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup",
    "div", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol",
    "p", "pre", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_COMMON_ATTRIBUTES = {"style", "class", "align", "dir", "lang", "title", "width", "height"}
ALLOWED_ATTRIBUTES = {
    "*": _COMMON_ATTRIBUTES,
    "a": {"href", "name", "target"},
    "img": {"src", "alt", "border"},
    "table": {"border", "cellpadding", "cellspacing", "bgcolor", "role"},
    "td": {"colspan", "rowspan", "valign", "bgcolor"},
    "th": {"colspan", "rowspan", "valign", "bgcolor"},
    "font": {"color", "face", "size"},
}
URL_SCHEMES = {"http", "https", "mailto"}


class _Recording(Undefined):
    """An undefined variable renders empty and is remembered (the preview's warnings)."""

    missing: list[str]

    def __str__(self) -> str:
        self.missing.append(self._undefined_name or "?")
        return ""


class _Sandbox(SandboxedEnvironment):
    """The sandbox, refusing (rather than quietly blanking) any unsafe attribute access."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"access to attribute {attribute!r} is not allowed")


def environment(*, autoescape: bool, missing: list[str] | None = None) -> SandboxedEnvironment:
    undefined: type[Undefined] = Undefined
    if missing is not None:
        undefined = type("Recording", (_Recording,), {"missing": missing})
    return _Sandbox(autoescape=autoescape, undefined=undefined)


@dataclass(frozen=True)
class Source:
    """A template's parts as written (Jinja2 source)."""

    subject: str
    preheader: str
    html_body: str
    text_body: str
    system: bool = False


@dataclass(frozen=True)
class Compiled:
    subject: str
    preheader: str
    html_body: str
    text_body: str


@dataclass
class Preview:
    subject: str
    html_body: str
    text_body: str
    warnings: list[str] = field(default_factory=list)


def _variables(env: SandboxedEnvironment, part: str, text: str) -> set[str]:
    try:
        return set(meta.find_undeclared_variables(env.parse(text)))
    except TemplateSyntaxError as exc:
        raise InvalidArgument.field(
            part, f"template syntax error on line {exc.lineno}: {exc.message}"
        ) from None


def _check(source: Source, prefix: str) -> None:
    problems: list[tuple[str, str]] = []
    limits = (
        ("subject", source.subject, MAX_SUBJECT),
        ("preheader", source.preheader, MAX_PREHEADER),
        ("html_body", source.html_body, MAX_BODY),
        ("text_body", source.text_body, MAX_BODY),
    )
    for name, value, limit in limits:
        if len(value) > limit:
            problems.append((f"{prefix}{name}", f"at most {limit} characters"))
    if not source.subject.strip():
        problems.append((f"{prefix}subject", "a subject is required"))
    if not source.html_body.strip():
        problems.append((f"{prefix}html_body", "an HTML body is required"))
    if problems:
        raise InvalidArgument(f"{problems[0][0]}: {problems[0][1]}", problems)
    env = environment(autoescape=True)
    used: set[str] = set()
    for name, value, _ in limits:
        found = _variables(env, f"{prefix}{name}", value)
        unknown = sorted(found - VARIABLES)
        if unknown:
            problems.append(
                (
                    f"{prefix}{name}",
                    f"unknown variable {unknown[0]!r}; the variables are "
                    + ", ".join(sorted(VARIABLES)),
                )
            )
        if name == "html_body":
            used = found
    if not source.system:
        absent = [link for link in REQUIRED_LINKS if link not in used]
        if absent:
            problems.append(
                (
                    f"{prefix}html_body",
                    "a template that is not SYSTEM mail must link to "
                    + " and ".join(f"{{{{ {link} }}}}" for link in absent)
                    + " (every marketing email lets the person unsubscribe and see their data)",
                )
            )
    if problems:
        raise InvalidArgument(f"{problems[0][0]}: {problems[0][1]}", problems)


def sanitise(markup: str) -> str:
    """CSS inlined, then the HTML cleaned against the allowlist."""
    if "<style" in markup.lower():
        markup = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False).inline(
            markup
        )
    return nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


_BLOCKS = {"p", "div", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "blockquote",
           "pre", "hr", "center"}  # fmt: skip


class _TextPart(HTMLParser):
    """The plain-text part: blocks become paragraphs, a link shows its target."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.href: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head", "title"):
            self.skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in _BLOCKS:
            self.out.append("\n\n")
        if tag == "a":
            self.href.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCKS:
            self.out.append("\n\n")
        elif tag in ("td", "th"):
            self.out.append(" ")
        if tag == "a" and self.href:
            target = self.href.pop()
            if target and not target.startswith("#"):
                self.out.append(f" ({target})")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        joined = "".join(self.out)
        lines = [line.strip() for line in joined.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def text_part(markup: str) -> str:
    parser = _TextPart()
    parser.feed(markup)
    parser.close()
    return parser.text()


def compile_template(source: Source, prefix: str = "template.") -> Compiled:
    """Check, sanitise, inline and derive the text part: what every batch carries."""
    _check(source, prefix)
    body = sanitise(source.html_body)
    text = source.text_body or text_part(body)
    compiled = Compiled(
        subject=source.subject.strip(),
        preheader=source.preheader.strip(),
        html_body=body,
        text_body=text,
    )
    # Sanitising may not break the template (e.g. markup inside a {% %} tag).
    try:
        _check(
            Source(compiled.subject, compiled.preheader, body, text, source.system),
            prefix,
        )
    except InvalidArgument as exc:
        raise InvalidArgument(
            "the template does not survive HTML sanitising; keep Jinja tags out of attributes"
            " other than href/src and use dotted names (attributes.city)",
            [(f"{prefix}html_body", exc.message)],
        ) from None
    # A trial render with sample values: what the sandbox refuses is refused on saving.
    try:
        render(compiled, values_of(SAMPLE, sample_links().items()))
    except InvalidArgument as exc:
        raise InvalidArgument(exc.message, [(f"{prefix}html_body", exc.message)]) from None
    return compiled


def render(compiled: Compiled, values: Mapping[str, Any]) -> Preview:
    """Render with ``values`` (a preview; delivery does the same per recipient)."""
    missing: list[str] = []
    try:
        html_env = environment(autoescape=True, missing=missing)
        text_env = environment(autoescape=False, missing=missing)
        preview = Preview(
            subject=text_env.from_string(compiled.subject).render(values),
            html_body=html_env.from_string(compiled.html_body).render(values),
            text_body=text_env.from_string(compiled.text_body).render(values),
        )
    except SecurityError as exc:
        raise InvalidArgument.field("template", f"not allowed in a template: {exc}") from None
    except TemplateError as exc:
        raise InvalidArgument.field("template", f"the template cannot be rendered: {exc}") from None
    preview.warnings = [f"no value for {name!r}" for name in dict.fromkeys(missing)]
    return preview


def merge_fields(contact: Mapping[str, Any], display_name: str) -> dict[str, str]:
    """A contact's flat merge fields (what a SendBatch recipient carries)."""
    fields = {
        "first_name": contact.get("first_name") or "",
        "last_name": contact.get("last_name") or "",
        "display_name": display_name,
        "email": contact.get("email") or "",
        "locale": contact.get("locale") or "",
        "timezone": contact.get("timezone") or "",
    }
    for key, value in (contact.get("attributes") or {}).items():
        fields[f"attributes.{key}"] = value if isinstance(value, str) else _json_text(value)
    return fields


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def values_of(fields: Mapping[str, str], extra: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """Flat merge fields → the template's variables (``attributes.x`` → ``attributes['x']``)."""
    values: dict[str, Any] = {"attributes": {}}
    for key, value in (*fields.items(), *extra):
        if key.startswith("attributes."):
            values["attributes"][key.removeprefix("attributes.")] = value
        else:
            values[key] = value
    return values


SAMPLE = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "display_name": "Ada Lovelace",
    "email": "ada@example.org",
    "locale": "en",
    "timezone": "Europe/London",
}


def sample_links(base: str = "https://example.invalid") -> dict[str, str]:
    """Placeholder links for a preview (delivery makes the real, signed ones)."""
    return {name: f"{base}/preview/{name.removesuffix('_url')}" for name in LINK_VARIABLES}


def escape(text: str) -> str:
    return html.escape(text, quote=True)
