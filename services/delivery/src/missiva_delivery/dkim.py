"""DKIM signing (RFC 6376), RSA-SHA256 and Ed25519-SHA256 (RFC 8463), relaxed/relaxed.

Signing is the CPU-bound half of building campaign mail, so it stays lean: keys are loaded
once per signer, the body hash and the canonical header block are computed once per message
and shared by every key, and the signatures come from ``cryptography`` (OpenSSL) rather than
dkimpy's pure-Python RSA. dkimpy is what the tests verify with, over real DNS.

``DkimSigner.sign`` returns the ``DKIM-Signature`` header field(s) to put in front of the
message, one per key, each CRLF-terminated. Headers are signed only when present; the ones in
``OVERSIGNED`` are listed once more than they occur, so a header of that name added in transit
(a second From, a replaced List-Unsubscribe) breaks the signature instead of riding on it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

RSA_SHA256 = "rsa-sha256"
ED25519_SHA256 = "ed25519-sha256"
ALGORITHMS = (RSA_SHA256, ED25519_SHA256)

SIGNED_HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)
# Listed one extra time: adding a header of this name after signing breaks the signature.
OVERSIGNED = frozenset(
    {"from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post"}
)

RSA_BITS = 2048
_MIN_RSA_BITS = 1024  # RFC 8301: verifiers refuse smaller keys

_WSP = re.compile(rb"[ \t]{2,}|\t")  # runs worth collapsing: a lone space stays as it is
_BARE_LF = re.compile(rb"(?<!\r)\n")
_FIELD_START = re.compile(rb"\r\n(?![ \t])")
# d= is an ASCII domain (IDNs as A-labels); s= dot-separated labels (RFC 6376 3.1).
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII except ':' (RFC 5322 ftext)
_B64_LINE = 72


@dataclass(frozen=True)
class DkimKey:
    domain: str  # d=
    selector: str  # s=
    algorithm: str  # "rsa-sha256" or "ed25519-sha256" (RFC 8463)
    private_key_pem: bytes  # PKCS#8 PEM


def generate_key(domain: str, selector: str, algorithm: str) -> tuple[DkimKey, str]:
    """A new key pair: the key to sign with and the DNS TXT value that publishes it."""
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if algorithm == RSA_SHA256:
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    elif algorithm == ED25519_SHA256:
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"algorithm: unknown DKIM algorithm {algorithm!r}")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = DkimKey(domain=domain, selector=selector, algorithm=algorithm, private_key_pem=pem)
    _check_names(key)
    return key, txt_record(key)


def txt_record(key: DkimKey) -> str:
    """The DKIM key record (RFC 6376 3.6.1) publishing ``key``'s public half."""
    private = _load(key)
    if isinstance(private, rsa.RSAPrivateKey):
        # SubjectPublicKeyInfo DER, what every verifier (and opendkim-genkey) uses.
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"


def _check_names(key: DkimKey) -> None:
    if len(key.domain) > 253 or not _DOMAIN.fullmatch(key.domain):
        raise ValueError(f"domain: {key.domain!r} is not an ASCII domain name")
    if len(key.selector) > 63 * 4 or not _SELECTOR.fullmatch(key.selector):
        raise ValueError(f"selector: {key.selector!r} is not a DKIM selector")


def _load(key: DkimKey) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    if key.algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm: unknown DKIM algorithm {key.algorithm!r}")
    private = serialization.load_pem_private_key(key.private_key_pem, password=None)
    if key.algorithm == RSA_SHA256:
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("private_key_pem: not an RSA key, as rsa-sha256 needs")
        if private.key_size < _MIN_RSA_BITS:
            raise ValueError(f"private_key_pem: RSA key of {private.key_size} bits is too small")
        return private
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise ValueError("private_key_pem: not an Ed25519 key, as ed25519-sha256 needs")
    return private


# --- relaxed canonicalisation (RFC 6376 3.4.2, 3.4.4) ---


def relaxed_header(field: bytes) -> bytes:
    """One header field (name, colon, value, folded or not; no final CRLF), canonicalised."""
    name, _, value = field.partition(b":")
    value = _WSP.sub(b" ", value.replace(b"\r\n", b"")).strip(b" ")
    return name.rstrip(b" \t").lower() + b":" + value


