"""The preference centre, reached by token from every email."""

import grpc
import pytest

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb

from .conftest import PLATFORM

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLIENT = types_pb2.ClientContext(ip_address="2001:db8::5", user_agent="Thunderbird/140")


async def preferences_token(consent, tenant, email):
    links = await consent.stub.IssueLinkTokens(
        pb.IssueLinkTokensRequest(person=consent.person(email)),
        metadata=consent.md(tenant),
        timeout=10,
    )
    return links.preferences_token


async def test_the_preference_centre_shows_each_purpose_and_the_history(consent):
    email = consent.email()
    token = await preferences_token(consent, PLATFORM, email)
    centre = await consent.stub.GetPreferences(
        pb.GetPreferencesRequest(token=token, client=CLIENT), timeout=10
    )
    items = {i.name: (i.enabled, i.changeable) for i in centre.items}
    assert items == {
        "Service emails": (True, False),
        "Product updates": (True, True),
        "Offers and news": (False, True),
    }
    assert centre.person_key == consent.key(email)
    assert list(centre.history) == []
    assert not centre.engagement_tracking


async def test_one_click_objects_to_product_updates_and_switching_on_marketing_is_recorded(consent):
    email = consent.email()
    token = await preferences_token(consent, PLATFORM, email)
    purposes = await consent.stub.ListPurposes(
        pb.ListPurposesRequest(), metadata=consent.md(PLATFORM), timeout=10
    )
    ids = {p.key: p.purpose_id for p in purposes.purposes}
    updated = await consent.stub.UpdatePreferences(
        pb.UpdatePreferencesRequest(
            token=token,
            client=CLIENT,
            changes=[
                pb.PreferenceChange(purpose_id=ids["product_update"], enabled=False),
                pb.PreferenceChange(purpose_id=ids["marketing"], enabled=True),
            ],
        ),
        timeout=10,
    )
    items = {i.name: (i.enabled, i.status) for i in updated.items}
    assert items["Product updates"] == (False, pb.CONSENT_STATUS_OBJECTED)
    assert items["Offers and news"] == (True, pb.CONSENT_STATUS_GRANTED)
    centre = await consent.stub.GetPreferences(pb.GetPreferencesRequest(token=token), timeout=10)
    history = [(r.purpose_key, r.action, r.source) for r in centre.history]
    assert history == [
        ("marketing", pb.CONSENT_ACTION_GRANTED, pb.CONSENT_SOURCE_PREFERENCE_CENTER),
        ("product_update", pb.CONSENT_ACTION_OBJECTED, pb.CONSENT_SOURCE_PREFERENCE_CENTER),
    ]
    grant = centre.history[0]
    assert grant.checkbox_text == "Preference centre: Offers and news switched on"
    assert len(grant.ip_hash) == 64
    assert grant.user_agent == "Thunderbird/140"


async def test_system_mail_cannot_be_switched_off_and_nothing_else_changes(consent):
    email = consent.email()
    token = await preferences_token(consent, PLATFORM, email)
    purposes = await consent.stub.ListPurposes(
        pb.ListPurposesRequest(), metadata=consent.md(PLATFORM), timeout=10
    )
    ids = {p.key: p.purpose_id for p in purposes.purposes}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.UpdatePreferences(
            pb.UpdatePreferencesRequest(
                token=token,
                changes=[
                    pb.PreferenceChange(purpose_id=ids["marketing"], enabled=True),
                    pb.PreferenceChange(purpose_id=ids["system"], enabled=False),
                ],
            ),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    centre = await consent.stub.GetPreferences(pb.GetPreferencesRequest(token=token), timeout=10)
    assert list(centre.history) == []


async def test_bad_preference_requests_are_refused(consent):
    tenant, email = consent.tenant(), consent.email()
    token = await preferences_token(consent, tenant, email)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.UpdatePreferences(pb.UpdatePreferencesRequest(token=token), timeout=10)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    unsubscribe_links = await consent.stub.IssueLinkTokens(
        pb.IssueLinkTokensRequest(person=consent.person(email)),
        metadata=consent.md(tenant),
        timeout=10,
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:  # an unsubscribe token is not enough
        await consent.stub.GetPreferences(
            pb.GetPreferencesRequest(token=unsubscribe_links.unsubscribe_token), timeout=10
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_a_token_only_reaches_its_own_account(consent):
    owner, other, email = consent.tenant(), consent.tenant(), consent.email()
    mine = await consent.purpose(owner, "owners-list")
    theirs = await consent.purpose(other, "others-list")
    token = await preferences_token(consent, owner, email)
    centre = await consent.stub.GetPreferences(pb.GetPreferencesRequest(token=token), timeout=10)
    assert [i.purpose_id for i in centre.items] == [mine.purpose_id]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.UpdatePreferences(
            pb.UpdatePreferencesRequest(
                token=token,
                changes=[pb.PreferenceChange(purpose_id=theirs.purpose_id, enabled=True)],
            ),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert not (await consent.check(other, email, theirs.purpose_id)).allowed
