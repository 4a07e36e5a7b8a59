"""SMTP PIPELINING (RFC 2920) on the sender's connections, against a real aiosmtpd server.

A server that offers PIPELINING gets MAIL, RCPT and DATA in one write and then the message
(two round trips instead of four); one that does not gets one command at a time. The server
here notes, when MAIL arrives, whether RCPT was already waiting in its input (the client
did not wait for MAIL's reply), and refuses senders and recipients as their address asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from missiva_delivery.smtp import SmtpTransport
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.smtp_sink import SinkHandler


@dataclass
class Handler(SinkHandler):
    pipelining: bool = True
    mail_with_rcpt_waiting: list[bool] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)
    mail_options: list[list[str]] = field(default_factory=list)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.mail_with_rcpt_waiting.append(bytes(server._reader._buffer).startswith(b"RCPT"))
        self.peers.append(session.peer)
        self.mail_options.append(list(options))
        if address.startswith("refused-"):
            return "553 5.7.1 Sender address rejected"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("nouser-"):
            return "550 5.1.1 Recipient address rejected: no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def _server(pipelining: bool) -> Iterator[tuple[Handler, str]]:
    handler = Handler(pipelining=pipelining)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


@pytest.fixture
def pipelining_server() -> Iterator[tuple[Handler, str]]:
    yield from _server(True)


@pytest.fixture
def plain_server() -> Iterator[tuple[Handler, str]]:
    yield from _server(False)


def _message(n: int) -> bytes:
    # A line that starts with a dot must arrive as it was (dot-stuffed on the wire).
    return (
        f"From: news@shop.example\r\nTo: r{n}@example.org\r\nSubject: n{n}\r\n\r\n"
        f"Hello {n}\r\n.hidden line {n}\r\n..two dots\r\nend\r\n"
    ).encode()


async def test_a_pipelining_server_gets_each_transaction_in_two_writes(
    pipelining_server: tuple[Handler, str],
) -> None:
    handler, url = pipelining_server
    transport = SmtpTransport(url, timeout=5)
    try:
        for n in range(6):
            reply = await transport.send(
                _message(n), sender="b+1@bounces.example", recipient=f"r{n}@example.org"
            )
            assert reply.code == 250
    finally:
        await transport.close()
    assert [m.data for m in handler.messages] == [_message(n) for n in range(6)]
    assert [m.rcpt_tos for m in handler.messages] == [(f"r{n}@example.org",) for n in range(6)]
    assert handler.mail_with_rcpt_waiting == [True] * 6
    assert handler.mail_options == [["BODY=8BITMIME"]] * 6  # the server offers 8BITMIME
    assert len(set(handler.peers)) == 1  # one connection, reused


async def test_pipelined_refusals_are_the_servers_replies_and_the_next_message_goes(
    pipelining_server: tuple[Handler, str],
) -> None:
    handler, url = pipelining_server
    transport = SmtpTransport(url, timeout=5)
    try:
        refused = await transport.send(
            _message(1), sender="b+1@bounces.example", recipient="nouser-1@example.org"
        )
        assert (refused.code, "no such user" in refused.text) == (550, True)
        sender_refused = await transport.send(
            _message(2), sender="refused-2@bounces.example", recipient="r2@example.org"
        )
        assert sender_refused.code == 553
        sent = await transport.send(
            _message(3), sender="b+3@bounces.example", recipient="r3@example.org"
        )
        assert sent.code == 250
    finally:
        await transport.close()
    assert [m.data for m in handler.messages] == [_message(3)]
    assert handler.mail_with_rcpt_waiting == [True, True, True]
    # After each refusal the connection was made again: nothing half-done is carried over.
    assert len(set(handler.peers)) == 3


async def test_a_server_without_pipelining_gets_one_command_at_a_time(
    plain_server: tuple[Handler, str],
) -> None:
    handler, url = plain_server
    transport = SmtpTransport(url, timeout=5)
    try:
        for n in range(3):
            reply = await transport.send(
                _message(n), sender="b+1@bounces.example", recipient=f"r{n}@example.org"
            )
            assert reply.code == 250
        refused = await transport.send(
            _message(9), sender="b+1@bounces.example", recipient="nouser-9@example.org"
        )
        assert refused.code == 550
    finally:
        await transport.close()
    assert [m.data for m in handler.messages] == [_message(n) for n in range(3)]
    assert handler.mail_with_rcpt_waiting == [False] * 4
