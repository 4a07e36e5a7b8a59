"""What a ``missiva up`` leaves behind for other commands: ``platform.json`` and whether the
processes it names still run (pid and kernel start time, so a reused pid is not mistaken)."""

from __future__ import annotations

import http.client
import json
import sys
from pathlib import Path
from typing import Any

from missiva_platform.devstack.plan import Layout


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited; only its exit status is left
        return None
    return int(fields[19])


def is_alive(pid: int, start_time: int | None = None) -> bool:
    """True when ``pid`` runs and, if given, started at ``start_time`` (not a reused pid)."""
    started = process_start_time(pid)
    return started is not None and (start_time is None or started == start_time)


def http_status(host: str, port: int, path: str, timeout: float = 2.0) -> int | None:
    """The status of ``GET path`` on ``host:port``, or None if nothing answers."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def read_state(path: Path) -> dict[str, Any] | None:
    """The ``platform.json`` a supervisor wrote, or None."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_status(data_dir: Path, out: Any = None) -> int:
    """``missiva status``: which processes of the last ``missiva up`` are alive (0: all)."""
    out = out if out is not None else sys.stdout
    layout = Layout(Path(data_dir).expanduser().resolve())
    state = read_state(layout.state_file)
    if state is None:
        print(f"missiva: no platform has run in {layout.root}", file=out)
        return 3
    supervisor = state.get("supervisor") or {}
    sup_alive = is_alive(int(supervisor.get("pid", 0)), supervisor.get("start"))
    print(
        f"missiva supervisor pid {supervisor.get('pid')}: "
        f"{'running' if sup_alive else 'not running'} (data {layout.root})",
        file=out,
    )
    all_alive = sup_alive
    for entry in state.get("processes", []):
        alive = is_alive(int(entry["pid"]), entry.get("start"))
        all_alive = all_alive and alive
        ports = ", ".join(
            f"{k.removesuffix('_port')} {v}" for k, v in entry.items() if k.endswith("port")
        )
        print(
            f"  {entry['name']:<11} pid {entry['pid']:<8} {'alive' if alive else 'dead':<6} "
            f"{ports}",
            file=out,
        )
    return 0 if all_alive else 1
