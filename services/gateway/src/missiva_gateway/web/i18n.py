"""Languages of the web pages: English (the source text) and Italian (a gettext catalogue).

The catalogues are the committed ``locale/<lang>/LC_MESSAGES/messages.po`` files, compiled in
memory when the gateway starts (Babel reads the ``.po`` and writes the ``.mo`` into a buffer),
so the repository holds no binary blobs and a catalogue edit needs no build step. Strings are
marked with ``_()`` in Python and ``{% trans %}`` / ``_()`` in the templates; ``pybabel
extract`` (``babel.cfg``) and ``pybabel update`` keep the catalogue in step (see the README).

A signed-in user's preferred locale (identity's profile, kept in the session cookie) wins;
otherwise the browser's ``Accept-Language``; otherwise English.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("en", "it")
DEFAULT = "en"
LANGUAGE_NAMES = {"en": "English", "it": "Italiano"}


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (English is the source text: no catalogue)."""
    if lang not in LANGUAGES or lang == DEFAULT:
        return gettext.NullTranslations()
    po = resources.files("missiva_gateway.web") / "locale" / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def supported(tag: str) -> str | None:
    """``"it-IT"`` → ``"it"``; None for a language we do not speak."""
    primary = tag.strip().split("-", 1)[0].split("_", 1)[0].lower()
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str) -> str | None:
    """The best of our languages in an ``Accept-Language`` header (RFC 9110 weights)."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        lang = supported(tag) if tag and tag != "*" else None
        if lang and weight > 0 and (best is None or (weight, -position) > best[:2]):
            best = (weight, -position, lang)
    return best[2] if best else None


def negotiate(preferred: str, accept_language: str) -> str:
    """The page language: the user's preference, else the browser's, else English."""
    return supported(preferred or "") or from_accept_language(accept_language) or DEFAULT
