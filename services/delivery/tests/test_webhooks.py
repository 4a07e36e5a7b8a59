"""Provider webhooks over HandleProviderFeedback: signed with HMAC-SHA256 over
``timestamp.body``, within 300 s, once per event id; a bounce or complaint lands like a DSN
or an ARF report."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import pytest

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import events_pb2
from missiva_delivery.webhooks import signature
from missiva_platform.events import unpack

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = b"whsec-" + uuid.uuid4().hex.encode()
_SECRET_FILE = Path(tempfile.mkdtemp(prefix="delivery-webhook-")) / "secret"
_SECRET_FILE.write_bytes(SECRET + b"\n")
SETTINGS = {"provider_webhook_secret_file": str(_SECRET_FILE)}


def body(message_id: str, kind: str = "bounce", **fields) -> bytes:
    event = {"id": fields.pop("id", f"evt_{uuid.uuid4().hex}"), "type": kind,
             "message_id": message_id, **fields}  # fmt: skip
    if kind == "bounce":
        diagnostic = "550 5.1.1 <ann@example.org>: no such user"
        event.setdefault(
            "bounce",
            {"status": "5.1.1", "recipient_domain": "example.org", "diagnostic": diagnostic},
        )
    return json.dumps(event).encode()


def signed(payload: bytes, *, at: int | None = None, secret: bytes = SECRET) -> str:
    stamp = int(time.time()) if at is None else at
    return f"t={stamp},v1={signature(secret, stamp, payload)}"


async def call(delivery, payload: bytes, header: str, provider: str = "generic"):
    return await delivery.stub.HandleProviderFeedback(
        pb.HandleProviderFeedbackRequest(provider=provider, payload=payload,
                                         signature_header=header),
        timeout=10,
    )  # fmt: skip


async def refused(delivery, payload: bytes, header: str, **kw) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(delivery, payload, header, **kw)
    return err.value


async def sent(delivery, tenant: str) -> str:
    reply = await delivery.send(delivery.request(delivery.address()), tenant)
    status = await delivery.until(reply.message_id, tenant)
    assert status.message.status == pb.MESSAGE_STATUS_SENT
    return reply.message_id


async def test_a_signed_bounce_marks_the_message_once(delivery) -> None:
    tenant = delivery.tenant()
    message_id = await sent(delivery, tenant)
    payload = body(message_id)
    answer = await call(delivery, payload, signed(payload))  # anonymous: no token
    assert answer.handled
    assert not answer.duplicate
    status = await delivery.status(message_id, tenant)
    assert status.message.status == pb.MESSAGE_STATUS_BOUNCED
    assert status.message.bounce_type == pb.BOUNCE_TYPE_HARD
    assert "ann@example.org" not in status.message.last_smtp_response
    [event] = await delivery.events("delivery.message.bounced", message_id)
    assert unpack(event, events_pb2.MessageBounced).source == pb.FEEDBACK_SOURCE_WEBHOOK
    # The replay (same body, still within the window) is refused: nothing more happens.
    again = await call(delivery, payload, signed(payload))
    assert again.duplicate
    assert not again.handled
    assert again.provider_event_id == answer.provider_event_id
    assert (
        await delivery.scalar(
            "SELECT count(*) FROM provider_events WHERE event_id = %s", answer.provider_event_id
        )
        == 1
    )
    assert (
        await delivery.scalar(
            "SELECT outcome FROM provider_events WHERE event_id = %s", answer.provider_event_id
        )
        == "bounced"
    )
    # Another body under the same event id is a replay too.
    other = body(message_id, id=answer.provider_event_id, bounce={"status": "4.2.2"})
    assert (await call(delivery, other, signed(other))).duplicate


async def test_a_signed_complaint_marks_the_message_complained(delivery) -> None:
    tenant = delivery.tenant()
    message_id = await sent(delivery, tenant)
    payload = body(message_id, "complaint", complaint={"feedback_type": "abuse"})
    assert (await call(delivery, payload, signed(payload))).handled
    status = await delivery.status(message_id, tenant)
    assert status.message.status == pb.MESSAGE_STATUS_COMPLAINED
    [event] = await delivery.events("delivery.message.complained", message_id)
    assert unpack(event, events_pb2.MessageComplained).source == pb.FEEDBACK_SOURCE_WEBHOOK


async def test_a_bad_signature_is_refused_and_stores_nothing(delivery) -> None:
    message_id = await sent(delivery, delivery.tenant())
    payload = body(message_id, id="evt_badsig")
    error = await refused(delivery, payload, signed(payload, secret=b"another secret"))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    # A body changed after signing fails too.
    error = await refused(delivery, payload.replace(b"5.1.1", b"5.7.1"), signed(payload))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (
        await delivery.scalar("SELECT count(*) FROM provider_events WHERE event_id = 'evt_badsig'")
        == 0
    )


async def test_an_old_or_future_timestamp_is_refused(delivery) -> None:
    message_id = await sent(delivery, delivery.tenant())
    payload = body(message_id, id="evt_old")
    for at in (int(time.time()) - 301, int(time.time()) + 301):
        error = await refused(delivery, payload, signed(payload, at=at))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "300 s" in error.details()
    answer = await call(delivery, payload, signed(payload, at=int(time.time()) - 250))
    assert answer.handled


async def test_bad_input_names_the_field(delivery) -> None:
    message_id = await sent(delivery, delivery.tenant())
    cases = [
        (b"not json", None, "payload"),
        (b"[]", None, "payload"),
        (json.dumps({"type": "bounce"}).encode(), None, "payload.id"),
        (body("not-a-uuid"), None, "payload.message_id"),
        (body(message_id), "t=1,v9=zz", "signature_header"),
        (body(message_id), "", "signature_header"),
    ]
    for payload, header, field in cases:
        error = await refused(delivery, payload, signed(payload) if header is None else header)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in error.details()
    error = await refused(delivery, body(message_id), "t=1,v1=00", provider="stripe")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "provider" in error.details()


async def test_other_event_types_and_unknown_messages_are_recorded_only(delivery) -> None:
    payload = body(str(uuid.uuid4()), "delivered")
    answer = await call(delivery, payload, signed(payload))
    assert not answer.handled
    unknown = body(str(uuid.uuid4()))
    answer = await call(delivery, unknown, signed(unknown))
    assert not answer.handled
    assert (
        await delivery.scalar(
            "SELECT outcome FROM provider_events WHERE event_id = %s", answer.provider_event_id
        )
        == "unknown_message"
    )


async def test_provider_events_are_in_the_export_and_forget_the_person_on_erasure(
    delivery,
) -> None:
    from missiva.common.v1 import types_pb2
    from missiva.privacy.v1 import privacy_service_pb2 as ppb

    tenant = delivery.tenant()
    address = delivery.address()
    reply = await delivery.send(delivery.request(address), tenant)
    await delivery.until(reply.message_id, tenant)
    payload = body(reply.message_id, "complaint")
    event_id = (await call(delivery, payload, signed(payload))).provider_event_id
    person = types_pb2.PersonRef(person_key=delivery.key(address))
    md = delivery.md(tenant, subject="consent", scopes=("*",))
    exported = await delivery.privacy.ExportPersonData(
        ppb.ExportPersonDataRequest(request_id=f"x-{event_id}", person=person), metadata=md,
        timeout=10,
    )  # fmt: skip
    sections = {s.name: json.loads(s.content) for s in exported.sections}
    [entry] = sections["delivery.provider_events"]
    assert (entry["event_type"], entry["outcome"]) == ("complaint", "complained")
    erased = await delivery.privacy.ErasePersonData(
        ppb.ErasePersonDataRequest(request_id=f"e-{event_id}", person=person), metadata=md,
        timeout=10,
    )  # fmt: skip
    assert {e.category: e.count for e in erased.erased}["delivery.provider_events"] == 1
    row = await delivery.sql(
        "SELECT person_key, message_id FROM provider_events WHERE event_id = %s", event_id
    )
    assert row == [("", None)]
    # The id is kept: the same event again is still a replay.
    assert (await call(delivery, payload, signed(payload))).duplicate
