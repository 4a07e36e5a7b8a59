"""The team and security pages against the real platform (no browser): an invitee joins
from the mailed link, an admin changes their role, removes and restores them; the audit log
on the security page for admins."""

from __future__ import annotations

import email
import email.policy
import re
import time
import uuid
from pathlib import Path

import httpx
from test_billing_pages import post, signed_in
from test_session import PASSWORD, form_token

from missiva_gateway.web.security import CSRF_COOKIE


def test_an_admin_sees_the_accounts_audit_log_with_the_sign_in(platform: tuple[str, Path]) -> None:
    base, mail = platform
    with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as client:
        signed_in(client, mail)
        security = client.get("/app/security")
        assert security.status_code == 200
        assert "Audit log" in security.text
        assert "<code>login." in security.text  # the sign-in just made
        assert "Grace" in security.text  # who acted, by name


def mailed_link(mail: Path, address: str, path: str) -> str:
    for _ in range(150):
        for item in sorted(mail.glob("*.eml")) if mail.is_dir() else []:
            message = email.message_from_bytes(item.read_bytes(), policy=email.policy.default)
            if address in str(message["To"]):
                body = message.get_body(preferencelist=("plain",))
                assert body is not None
                found = re.search(rf"\S+{re.escape(path)}\?token=\S+", body.get_content())
                if found:
                    return found.group(0)
        time.sleep(0.2)
    raise AssertionError(f"no mail to {address} with {path}")


def member_row(team: str, name: str) -> str:
    row = next((r for r in team.split("<tr>") if f"<td>{name}</td>" in r), "")
    assert row, f"{name} is not listed"
    return row


def test_an_invitee_joins_and_an_admin_changes_removes_and_restores_them(
    platform: tuple[str, Path],
) -> None:
    base, mail = platform
    invitee = f"ada-{uuid.uuid4().hex[:8]}@example.org"
    with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as admin:
        signed_in(admin, mail)
        invited = admin.post(
            "/app/team/invite",
            data={"csrf_token": form_token(admin, "/app/team"), "email": invitee,
                  "role": "member", "idempotency_key": str(uuid.uuid4())},
        )  # fmt: skip
        assert invited.status_code == 200, invited.text
        link = httpx.URL(mailed_link(mail, invitee, "/accept-invitation"))
        with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as guest:
            form = guest.get(f"/accept-invitation?token={link.params['token']}")
            assert form.status_code == 200
            versions = dict(re.findall(r'name="version_(\w+)" value="([^"]+)"', form.text))
            assert {"terms", "privacy"} <= set(versions)
            fields = {
                "csrf_token": str(guest.cookies[CSRF_COOKIE]),
                "token": link.params["token"],
                "display_name": "Ada",
                "password": PASSWORD,
                **{f"version_{d}": v for d, v in versions.items()},
            }
            # Without the Terms and Privacy accepted: refused, under their field.
            refused = guest.post("/accept-invitation", data=fields)
            assert refused.status_code == 400
            assert 'id="e-acceptances"' in refused.text
            joined = guest.post(
                "/accept-invitation", data={**fields, **{f"accept_{d}": "1" for d in versions}}
            )
            assert joined.status_code == 303, joined.text
            assert joined.headers["location"] == "/app"
            assert guest.get("/app").status_code == 200  # signed in
            # The link works once.
            again = guest.post(
                "/accept-invitation", data={**fields, **{f"accept_{d}": "1" for d in versions}}
            )
            assert again.status_code == 400

        team = admin.get("/app/team").text
        user_id = re.search(r'action="/app/team/([^/"]+)/role"', member_row(team, "Ada"))
        assert user_id, member_row(team, "Ada")
        uid = user_id.group(1)
        changed = post(admin, f"/app/team/{uid}/role", role="billing")
        assert changed.status_code == 200
        assert "The role is changed." in changed.text
        assert "<td>billing</td>" in member_row(changed.text, "Ada")
        removed = post(admin, f"/app/team/{uid}/remove")
        assert "<td>removed</td>" in member_row(removed.text, "Ada")
        assert f'action="/app/team/{uid}/restore"' in removed.text
        restored = post(admin, f"/app/team/{uid}/restore")
        assert "The member is back." in restored.text
        assert "<td>active</td>" in member_row(restored.text, "Ada")
        # Without the CSRF token nothing changes.
        assert admin.post(f"/app/team/{uid}/remove").status_code == 403
        assert "member.role_changed" in admin.get("/app/security").text
