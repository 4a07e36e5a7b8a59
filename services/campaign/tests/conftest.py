"""Fixtures of the campaign tests (defined in ``campaign_testkit``, importable by the tests)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from campaign_testkit import campaign, secrets_dir  # noqa: F401
from forms_testkit import forms_env  # noqa: F401
from sending_testkit import sender  # noqa: F401
