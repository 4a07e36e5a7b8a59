"""``python -m missiva_delivery publish-dns <domain> [--tenant ID] [--zone-file PATH]``.

Writes a sender domain's records (both DKIM keys of every listed generation, the return
path's MX and SPF, DMARC) into the embedded platform's loopback DNS zone
(``DNS_ZONE_FILE``, set by ``missiva up``), replacing what the command wrote for that domain
before, plus the platform's own side (the bounce MX host's address, the SPF include). Then
``VerifySenderDomain`` finds them. In production the account's DNS provider holds them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import psycopg

from missiva_delivery import sender_domains as sd
from missiva_delivery.store import domains as store
from missiva_platform.dns_server import ZoneError, publish, record
from missiva_platform.errors import InvalidArgument
from missiva_platform.service import ServiceApp

PLATFORM_OWNER = "missiva-platform"


def platform_of(settings: Any) -> sd.Platform:
    return sd.Platform(
        return_path_label=settings.return_path_label.lower(),
        bounce_mx_host=settings.bounce_mx_host.lower(),
        spf_include=settings.spf_include.lower(),
    )


async def publish_dns_command(app: ServiceApp, args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="missiva-delivery publish-dns")
    parser.add_argument("domain")
    parser.add_argument("--tenant", default="", help="the account, when several registered it")
    parser.add_argument("--zone-file", type=Path, default=None, help="default: DNS_ZONE_FILE")
    parsed = parser.parse_args(args)
    settings: Any = app.settings
    zone = parsed.zone_file or (Path(settings.dns_zone_file) if settings.dns_zone_file else None)
    if zone is None:
        print("delivery: no zone file: set DNS_ZONE_FILE or pass --zone-file", flush=True)
        return 2
    try:
        name = sd.valid_domain("domain", parsed.domain)
    except InvalidArgument as exc:
        print(f"delivery: {exc.message}", flush=True)
        return 2
    platform = platform_of(settings)
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        found = await store.by_name_any_tenant(conn, name)
        if parsed.tenant:
            found = [row for row in found if row["tenant_id"] == parsed.tenant]
        if not found:
            print(f"delivery: {name} is not a sender domain" + (
                f" of account {parsed.tenant}" if parsed.tenant else ""), flush=True)  # fmt: skip
            return 1
        if len(found) > 1:
            print(f"delivery: {len(found)} accounts registered {name}: name one with --tenant",
                  flush=True)  # fmt: skip
            return 1
        row = found[0]
        keys = await store.keys(conn, row["tenant_id"], row["id"])
    expected = sd.expected_records(name, keys, platform)
    try:
        count = publish(zone, name, [record(e.name, e.type, e.value) for e in expected])
        publish(zone, PLATFORM_OWNER, [
            record(platform.bounce_mx_host, "A", "127.0.0.1"),
            record(platform.spf_include, "TXT", "v=spf1 ip4:127.0.0.1 -all"),
        ])  # fmt: skip
    except ZoneError as exc:
        print(f"delivery: {exc}", flush=True)
        return 1
    print(f"delivery: published {count} record(s) of {name} in {zone}")
    return 0


COMMANDS = {"publish-dns": publish_dns_command}
