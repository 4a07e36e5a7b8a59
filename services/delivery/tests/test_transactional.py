"""The transactional lane: queue, render, send over SMTP, and tell each message's fate."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import events_pb2
from missiva_platform.auth import CallerKind
from missiva_platform.events import unpack

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _parts(received) -> dict[str, str]:
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


async def test_an_rpc_send_reaches_the_sink_as_text_and_html(delivery) -> None:
    address = delivery.address()
    reply = await delivery.send(delivery.request(address, locale="it-IT"))
    assert reply.status == pb.MESSAGE_STATUS_QUEUED

    status = await delivery.until(reply.message_id)
    assert status.message.status == pb.MESSAGE_STATUS_SENT
    assert status.message.last_smtp_response.startswith("250")
    assert status.message.subject == "Conferma il tuo indirizzo email"
    assert status.message.attempts == 1
    assert [e.status for e in status.events] == [
        pb.MESSAGE_STATUS_QUEUED,
        pb.MESSAGE_STATUS_SENDING,
        pb.MESSAGE_STATUS_SENT,
    ]
    [received] = delivery.sink.for_address(address)
    # The return path is the row's VERP address: a bounce of this mail finds its row.
    verp = delivery.app.services[0].servicer.core.campaign_mail.verp
    assert verp.message_id(received.mail_from) == reply.message_id
    mail = received.message
    assert mail["Message-ID"] == status.message.rfc822_message_id
    assert mail["To"].addresses[0].display_name == "Ada Lovelace"
    assert mail["Subject"] == "Conferma il tuo indirizzo email"
    parts = _parts(received)
    assert "https://missiva.example/verify-email?token=mev_abc" in parts["text/plain"]
    assert 'href="https://missiva.example/verify-email?token=mev_abc"' in parts["text/html"]
    assert "Ciao Ada Lovelace" in parts["text/plain"]

    [sent] = await delivery.events("delivery.message.sent", reply.message_id)
    payload = unpack(sent, events_pb2.MessageSent)
    assert payload.person_key == delivery.key(address)
    assert payload.rfc822_message_id == status.message.rfc822_message_id
    assert address not in sent.SerializeToString().decode("latin-1")


async def test_html_variables_are_escaped(delivery) -> None:
    address = delivery.address()
    reply = await delivery.send(delivery.request(address, to_name="<script>x</script>"))
    await delivery.until(reply.message_id)
    [received] = delivery.sink.for_address(address)
    parts = _parts(received)
    assert "<script>" not in parts["text/html"]
    assert "&lt;script&gt;" in parts["text/html"]


async def test_a_retried_rpc_sends_once(delivery) -> None:
    address = delivery.address()
    request = delivery.request(address)
    first = await delivery.send(request)
    again = await delivery.send(request)
    assert again.message_id == first.message_id
    await delivery.until(first.message_id)
    assert len(delivery.sink.for_address(address)) == 1
    # The same key with another request is refused, not sent.
    other = delivery.request(delivery.address(), idempotency_key=request.idempotency_key)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await delivery.send(other)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_the_command_is_sent_once_even_when_redelivered(delivery) -> None:
    tenant = delivery.tenant()
    address = delivery.address()
    command = delivery.command(address, tenant)
    await delivery.publish(command)
    # The same command again (a producer retry with a new event id): same key, no second mail.
    again = delivery.command(address, tenant)
    again.payload.CopyFrom(command.payload)
    await delivery.publish(again)
    rows = []
    for _ in range(100):
        rows = await delivery.sql(
            "SELECT id::text, status FROM messages WHERE person_key = %s", delivery.key(address)
        )
        if rows and rows[0][1] == "sent":
            break
        await asyncio.sleep(0.1)
    assert len(rows) == 1
    assert rows[0][1] == "sent"
    assert await delivery.scalar("SELECT tenant_id FROM messages WHERE id = %s", rows[0][0]) == (
        tenant
    )
    [received] = delivery.sink.for_address(address)
    assert received.message["Subject"] == "Conferma la tua iscrizione"
    # Once final, the ledger keeps neither the address nor the variables.
    sealed = await delivery.sql(
        "SELECT to_address_enc, payload_enc FROM messages WHERE id = %s", rows[0][0]
    )
    assert sealed == [(None, None)]


async def test_a_queued_address_is_stored_only_encrypted(delivery) -> None:
    address = delivery.address("defer50")  # refused for a long while: stays in the ledger
    reply = await delivery.send(delivery.request(address))
    blob = await delivery.scalar(
        "SELECT to_address_enc FROM messages WHERE id = %s", reply.message_id
    )
    assert blob is not None
    assert address.encode() not in bytes(blob)
    rows = await delivery.sql("SELECT * FROM messages WHERE id = %s", reply.message_id)
    assert address not in repr(rows)


async def test_an_unknown_template_is_refused_on_the_rpc(delivery) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await delivery.send(delivery.request(delivery.address(), template_key="identity.nope"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "template_key" in err.value.details()


async def test_a_command_with_an_unknown_template_fails_with_the_reason(delivery) -> None:
    tenant = delivery.tenant()
    address = delivery.address()
    command = delivery.command(address, tenant, template_key="consent.no_such_template")
    await delivery.publish(command)
    message_id = await _message_of(delivery, address)
    status = await delivery.until(message_id, tenant, timeout=20)
    assert status.message.status == pb.MESSAGE_STATUS_FAILED
    assert "no template 'consent.no_such_template'" in status.message.last_smtp_response
    assert delivery.sink.for_address(address) == []


async def test_a_missing_variable_fails_the_message_with_the_reason(delivery) -> None:
    address = delivery.address()
    reply = await delivery.send(delivery.request(address, variables={"expires_in_hours": "24"}))
    status = await delivery.until(reply.message_id)
    assert status.message.status == pb.MESSAGE_STATUS_FAILED
    assert "'verification_url' is undefined" in status.message.last_smtp_response
    assert delivery.sink.for_address(address) == []
    # The sender keeps going: the next message goes out.
    fine = await delivery.send(delivery.request(delivery.address()))
    assert (await delivery.until(fine.message_id)).message.status == pb.MESSAGE_STATUS_SENT


async def test_a_command_with_a_bad_address_is_recorded_failed(delivery) -> None:
    tenant = delivery.tenant()
    command = delivery.command("not-an-address", tenant, person_key="cd" * 32)
    await delivery.publish(command)
    rows = []
    for _ in range(100):
        rows = await delivery.sql(
            "SELECT status, failure_reason FROM messages WHERE person_key = %s", "cd" * 32
        )
        if rows:
            break
        await asyncio.sleep(0.1)
    assert rows
    assert rows[0][0] == "failed"
    assert "to_address" in rows[0][1]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "k" * 129}, "idempotency_key"),
        ({"template_key": ""}, "template_key"),
        ({"template_key": "Bad Key"}, "template_key"),
        ({"to_address": ""}, "to_address"),
        ({"to_address": "nobody"}, "to_address"),
        ({"to_name": "Ann\r\nBcc: x@example.org"}, "to_name"),
        ({"locale": "not a locale!"}, "locale"),
        ({"category": types_pb2.EMAIL_CATEGORY_UNSPECIFIED}, "category"),
        ({"person_key": "short"}, "person_key"),
        ({"variables": {"bad name": "x"}}, "variables"),
    ],
)
async def test_bad_input_names_the_field(delivery, change, field) -> None:
    request = delivery.request(delivery.address(), **change)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await delivery.send(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details()


async def test_get_message_status_bad_input(delivery) -> None:
    for bad in ("", "not-a-uuid"):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await delivery.status(bad)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "message_id" in err.value.details()


async def test_another_tenants_message_is_not_found(delivery) -> None:
    mine, theirs = delivery.tenant(), delivery.tenant()
    reply = await delivery.send(delivery.request(delivery.address()), metadata=delivery.admin(mine))
    assert (await delivery.status(reply.message_id, metadata=delivery.admin(mine))).message
    for caller in (delivery.admin(theirs), delivery.md("")):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await delivery.status(reply.message_id, metadata=caller)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await delivery.status(str(uuid.uuid4()), metadata=delivery.admin(mine))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_least_scope(delivery) -> None:
    tenant = delivery.tenant()
    api_key = delivery.md(tenant, kind=CallerKind.API_KEY, subject="key-1", scopes=("mail:send",))
    sent = await delivery.send(delivery.request(delivery.address()), metadata=api_key)
    reader = delivery.md(tenant, kind=CallerKind.API_KEY, subject="key-2", scopes=("mail:read",))
    assert (await delivery.status(sent.message_id, metadata=reader)).message.message_id
    member = delivery.md(tenant, kind=CallerKind.USER, subject="u", roles=("member",),
                         scopes=("*",))  # fmt: skip
    assert (await delivery.status(sent.message_id, metadata=member)).message.message_id
    refused = {
        "an API key without mail:send": delivery.md(
            tenant, kind=CallerKind.API_KEY, subject="key-3", scopes=("mail:read",)
        ),
        "a member": member,
        "a service not allowed to send": delivery.md(subject="gateway"),
        "a service token without mail:send": delivery.md(scopes=("mail:read",)),
    }
    for who, metadata in refused.items():
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await delivery.send(delivery.request(delivery.address()), metadata=metadata)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, who
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await delivery.status(sent.message_id, metadata=api_key)  # mail:send only
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await delivery.stub.SendTransactional(delivery.request(delivery.address()), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def _message_of(delivery, address: str) -> str:
    for _ in range(100):
        found = await delivery.scalar(
            "SELECT id::text FROM messages WHERE person_key = %s", delivery.key(address)
        )
        if found:
            return str(found)
        await asyncio.sleep(0.1)
    raise AssertionError("the command never reached the ledger")


async def test_a_caller_without_the_person_key_gets_it_derived(delivery) -> None:
    # An API key behind the REST API cannot compute the keyed hash; delivery derives it.
    address = delivery.address()
    request = delivery.request(address)
    request.person_key = ""
    sent = await delivery.send(request)
    stored = await delivery.scalar("SELECT person_key FROM messages WHERE id = %s", sent.message_id)
    assert stored == delivery.key(address)


async def test_consents_my_data_link_command_arrives_with_its_link(delivery) -> None:
    """The command consent's SendMyDataLink queues (built by consent's own builder)."""
    from datetime import UTC, datetime, timedelta

    from missiva_consent.links import my_data_command

    tenant = delivery.tenant()
    address = delivery.address()
    url = "https://missiva.example/my-data/kid1.c2VjcmV0.sig"
    command = my_data_command(
        account_id=tenant, person_key=delivery.key(address), email=address, url=url,
        token="kid1.c2VjcmV0.sig", expires=datetime.now(UTC) + timedelta(hours=24),
    )  # fmt: skip
    event = delivery.command(address, tenant)
    event.payload.Pack(command)
    await delivery.publish(event)
    message_id = await _message_of(delivery, address)
    status = await delivery.until(message_id, tenant)
    assert status.message.status == pb.MESSAGE_STATUS_SENT, status.message.last_smtp_response
    assert status.message.subject == "Your link to see your data"
    [received] = delivery.sink.for_address(address)
    parts = _parts(received)
    assert url in parts["text/plain"]
    assert f'href="{url}"' in parts["text/html"]
