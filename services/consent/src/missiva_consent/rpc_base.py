"""What consent's RPC groups share: the core, the pool and idempotent writes.

The servicer (``servicer.py``) is put together from the RPC groups in ``rpc_*.py``; each is
thin: validate, call domain/store, raise typed errors. The account of an account-scoped call
comes from its verified token only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from missiva_consent.core import ConsentCore
from missiva_consent.dsar import PrivacyRequests
from missiva_platform.auth import current_tenant
from missiva_platform.idempotency import run_once

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

SERVICE = "missiva.consent.v1.ConsentService"


class ConsentRpcs:
    """The dependencies of every RPC group."""

    def __init__(self, service: ConsentCore, requests: PrivacyRequests | None = None) -> None:
        self.svc = service
        self.privacy_requests = requests or PrivacyRequests(service)

    @property
    def pool(self) -> AsyncConnectionPool:
        return self.svc.pool

    async def _once(self, method: str, request: Any, response_type: Any, work: Any) -> Any:
        return await run_once(
            self.pool,
            tenant_id=current_tenant(),
            method=f"{SERVICE}/{method}",
            request=request,
            response_type=response_type,
            work=work,
        )
