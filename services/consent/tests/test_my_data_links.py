"""Link tokens have their own purposes: the preference-centre token an account can ask for
(``IssueLinkTokens``) cannot open or read a privacy request; only a my-data link, mailed to
the address itself, speaks for the data subject."""

from __future__ import annotations

import grpc
import pytest

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_consent import domain

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXPORT = ppb.PRIVACY_REQUEST_KIND_EXPORT


async def error_of(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def links_for(consent, tenant: str, email: str) -> pb.IssueLinkTokensResponse:
    return await consent.stub.IssueLinkTokens(
        pb.IssueLinkTokensRequest(person=consent.person(email)),
        metadata=consent.md(tenant),
        timeout=10,
    )


async def my_data_mails(consent, person_key: str, want: int = 1):
    def mine(envelope):
        command = delivery_events.SendTransactionalCommand()
        envelope.payload.Unpack(command)
        return command.person_key == person_key and command.template_key == MY_DATA_TEMPLATE

    found = await consent.commands(mine, want=want, timeout=5 if want else 2)
    commands = []
    for envelope in found:
        command = delivery_events.SendTransactionalCommand()
        envelope.payload.Unpack(command)
        commands.append(command)
    return commands


MY_DATA_TEMPLATE = "consent.my_data_link"


async def test_a_preferences_token_an_admin_holds_cannot_open_or_read_a_privacy_request(consent):
    tenant, email = consent.tenant(), consent.email()
    links = await links_for(consent, tenant, email)

    opened = await error_of(
        consent.stub.OpenPrivacyRequest(
            pb.OpenPrivacyRequestRequest(kind=EXPORT, verification_token=links.preferences_token),
            timeout=10,
        )
    )
    assert opened.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "verification_token" in opened.details()
    assert await consent.scalar(
        "SELECT count(*) FROM privacy_requests WHERE account_id = %s", tenant
    ) == 0  # fmt: skip

    # An admin's own request exists; the preferences token does not reveal it either.
    mine = await consent.stub.OpenPrivacyRequest(
        pb.OpenPrivacyRequestRequest(kind=EXPORT, person=consent.person(email)),
        metadata=consent.md(tenant),
        timeout=10,
    )
    read = await error_of(
        consent.stub.GetPrivacyRequest(
            pb.GetPrivacyRequestRequest(
                request_id=mine.privacy_request.request_id,
                verification_token=links.preferences_token,
            ),
            timeout=10,
        )
    )
    assert read.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_preference_centre_mails_a_my_data_link_to_the_address_only(consent):
    tenant, email = consent.tenant(), consent.email()
    links = await links_for(consent, tenant, email)

    await consent.stub.SendMyDataLink(
        pb.SendMyDataLinkRequest(preferences_token=links.preferences_token, email=email),
        timeout=10,
    )
    mails = await my_data_mails(consent, consent.key(email))
    assert len(mails) == 1
    mail = mails[0]
    assert mail.to_address == email
    assert mail.category == domain.CATEGORY_PB["system"]
    token = mail.variables["my_data_token"]
    assert mail.variables["my_data_url"].endswith(f"/my-data/{token}")
    assert token not in (links.preferences_token, links.unsubscribe_token)

    opened = await consent.stub.OpenPrivacyRequest(
        pb.OpenPrivacyRequestRequest(kind=EXPORT, verification_token=token), timeout=10
    )
    assert opened.privacy_request.person.person_key == consent.key(email)
    seen = await consent.stub.GetPrivacyRequest(
        pb.GetPrivacyRequestRequest(
            request_id=opened.privacy_request.request_id, verification_token=token
        ),
        timeout=10,
    )
    assert seen.privacy_request.request_id == opened.privacy_request.request_id
    assert await consent.scalar(
        "SELECT requested_by FROM privacy_requests WHERE request_id = %s",
        opened.privacy_request.request_id,
    ) == "data_subject"  # fmt: skip

    # The my-data token is not a preferences token either.
    err = await error_of(
        consent.stub.GetPreferences(pb.GetPreferencesRequest(token=token), timeout=10)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_my_data_link_goes_only_to_the_address_the_token_names(consent):
    tenant, email = consent.tenant(), consent.email()
    links = await links_for(consent, tenant, email)

    err = await error_of(
        consent.stub.SendMyDataLink(
            pb.SendMyDataLinkRequest(
                preferences_token=links.preferences_token, email=consent.email()
            ),
            timeout=10,
        )
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    bad = await error_of(
        consent.stub.SendMyDataLink(
            pb.SendMyDataLinkRequest(preferences_token=links.unsubscribe_token, email=email),
            timeout=10,
        )
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "preferences_token" in bad.details()
    missing = await error_of(
        consent.stub.SendMyDataLink(
            pb.SendMyDataLinkRequest(preferences_token=links.preferences_token), timeout=10
        )
    )
    assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "email" in missing.details()
    assert await my_data_mails(consent, consent.key(email), want=0) == []
