"""Campaign mail as bytes, written directly: multipart/alternative (text + HTML), UTF-8.

The standard library's ``EmailMessage.as_bytes()`` spends milliseconds per message on its
policy machinery; a campaign message is always the same shape, so it is written here in tens
of microseconds: headers folded at 78 columns, words outside ASCII as RFC 2047 encoded words
(UTF-8, base64), the text part quoted-printable (it stays readable), the HTML part base64
(long lines, any characters). Lines end in CRLF. The tests parse the result with the standard
library's parser and compare every header and part.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]*$")
_ASCII_HEADER = re.compile(r"^[\x20-\x7e]*$")
# Room for one encoded word on a folded line: " =?utf-8?b?" (11) + "?=" (2) within 76.
_WORD_BYTES = 45
CRLF = b"\r\n"


class HeaderProblem(ValueError):
    """A header value that cannot be written (a line break, a non-ASCII address)."""


def _check(value: str) -> None:
    if "\r" in value or "\n" in value or "\0" in value:
        raise HeaderProblem("a header value may not contain line breaks")


def _encoded_words(text: str) -> list[str]:
    """``text`` as RFC 2047 encoded words, each at most 75 characters, never splitting a
    UTF-8 sequence."""
    words: list[str] = []
    chunk = bytearray()
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(f"=?utf-8?b?{base64.b64encode(bytes(chunk)).decode()}?=")
            chunk.clear()
        chunk += encoded
    if chunk or not words:
        words.append(f"=?utf-8?b?{base64.b64encode(bytes(chunk)).decode()}?=")
    return words


def _fold(name: str, tokens: Iterable[str]) -> bytes:
    """``Name: token token ...`` folded before a token that would pass column 78."""
    line = f"{name}:"
    lines: list[str] = []
    for token in tokens:
        if len(line) + 1 + len(token) > 78 and line != f"{name}:":
            lines.append(line)
            line = " " + token
        else:
            line += " " + token
    lines.append(line)
    return "\r\n".join(lines).encode("ascii") + CRLF


def unstructured(name: str, value: str) -> bytes:
    """An unstructured header (Subject): plain when printable ASCII, else encoded words."""
    _check(value)
    if _ASCII_HEADER.fullmatch(value) and "=?" not in value:
        return _fold(name, value.split(" ") if value else [""])
    return _fold(name, _encoded_words(value))


def phrase(text: str) -> list[str]:
    """A display name as header tokens: atoms, a quoted string, or encoded words."""
    _check(text)
    if not text:
        return []
    if _ATOM.fullmatch(text):
        return text.split()
    if _ASCII_HEADER.fullmatch(text) and "=?" not in text:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        return [f'"{escaped}"']
    return _encoded_words(text)


def mailbox(name: str, address: str) -> list[str]:
    """``Name <address>`` as header tokens."""
    _check(address)
    if not address.isascii():
        raise HeaderProblem("the address needs SMTPUTF8, which this sender does not use")
    return [*phrase(name), f"<{address}>"]


def address_header(name: str, display: str, address: str) -> bytes:
    return _fold(name, mailbox(display, address))


def raw(name: str, value: str) -> bytes:
    """A structured header whose value is ASCII already (Message-ID, List-Unsubscribe ...)."""
    _check(value)
    if not value.isascii():
        raise HeaderProblem(f"{name} must be ASCII")
    return _fold(name, value.split(" "))


def quoted_printable(text: str) -> bytes:
    body = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True)
    return body.replace(b"\n", CRLF)


def base64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", CRLF)


def build(
    *,
    headers: list[bytes],
    text: str,
    html: str,
    boundary: str,
) -> bytes:
    """The whole message: ``headers`` (already written, each ending in CRLF) then the MIME
    headers and the two parts. ``boundary`` must start with ``=_`` (it then cannot occur in
    quoted-printable or base64 output)."""
    if not boundary.startswith("=_"):
        raise ValueError("the boundary must start with '=_'")
    b = boundary.encode("ascii")
    return b"".join(
        (
            *headers,
            b"MIME-Version: 1.0\r\n",
            b'Content-Type: multipart/alternative; boundary="',
            b,
            b'"\r\n\r\n--',
            b,
            b"\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            quoted_printable(text),
            b"\r\n--",
            b,
            b"\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n",
            base64_lines(html.encode("utf-8")),
            b"--",
            b,
            b"--\r\n",
        )
    )
