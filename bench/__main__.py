"""Run every benchmark module and write ``docs/benchmarks.md``.

``python -m bench`` runs all ``bench/bench_*.py``; ``python -m bench outbox`` only the named
ones (and then prints, without rewriting the document unless ``--write`` is given).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import pkgutil
import platform
import sys
import time
import traceback
from pathlib import Path

from bench import Result

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def discover() -> list[str]:
    """Names of the benchmark modules (``bench_<name>``), sorted."""
    return sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if info.name.startswith("bench_")
    )


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _ratio(result: Result) -> str:
    ratio = result.ratio
    return "—" if ratio is None else f"{ratio:.2f}x"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model or cpu}, "
        f"{platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )


def render(sections: dict[str, list[Result]], errors: dict[str, str], seconds: float) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); every number below comes from one run,",
        "baselines measured in that same run on the same machine. Ratio = value / baseline.",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- command: `make bench` ({seconds:.0f} s)",
        "",
    ]
    for module, results in sections.items():
        lines += [
            f"## {module}",
            "",
            "| benchmark | value | unit | baseline | baseline value | ratio |",
            "|---|---:|---|---|---:|---:|",
        ]
        for r in results:
            lines.append(
                f"| {r.name} | {_number(r.value)} | {r.unit} | {r.baseline_name or '—'} "
                f"| {_number(r.baseline_value)} | {_ratio(r)} |"
            )
        notes = [f"- {r.name}: {r.note}" for r in results if r.note]
        lines += ["", *notes, ""] if notes else [""]
    for module, error in errors.items():
        lines += [f"## {module}", "", "Failed in this run:", "", "```", error.strip(), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("only", nargs="*", help="benchmark names (default: all)")
    parser.add_argument("--write", action="store_true", help="write the doc for a partial run")
    args = parser.parse_args(argv)
    names = args.only or discover()
    started = time.monotonic()
    sections: dict[str, list[Result]] = {}
    errors: dict[str, str] = {}
    for name in names:
        print(f"== bench_{name}", flush=True)
        try:
            module = importlib.import_module(f"bench.bench_{name}")
            results = list(module.run())
        except Exception:
            errors[name] = traceback.format_exc()
            print(errors[name], file=sys.stderr, flush=True)
            continue
        sections[name] = results
        for r in results:
            print(f"  {r.name}: {_number(r.value)} {r.unit}  ({_ratio(r)} {r.baseline_name})")
    if not args.only or args.write:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(render(sections, errors, time.monotonic() - started))
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
