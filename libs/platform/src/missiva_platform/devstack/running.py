"""``missiva up`` in the foreground: start the platform, print its table, run until a signal,
then stop it in order."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from missiva_platform.config import ConfigError
from missiva_platform.devstack.plan import SERVICES, Interrupted, PlatformError, without_password
from missiva_platform.devstack.platform import HOST, Platform


def run_up(data_dir: Path, base_port: int, out: Any = None) -> int:
    """``missiva up``: start, print the table, run until a signal, stop; the exit status."""
    err = sys.stderr
    try:
        platform = Platform(data_dir, base_port, out=out)
    except ConfigError as exc:
        print(f"missiva: {exc}", file=err)
        return 2

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if platform.stopping:
            return  # already stopping in order; a second Ctrl-C must not cut that short
        raise Interrupted(signal.Signals(signum).name)

    # Installed before any child exists: a handled signal is reset to default on exec,
    # so children never inherit an "ignored" SIGINT from our own parent.
    previous = {sig: signal.signal(sig, interrupt) for sig in _STOP_SIGNALS}
    status = 0
    try:
        try:
            platform.start()
            print_table(platform)
            platform.watch()
        except Interrupted:
            platform.stopping = True
            platform.say("\nmissiva: stopping")
        except PlatformError as exc:
            platform.stopping = True
            print(f"missiva: {exc.args[0]}", file=err, flush=True)
            if len(exc.args) > 1 and exc.args[1]:
                print(f"--- last lines ---\n{exc.args[1]}", file=err, flush=True)
            status = 1
        except ConfigError as exc:
            platform.stopping = True
            print(f"missiva: {exc}", file=err, flush=True)
            status = 2
        finally:
            platform.stopping = True
            platform.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if status == 0:
        platform.say("missiva: stopped")
    return status


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def print_table(platform: Platform) -> None:
    """The short table of URLs printed once everything is up."""
    rows: list[tuple[str, str, str]] = [
        (
            "gateway",
            f"http://{HOST}:{platform.ports.gateway}  "
            f"metrics http://{HOST}:{platform.ports.gateway_metrics}/metrics",
            str(platform.layout.log("gateway")),
        )
    ]
    for service in SERVICES:
        rows.append(
            (
                service,
                f"grpc {HOST}:{platform.ports.grpc(service)}  "
                f"metrics http://{HOST}:{platform.ports.side(service)}/metrics",
                str(platform.layout.log(service)),
            )
        )
    for service in SERVICES:
        if service in platform.external.database_urls:
            url = without_password(platform.external.database_urls[service])
            rows.append((f"db {service}", url, "(external)"))
    if platform.external.needs_postgres:
        rows.append(("postgresql", f"{HOST}:{platform.ports.postgres}", "(embedded)"))
    nats_note = "(external)" if platform.external.nats_url else "(embedded, JetStream)"
    rows.append(("nats", without_password(platform.nats_url), nats_note))
    if platform.external.smtp_url:
        rows.append(("smtp", without_password(platform.smtp_url), "(external)"))
    else:
        rows.append(("smtp", platform.smtp_url, f"mail folder {platform.layout.mail}"))
    rows.append(
        ("bounces in", f"smtp://{HOST}:{platform.ports.inbound_smtp}", "(delivery, DSN and ARF)")
    )
    rows.append(
        ("dns", f"{HOST}:{platform.ports.dns} (udp, tcp)", f"zone {platform.layout.dns_zone}")
    )
    width = max(len(name) for name, _, _ in rows)
    platform.say(f"\nmissiva platform (data {platform.layout.root})")
    for name, url, note in rows:
        platform.say(f"  {name:<{width}}  {url}  {note}".rstrip())
    platform.say(f"\nmissiva is up at http://{HOST}:{platform.ports.gateway}; press Ctrl-C to stop")
