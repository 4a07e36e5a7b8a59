"""Under ``missiva up`` a person signs up, finds the verification mail in the SMTP sink, and
its link verifies the account: consent published the default documents at first start,
identity queued the mail, delivery sent it.
"""

from __future__ import annotations

import email
import email.policy
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg
import pytest

from missiva.consent.v1 import consent_service_pb2 as cpb
from missiva.consent.v1 import consent_service_pb2_grpc
from missiva.identity.v1 import identity_service_pb2 as ipb
from missiva.identity.v1 import identity_service_pb2_grpc
from missiva_platform.devstack.platform import Ports
from missiva_platform.devstack.ports import free_base_port
from missiva_platform.devstack.processes import default_sigint

pytestmark = pytest.mark.slow

UP_LINE = "missiva is up"
UP_TIMEOUT = 120.0
MAIL_TIMEOUT = 30.0


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[Path, Ports]]:
    """``missiva up`` in a fresh data folder; stopped with Ctrl-C (SIGINT) afterwards."""
    base = free_base_port()
    log_path = tmp_path / "up.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "missiva_platform.devstack.cli", "up",
             "--data-dir", str(tmp_path / "data"), "--base-port", str(base)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
            preexec_fn=default_sigint,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + UP_TIMEOUT
        while UP_LINE not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("missiva up did not come up:\n" + log_path.read_text())
            time.sleep(0.5)
        yield tmp_path / "data", Ports(base)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _mail_to(folder: Path, address: str) -> email.message.EmailMessage:
    deadline = time.monotonic() + MAIL_TIMEOUT
    while time.monotonic() < deadline:
        for path in sorted(folder.glob("*.eml")) if folder.is_dir() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address in str(message["To"]):
                assert isinstance(message, email.message.EmailMessage)
                return message
        time.sleep(0.2)
    raise AssertionError(f"no mail to {address} within {MAIL_TIMEOUT}s")


def test_a_person_who_signs_up_gets_a_working_verification_link(platform) -> None:
    data_dir, ports = platform
    with grpc.insecure_channel(f"127.0.0.1:{ports.grpc('consent')}") as channel:
        consent = consent_service_pb2_grpc.ConsentServiceStub(channel)
        current = consent.GetCurrentDocuments(cpb.GetCurrentDocumentsRequest(locale="en"),
                                              timeout=10)  # fmt: skip
    documents = {d.document_id: d for d in current.documents}
    assert {"terms", "privacy"} <= set(documents)
    assert "DRAFT" in documents["terms"].body_markdown

    address = f"ada-{uuid.uuid4().hex[:8]}@example.org"
    with grpc.insecure_channel(f"127.0.0.1:{ports.grpc('identity')}") as channel:
        identity = identity_service_pb2_grpc.IdentityServiceStub(channel)
        request = ipb.SignUpRequest(
            email=address,
            password="a long and unusual passphrase 7351",
            display_name="Ada Lovelace",
            account_name="Analytical Engines",
            acceptances=[
                ipb.DocumentAcceptance(
                    document_id=d.document_id,
                    version=d.version,
                    checkbox_text=d.checkbox_text,
                    accepted=True,
                )
                for d in (documents["terms"], documents["privacy"])
            ],
            age_confirmed=True,
            locale="en",
            idempotency_key=str(uuid.uuid4()),
        )
        signed_up = identity.SignUp(request, timeout=30)
        assert signed_up.verification_sent

        mail = _mail_to(data_dir / "mail", address)
        assert mail["Subject"] == "Confirm your email address"
        assert mail.get_content_type() == "multipart/alternative"
        text = mail.get_body(preferencelist=("plain",))
        assert text is not None
        links = [w for w in text.get_content().split() if "token=" in w]
        assert links, text.get_content()
        link = urllib.parse.urlsplit(links[0])
        assert link.path == "/verify-email"
        [token] = urllib.parse.parse_qs(link.query)["token"]

        verified = identity.VerifyEmail(ipb.VerifyEmailRequest(token=token), timeout=10)
        assert verified.user_id == signed_up.user_id
        with pytest.raises(grpc.RpcError) as spent:  # the link works once
            identity.VerifyEmail(ipb.VerifyEmailRequest(token=token), timeout=10)
        assert spent.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    password = (data_dir / "postgres" / "postgres-password").read_text().strip()
    url = f"postgresql://postgres:{password}@127.0.0.1:{ports.postgres}"
    with psycopg.connect(f"{url}/identity", autocommit=True) as conn:
        row = conn.execute(
            "SELECT email_verified_at IS NOT NULL FROM users WHERE id = %s", (signed_up.user_id,)
        ).fetchone()
    assert row == (True,)
    with psycopg.connect(f"{url}/delivery", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT template_key, status, rfc822_message_id FROM messages"
        ).fetchall()
    assert ("identity.verify_email", "sent", mail["Message-ID"]) in rows
