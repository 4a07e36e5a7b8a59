"""``missiva publish-dns <domain> [--tenant ID] [--data-dir DIR]``: delivery's own
``python -m missiva_delivery publish-dns`` run with the environment the running platform gives
delivery (``Platform.attach`` then ``service_env``: its database role, ``DNS_ZONE_FILE``), so
the operator of the embedded platform publishes a sender domain's records into the loopback
DNS zone as a DNS provider would, and Verify finds them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from missiva_platform.config import ConfigError
from missiva_platform.devstack.plan import Layout, PlatformError
from missiva_platform.devstack.platform import Platform
from missiva_platform.devstack.processes import describe_exit
from missiva_platform.devstack.state import is_alive, read_state


def run_publish_dns(data_dir: Path, domain: str, tenant: str = "", out: Any = None) -> int:
    """``missiva publish-dns``: delivery's ``publish-dns`` command with the environment the
    running platform gives delivery (its database, ``DNS_ZONE_FILE``); its exit status."""
    out = out if out is not None else sys.stdout
    layout = Layout(Path(data_dir).expanduser().resolve())
    state = read_state(layout.state_file)
    if state is None or not isinstance(state.get("base_port"), int):
        print(f"missiva: no platform has run in {layout.root}; start it with missiva up", file=out)
        return 3
    supervisor = state.get("supervisor") or {}
    if not is_alive(int(supervisor.get("pid", 0)), supervisor.get("start")):
        print(f"missiva: the platform in {layout.root} is not running; start it with missiva up",
              file=out)  # fmt: skip
        return 1
    try:
        platform = Platform(layout.root, state["base_port"], out=out)
        platform.attach(services=("delivery",))
    except (ConfigError, PlatformError) as exc:
        print(f"missiva: {exc}", file=out)
        return 2
    argv = [sys.executable, "-m", "missiva_delivery", "publish-dns", domain]
    if tenant:
        argv += ["--tenant", tenant]
    done = subprocess.run(
        argv,
        env=platform.service_env("delivery"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    said = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.startswith("delivery: ")  # its answer, not its start-up logs
    ]
    for line in said:
        print(line, file=out)
    if done.returncode and not said:
        print(f"missiva: delivery's publish-dns {describe_exit(done.returncode)}", file=out)
        print(done.stderr[-2000:], file=out)
    return done.returncode
