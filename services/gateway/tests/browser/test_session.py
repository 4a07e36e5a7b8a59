"""The session cookie against the real platform (no browser): a near-expired access token
is rotated once even when two requests race with the same refresh token (identity would end
a session whose refresh token is used twice), and signing out revokes the session at
identity, so the old cookie no longer opens anything."""

from __future__ import annotations

import email
import email.policy
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from missiva_gateway.web.security import CSRF_COOKIE
from missiva_gateway.web.session import COOKIE, Session

PASSWORD = "a long and unusual passphrase 7351"


def form_token(client: httpx.Client, path: str) -> str:
    client.get(path)
    return str(client.cookies[CSRF_COOKIE])


def verification_link(mail: Path, address: str) -> str:
    for _ in range(100):
        for path in sorted(mail.glob("*.eml")) if mail.is_dir() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address in str(message["To"]):
                body = message.get_body(preferencelist=("plain",))
                assert body is not None
                found = re.search(r"\S+/verify-email\?token=\S+", body.get_content())
                assert found
                return found.group(0)
        time.sleep(0.2)
    raise AssertionError(f"no mail to {address}")


def signed_up(client: httpx.Client, mail: Path) -> str:
    address = f"grace-{uuid.uuid4().hex[:8]}@example.org"
    token = form_token(client, "/signup")
    page = client.get("/signup").text
    versions = dict(re.findall(r'name="version_(\w+)" value="([^"]+)"', page))
    assert {"terms", "privacy"} <= set(versions)
    reply = client.post(
        "/signup",
        data={
            "csrf_token": token,
            "email": address,
            "password": PASSWORD,
            "account_name": "Hopper Ltd",
            "display_name": "Grace",
            "age_confirmed": "1",
            "idempotency_key": str(uuid.uuid4()),
            **{f"accept_{d}": "1" for d in versions},
            **{f"version_{d}": v for d, v in versions.items()},
        },
    )
    assert reply.status_code == 200, reply.text
    link = httpx.URL(verification_link(mail, address))
    verified = client.post(
        "/verify-email", data={"csrf_token": token, "token": link.params["token"]}
    )
    assert verified.status_code == 200
    return address


def test_rotation_runs_once_for_racing_requests_and_sign_out_revokes(
    platform: tuple[str, Path],
) -> None:
    base, mail = platform
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client:
        address = signed_up(client, mail)
        token = form_token(client, "/login")
        login = client.post(
            "/login", data={"csrf_token": token, "email": address, "password": PASSWORD}
        )
        assert login.status_code == 303
        assert login.headers["location"] == "/app"
        cookie = client.cookies[COOKIE]
        assert "httponly" in login.headers["set-cookie"].lower()
        assert "samesite=lax" in login.headers["set-cookie"].lower()
    session = Session.decode(cookie)
    assert session is not None
    # The access token "expires" now: the next requests must rotate first.
    stale = Session(
        session.access_token,
        time.time(),
        session.refresh_token,
        session.refresh_expires,
        session.session_id,
        session.locale,
    ).encode()

    def dashboard(value: str) -> httpx.Response:
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as c:
            c.cookies.set(COOKIE, value)
            return c.get("/app")

    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(dashboard, [stale] * 4))
    assert [r.status_code for r in replies] == [200] * 4
    rotated = {
        Session.decode(r.cookies[COOKIE]).refresh_token  # type: ignore[union-attr]
        for r in replies
        if COOKIE in r.cookies
    }
    assert len(rotated) == 1  # one rotation, its result shared
    (fresh_refresh,) = rotated
    assert fresh_refresh != session.refresh_token
    fresh = next(r.cookies[COOKIE] for r in replies if COOKIE in r.cookies)
    assert dashboard(fresh).status_code == 200  # identity did not end the session

    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client:
        client.cookies.set(COOKIE, fresh)
        token = form_token(client, "/app")
        out = client.post("/logout", data={"csrf_token": token})
        assert out.status_code == 303
    gone = Session.decode(fresh)
    assert gone is not None
    expired = Session(
        gone.access_token,
        time.time(),
        gone.refresh_token,
        gone.refresh_expires,
        gone.session_id,
        gone.locale,
    ).encode()
    after = dashboard(expired)
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")
