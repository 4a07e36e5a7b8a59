"""The inbound SMTP server of the bounce domain (aiosmtpd, on the service's own event loop).

It is the MX of ``BOUNCE_DOMAIN`` and of every sender domain's return path
(``<RETURN_PATH_LABEL>.<domain>``): bounce reports (DSNs) and complaint reports (ARF) come
back to the VERP return path of the message they are about, ``bounce+<token>@<domain>``.
Only those addresses are accepted: any other recipient is refused at RCPT with 550, and the
token's MAC must verify (``verp.py``), so a forged or guessed address finds nothing. A report
that cannot be read (an auto-reply) is accepted and dropped. A report is answered 250 only
once it is applied and committed; a database failure answers 451, so the sending server
tries again and nothing it handed over is lost. Caps: message size (552 past
``INBOUND_MAX_MESSAGE_BYTES``, refused while it arrives), recipients per message, sessions
at once (421 past ``INBOUND_MAX_SESSIONS``), an idle timeout. No address is ever logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP

from missiva_delivery import bounces, complaints
from missiva_delivery.feedback import Feedback, Report
from missiva_delivery.verp import Verp
from missiva_platform.secrets import load_token_keyring

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore

log = logging.getLogger(__name__)


class ReturnPaths:
    """Reads VERP addresses at every return-path domain of ours: ``BOUNCE_DOMAIN``, and the
    return path of each sender domain, ``<RETURN_PATH_LABEL>.<domain>`` (whose MX is this
    server; ``domains.py``). The token's MAC does not depend on the domain, so a forged or
    guessed address finds nothing at any of them. Same interface as ``Verp``."""

    MAX_DOMAINS = 1000

    def __init__(self, keyring: Any, bounce_domain: str, label: str) -> None:
        self.keyring = keyring
        self.domain = bounce_domain.lower()
        self.prefix = label.lower() + "."
        self._codecs: dict[str, Verp] = {self.domain: Verp(keyring, self.domain)}

    def message_id(self, address: str) -> str | None:
        domain = address.strip().strip("<>").rpartition("@")[2].lower()
        codec = self._codecs.get(domain)
        if codec is None:
            if not domain.startswith(self.prefix) or "." not in domain[len(self.prefix) :]:
                return None
            codec = Verp(self.keyring, domain)
            if len(self._codecs) < self.MAX_DOMAINS:
                self._codecs[domain] = codec
        return codec.message_id(address)


def verp_for(core: DeliveryCore) -> ReturnPaths:
    """The VERP reader of this process (the token keyring of TOKEN_KEYRING_FILE)."""
    path = core.settings.token_keyring_file
    if not path:
        raise RuntimeError("TOKEN_KEYRING_FILE is required to read VERP return paths")
    settings = core.settings
    return ReturnPaths(load_token_keyring(path), settings.bounce_domain, settings.return_path_label)


def reports_in(raw: bytes, message_ids: list[str], verp: Verp | ReturnPaths) -> list[Report]:
    """The reports one received message carries, one per ledger row it names: a complaint, or
    the first failure of a bounce report. An ARF report sent to another of our addresses
    finds its row through the return path it quotes."""
    message = bounces.parse_message(raw)
    digest = hashlib.sha256(raw).hexdigest()[:32]
    complaint = complaints.parse_arf(message)
    if complaint is not None:
        found = list(message_ids)
        for path in complaint.return_paths:
            named = verp.message_id(path)
            if named and named not in found:
                found.append(named)
        return [
            Report(mid, "complaint", "arf", digest, feedback_type=complaint.feedback_type,
                   recipient_domain=complaint.recipient_domain)
            for mid in found[:1]
        ]  # fmt: skip
    failures = bounces.parse_dsn(message)
    if not failures:
        return []
    first = next((f for f in failures if f.action == "failed"), failures[0])
    kind = "bounce" if first.action == "failed" else "delayed"
    return [
        Report(mid, kind, "dsn", digest,
               bounce_class=first.verdict.bounce_class if kind == "bounce" else None,
               rule=first.verdict.rule, status_code=first.status, diagnostic=first.diagnostic,
               recipient_domain=first.recipient_domain)
        for mid in message_ids
    ]  # fmt: skip


class InboundHandler:
    """aiosmtpd handler: RCPT checks the VERP token, DATA applies the report."""

    def __init__(self, core: DeliveryCore, feedback: Feedback, verp: ReturnPaths) -> None:
        self.core = core
        self.feedback = feedback
        self.verp = verp
        self.sessions = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if len(envelope.rcpt_tos) >= self.core.settings.inbound_max_recipients:
            return "452 4.5.3 Too many recipients"
        if self.verp.message_id(address) is None:
            self.feedback.metrics.reports.labels("smtp", "refused_recipient").inc()
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        ids = [mid for mid in (self.verp.message_id(a) for a in envelope.rcpt_tos) if mid]
        try:
            found = reports_in(raw, ids, self.verp)
        except Exception:  # a message no parser can read: nothing to apply
            log.warning("an inbound message could not be read", exc_info=True)
            found = []
        if not found:
            self.feedback.metrics.reports.labels("dsn", "unreadable").inc()
            return "250 2.0.0 OK: not a report, dropped"
        try:
            async with self.core.pool.connection() as conn, conn.transaction():
                outcomes = [await self.feedback.apply(conn, report) for report in found]
        except Exception:
            log.exception("an inbound report could not be applied; the sender will retry")
            return "451 4.3.0 Try again later"
        for report, outcome in zip(found, outcomes, strict=True):
            self.feedback.metrics.reports.labels(report.source, outcome).inc()
        return "250 2.0.0 OK"


class _Smtp(SMTP):
    """aiosmtpd's protocol, refusing sessions past the cap."""

    def __init__(self, handler: InboundHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._inbound = handler
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._inbound.sessions >= self._inbound.core.settings.inbound_max_sessions:
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
            transport.close()
            return
        self._inbound.sessions += 1
        self._counted = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._inbound.sessions -= 1
            self._counted = False
            super().connection_lost(error)


class InboundServer:
    def __init__(self, core: DeliveryCore, feedback: Feedback) -> None:
        self.core = core
        self.feedback = feedback
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> None:
        settings = self.core.settings
        handler = InboundHandler(self.core, self.feedback, verp_for(self.core))
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _Smtp(
                handler,
                data_size_limit=settings.inbound_max_message_bytes,
                hostname=settings.bounce_domain,
                ident="Missiva bounce handler",
                timeout=settings.inbound_timeout_seconds,
                loop=loop,
            ),
            host=settings.bind_host,
            port=settings.inbound_smtp_port,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("inbound SMTP listening", extra={"port": self.port})

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def run(self, stopping: asyncio.Event) -> None:
        """The worker: listen until the service stops. A port that cannot be bound (taken by
        a process that is still going away) is logged and tried again every few seconds."""
        delay = 1.0
        while not stopping.is_set():
            try:
                await self.start()
                break
            except OSError as exc:
                log.error(
                    "inbound SMTP cannot listen; trying again",
                    extra={"port": self.core.settings.inbound_smtp_port, "error": str(exc)},
                )
                try:
                    await asyncio.wait_for(stopping.wait(), delay)
                except TimeoutError:
                    delay = min(delay * 2, 30.0)
        try:
            await stopping.wait()
        finally:
            await self.stop()
