"""The gateway's web pages under 20 concurrent signed-in sessions, against ``missiva up``.

Twenty accounts sign up through the pages, verify with the link from the SMTP sink's folder,
sign in and import 200 contacts each; then 20 sessions fetch the journey's pages over and
over at once. The figure is the median *server* time of each page (the gateway's
``Server-Timing: app;dur=…``, from the request to the first byte of the answer, backends
included), against the median of ``/`` (for a signed-in session a redirect: no backend call) in
the same run.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench import Result
from missiva_platform.devstack.platform import Ports
from missiva_platform.devstack.ports import free_base_port
from missiva_platform.devstack.processes import default_sigint

SESSIONS = 20
ROUNDS = 15
PAGES = (
    "/app",
    "/app/contacts",
    "/app/contacts?q=p1",
    "/app/lists",
    "/app/import",
    "/app/templates",
    "/app/campaigns",
    "/app/billing",
    "/app/security",
    "/mailbox",
)
PASSWORD = "a long and unusual passphrase 7351"
_TIMING = re.compile(r"app;dur=([0-9.]+)")


def _server_ms(reply: httpx.Response) -> float:
    found = _TIMING.search(reply.headers.get("server-timing", ""))
    if reply.status_code not in (200, 303) or not found:
        raise RuntimeError(f"{reply.request.url.path}: {reply.status_code}")
    return float(found.group(1))


def _csrf(client: httpx.Client, path: str) -> str:
    client.get(path)
    return str(client.cookies["missiva_csrf"])


def _account(base: str, mail: Path, n: int) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    address = f"bench-{n}-{uuid.uuid4().hex[:6]}@example.org"
    token = _csrf(client, "/signup")
    page = client.get("/signup").text
    versions = dict(re.findall(r'name="version_(\w+)" value="([^"]+)"', page))
    client.post(
        "/signup",
        data={
            "csrf_token": token,
            "email": address,
            "password": PASSWORD,
            "account_name": f"Bench {n}",
            "age_confirmed": "1",
            "idempotency_key": str(uuid.uuid4()),
            **{f"accept_{d}": "1" for d in versions},
            **{f"version_{d}": v for d, v in versions.items()},
        },
    ).raise_for_status()
    link = ""
    for _ in range(300):
        for path in sorted(mail.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            body = message.get_body(preferencelist=("plain",))
            if address in str(message["To"]) and body is not None:
                found = re.search(r"verify-email\?token=(\S+)", body.get_content())
                link = found.group(1) if found else ""
        if link:
            break
        time.sleep(0.1)
    client.post("/verify-email", data={"csrf_token": token, "token": link}).raise_for_status()
    client.post("/login", data={"csrf_token": token, "email": address, "password": PASSWORD})
    client.post(
        "/app/purposes", data={"csrf_token": token, "purpose_name": "News", "category": "marketing"}
    ).raise_for_status()
    page = client.get("/app/lists").text
    purpose = re.search(r'<option value="([^"]+)"', page)
    assert purpose
    client.post(
        "/app/lists", data={"csrf_token": token, "name": "All", "purpose_id": purpose.group(1)}
    ).raise_for_status()
    rows = "email,first_name\n" + "".join(f"p{i}-{n}@example.org,P{i}\n" for i in range(200))
    mapping = client.post(
        "/app/import",
        data={"csrf_token": token},
        files={"file": ("c.csv", rows.encode(), "text/csv")},
    ).text
    key = re.search(r'action="/app/import/([^/]+)/start"', mapping)
    assert key
    list_id = re.search(r'<option value="([0-9a-f-]{36})"', mapping)
    client.post(
        f"/app/import/{key.group(1)}/start",
        data={
            "csrf_token": token,
            "map_0": "email",
            "map_1": "first_name",
            "list_id": list_id.group(1) if list_id else "",
            "consent_mode": "proof",
            "collected_by": "bench",
            "given_at": "2026-01-01",
            "consent_text": "yes",
        },
    ).raise_for_status()
    return client


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-web-") as folder:
        root = Path(folder)
        base_port = free_base_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "missiva_platform.devstack.cli",
                "up",
                "--data-dir",
                str(root / "data"),
                "--base-port",
                str(base_port),
            ],
            stdout=(root / "up.log").open("w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=default_sigint,
            # Twenty accounts sign up from one address: past the per-address limit.
            env={**os.environ, "WEB_AUTH_REQUESTS_PER_MINUTE": "10000"},
        )
        try:
            deadline = time.monotonic() + 180
            while "missiva is up" not in (root / "up.log").read_text():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "up.log").read_text())
                time.sleep(0.3)
            base = f"http://127.0.0.1:{Ports(base_port).gateway}"
            with ThreadPoolExecutor(4) as pool:
                clients = list(
                    pool.map(lambda n: _account(base, root / "data" / "mail", n), range(SESSIONS))
                )
            times: dict[str, list[float]] = {path: [] for path in ("/", *PAGES)}

            def session(client: httpx.Client) -> None:
                for _ in range(ROUNDS):
                    for path in times:
                        times[path].append(_server_ms(client.get(path, follow_redirects=False)))

            with ThreadPoolExecutor(SESSIONS) as pool:
                list(pool.map(session, clients))
            for client in clients:
                client.close()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    baseline = statistics.median(times.pop("/"))
    note = f"{SESSIONS} concurrent sessions x {ROUNDS} rounds, server time (Server-Timing)"
    return [
        Result(
            f"(a) {path}",
            statistics.median(values),
            "ms (median)",
            "/ (signed in: a redirect, no backend call)",
            baseline,
            higher_is_better=False,
            note=f"{note}; p90 {statistics.quantiles(values, n=10)[-1]:.1f} ms",
        )
        for path, values in times.items()
    ]
