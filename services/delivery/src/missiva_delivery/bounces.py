"""Bounce reports: what a delivery status notification says, and what it means.

``classify`` is the one table that turns an enhanced status code (RFC 3463) and the reply
text into a bounce class:

- ``hard``: the address does not exist (5.1.x, a disabled mailbox 5.2.1, no such domain
  5.4.4, or a permanent failure whose text says "no such user"); it is suppressed.
- ``soft``: a temporary failure (4.x.x) the remote server gave up on, a full mailbox (x.2.2
  whatever its class), or a permanent failure we cannot read; several soft bounces in a row
  for one address make it hard (``feedback.py``).
- ``blocked``: a refusal by policy or reputation (5.7.x, or a permanent failure naming a
  block list, spam or policy), or of our own message (too big 5.3.4, bad content 5.6.x,
  our sender address 5.1.7/5.1.8): the address stays good, the block is counted per
  destination domain.

``parse_dsn`` reads a received message: flufl.bounce says whether it reports failed
recipients (it knows the RFC 3464 format and the older formats of many servers), and the
``message/delivery-status`` fields (Action, Status, Diagnostic-Code, Final-Recipient) tell
the details; a report without them (legacy Exim) gives its reply line from the text.
"""

from __future__ import annotations

import email
import email.policy
import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

import flufl.bounce

from missiva_delivery.domain import enhanced_code, redact_addresses


class BounceClass(enum.StrEnum):
    HARD = "hard"
    SOFT = "soft"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Verdict:
    bounce_class: BounceClass
    rule: str  # which line of the table decided, for the ledger and the tests


_BLOCK_TEXT = re.compile(
    r"block ?list|blacklist|blocked|spamhaus|spamcop|barracuda|\bRBL\b|\bDNSBL\b|listed\b|"
    r"\bspam\b|unsolicited|reputation|policy|banned|not authori[sz]ed|dmarc|"
    r"authentication (failed|required)|\bSPF\b|\bDKIM\b|bulk mail|rate limit",
    re.IGNORECASE,
)
_NO_USER_TEXT = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address)|does not exist|"
    r"doesn't exist|recipient not found|not found by smtp address lookup|address rejected|"
    r"invalid (recipient|mailbox|address)|mailbox unavailable|mailbox not found|"
    r"unknown recipient|account (is )?disabled|no mailbox|unrouteable address",
    re.IGNORECASE,
)
_FULL_TEXT = re.compile(r"mailbox (is )?full|over ?quota|quota exceeded|insufficient storage",
                        re.IGNORECASE)  # fmt: skip


def classify(status: str, diagnostic: str = "") -> Verdict:
    """The bounce class of a failed delivery: ``status`` is the DSN's Status field (or the
    enhanced code of the reply), ``diagnostic`` the reply text. The rules are tried in order;
    the first that matches decides."""
    code = enhanced_code(status) or enhanced_code(diagnostic)
    if not code:
        basic = re.match(r"\s*(?:smtp;\s*)?([45])\d\d\b", diagnostic)
        code = f"{basic.group(1)}.0.0" if basic else "5.0.0"
    klass, subject, detail = code.split(".")
    text = diagnostic
    if (subject == "2" and detail == "2") or _FULL_TEXT.search(text):
        return Verdict(BounceClass.SOFT, "x.2.2 mailbox full")
    if klass == "4":
        return Verdict(BounceClass.SOFT, "4.x.x temporary failure, given up")
    if subject == "7":
        return Verdict(BounceClass.BLOCKED, "5.7.x policy or reputation block")
    if subject == "1" and detail in ("7", "8"):
        return Verdict(BounceClass.BLOCKED, "5.1.7/5.1.8 our sender address refused")
    if subject == "1":
        return Verdict(BounceClass.HARD, "5.1.x no such user or domain")
    if subject == "2" and detail == "1":
        return Verdict(BounceClass.HARD, "5.2.1 mailbox disabled")
    if subject == "4" and detail == "4":
        return Verdict(BounceClass.HARD, "5.4.4 no such domain")
    if subject in ("3", "6") and detail != "0":
        return Verdict(BounceClass.BLOCKED, "5.3.x/5.6.x our message refused")
    if _BLOCK_TEXT.search(text):
        return Verdict(BounceClass.BLOCKED, "5.x.x reply names a block or policy")
    if _NO_USER_TEXT.search(text):
        return Verdict(BounceClass.HARD, "5.x.x reply says no such user")
    return Verdict(BounceClass.SOFT, "5.x.x unreadable permanent failure")


# -- reading a report ----------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """One failed recipient of a bounce report. ``diagnostic`` is kept without addresses."""

    action: str  # "failed" or "delayed"
    status: str  # enhanced status code, "5.1.1"
    diagnostic: str
    recipient_domain: str
    verdict: Verdict


