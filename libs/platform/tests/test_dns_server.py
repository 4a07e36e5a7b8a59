"""The loopback DNS server answers real queries (dnspython, UDP and TCP) from its zone file,
truncates what does not fit a UDP answer, and follows the file as it changes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import dns.resolver
import pytest

from missiva_platform.devstack.ports import free_port, wait_for_port
from missiva_platform.dns_server import LoopbackDns, ZoneError, publish, read_zone, record

LONG_TXT = "v=DKIM1; k=rsa; p=" + "A" * 392  # the size of an RSA-2048 key record


def _records() -> list:  # type: ignore[type-arg]
    return [
        record("example.org", "A", "192.0.2.10"),
        record("example.org", "MX", "10 mx.example.org"),
        record("example.org", "TXT", "v=spf1 -all"),
        record("s1._domainkey.example.org", "TXT", LONG_TXT),
        record("bounces.example.org", "CNAME", "mx.example.org"),
        record("mx.example.org", "A", "192.0.2.25"),
    ]


def test_answers_each_type_through_a_resolver(
    dns_server: LoopbackDns, loopback_resolver: dns.resolver.Resolver
) -> None:
    assert dns_server.publish("example.org", _records()) == 6
    resolve = loopback_resolver.resolve
    assert [r.address for r in resolve("example.org", "A")] == ["192.0.2.10"]
    assert [(r.preference, str(r.exchange)) for r in resolve("example.org", "MX")] == [
        (10, "mx.example.org.")
    ]
    # A long TXT record: split into 255-byte strings, joined again by the reader.
    txt = resolve("S1._domainkey.EXAMPLE.org", "TXT")
    assert b"".join(txt[0].strings).decode() == LONG_TXT
    # A CNAME is followed inside the zone.
    answer = resolve("bounces.example.org", "A")
    assert [r.address for r in answer] == ["192.0.2.25"]
    assert answer.canonical_name.to_text() == "mx.example.org."
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolve("nothing.example.org", "TXT")
    with pytest.raises(dns.resolver.NoAnswer):
        resolve("mx.example.org", "TXT")


def test_a_big_answer_is_truncated_over_plain_udp_and_whole_over_tcp_or_edns(
    dns_server: LoopbackDns,
) -> None:
    dns_server.publish("example.org", _records())
    host, port = dns_server.host, dns_server.port
    plain = dns.message.make_query("s1._domainkey.example.org", "TXT", use_edns=False)
    # Padded past 512 bytes with a second record at the same name.
    dns_server.publish(
        "example.org",
        [*_records(), record("s1._domainkey.example.org", "TXT", "x" * 300)],
    )
    udp = dns.query.udp(plain, host, port=port, timeout=3, ignore_trailing=True)
    assert udp.flags & dns.flags.TC
    assert not udp.answer
    assert udp.flags & dns.flags.AA
    tcp = dns.query.tcp(plain, host, port=port, timeout=3)
    assert not tcp.flags & dns.flags.TC
    assert len(tcp.answer[0]) == 2
    edns = dns.message.make_query("s1._domainkey.example.org", "TXT", use_edns=0, payload=1232)
    big = dns.query.udp(edns, host, port=port, timeout=3)
    assert not big.flags & dns.flags.TC
    assert len(big.answer[0]) == 2
    # udp_with_fallback, what resolvers do: retried over TCP after TC.
    answer, used_tcp = dns.query.udp_with_fallback(plain, host, port=port, timeout=3)
    assert used_tcp
    assert len(answer.answer[0]) == 2


def test_publishing_again_replaces_only_that_owners_records_and_is_seen_at_once(
    dns_server: LoopbackDns, loopback_resolver: dns.resolver.Resolver
) -> None:
    dns_server.publish("example.org", _records())
    dns_server.publish("other.example", [record("other.example", "TXT", "v=spf1 ~all")])
    dns_server.publish("example.org", [record("example.org", "TXT", "v=spf1 mx -all")])
    answer = loopback_resolver.resolve("example.org", "TXT")
    assert [b"".join(r.strings) for r in answer] == [b"v=spf1 mx -all"]
    with pytest.raises(dns.resolver.NXDOMAIN):
        loopback_resolver.resolve("mx.example.org", "A")
    assert [b"".join(r.strings) for r in loopback_resolver.resolve("other.example", "TXT")] == [
        b"v=spf1 ~all"
    ]
    owners = {r.owner for r in read_zone(dns_server.zone_file)}
    assert owners == {"example.org", "other.example"}


def test_a_broken_zone_file_keeps_the_last_good_answers(
    dns_server: LoopbackDns, loopback_resolver: dns.resolver.Resolver
) -> None:
    dns_server.publish("example.org", _records())
    assert loopback_resolver.resolve("example.org", "A")
    dns_server.zone_file.write_text('{"records": [ half written')
    assert [r.address for r in loopback_resolver.resolve("example.org", "A")] == ["192.0.2.10"]
    with pytest.raises(ZoneError, match="not JSON"):
        read_zone(dns_server.zone_file)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("bad..name", "A", "192.0.2.1"), "name"),
        (("x" * 64 + ".example", "A", "192.0.2.1"), "name"),
        (("bücher.example", "A", "192.0.2.1"), "name"),
        (("example.org", "SRV", "x"), "type"),
        (("example.org", "A", "not-an-ip"), "value"),
        (("example.org", "MX", "ten mx.example.org"), "value"),
    ],
)
def test_bad_records_are_refused_naming_the_field(args: tuple[str, str, str], field: str) -> None:
    with pytest.raises(ZoneError, match=f"^{field}:"):
        record(*args)


def test_a_zone_file_with_a_bad_record_names_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    zone = tmp_path / "zone.json"
    zone.write_text(
        json.dumps(
            {
                "records": [
                    {"name": "a.example", "type": "TXT", "value": "x"},
                    {"name": "a.example", "type": "A", "value": "x"},
                ]
            }
        )
    )
    with pytest.raises(ZoneError, match=r"records\[1\]: value"):
        read_zone(zone)
    publish(tmp_path / "new.json", "a.example", [record("a.example", "TXT", "x")])
    assert len(read_zone(tmp_path / "new.json")) == 1


def test_the_command_serves_a_zone_file_until_terminated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    zone = tmp_path / "zone.json"
    publish(zone, "example.org", _records())
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "missiva_platform.dns_server",
            "--port",
            str(port),
            "--zone",
            str(zone),
        ]
    )
    try:
        wait_for_port(port, "127.0.0.1", timeout=20)
        query = dns.message.make_query("example.org", "A")
        deadline = time.monotonic() + 10
        while True:
            try:
                reply = dns.query.udp(query, "127.0.0.1", port=port, timeout=1)
                break
            except dns.exception.Timeout:
                if time.monotonic() > deadline:
                    raise
        assert reply.answer[0][0].address == "192.0.2.10"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
