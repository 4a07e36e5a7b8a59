"""Campaign's database access: one module per aggregate (contacts, suppressions, notices).

Every query of account data filters by the account id it is given, which the callers take
from the verified token (or from the envelope of a consumed message) only.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

Conn = AsyncConnection[Any]
