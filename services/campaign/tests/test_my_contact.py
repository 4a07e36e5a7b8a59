"""A recipient corrects their own contact fields by the my-data link consent mailed them
(``GetMyContact``, ``CorrectMyContact``): campaign and consent side by side (real
PostgreSQL, NATS and gRPC); the token is the one consent really issues and queues."""

from __future__ import annotations

import asyncio
import contextlib
import json

import grpc
import nats.js.errors
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2, status_pb2

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import events_pb2
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva_campaign.privacy import CampaignPrivacy
from missiva_campaign.retention import RULES
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.privacy import Person
from missiva_platform.retention import run_retention, travel

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def my_data_token(env, tenant: str, email: str) -> str:
    """The my-data token consent mails ``email`` (asked for from the preference centre)."""
    links = await env.consent.IssueLinkTokens(
        consent_pb.IssueLinkTokensRequest(person=types_pb2.PersonRef(email=email)),
        metadata=env.consent_md(tenant, scopes=("links:write",)),
        timeout=10,
    )
    await env.consent.SendMyDataLink(
        consent_pb.SendMyDataLinkRequest(preferences_token=links.preferences_token, email=email),
        timeout=10,
    )
    person_key = env.key(email)
    js = env.nc.jetstream()
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            msg = await js.get_last_msg("DELIVERY_COMMANDS", "cmd.delivery.send_transactional")
            command = unpack(
                EventEnvelope.FromString(msg.data), delivery_events.SendTransactionalCommand
            )
            if command.person_key == person_key and "my_data_token" in command.variables:
                return str(command.variables["my_data_token"])
        assert asyncio.get_running_loop().time() < deadline, "no my-data email queued"
        await asyncio.sleep(0.1)


async def last_contact_update(env, contact_id: str) -> events_pb2.ContactUpdated:
    """The last ``campaign.contact.updated`` on the bus, once it is about ``contact_id``."""
    js = env.nc.jetstream()
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            msg = await js.get_last_msg("CAMPAIGN_EVENTS", "campaign.contact.updated")
            event = unpack(EventEnvelope.FromString(msg.data), events_pb2.ContactUpdated)
            if event.contact_id == contact_id:
                return event
        assert asyncio.get_running_loop().time() < deadline, "no contact.updated published"
        await asyncio.sleep(0.1)


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    return {v.field: v.description for v in bad.field_violations}
    return {}


def correction(token: str, paths: list[str], **fields: str) -> pb.CorrectMyContactRequest:
    return pb.CorrectMyContactRequest(
        token=token,
        fields=pb.MyContactFields(**fields),
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    )


