"""Fixtures of the identity tests (defined in ``identity_testkit``, importable by the tests)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from identity_testkit import (  # noqa: F401
    challenge_server,
    identity,
    make_identity,
    secret_files,
)