def parse_message(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _parts(msg: Message, maintype: str, subtype: str) -> Iterator[Message]:
    for part in msg.walk():
        if part.get_content_maintype() == maintype and part.get_content_subtype() == subtype:
            yield part


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status part (the per-message block first)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):  # some servers send it as text: parse the blocks ourselves
        return [email.message_from_string(b.strip() + "\n") for b in re.split(r"\n\s*\n", payload)
                if b.strip()]  # fmt: skip
    return []


def _unfold(value: str | None) -> str:
    return re.sub(r"\s+", " ", value or "").strip()


def _typed(value: str) -> str:
    """``rfc822; ann@example.org`` → ``ann@example.org``; ``smtp; 550 ...`` → ``550 ...``."""
    _, semi, rest = value.partition(";")
    return rest.strip() if semi else value.strip()


def _domain(address: str) -> str:
    return address.strip().strip("<>").rpartition("@")[2].lower()[:253]


def _failure(action: str, status: str, diagnostic: str, recipient: str) -> Failure:
    clean = redact_addresses(diagnostic)[:1000]
    code = enhanced_code(status) or enhanced_code(diagnostic)
    return Failure(
        action=action,
        status=code,
        diagnostic=clean,
        recipient_domain=_domain(recipient),
        verdict=classify(code, diagnostic),
    )


def _from_delivery_status(msg: Message) -> list[Failure]:
    found = []
    for part in _parts(msg, "message", "delivery-status"):
        for block in _field_blocks(part)[1:] or _field_blocks(part):
            action = _unfold(block.get("Action")).lower().split(" ")[0]
            if not action.startswith(("failed", "delayed", "error")):
                continue  # delivered, relayed, expanded: not a failure
            named = block.get("Final-Recipient") or block.get("Original-Recipient")
            recipient = _typed(_unfold(named))
            found.append(
                _failure(
                    "delayed" if action.startswith("delayed") else "failed",
                    _unfold(block.get("Status")),
                    _typed(_unfold(block.get("Diagnostic-Code"))),
                    recipient,
                )
            )
    return found


_REPLY_LINE = re.compile(r"^\s*(?:.*?said:\s*)?([45]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3}\b)?.*)$")


def _text(msg: Message) -> str:
    chunks = []
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            body = part.get_payload(decode=True)
            if isinstance(body, bytes):
                chunks.append(body.decode(part.get_content_charset() or "utf-8", "replace"))
        if part.get_content_maintype() == "message":
            break  # the returned message is not the report
    return "\n".join(chunks)


def _from_text(msg: Message, permanent: set[str], temporary: set[str]) -> list[Failure]:
    """A report without delivery-status fields: its first SMTP reply line (and the lines
    that continue it) is the diagnostic."""
    lines = _text(msg).splitlines()
    diagnostic = ""
    for i, line in enumerate(lines):
        found = _REPLY_LINE.match(line)
        if found:
            rest = [found.group(1).strip()]
            for more in lines[i + 1 : i + 4]:
                if not more.strip() or not more.startswith((" ", "\t")):
                    break
                rest.append(more.strip())
            diagnostic = " ".join(rest)
            break
    if not diagnostic:  # no reply line: the indented lines under the failed address
        wanted = {a.lower() for a in permanent | temporary}
        for i, line in enumerate(lines):
            if line.strip().lower() in wanted:
                below = []
                for more in lines[i + 1 : i + 4]:
                    if not more.strip() or not more.startswith((" ", "\t")):
                        break
                    below.append(more.strip())
                diagnostic = " ".join(below)
                break
    failures = []
    for address in sorted(permanent):
        failures.append(_failure("failed", "", diagnostic or "5.0.0", address))
    for address in sorted(temporary - permanent):
        failures.append(_failure("delayed", "", diagnostic or "4.0.0", address))
    return failures


def parse_dsn(msg: Message) -> list[Failure]:
    """The failed (and delayed) recipients a bounce report names, or ``[]`` when it is no
    bounce report (an auto-reply, a message somebody wrote)."""
    try:
        temporary, permanent = flufl.bounce.all_failures(msg)
    except Exception:  # a detector tripping over a malformed message: read the fields
        temporary, permanent = frozenset(), frozenset()
    fields = _from_delivery_status(msg)
    if fields:
        return fields
    if not temporary and not permanent:
        return []
    return _from_text(
        msg,
        {a.decode("ascii", "replace") for a in permanent},
        {a.decode("ascii", "replace") for a in temporary},
    )


def original_headers(msg: Message) -> Message | None:
    """The returned message (or its headers) inside a report, when it carries one."""
    for part in msg.walk():
        if part is msg:
            continue
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        if kind in ("text/rfc822-headers", "text/global-headers"):
            body = part.get_payload(decode=True)
            if isinstance(body, bytes):
                return email.message_from_bytes(body, policy=email.policy.compat32)
    return None
