"""Complaint reports (ARF, RFC 5965): a mailbox provider telling us a recipient marked our
message as spam.

A report is ``multipart/report; report-type=feedback-report`` with a human-readable part, a
``message/feedback-report`` part (Feedback-Type, Original-Mail-From, Original-Rcpt-To,
Arrival-Date, ...) and the reported message or its headers. The message is found by its VERP
return path: the address the report was sent to, the report's Original-Mail-From, or the
Return-Path of the reported message.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message

from missiva_delivery.bounces import original_headers

# RFC 5965 3.5 and the IANA registry; "abuse" is what a "this is spam" button sends.
FEEDBACK_TYPES = frozenset({"abuse", "fraud", "virus", "other", "not-spam", "auth-failure"})
# Types that are a recipient's complaint about the message (not-spam and auth-failure are not).
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other"})


@dataclass(frozen=True)
class Complaint:
    feedback_type: str
    # Return paths the report names (Original-Mail-From, the reported message's Return-Path),
    # to find the message when the report was not sent to its VERP address.
    return_paths: tuple[str, ...]
    recipient_domain: str

    @property
    def is_complaint(self) -> bool:
        return self.feedback_type in COMPLAINT_TYPES


def is_feedback_report(msg: Message) -> bool:
    return (
        msg.get_content_type() == "multipart/report"
        and str(msg.get_param("report-type", "")).lower() == "feedback-report"
    )


def _fields(part: Message) -> Message:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]  # the email package parses message/* bodies as header blocks
    text = payload if isinstance(payload, str) else ""
    return email.message_from_string(text.strip() + "\n", policy=email.policy.compat32)


def _address(value: str | None) -> str:
    found = re.search(r"<([^<>\s]+)>|(\S+@\S+)", value or "")
    if not found:
        return ""
    return (found.group(1) or found.group(2)).strip()


def parse_arf(msg: Message) -> Complaint | None:
    """The complaint a feedback report carries, or None when ``msg`` is none."""
    if not is_feedback_report(msg):
        return None
    report = next(
        (p for p in msg.walk() if p.get_content_type() == "message/feedback-report"), None
    )
    if report is None:
        return None
    fields = _fields(report)
    feedback_type = (fields.get("Feedback-Type") or "").strip().lower()
    if feedback_type not in FEEDBACK_TYPES:
        feedback_type = "other" if feedback_type else "abuse"
    paths = [_address(fields.get("Original-Mail-From"))]
    original = original_headers(msg)
    if original is not None:
        paths.append(_address(original.get("Return-Path")))
    rcpt = _address(fields.get("Original-Rcpt-To"))
    if not rcpt and original is not None:
        rcpt = _address(original.get("To"))
    return Complaint(
        feedback_type=feedback_type,
        return_paths=tuple(p for p in paths if p),
        recipient_domain=rcpt.rpartition("@")[2].lower()[:253],
    )
