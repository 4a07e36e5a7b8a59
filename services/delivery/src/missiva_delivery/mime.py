"""Building a transactional message: text + HTML as multipart/alternative.

The standard library's ``EmailMessage`` is plenty for the transactional lane (a few messages
a second); campaign mail will build its bytes directly (see the issue's figures).
"""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from missiva_delivery.templates import Rendered


def _address(name: str, address: str) -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def build(
    rendered: Rendered,
    *,
    from_name: str,
    from_address: str,
    to_name: str,
    to_address: str,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(from_name, from_address)
    message["To"] = _address(to_name, to_address)
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    # RFC 3834: an automatic message; auto-responders should not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = rendered.locale
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
