"""What the gateway tells the services about a visitor: client IP and User-Agent.

The IP is the socket peer's, unless that peer is one of ``TRUSTED_PROXIES``: then the
``X-Forwarded-For`` chain is read from the right (each proxy appends the address it saw),
skipping trusted proxies, and the first address not in the list is the client. A header
sent by anyone else is ignored, so a visitor cannot choose the IP that is recorded.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from missiva.common.v1 import types_pb2

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_USER_AGENT = 512  # consent keeps less; a huge header is not worth forwarding whole


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:8080"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)


def client_ip(peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]) -> str:
    """The visitor's IP as text ("" when unknown), believing X-Forwarded-For only from
    trusted proxies."""
    address = _address(peer or "")
    if address is None:
        return ""
    if not trusted or not _trusted(address, trusted):
        return str(address)
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        found = _address(hop)
        if found is None:
            break  # a garbled chain: trust nothing before it
        address = found
        if not _trusted(address, trusted):
            return str(address)
    # Every hop was a trusted proxy (or the chain broke): the last address believed.
    return str(address)


def client_context(scope: Any, headers: Any, trusted: Sequence[Network]) -> types_pb2.ClientContext:
    """The ``ClientContext`` of a request (``scope`` the ASGI scope, ``headers`` its headers)."""
    peer = scope.get("client")
    forwarded = headers.getall("x-forwarded-for", []) if hasattr(headers, "getall") else []
    return types_pb2.ClientContext(
        ip_address=client_ip(peer[0] if peer else None, forwarded, trusted),
        user_agent=str(headers.get("user-agent", ""))[:MAX_USER_AGENT],
    )
