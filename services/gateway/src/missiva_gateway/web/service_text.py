"""The services' own texts (gRPC messages, field violation descriptions) in the page's language.

The services write their refusals in English for the caller ("must be at least 12
characters"); the JSON API passes them on as they are, the web pages show them under a form
field or on an error page. This is the one table that turns the known ones into catalogue
entries: an exact text (``EXACT``), or a pattern with a variable part (``PATTERNS``: the
number of characters, a purpose's name). A text not in the table is shown as the service
wrote it. English pages always show the original (no catalogue: the lookup is the identity).

Messages the gateway joins (``"a: b; c"``, a violation of a field the form lacks) are
translated piece by piece.
"""

from __future__ import annotations

import re
from collections.abc import Callable

N_ = str  # marks a text for extraction; translated by ``localise``

Gettext = Callable[[str], str]

EXACT: frozenset[str] = frozenset(
    {
        # the platform kit's validation (every service)
        N_("is required"),
        N_("is too long"),
        N_("is not valid"),
        N_("is not a valid id"),
        N_("is incorrect"),
        N_("must not be negative"),
        N_("must be in the future"),
        N_("contains a control character"),
        N_("contains a NUL character"),
        # identity: sign-up, sign-in, passwords, tokens
        N_("email or password is incorrect"),
        N_("too many failed sign-in attempts; try again later"),
        N_("the sign-in attempt expired or was already used; sign in again"),
        N_("the session has ended; sign in again"),
        N_("is invalid, expired or already used"),
        N_("is a common or breached password (found in known leaks); choose another"),
        N_("you must confirm you are not a minor"),
        N_("the box must be ticked to accept"),
        N_("this account is suspended"),
        N_("your access to this account was removed"),
        N_("that address is already a member of this account"),
        N_("the new address is no longer available"),
        N_("you cannot remove yourself; ask another admin"),
        N_("the primary admin cannot be removed; transfer first"),
        N_("the restore window has passed"),
        # consent: links, forms, subscriptions
        N_("this link is not valid"),
        N_("this is not the address the link was sent to"),
        N_("tick the box to subscribe"),
        N_("this subscription is already confirmed"),
        N_("this pending subscription has expired: subscribe again"),
        N_("this export is not complete yet"),
        # campaign: contacts (and the recipient's own correction), imports
        N_("is not a BCP 47 language tag such as en or it-IT"),
        N_("is not an IANA time zone name such as Europe/Rome"),
        N_("this link has expired: ask for a new one from the preference centre"),
        N_("the sender holds no contact details for you"),
        N_("this import was cancelled; start a new one"),
        N_("the CSV is empty: no header line"),
    }
)

# (pattern of the service's text, catalogue entry with the same named parts)
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"must be at least (?P<n>\d+) characters"),
        N_("must be at least %(n)s characters"),
    ),
    (re.compile(r"must be at most (?P<n>\d+) characters"), N_("must be at most %(n)s characters")),
    (
        re.compile(r"is longer than (?P<n>\d+) characters"),
        N_("is longer than %(n)s characters"),
    ),
    # email_validator's reason is English and technical: the Italian page says the gist.
    (re.compile(r"is not an email address \(.*\)", re.S), N_("is not a valid email address")),
    (re.compile(r"(?P<name>.{1,200}) cannot be turned off"), N_("%(name)s cannot be turned off")),
    (
        re.compile(r"(?P<name>.{1,200}) cannot be subscribed to"),
        N_("%(name)s cannot be subscribed to"),
    ),
)


def localise(text: str, gettext: Gettext) -> str:
    """``text`` in the catalogue's language when the table knows it, else unchanged."""
    if not text:
        return text
    whole = _one(text, gettext)
    if whole is not None:
        return whole
    if "; " in text or ": " in text:
        return "; ".join(_piece(part, gettext) for part in text.split("; "))
    return text


def _piece(part: str, gettext: Gettext) -> str:
    known = _one(part, gettext)
    if known is not None:
        return known
    head, sep, tail = part.partition(": ")
    if sep:
        known = _one(tail, gettext)
        if known is not None:
            return f"{head}: {known}"
    return part


def _one(text: str, gettext: Gettext) -> str | None:
    if text in EXACT:
        translated = gettext(text)
        return text if translated == text else translated
    for pattern, entry in PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            translated = gettext(entry)
            if translated == entry:  # English, or an entry the catalogue lacks: the original
                return text
            return translated % match.groupdict()
    return None
