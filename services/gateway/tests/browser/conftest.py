"""The browser tests' platform and browser: ``missiva up`` in a fresh data folder (every
service, the gateway, the SMTP sink) and Debian's Chromium driven by Playwright.

Playwright's own browser download is not reachable, so the tests drive ``/usr/bin/chromium``;
``make test`` installs it when missing, and so does this fixture when it runs as root (the
same guarded ``apt-get``). Screenshots go to ``<basetemp>/screenshots`` (kept after the run).
``MISSIVA_WEB_BASE_URL`` (with ``MISSIVA_WEB_MAIL_DIR``) points the tests at a platform that
is already running instead, for quick iterations.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# The modules here share helpers by importing each other (``from test_session import …``).
sys.path.insert(0, str(Path(__file__).parent))

from missiva_platform.devstack.platform import Ports
from missiva_platform.devstack.ports import free_base_port
from missiva_platform.devstack.processes import default_sigint

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
UP_LINE = "missiva is up"
UP_TIMEOUT = 120.0
# Every module here signs up and in from 127.0.0.1 against this one platform, so the web
# app's per-address limit on those POSTs (20 a minute) would refuse a later module's sign-up
# by the order they happen to run in. The limit itself is tested in ``tests/test_web.py``.
PLATFORM_ENV = {**os.environ, "WEB_AUTH_REQUESTS_PER_MINUTE": "1000"}


def ensure_chromium() -> str:
    """Debian's Chromium, installed with apt-get when missing (as root)."""
    if not shutil.which("chromium") and os.geteuid() == 0:
        quiet = {"check": False, "stdout": subprocess.DEVNULL}
        subprocess.run(["apt-get", "update", "-q"], **quiet)  # type: ignore[call-overload]
        subprocess.run(  # type: ignore[call-overload]
            ["apt-get", "install", "-y", "-q", "chromium"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            **quiet,
        )
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (make test does it)")
    return CHROMIUM


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(gateway base URL, mail folder) of a running platform."""
    if os.environ.get("MISSIVA_WEB_BASE_URL"):
        yield os.environ["MISSIVA_WEB_BASE_URL"], Path(os.environ["MISSIVA_WEB_MAIL_DIR"])
        return
    root = tmp_path_factory.mktemp("platform")
    base = free_base_port()
    log_path = root / "up.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "missiva_platform.devstack.cli",
                "up",
                "--data-dir",
                str(root / "data"),
                "--base-port",
                str(base),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            preexec_fn=default_sigint,
            env=PLATFORM_ENV,
        )
    try:
        deadline = time.monotonic() + UP_TIMEOUT
        while UP_LINE not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("missiva up did not come up:\n" + log_path.read_text())
            time.sleep(0.3)
        yield f"http://127.0.0.1:{Ports(base).gateway}", root / "data" / "mail"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium for one module: Playwright's sync API drives an event loop of its own, which
    must be gone before the next module's asyncio tests start their loops."""
    from playwright.sync_api import sync_playwright

    path = ensure_chromium()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
