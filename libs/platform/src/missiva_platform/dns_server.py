"""A small authoritative DNS server for loopback (dnslib), answering from a JSON zone file.

The embedded platform (``missiva up``) and the tests run one so that sender-domain
verification and every DKIM check of a received message go through real DNS queries. It
serves A, AAAA, CNAME, MX and TXT records over UDP and TCP. A UDP answer larger than the
asker can take (512 bytes, or its EDNS payload size) is sent truncated (TC), and resolvers
ask again over TCP: an RSA-2048 DKIM key record alone is about 420 bytes.

The zone file, read again whenever it changes::

    {"records": [{"name": "s1._domainkey.example.org", "type": "TXT",
                  "value": "v=DKIM1; k=rsa; p=...", "ttl": 300, "owner": "example.org"}]}

``owner`` groups the records one publication wrote (a sender domain's), so publishing a
domain again replaces its records and nothing else. ``publish`` writes it atomically.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnslib import AAAA, CNAME, EDNS0, MX, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

TYPES = ("A", "AAAA", "CNAME", "MX", "TXT")
DEFAULT_TTL = 300
UDP_PLAIN_LIMIT = 512  # RFC 1035, without EDNS
UDP_MAX_LIMIT = 4096


class ZoneError(ValueError):
    """The zone file, or a record given to publish, is not valid."""


@dataclass(frozen=True)
class Record:
    name: str  # lower case, no final dot
    type: str  # one of TYPES
    value: str
    ttl: int = DEFAULT_TTL
    owner: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "value": self.value,
            "ttl": self.ttl,
            "owner": self.owner,
        }


def _normal(name: str) -> str:
    return name.strip().rstrip(".").lower()


def record(name: str, type_: str, value: str, ttl: int = DEFAULT_TTL, owner: str = "") -> Record:
    """A checked record: a name of labels, a known type, a value its type can hold."""
    normal = _normal(name)
    labels = normal.split(".")
    if not normal or len(normal) > 253 or any(not 0 < len(x) <= 63 for x in labels):
        raise ZoneError(f"name: {name!r} is not a DNS name")
    if not normal.isascii():
        raise ZoneError(f"name: {name!r} must be ASCII (IDNs as A-labels)")
    kind = type_.upper()
    if kind not in TYPES:
        raise ZoneError(f"type: {type_!r} is not one of {', '.join(TYPES)}")
    if not isinstance(ttl, int) or not 0 <= ttl <= 86400:
        raise ZoneError(f"ttl: {ttl!r} must be 0..86400 seconds")
    rr = Record(normal, kind, value, ttl, _normal(owner))
    try:
        _rdata(rr)
    except (ValueError, TypeError, IndexError) as exc:
        raise ZoneError(f"value: {value!r} is not a {kind} record value ({exc})") from None
    return rr


def _txt_chunks(value: str) -> list[bytes]:
    data = value.encode()
    return [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]


def _rdata(rr: Record) -> Any:
    if rr.type == "A":
        return A(rr.value)
    if rr.type == "AAAA":
        return AAAA(rr.value)
    if rr.type == "CNAME":
        return CNAME(rr.value)
    if rr.type == "MX":
        preference, _, host = rr.value.strip().partition(" ")
        return MX(host.strip(), int(preference))
    return TXT(_txt_chunks(rr.value))


def read_zone(path: Path) -> list[Record]:
    """The records of a zone file; a missing file is an empty zone."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except ValueError as exc:
        raise ZoneError(f"{path}: not JSON ({exc})") from None
    items = raw.get("records") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise ZoneError(f"{path}: needs an object with a 'records' list")
    records = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ZoneError(f"{path}: records[{index}] is not an object")
        try:
            records.append(
                record(
                    str(item.get("name", "")),
                    str(item.get("type", "")),
                    str(item.get("value", "")),
                    item.get("ttl", DEFAULT_TTL),
                    str(item.get("owner", "")),
                )
            )
        except ZoneError as exc:
            raise ZoneError(f"{path}: records[{index}]: {exc}") from None
    return records


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def publish(path: Path, owner: str, records: Iterable[Record]) -> int:
    """Replace ``owner``'s records in the zone file by ``records`` (atomic); their count."""
    owned = [Record(r.name, r.type, r.value, r.ttl, _normal(owner)) for r in records]
    with _locked(path):
        kept = [r for r in read_zone(path) if r.owner != _normal(owner)]
        body = json.dumps({"records": [r.to_json() for r in kept + owned]}, indent=2)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".zone-")
        with os.fdopen(fd, "w") as out:
            out.write(body + "\n")
        os.replace(temp, path)
    return len(owned)


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    """Answers from the zone file, reading it again when its size or mtime changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_name: dict[str, list[Record]] = {}

    def _zone(self) -> dict[str, list[Record]]:
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                try:
                    records = read_zone(self.path)
                except ZoneError:
                    return self._by_name  # a file being written by hand: keep the last good one
                by_name: dict[str, list[Record]] = {}
                for rr in records:
                    by_name.setdefault(rr.name, []).append(rr)
                self._by_name, self._stamp = by_name, stamp
            return self._by_name

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()  # aa=1: we are the authority for what we hold
        zone = self._zone()
        name = _normal(str(request.q.qname))
        wanted = QTYPE[request.q.qtype]
        for _ in range(8):  # follow CNAMEs inside the zone, not forever
            records = zone.get(name)
            if records is None:
                if not reply.rr:
                    reply.header.rcode = RCODE.NXDOMAIN
                return reply
            cnames = [r for r in records if r.type == "CNAME"]
            if cnames and wanted != "CNAME":
                target = cnames[0]
                reply.add_answer(RR(name, QTYPE.CNAME, rdata=_rdata(target), ttl=target.ttl))
                name = _normal(target.value)
                continue
            for rr in records:
                if wanted in (rr.type, "ANY"):
                    reply.add_answer(
                        RR(name, getattr(QTYPE, rr.type), rdata=_rdata(rr), ttl=rr.ttl)
                    )
            return reply
        return reply


class _Handler(DNSHandler):  # type: ignore[misc]
    """dnslib's handler, with the UDP size limit taken from the request (EDNS or 512)."""

    def get_reply(self, data: bytes) -> bytes:
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        edns = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
        if edns:
            reply.add_ar(edns0(UDP_MAX_LIMIT))
        packed: bytes = reply.pack()
        if self.protocol == "udp":
            limit = UDP_PLAIN_LIMIT
            if edns:
                limit = max(UDP_PLAIN_LIMIT, min(edns[0].rclass, UDP_MAX_LIMIT))
            if len(packed) > limit:
                # The question and TC, no records: the asker tries again over TCP.
                truncated = request.reply()
                truncated.header.tc = 1
                truncated.header.rcode = reply.header.rcode
                if edns:
                    truncated.add_ar(edns0(UDP_MAX_LIMIT))
                packed = truncated.pack()
        return packed


