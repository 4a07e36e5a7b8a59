"""The team and security pages against the real platform (no browser): the audit log on the
security page for admins."""

from __future__ import annotations

from pathlib import Path

import httpx
from test_billing_pages import signed_in


def test_an_admin_sees_the_accounts_audit_log_with_the_sign_in(platform: tuple[str, Path]) -> None:
    base, mail = platform
    with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as client:
        signed_in(client, mail)
        security = client.get("/app/security")
        assert security.status_code == 200
        assert "Audit log" in security.text
        assert "<code>login." in security.text  # the sign-in just made
        assert "Grace" in security.text  # who acted, by name
