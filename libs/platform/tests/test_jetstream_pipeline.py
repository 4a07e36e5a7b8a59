"""What the outbox relay's fast publishing assumes of nats-py and JetStream, checked for real.

If a nats-py upgrade or a server change breaks one of these, this file fails by name, before
the relay silently loses its acknowledgements.
"""

import asyncio
import uuid

import nats
import pytest
from nats.aio.client import Client as NATS

from missiva_platform.jetstream_pipeline import DUPLICATE, OK, AckInbox, core_client


@pytest.fixture
async def nc(nats_url):
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
async def stream(nc):
    js = nc.jetstream()
    tag = uuid.uuid4().hex[:8]
    name, prefix = f"PIPELINE_{tag}", f"pipeline{tag}"
    await js.add_stream(name=name, subjects=[f"{prefix}.>"], duplicate_window=120)
    yield name, prefix
    await js.delete_stream(name)


def test_a_jetstream_context_yields_the_client_it_was_made_from(nc):
    assert core_client(nc.jetstream()) is nc
    assert core_client(nc) is nc


def test_a_context_without_the_private_client_fails_loudly(nc):
    js = nc.jetstream()
    del js._nc  # what a nats-py release that renames it would look like
    with pytest.raises(RuntimeError, match="no longer keeps its client"):
        core_client(js)


async def publish(nc: NATS, inbox: AckInbox, messages: list[tuple[str, dict[str, str]]]):
    batch_id, batch = inbox.begin(len(messages))
    try:
        for index, (subject, headers) in enumerate(messages):
            await nc.publish(
                subject, b"x", reply=f"{inbox.prefix}.{batch_id}.{index}", headers=headers
            )
        await asyncio.wait_for(batch.done.wait(), 10)
    finally:
        inbox.end(batch_id)
    return batch.outcomes


async def test_jetstream_answers_stored_duplicate_no_stream_and_error_on_the_reply_subject(
    nc, stream
):
    name, prefix = stream
    inbox = AckInbox(nc)
    await inbox.open()
    try:
        outcomes = await publish(
            nc,
            inbox,
            [
                (f"{prefix}.a", {"Nats-Msg-Id": "m-1"}),
                (f"{prefix}.a", {"Nats-Msg-Id": "m-1"}),
                (f"nostream{uuid.uuid4().hex[:6]}.a", {"Nats-Msg-Id": "m-2"}),
                (f"{prefix}.a", {"Nats-Msg-Id": "m-3", "Nats-Expected-Stream": "ANOTHER"}),
            ],
        )
    finally:
        await inbox.close()
    assert outcomes[:2] == [OK, DUPLICATE]
    assert str(outcomes[2]).startswith("status 503")
    assert "stream" in str(outcomes[3]).lower()
    assert outcomes[3] not in (OK, DUPLICATE)
    info = await nc.jetstream().stream_info(name)
    assert info.state.messages == 1


async def test_a_late_acknowledgement_for_a_finished_batch_is_ignored(nc, stream):
    _, prefix = stream
    inbox = AckInbox(nc)
    await inbox.open()
    try:
        batch_id, batch = inbox.begin(1)
        inbox.end(batch_id)  # the batch timed out before its answer came
        await nc.publish(f"{prefix}.a", b"x", reply=f"{inbox.prefix}.{batch_id}.0")
        await nc.flush()
        await asyncio.sleep(0.2)
        assert batch.outcomes == [None]
        assert await publish(nc, inbox, [(f"{prefix}.b", {})]) == [OK]
    finally:
        await inbox.close()