def relaxed_body(body: bytes) -> bytes:
    if not body:
        return b""
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    # WSP runs to one SP with C-speed replaces (a regex scan costs ~10x more): tabs become
    # spaces, then each pass halves every run of spaces.
    if b"\t" in body:
        body = body.replace(b"\t", b" ")
    while b"  " in body:
        body = body.replace(b"  ", b" ")
    if b" \r\n" in body:  # what is left at a line's end is one SP
        body = body.replace(b" \r\n", b"\r\n")
    end = len(body)
    while end >= 4 and body.endswith(b"\r\n\r\n", 0, end):
        end -= 2
    if end == 2:  # only empty lines
        return b""
    return body[:end] if end != len(body) else body


def split_message(message: bytes) -> tuple[list[bytes], bytes]:
    """Header fields (each without its final CRLF) and the body of a CRLF message."""
    head, sep, body = message.partition(b"\r\n\r\n")
    if not sep:
        # No body: the whole message is headers, or headers then an empty line at the end.
        head = message.removesuffix(b"\r\n")
        body = b""
    if head.startswith(b"\r\n"):  # an empty header block: the message is all body
        return [], message[2:]
    return _FIELD_START.split(head), body


@dataclass(frozen=True)
class _Loaded:
    key: DkimKey
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class DkimSigner:
    """Signs messages with one or more keys; keys are loaded and checked once, here."""

    def __init__(self, keys: Sequence[DkimKey], headers: Sequence[str] = SIGNED_HEADERS) -> None:
        if not keys:
            raise ValueError("keys: at least one DKIM key is needed")
        names: list[str] = []
        for header in headers:
            if not _HEADER_NAME.fullmatch(header):
                raise ValueError(f"headers: {header!r} is not a header field name")
            lowered = header.lower()
            if lowered not in names:
                names.append(lowered)
        if "from" not in names:
            raise ValueError("headers: From must be signed (RFC 6376 5.4)")
        self._names = tuple(names)
        self._keys: list[_Loaded] = []
        for key in keys:
            _check_names(key)
            self._keys.append(_Loaded(key, _load(key)))

    def sign(self, message: bytes, *, now: int | None = None) -> bytes:
        """DKIM-Signature header field(s), CRLF-terminated, one per key, to prepend to
        ``message`` (relaxed/relaxed)."""
        if message.count(b"\n") != message.count(b"\r\n"):
            # What goes on the wire is CRLF; sign what the receiver will see.
            message = _BARE_LF.sub(b"\r\n", message)
        fields, body = split_message(message)
        by_name: dict[bytes, list[bytes]] = {}
        for field in fields:
            field_name = field.partition(b":")[0].rstrip(b" \t").lower()
            by_name.setdefault(field_name, []).append(field)
        signed: list[str] = []
        canonical: list[bytes] = []
        for name in self._names:
            present = by_name.get(name.encode())
            if not present:
                continue
            # The last instance is signed first (RFC 6376 5.4.2).
            for field in reversed(present):
                signed.append(name)
                canonical.append(relaxed_header(field) + b"\r\n")
            if name in OVERSIGNED:
                signed.append(name)
        if "from" not in signed:
            raise ValueError("message: no From header field to sign")
        header_data = b"".join(canonical)
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode()
        timestamp = int(time.time()) if now is None else now
        out: list[bytes] = []
        for loaded in self._keys:
            key = loaded.key
            prefix = (
                f"DKIM-Signature: v=1; a={key.algorithm}; c=relaxed/relaxed;"
                f" d={key.domain}; s={key.selector};\r\n\tt={timestamp};"
                f" h={':'.join(signed)};\r\n\tbh={body_hash};\r\n\tb="
            ).encode()
            # The signature covers this field itself with an empty b= and no final CRLF.
            data = header_data + relaxed_header(prefix)
            if isinstance(loaded.private, rsa.RSAPrivateKey):
                raw = loaded.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
            else:
                raw = loaded.private.sign(hashlib.sha256(data).digest())
            b64 = base64.b64encode(raw)
            folded = b"\r\n\t".join(b64[i : i + _B64_LINE] for i in range(0, len(b64), _B64_LINE))
            out.append(prefix + folded + b"\r\n")
        return b"".join(out)
