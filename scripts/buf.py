"""Run buf on the contracts in proto/ (configuration: buf.yaml at the repository root).

    python scripts/buf.py lint       buf lint (STANDARD rules); non-zero on any finding
    python scripts/buf.py breaking   buf breaking (FILE rules) against the previous commit

`breaking` compares the working tree's proto/ with proto/ as it was at HEAD~1 and at each of
the last commits that changed proto/, so the contracts stay compatible with every recent
version even when the newest commit did not touch them (in CI the working tree is HEAD);
locally it also covers uncommitted edits. A baseline without proto/ (a fresh repository, a
shallow clone, the commit that adds the contracts) is skipped with the reason.
The buf binary comes from the buf-bin package, next to the running Python.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_SUBDIR = "proto"
AGAINST_REF = "HEAD~1"
RECENT_PROTO_COMMITS = 10


def find_buf() -> Path:
    """The buf executable installed beside this interpreter (buf-bin), or exit with advice."""
    name = "buf.exe" if sys.platform == "win32" else "buf"
    # sys.executable is not resolved: in a venv its directory is the venv's bin/.
    candidates = [Path(sys.executable).parent / name, Path(sysconfig.get_path("scripts")) / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SystemExit(
        f"buf not found next to {sys.executable}; install the dev dependencies (make install)"
    )


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )


def baseline_missing_reason(root: Path, ref: str = AGAINST_REF) -> str | None:
    """Why there is nothing to compare against at `ref`, or None when there is."""
    try:
        toplevel = _git(root, "rev-parse", "--show-toplevel")
    except FileNotFoundError:
        return "git is not installed"
    if toplevel.returncode != 0 or Path(toplevel.stdout.strip()).resolve() != root.resolve():
        return f"{root} is not the top of a git work tree"
    if _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        return f"the repository has no commit {ref} (new repository or shallow clone)"
    if _git(root, "cat-file", "-e", f"{ref}:{PROTO_SUBDIR}").returncode != 0:
        return f"{ref} has no {PROTO_SUBDIR}/ directory"
    return None


def lint(root: Path = ROOT) -> int:
    """Run `buf lint` on the workspace at root; returns buf's exit code."""
    returncode = subprocess.run([str(find_buf()), "lint"], cwd=root, check=False).returncode
    if returncode == 0:
        print("buf lint: no findings")
    return returncode


def breaking(root: Path = ROOT, ref: str = AGAINST_REF) -> int:
    """Run `buf breaking` for proto/ against proto/ at `ref`; 0 when skipped or compatible."""
    reason = baseline_missing_reason(root, ref)
    if reason is not None:
        print(f"buf breaking skipped: {reason}; nothing to compare against")
        return 0
    # subdir= makes proto/ the module root of the baseline, so the comparison works even
    # if that commit had no buf.yaml; the input side uses the current buf.yaml (FILE rules).
    against = f".git#ref={ref},subdir={PROTO_SUBDIR}"
    command = [str(find_buf()), "breaking", PROTO_SUBDIR, "--against", against]
    result = subprocess.run(command, cwd=root, check=False)
    if result.returncode == 0:
        print(f"buf breaking: {PROTO_SUBDIR}/ is compatible with {ref}")
    else:
        print(
            f"buf breaking: incompatible changes against {ref}. Under FILE rules even a "
            "reserved field may not be removed: mark it deprecated instead; a real break "
            "is a new v2 package",
            file=sys.stderr,
        )
    return result.returncode


def recent_baselines(root: Path, count: int = RECENT_PROTO_COMMITS) -> list[str]:
    """HEAD~1 and the last `count` commits that changed proto/, oldest last, no repeats."""
    log = _git(root, "log", f"-n{count}", "--format=%H", "--", PROTO_SUBDIR)
    found = log.stdout.split() if log.returncode == 0 else []
    return list(dict.fromkeys([AGAINST_REF, *found]))


def breaking_recent(root: Path = ROOT) -> int:
    """`breaking` against every recent baseline; the first incompatibility fails."""
    for ref in recent_baselines(root):
        returncode = breaking(root, ref)
        if returncode != 0:
            return returncode
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["lint", "breaking"])
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="repository root (default: this checkout)"
    )
    parser.add_argument(
        "--against",
        default=None,
        help=f"one git ref to compare with (default: {AGAINST_REF} and recent proto/ commits)",
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.command == "lint":
        return lint(root)
    if args.against is None:
        return breaking_recent(root)
    return breaking(root, args.against)


if __name__ == "__main__":
    sys.exit(main())
