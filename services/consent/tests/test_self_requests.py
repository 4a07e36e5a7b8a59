"""One of our users asking about themselves: only with a verified address, and only about
the addresses they proved. How far it reaches: the user's records at identity, and consent's
records under every address they proved, in every account that holds them (README,
"Consent")."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
import psycopg
import pytest

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.identity.v1 import events_pb2 as identity_events
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_consent.store import privacy_requests as dsar_store
from missiva_platform.events import envelope
from missiva_platform.privacy import SERVICE_FULL_NAME, Person

from .conftest import PLATFORM
from .test_user_email_changes import changed, eventually, registered

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXPORT = ppb.PRIVACY_REQUEST_KIND_EXPORT


def verified(user_id: str, key: str) -> Any:
    message = identity_events.UserEmailVerified(
        user_id=user_id, account_id="their-account", person_key=key
    )
    return envelope(
        message, subject="identity.user.verified", tenant_id="their-account",
        producer="identity",
    )  # fmt: skip


async def keys_of(consent, user_id: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(consent.url, autocommit=True) as conn:
        return await dsar_store.user_person_keys(conn, PLATFORM, user_id)


async def test_a_user_whose_address_is_not_verified_cannot_ask_about_themselves(consent):
    account, user = consent.tenant(), f"user-{uuid.uuid4().hex[:8]}"
    for kind in (EXPORT, ppb.PRIVACY_REQUEST_KIND_ERASE):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await consent.stub.OpenPrivacyRequest(
                pb.OpenPrivacyRequestRequest(kind=kind, person=types_pb2.PersonRef(user_id=user)),
                metadata=consent.md(account, roles=("member",), subject=user, verified=False),
                timeout=10,
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "verif" in err.value.details()
    assert await consent.scalar(
        "SELECT count(*) FROM privacy_requests WHERE user_id = %s", user
    ) == 0  # fmt: skip


async def test_an_address_signed_up_with_but_never_proved_is_not_the_users(consent):
    """Someone signs up with another person's address (never verified), then changes to an
    address of their own and verifies that: the first address's history is not theirs."""
    user = f"user-{uuid.uuid4().hex[:8]}"
    victim, own = consent.key(consent.email()), consent.key(consent.email())
    await consent.publish("identity.user.registered", registered(user, victim))

    async def signed_up() -> bool:
        return bool(await keys_of(consent, user))

    await eventually(signed_up)
    # Identity names no old key when the old address was never verified.
    await consent.publish("identity.user.email_changed", changed(user, "", own, datetime.now(UTC)))

    async def moved() -> bool:
        return await keys_of(consent, user) == [own]

    await eventually(moved)


async def test_a_self_request_reaches_every_account_holding_a_proved_address(consent):
    user = f"user-{uuid.uuid4().hex[:8]}"
    email = consent.email()
    key = consent.key(email)
    await consent.publish("identity.user.registered", registered(user, key))
    await consent.publish("identity.user.verified", verified(user, key))

    async def known() -> bool:
        return await keys_of(consent, user) == [key]

    await eventually(known)
    # Two accounts hold the address as a contact; a third holds someone else.
    first, second, other = consent.tenant(), consent.tenant(), consent.tenant()
    for account in (first, second):
        purpose = await consent.purpose(account)
        await consent.grant(account, email, purpose.purpose_id)
    unrelated = await consent.purpose(other)
    await consent.grant(other, consent.email(), unrelated.purpose_id)

    handler = next(
        s.servicer.handler for s in consent.app.services if s.full_name == SERVICE_FULL_NAME
    )
    sections = await handler.export(Person("r-reach", key, user_id=user, all_accounts=True))
    history = json.loads(next(s.content for s in sections if s.name == "consent_history"))
    accounts = {entry["account_id"] for entry in history}
    assert {first, second, PLATFORM} <= accounts
    assert other not in accounts

    # The same user's request about one account's data is about that account only.
    scoped = await handler.export(Person("r-one", key, tenant_id=first))
    scoped_history = json.loads(next(s.content for s in scoped if s.name == "consent_history"))
    assert {entry["account_id"] for entry in scoped_history} == {first}
