"""Transactional templates: files in the repository, rendered in Jinja2's sandbox.

``templates/<template_key>.<locale>.jinja`` holds three blocks: ``subject`` and ``text``
(rendered without escaping: plain text) and ``html`` (rendered with autoescape, then placed in
``templates/_layout.html``). A locale falls back from ``it-IT`` to ``it`` to ``en``. An unknown
template, or a variable the template uses but the send did not give, is a ``TemplateProblem``
with the reason: the message fails with it, visibly, instead of going out half-filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_LOCALE = "en"
LAYOUT = "_layout.html"
BLOCKS = ("subject", "text", "html")


class TemplateProblem(Exception):
    """A message cannot be rendered: what is wrong, in words for ``GetMessageStatus``."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    locale: str  # the locale of the template actually used


def locale_chain(locale: str) -> list[str]:
    """``it-IT`` → ``["it-IT", "it", "en"]`` (no repeats)."""
    tag = (locale or DEFAULT_LOCALE).replace("_", "-")
    chain = [tag]
    if "-" in tag:
        chain.append(tag.split("-", 1)[0].lower())
    chain.append(DEFAULT_LOCALE)
    return list(dict.fromkeys(chain))


class Templates:
    """The template set; compiled templates are cached by the environments."""

    def __init__(self, folder: Path = TEMPLATES) -> None:
        self.folder = folder
        loader = jinja2.FileSystemLoader(str(folder))
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "keep_trailing_newline": False,
            "trim_blocks": False,
            "lstrip_blocks": True,
            "auto_reload": False,
        }
        self._plain = ImmutableSandboxedEnvironment(autoescape=False, **common)
        self._html = ImmutableSandboxedEnvironment(autoescape=True, **common)

    def keys(self) -> dict[str, list[str]]:
        """Every template key and its locales, from the files."""
        found: dict[str, list[str]] = {}
        for path in sorted(self.folder.glob("*.jinja")):
            key, locale = path.name.removesuffix(".jinja").rsplit(".", 1)
            found.setdefault(key, []).append(locale)
        return found

    def has(self, template_key: str) -> bool:
        """Whether ``template_key`` has a template (in English, the last fallback)."""
        return (self.folder / f"{template_key}.{DEFAULT_LOCALE}.jinja").is_file()

    def _name(self, template_key: str, locale: str) -> tuple[str, str]:
        for candidate in locale_chain(locale):
            name = f"{template_key}.{candidate}.jinja"
            if (self.folder / name).is_file():
                return name, candidate
        raise TemplateProblem(f"no template {template_key!r} (looked for {locale or 'en'})")

    def render(self, template_key: str, locale: str, variables: dict[str, Any]) -> Rendered:
        name, used = self._name(template_key, locale)
        try:
            plain = self._plain.get_template(name)
            html = self._html.get_template(name)
            missing = [b for b in BLOCKS if b not in plain.blocks]
            if missing:
                raise TemplateProblem(f"template {name} lacks the block(s) {', '.join(missing)}")
            subject = _block(plain, "subject", variables)
            text = _block(plain, "text", variables)
            body = _block(html, "html", variables)
            page = self._html.get_template(LAYOUT).render(
                content=Markup(body),  # noqa: S704  (rendered with autoescape)
                subject=subject,
                lang=used,
            )
        except TemplateProblem:
            raise
        except jinja2.UndefinedError as exc:
            raise TemplateProblem(f"template {name}: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise TemplateProblem(f"template {name} is broken: {exc}") from None
        subject = " ".join(subject.split())
        if not subject:
            raise TemplateProblem(f"template {name} rendered an empty subject")
        return Rendered(subject=subject, text=text.strip() + "\n", html=page, locale=used)


def _block(template: jinja2.Template, block: str, variables: dict[str, Any]) -> str:
    context = template.new_context(dict(variables))
    return "".join(template.blocks[block](context))
