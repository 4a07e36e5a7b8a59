"""The SMTP transport (aiosmtplib): one connection kept open and reused for many messages.

``send`` answers with the server's reply (code and text) for a message the server accepted
or refused; a connection that cannot be made or breaks is a ``TransportError`` (the message
is deferred). After any refusal the connection is closed and made again for the next
message, so no half-finished transaction is carried over.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
from aiosmtplib.protocol import (
    COMMAND_INJECTION_REGEX,
    PERIOD_REGEX,
    SMTPProtocol,
    normalize_message_line_endings,
)
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import SMTPStatus

from missiva_delivery.domain import redact_addresses


class TransportError(Exception):
    """No answer from the server about this message (connect failed, connection lost)."""


@dataclass(frozen=True)
class Reply:
    code: int
    text: str

    def __str__(self) -> str:
        """One line, without any address the server repeated (see ``redact_addresses``)."""
        return redact_addresses(f"{self.code} {' '.join(self.text.split())}".strip())[:1000]


class SmtpTransport:
    def __init__(self, url: str, *, timeout: float = 30.0, local_hostname: str | None = None):
        parsed = urllib.parse.urlsplit(url)
        self.implicit_tls = parsed.scheme == "smtps"
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or (465 if self.implicit_tls else 25)
        self.username = urllib.parse.unquote(parsed.username) if parsed.username else None
        self.password = urllib.parse.unquote(parsed.password) if parsed.password else None
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.implicit_tls,
            start_tls=None,  # STARTTLS when the server offers it
            username=self.username,
            password=self.password,
            timeout=self.timeout,
            local_hostname=self.local_hostname,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPResponseException as exc:
            raise TransportError(str(Reply(exc.code, exc.message))) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransportError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        self._client = client
        return client

    async def send(self, message: EmailMessage | bytes, *, sender: str, recipient: str) -> Reply:
        """Send one message (an ``EmailMessage``, or the finished bytes of campaign mail)."""
        async with self._lock:
            client = await self._connected()
            try:
                if isinstance(message, bytes):
                    text = await self._transaction(client, message, sender, recipient)
                else:
                    _, text = await client.send_message(
                        message, sender=sender, recipients=[recipient]
                    )
            except aiosmtplib.SMTPRecipientsRefused as exc:
                await self._drop()
                refused = exc.recipients[0]
                return Reply(refused.code, refused.message)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
                await self._drop()
                raise TransportError(f"connection lost: {exc}") from None
            except aiosmtplib.SMTPResponseException as exc:  # MAIL FROM or DATA refused
                await self._drop()
                return Reply(exc.code, exc.message)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await self._drop()
                raise TransportError(f"connection failed: {exc}") from None
            return Reply(250, text)

    @staticmethod
    async def _transaction(
        client: aiosmtplib.SMTP, message: bytes, sender: str, recipient: str
    ) -> str:
        """MAIL, RCPT and DATA for finished bytes, with the addresses (already checked) as
        they are: aiosmtplib's ``sendmail`` parses both again on every message. A server that
        offers PIPELINING (RFC 2920) gets the three commands in one write (two round trips a
        message instead of four, see ``_pipelined``)."""
        # An address beyond ASCII (a transactional recipient) needs the SMTPUTF8 option.
        utf8 = b"" if sender.isascii() and recipient.isascii() else b" SMTPUTF8"
        mail = b"FROM:<" + sender.encode() + b">" + utf8
        if client.supports_extension("8bitmime"):  # as aiosmtplib's send_message says it
            mail += b" BODY=8BITMIME"
        rcpt = b"TO:<" + recipient.encode() + b">"
        if client.supports_extension("pipelining"):
            return await _pipelined(client, mail, rcpt, message, recipient)
        reply = await client.execute_command(b"MAIL", mail)
        if reply.code != 250:
            raise aiosmtplib.SMTPResponseException(reply.code, reply.message)
        reply = await client.execute_command(b"RCPT", rcpt)
        if reply.code not in (250, 251):
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)]
            )
        reply = await client.data(message)
        return reply.message

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await asyncio.wait_for(client.quit(), 2)
        except Exception:  # a broken connection cannot even say goodbye
            client.close()

    async def close(self) -> None:
        async with self._lock:
            await self._drop()


async def _next_reply(protocol: SMTPProtocol, seconds: float | None) -> SMTPResponse:
    """The next reply of a pipelined group: one that arrived with an earlier one (still in
    the protocol's buffer), else the next to arrive.

    Not ``protocol.read_response``: its ``wait_for`` wakes this task one loop turn after
    the reply, and a chunk read in that turn (the next replies) would find the protocol not
    waiting and be dropped. Awaiting the protocol's future itself wakes it first."""
    buffered = protocol._read_response_from_buffer()
    if buffered is not None:
        return buffered
    waiter = protocol._response_waiter
    if waiter is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    protocol._response_pending = True
    try:
        async with asyncio.timeout(seconds):
            return await waiter
    except TimeoutError as exc:
        raise aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response") from exc
    finally:
        protocol._response_pending = False
        protocol._response_waiter = (
            None if protocol.transport is None else asyncio.get_running_loop().create_future()
        )


async def _pipelined(
    client: aiosmtplib.SMTP, mail: bytes, rcpt: bytes, message: bytes, recipient: str
) -> str:
    """One write of MAIL, RCPT and DATA, their three replies, then the message and its reply.

    aiosmtplib has no pipelining of its own: this takes the protocol's command lock, as its
    ``execute_command`` does, and reads the replies that arrived together from its buffer
    (``_next_reply``). On any refusal the caller drops the connection."""
    protocol = client.protocol
    if protocol is None or protocol._command_lock is None:
        raise aiosmtplib.SMTPServerDisconnected("Server not connected")
    if COMMAND_INJECTION_REGEX.search(mail) or COMMAND_INJECTION_REGEX.search(rcpt):
        raise ValueError("an address contains a control character")
    timeout = client.timeout
    async with protocol._command_lock:
        protocol._response_pending = True
        protocol.write(b"MAIL " + mail + b"\r\nRCPT " + rcpt + b"\r\nDATA\r\n")
        mailed, rcpted, started = [await _next_reply(protocol, timeout) for _ in range(3)]
        if started.code == SMTPStatus.start_input and (
            mailed.code != 250 or rcpted.code not in (250, 251)
        ):
            client.close()  # the server waits for a message we will not send
        if mailed.code != 250:
            raise aiosmtplib.SMTPResponseException(mailed.code, mailed.message)
        if rcpted.code not in (250, 251):
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(rcpted.code, rcpted.message, recipient)]
            )
        if started.code != SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(started.code, started.message)
        protocol._response_pending = True
        protocol.write(PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n")
        reply = await _next_reply(protocol, timeout)
        if reply.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    return reply.message
