"""Under ``missiva up`` a bounce comes back: two people sign up, their verification mails
reach the SMTP sink, and DSNs (written as Postfix and Gmail write them, from delivery's test
samples) are delivered by SMTP to delivery's inbound server, to each message's VERP return
path. The unknown user's message becomes bounced (hard) and consent, fed over NATS,
suppresses the address; the policy block (5.7.1) becomes bounced (blocked) and nothing is
suppressed.
"""

from __future__ import annotations

import email
import email.policy
import signal
import smtplib
import subprocess
import sys
import time
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
from missiva_delivery.verp import Verp
from missiva_platform.devstack.platform import Ports
from missiva_platform.devstack.ports import free_base_port
from missiva_platform.devstack.processes import default_sigint
from missiva_platform.secrets import TOKEN_KEYRING_FILE, load_token_keyring

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "services" / "delivery" / "tests" / "data" / "reports"
BOUNCE_DOMAIN = "bounces.missiva.localhost"  # delivery's default
UP_LINE = "missiva is up"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[Path, Ports]]:
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
        deadline = time.monotonic() + 120
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


def until(check, seconds: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def sign_up(ports: Ports, address: str) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{ports.grpc('consent')}") as channel:
        current = consent_service_pb2_grpc.ConsentServiceStub(channel).GetCurrentDocuments(
            cpb.GetCurrentDocumentsRequest(locale="en"), timeout=10
        )
    documents = {d.document_id: d for d in current.documents}
    with grpc.insecure_channel(f"127.0.0.1:{ports.grpc('identity')}") as channel:
        identity_service_pb2_grpc.IdentityServiceStub(channel).SignUp(
            ipb.SignUpRequest(
                email=address, password="a long and unusual passphrase 7351",
                display_name="Ada", account_name=f"Engines {address[:8]}",
                acceptances=[ipb.DocumentAcceptance(document_id=d.document_id, version=d.version,
                                                    checkbox_text=d.checkbox_text, accepted=True)
                             for d in (documents["terms"], documents["privacy"])],
                age_confirmed=True, locale="en", idempotency_key=str(uuid.uuid4()),
            ),
            timeout=30,
        )  # fmt: skip


def message_id_of_mail_to(folder: Path, address: str) -> str:
    def find() -> str | None:
        for path in sorted(folder.glob("*.eml")) if folder.is_dir() else []:
            mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address in str(mail["To"]):
                return str(mail["Message-ID"]).strip("<>").split("@")[0]
        return None

    found = until(find)
    assert found, f"no mail to {address}"
    return found


def bounce(ports: Ports, verp: Verp, message_id: str, sample: str, address: str) -> None:
    to = verp.address(message_id)
    raw = (SAMPLES / sample).read_text().replace("@@VERP@@", to).replace("@@RCPT@@", address)
    with smtplib.SMTP("127.0.0.1", ports.inbound_smtp, timeout=10) as server:
        server.sendmail("", [to], raw)  # a str: smtplib sends it with CRLF line ends


def test_a_hard_bounce_suppresses_through_consent_and_a_block_does_not(platform) -> None:
    data_dir, ports = platform
    verp = Verp(load_token_keyring(data_dir / "secrets" / TOKEN_KEYRING_FILE), BOUNCE_DOMAIN)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.org"
    blocked = f"blocked-{uuid.uuid4().hex[:8]}@example.org"
    for address in (blocked, unknown):
        sign_up(ports, address)
    ids = {a: message_id_of_mail_to(data_dir / "mail", a) for a in (blocked, unknown)}

    password = (data_dir / "postgres" / "postgres-password").read_text().strip()
    url = f"postgresql://postgres:{password}@127.0.0.1:{ports.postgres}"
    with (
        psycopg.connect(f"{url}/delivery", autocommit=True) as delivery,
        psycopg.connect(f"{url}/consent", autocommit=True) as consent,
    ):

        def row(message_id: str) -> tuple | None:
            return delivery.execute(
                "SELECT status, bounce_type, person_key FROM messages WHERE id = %s",
                (message_id,),
            ).fetchone()

        def suppressed(person_key: str) -> list[tuple]:
            return consent.execute(
                "SELECT scope, reason FROM suppressions WHERE person_key = %s ORDER BY scope",
                (person_key,),
            ).fetchall()

        assert until(lambda: row(ids[blocked])[0] == "sent")
        assert until(lambda: row(ids[unknown])[0] == "sent")
        # The block first: consent handles the bounced events of the stream in order.
        bounce(ports, verp, ids[blocked], "gmail_blocked_unsolicited.eml", blocked)
        bounce(ports, verp, ids[unknown], "postfix_user_unknown.eml", unknown)
        assert row(ids[blocked])[:2] == ("bounced", "blocked")
        status, kind, person_key = row(ids[unknown])
        assert (status, kind) == ("bounced", "hard")
        reasons = until(lambda: suppressed(person_key))
        assert ("", "hard_bounce") in reasons
        assert suppressed(row(ids[blocked])[2]) == []
