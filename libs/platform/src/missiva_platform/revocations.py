"""Sessions identity has ended reach every service's token verifier.

Identity announces ended sessions on ``identity.session.revoked`` (sign-out, revocation,
refresh-token reuse, password reset, removal, deletion). Each replica of every service follows
that subject with an ordered, ephemeral JetStream consumer that starts one access-token
lifetime back, so a replica that starts (or restarts) late still knows every revocation whose
tokens could be valid, and the verifier refuses those tokens at once instead of accepting them
until they expire. If the stream is not there yet (identity not started) or the subscription
breaks, it tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from nats.aio.msg import Msg
from nats.js import api
from nats.js.client import JetStreamContext

from missiva.identity.v1 import events_pb2
from missiva_platform.auth import ACCESS_TOKEN_MAX_SECONDS, TokenVerifier
from missiva_platform.events import EventEnvelope, unpack

log = logging.getLogger(__name__)

SUBJECT = "identity.session.revoked"
STREAM = "IDENTITY_EVENTS"
RETRY_SECONDS = 2.0


def apply(verifier: TokenVerifier, data: bytes) -> int:
    """Feed one message of the subject to ``verifier``; the number of sessions it names."""
    revoked = unpack(EventEnvelope.FromString(data), events_pb2.SessionsRevoked)
    verifier.revoke_sessions(revoked.session_ids, revoked_at=float(revoked.revoked_at.seconds))
    return len(revoked.session_ids)


async def follow(js: JetStreamContext, verifier: TokenVerifier, stopping: asyncio.Event) -> None:
    """Feed every announced revocation to ``verifier`` until ``stopping`` is set."""

    async def on_message(msg: Msg) -> None:
        try:
            apply(verifier, msg.data)
        except Exception as exc:  # one bad message must not stop the others
            log.warning("a session revocation could not be read: %s", exc)

    while not stopping.is_set():
        since = datetime.now(UTC) - timedelta(seconds=ACCESS_TOKEN_MAX_SECONDS + 60)
        try:
            sub = await js.subscribe(
                SUBJECT,
                stream=STREAM,
                cb=on_message,
                ordered_consumer=True,
                config=api.ConsumerConfig(
                    deliver_policy=api.DeliverPolicy.BY_START_TIME,
                    opt_start_time=since,
                ),
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # no stream yet, or NATS away: try again
            log.info("session revocations not followed yet (%s); retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), RETRY_SECONDS)
            continue
        try:
            await stopping.wait()  # the ordered consumer repairs itself on reconnect
        finally:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # already gone with its connection
                log.debug("unsubscribing session revocations: %s", exc)
