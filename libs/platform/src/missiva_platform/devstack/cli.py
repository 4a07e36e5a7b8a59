"""The ``missiva`` command: ``up`` runs the whole platform, ``status`` reports on it,
``publish-dns`` publishes a sender domain's records into its loopback DNS."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from missiva_platform.devstack.platform import (
    DEFAULT_BASE_PORT,
    DEFAULT_DATA_DIR,
)
from missiva_platform.devstack.processes import stop_with_parent
from missiva_platform.devstack.publish import run_publish_dns
from missiva_platform.devstack.running import run_up
from missiva_platform.devstack.state import run_status


def _parser() -> argparse.ArgumentParser:
    data_default = os.environ.get("MISSIVA_DATA_DIR") or DEFAULT_DATA_DIR
    parser = argparse.ArgumentParser(prog="missiva", description="Missiva on this machine")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser(
        "up",
        help="start PostgreSQL, NATS, an SMTP sink, the five services and the gateway",
        description=(
            "Start the whole platform and keep it running until Ctrl-C. Set "
            "<SVC>_DATABASE_URL, NATS_URL or SMTP_URL to use an external dependency instead."
        ),
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        default=Path(data_default),
        help=f"state that survives restarts (default: $MISSIVA_DATA_DIR or {DEFAULT_DATA_DIR})",
    )
    up.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help=f"gRPC on base+1..+5, gateway on base+30 (default: {DEFAULT_BASE_PORT})",
    )

    status = commands.add_parser("status", help="which processes of the platform are alive")
    status.add_argument("--data-dir", type=Path, default=Path(data_default))

    publish = commands.add_parser(
        "publish-dns",
        help="publish a sender domain's records into the platform's loopback DNS",
        description=(
            "Write the DNS records of a registered sender domain into the zone of the "
            "running platform's loopback DNS server (what a DNS provider does in "
            "production), so that Verify finds them."
        ),
    )
    publish.add_argument("domain", help="the sender domain, e.g. news.example.com")
    publish.add_argument(
        "--tenant", default="", help="the account id, when several accounts registered it"
    )
    publish.add_argument("--data-dir", type=Path, default=Path(data_default))
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``missiva`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "up":
        # If whatever started us (make, a shell script) dies, stop cleanly rather than orphan.
        stop_with_parent()
        sys.exit(run_up(args.data_dir, args.base_port))
    if args.command == "publish-dns":
        sys.exit(run_publish_dns(args.data_dir, args.domain, args.tenant))
    sys.exit(run_status(args.data_dir))


if __name__ == "__main__":
    main()
