"""Print the environment a service has under `make run`, for its admin commands.

    eval "$(uv run --all-packages python examples/dev_env.py identity)"
    uv run --all-packages python -m missiva_identity create-api-key --account you@example.org \
        --scopes consent:read

Reads the data folder of `missiva up` (`$MISSIVA_DATA_DIR`, default `./.missiva`): the
embedded PostgreSQL's address and password, and the generated secret files. The output holds
a database password: print it into your own shell only.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from missiva_platform import secrets
from missiva_platform.devstack.platform import DEFAULT_DATA_DIR, Layout, Ports
from missiva_platform.devstack.processes import PostgresServer


def environment(service: str, data_dir: Path) -> dict[str, str]:
    layout = Layout(data_dir)
    state = json.loads(layout.state_file.read_text())
    ports = Ports(int(state["base_port"]))
    database = os.environ.get(f"{service.upper()}_DATABASE_URL") or PostgresServer(
        layout.postgres, ports.postgres
    ).url(service)
    env = {"DATABASE_URL": database}
    for variable, name in (
        ("FIELD_KEYS_FILE", secrets.FIELD_KEYS_FILE),
        ("EMAIL_HASH_KEY_FILE", secrets.EMAIL_HASH_KEY_FILE),
        ("IP_SALTS_FILE", secrets.IP_SALTS_FILE),
        ("TOKEN_KEYRING_FILE", secrets.TOKEN_KEYRING_FILE),
        ("SERVICE_CREDENTIALS_FILE", secrets.SERVICE_CREDENTIALS_FILE),
    ):
        env[variable] = str(layout.secrets / name)
    if service == "identity":
        env["JWT_SIGNING_KEYS_FILE"] = str(layout.secrets / secrets.JWT_SIGNING_KEYS_FILE)
    return env


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    data_dir = Path(os.environ.get("MISSIVA_DATA_DIR") or DEFAULT_DATA_DIR)
    if not (data_dir / "platform.json").exists():
        print(f"no platform in {data_dir}: run `make run` first", file=sys.stderr)
        return 1
    for name, value in environment(argv[0], data_dir).items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
