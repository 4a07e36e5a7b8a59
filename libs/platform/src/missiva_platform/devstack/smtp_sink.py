"""An SMTP sink that keeps every message it receives (aiosmtpd).

Messages are written as ``.eml`` files (one per recipient envelope) under a folder so the
embedded platform can show them later, and kept in memory for tests.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the sink received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    received_at: datetime
    peer: str

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SinkHandler:
    """aiosmtpd handler: accept everything, remember it, optionally write it to a folder."""

    folder: Path | None = None
    messages: list[ReceivedMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._arrived = threading.Condition(self._lock)
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        received = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=bytes(envelope.original_content or envelope.content),
            received_at=datetime.now(UTC),
            peer=str(session.peer[0]) if session.peer else "",
        )
        if self.folder:
            name = f"{received.received_at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
            path = self.folder / name
            path.write_bytes(received.data)
            path.chmod(0o600)
        with self._arrived:
            self.messages.append(received)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self.messages)} of {count} messages arrived")
                self._arrived.wait(remaining)
            return list(self.messages)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


class SmtpSink:
    """The sink running on a background thread (aiosmtpd's Controller)."""

    def __init__(self, port: int, host: str = "127.0.0.1", folder: Path | None = None) -> None:
        self.handler = SinkHandler(folder=folder)
        self.controller = Controller(self.handler, hostname=host, port=port)
        self.host, self.port = host, port

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[ReceivedMessage]:
        return self.handler.messages

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def main() -> None:
    """``python -m missiva_platform.devstack.smtp_sink --port N --folder DIR``."""
    parser = argparse.ArgumentParser(description="Missiva SMTP sink: keeps every message")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args()
    sink = SmtpSink(args.port, args.host, args.folder)
    sink.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    sink.stop()


if __name__ == "__main__":
    main()