async def test_a_recipient_sees_and_corrects_their_own_fields_and_the_change_is_published(
    forms_env,
) -> None:
    env, tenant = forms_env, forms_env.tenant()
    email = env.email("fix")
    contact = await env.create(tenant, email, first_name="Mrio", last_name="Rossi", locale="en")
    token = await my_data_token(env, tenant, email)
    shown = await env.stub.GetMyContact(pb.GetMyContactRequest(token=token), timeout=10)
    assert shown.found
    assert (shown.fields.first_name, shown.fields.last_name, shown.fields.locale) == (
        "Mrio",
        "Rossi",
        "en",
    )
    reply = await env.stub.CorrectMyContact(
        correction(
            token,
            ["first_name", "locale", "timezone", "last_name"],
            first_name=" Mario ",
            locale="it-it",
            timezone="Europe/Rome",
            last_name="Rossi",
        ),
        timeout=10,
    )
    assert list(reply.changed_fields) == ["first_name", "locale", "timezone"]
    assert (reply.fields.first_name, reply.fields.locale, reply.fields.timezone) == (
        "Mario",
        "it-IT",
        "Europe/Rome",
    )
    held = await env.stub.GetContact(
        pb.GetContactRequest(contact_id=contact.contact_id), metadata=env.md(tenant), timeout=10
    )
    assert (held.contact.first_name, held.contact.email) == ("Mario", contact.email)
    published = await last_contact_update(env, contact.contact_id)
    assert (list(published.changed_fields), published.by_data_subject) == (
        ["first_name", "locale", "timezone"],
        True,
    )
    again = await env.stub.CorrectMyContact(
        correction(token, ["first_name"], first_name="Mario"), timeout=10
    )
    assert list(again.changed_fields) == []  # the same value: nothing changes, nothing recorded
    recorded = await env.sql(
        "SELECT contact_id::text, fields FROM contact_rectifications WHERE account_id = %s",
        tenant,
    )
    assert recorded == [(contact.contact_id, ["first_name", "locale", "timezone"])]
    exported = await CampaignPrivacy(lambda: env.app.pool).export(
        Person(request_id="r-fix", tenant_id=tenant, person_key=env.key(email))
    )
    sections = {s.name: json.loads(s.content) for s in exported}
    assert [r["fields"] for r in sections["rectifications"]] == [
        ["first_name", "locale", "timezone"]
    ]
    # Kept two years as the record of the rectification (time travel), then gone.
    await run_retention(env.url, RULES, now=travel(days=729))
    assert await env.sql(
        "SELECT count(*) FROM contact_rectifications WHERE account_id = %s", tenant
    ) == [(1,)]
    await run_retention(env.url, RULES, now=travel(days=731))
    assert await env.sql(
        "SELECT count(*) FROM contact_rectifications WHERE account_id = %s", tenant
    ) == [(0,)]


async def test_a_bad_or_foreign_token_opens_nothing(forms_env) -> None:
    env, tenant, other = forms_env, forms_env.tenant(), forms_env.tenant()
    email = env.email("foreign")
    await env.create(tenant, email, first_name="Ada")
    for token in ("", "v1.x.y.z"):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await env.stub.GetMyContact(pb.GetMyContactRequest(token=token), timeout=10)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "token" in violations(bad.value)
    links = await env.consent.IssueLinkTokens(
        consent_pb.IssueLinkTokensRequest(person=types_pb2.PersonRef(email=email)),
        metadata=env.consent_md(tenant, scopes=("links:write",)),
        timeout=10,
    )
    with pytest.raises(grpc.aio.AioRpcError) as wrong_kind:  # a preference-centre token
        await env.stub.CorrectMyContact(
            correction(links.preferences_token, ["first_name"], first_name="Eve"), timeout=10
        )
    assert wrong_kind.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(wrong_kind.value) == {"token": "this link is not valid"}
    # The same address, asked for in another account: that account holds no contact of theirs.
    elsewhere = await my_data_token(env, other, email)
    shown = await env.stub.GetMyContact(pb.GetMyContactRequest(token=elsewhere), timeout=10)
    assert not shown.found
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await env.stub.CorrectMyContact(
            correction(elsewhere, ["first_name"], first_name="Eve"), timeout=10
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    rows = await env.sql(
        "SELECT first_name FROM contacts WHERE account_id = %s AND person_key = %s",
        tenant,
        env.key(email),
    )
    assert rows == [("Ada",)]


async def test_bad_values_are_field_violations_and_the_address_is_not_correctable(
    forms_env,
) -> None:
    env, tenant = forms_env, forms_env.tenant()
    email = env.email("values")
    await env.create(tenant, email, first_name="Ada")
    token = await my_data_token(env, tenant, email)
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await env.stub.CorrectMyContact(
            correction(
                token,
                ["locale", "timezone", "first_name", "email"],
                locale="not a locale!",
                timezone="Mars/Olympus",
                first_name="x" * 500,
            ),
            timeout=10,
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = violations(bad.value)
    assert set(found) == {"fields.locale", "fields.timezone", "fields.first_name", "update_mask"}
    assert "email cannot be corrected here" in found["update_mask"]
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await env.stub.CorrectMyContact(correction(token, []), timeout=10)
    assert "update_mask" in violations(empty.value)
    rows = await env.sql("SELECT first_name, locale FROM contacts WHERE account_id = %s", tenant)
    assert rows == [("Ada", "")]
