"""Pipelined JetStream publishing over core NATS: the one place that relies on nats-py details.

``js.publish`` waits for each acknowledgement, and nats-py's ``publish_async`` spends a future,
a semaphore slot and a parsed ``PubAck`` on every message, topping out near 20k messages/s
here. The outbox relay instead publishes with core NATS, each message with a reply subject
``<inbox>.<batch>.<index>`` on one wildcard subscription, and reads JetStream's answers itself.
That leans on three things nats-py and the JetStream protocol do today, each checked by
``libs/platform/tests/test_jetstream_pipeline.py`` against a real server:

- a ``JetStreamContext`` keeps its core client in the private attribute ``_nc``;
- JetStream answers a publish on its reply subject with ``{"stream": …, "seq": …}``, plus
  ``"duplicate": true`` for a ``Nats-Msg-Id`` it has seen, or ``{"error": {…}}``;
- a subject no stream listens on is answered by the server with a ``Status: 503`` header.

nats-py is pinned below its next major version in the kit's ``pyproject.toml``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.client import JetStreamContext


def core_client(nats: NATS | JetStreamContext) -> NATS:
    """The core NATS client behind ``nats`` (a client, or a JetStream context of one)."""
    if not isinstance(nats, JetStreamContext):
        return nats
    client = getattr(nats, "_nc", None)
    if not isinstance(client, NATS):
        raise RuntimeError(
            "nats-py's JetStreamContext no longer keeps its client in `_nc`; update "
            "missiva_platform.jetstream_pipeline.core_client for this nats-py version"
        )
    return client


OK, DUPLICATE = "ok", "duplicate"


class PendingBatch:
    """Acknowledgements awaited for one published batch, indexed like its rows."""

    def __init__(self, size: int) -> None:
        self.outcomes: list[str | None] = [None] * size  # ok, duplicate or an error text
        self.remaining = size
        self.done = asyncio.Event()

    def settle(self, index: int, outcome: str) -> None:
        if self.outcomes[index] is None:
            self.outcomes[index] = outcome
            self.remaining -= 1
            if self.remaining == 0:
                self.done.set()

    def abandon(self, start: int, reason: str) -> None:
        """Rows from ``start`` on were never sent."""
        for index in range(start, len(self.outcomes)):
            self.settle(index, reason)


class AckInbox:
    """One reply subscription for every JetStream acknowledgement of this relay."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.prefix = nc.new_inbox()
        self._batches: dict[int, PendingBatch] = {}
        self._ids = itertools.count()
        self._sub: Subscription | None = None

    async def open(self) -> None:
        if self._sub is None:
            self._sub = await self.nc.subscribe(f"{self.prefix}.*.*", cb=self._on_reply)

    async def close(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def begin(self, size: int) -> tuple[int, PendingBatch]:
        batch_id = next(self._ids)
        batch = self._batches[batch_id] = PendingBatch(size)
        return batch_id, batch

    def end(self, batch_id: int) -> None:
        self._batches.pop(batch_id, None)

    async def _on_reply(self, msg: Msg) -> None:
        _, batch_id, index = msg.subject.rsplit(".", 2)
        batch = self._batches.get(int(batch_id))
        if batch is not None:  # a late ack for a batch that timed out is of no use
            batch.settle(int(index), ack_outcome(msg))


def ack_outcome(msg: Msg) -> str:
    status = msg.headers.get("Status") if msg.headers else None
    if status:  # 503: no stream listens on the subject
        return f"status {status} {msg.headers.get('Description', '') if msg.headers else ''}"
    data = msg.data
    # The common case needs no JSON parsing: {"stream":"X","seq":N}
    if b'"error"' in data or b'"duplicate"' in data:
        reply = json.loads(data)
        if "error" in reply:
            return str(reply["error"].get("description", reply["error"]))
        if reply.get("duplicate"):
            return DUPLICATE
    return OK