def edns0(size: int) -> RR:
    """The OPT pseudo-record (RFC 6891) announcing the UDP payload size we accept."""
    return EDNS0(udp_len=size)


class _Quiet(DNSLogger):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-recv,-send,-data", prefix=False)


class LoopbackDns:
    """The server on ``host:port``, UDP and TCP, each on a background thread."""

    def __init__(self, zone_file: Path, port: int, host: str = "127.0.0.1") -> None:
        self.zone_file, self.host, self.port = zone_file, host, port
        resolver = ZoneResolver(zone_file)
        self._servers = [
            DNSServer(resolver, address=host, port=port, tcp=tcp, handler=_Handler, logger=_Quiet())
            for tcp in (False, True)
        ]

    @property
    def address(self) -> str:
        """``host:port``, the form of the services' ``DNS_RESOLVER`` setting."""
        return f"{self.host}:{self.port}"

    def publish(self, owner: str, records: Iterable[Record]) -> int:
        return publish(self.zone_file, owner, records)

    def start(self) -> None:
        for server in self._servers:
            server.start_thread()

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()


def main() -> None:
    """``python -m missiva_platform.dns_server --port N --zone FILE [--host H]``."""
    parser = argparse.ArgumentParser(description="Missiva loopback DNS: answers from a zone file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--zone", type=Path, required=True)
    args = parser.parse_args()
    try:
        read_zone(args.zone)
    except ZoneError as exc:
        parser.exit(2, f"dns: {exc}\n")
    server = LoopbackDns(args.zone, args.port, args.host)
    server.start()
    print(f"dns: serving {args.zone} on {args.host}:{args.port} (udp, tcp)", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
