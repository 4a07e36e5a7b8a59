"""Who the account is to its recipients: declared once (SetSenderIdentity), shown by every
public page of its links, which DescribeLink checks without using them."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import grpc
import pytest

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.identity.v1 import events_pb2 as identity_events
from missiva_platform.auth import CallerKind
from missiva_platform.events import envelope

from .conftest import status_details

pytestmark = pytest.mark.asyncio(loop_scope="module")

SENDER = pb.SenderIdentity(
    name="Bottega Rossi S.r.l.",
    postal_address="Via Roma 1\n00100 Roma RM, Italia",
    privacy_contact="privacy@bottega-rossi.example",
)


def key_md(consent, tenant: str, *scopes: str):
    return consent.md(tenant, kind=CallerKind.API_KEY, roles=(), subject="key-1", scopes=scopes)


async def declare(consent, tenant: str, sender: pb.SenderIdentity = SENDER):
    return await consent.stub.SetSenderIdentity(
        pb.SetSenderIdentityRequest(sender=sender), metadata=consent.md(tenant), timeout=10
    )


async def links(consent, tenant: str, email: str, purpose_id: str = ""):
    return await consent.stub.IssueLinkTokens(
        pb.IssueLinkTokensRequest(person=consent.person(email), purpose_id=purpose_id),
        metadata=consent.md(tenant),
        timeout=10,
    )


async def describe(consent, token: str, kind: int) -> pb.DescribeLinkResponse:
    return await consent.stub.DescribeLink(
        pb.DescribeLinkRequest(token=token, kind=kind), timeout=10
    )


async def test_an_account_declares_its_identity_and_reads_it_back(consent):
    tenant = consent.tenant()
    empty = await consent.stub.GetSenderIdentity(
        pb.GetSenderIdentityRequest(), metadata=key_md(consent, tenant, "consent:read"), timeout=10
    )
    assert empty.sender.name == ""
    assert not empty.HasField("updated_at")
    stored = await declare(consent, tenant)
    assert stored.sender.name == SENDER.name
    assert stored.sender.postal_address == SENDER.postal_address
    assert stored.sender.privacy_contact == SENDER.privacy_contact
    # An API key with consent:write may replace it; the newest wins.
    changed = pb.SenderIdentity(name="Bottega Rossi", privacy_contact="https://rossi.example/c")
    await consent.stub.SetSenderIdentity(
        pb.SetSenderIdentityRequest(sender=changed),
        metadata=key_md(consent, tenant, "consent:write"),
        timeout=10,
    )
    read = await consent.stub.GetSenderIdentity(
        pb.GetSenderIdentityRequest(), metadata=key_md(consent, tenant, "consent:read"), timeout=10
    )
    assert (read.sender.name, read.sender.postal_address, read.sender.privacy_contact) == (
        "Bottega Rossi",
        "",
        "https://rossi.example/c",
    )
    assert read.HasField("updated_at")
    # Another account sees only its own (nothing).
    other = await consent.stub.GetSenderIdentity(
        pb.GetSenderIdentityRequest(), metadata=consent.md(consent.tenant()), timeout=10
    )
    assert other.sender.name == ""


async def test_one_scope_less_or_a_member_is_refused(consent):
    tenant = consent.tenant()
    for md in (key_md(consent, tenant, "consent:read"), consent.md(tenant, roles=("member",))):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await consent.stub.SetSenderIdentity(
                pb.SetSenderIdentityRequest(sender=SENDER), metadata=md, timeout=10
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.GetSenderIdentity(
            pb.GetSenderIdentityRequest(), metadata=key_md(consent, tenant, "links:write"),
            timeout=10,
        )  # fmt: skip
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("sender", "field", "words"),
    [
        (pb.SenderIdentity(privacy_contact="a@example.org"), "sender.name", "required"),
        (pb.SenderIdentity(name="x" * 201, privacy_contact="a@example.org"), "sender.name",
         "at most 200"),
        (pb.SenderIdentity(name="Shop\nX", privacy_contact="a@example.org"), "sender.name",
         "control"),
        (pb.SenderIdentity(name="Shop"), "sender.privacy_contact", "required"),
        (pb.SenderIdentity(name="Shop", privacy_contact="http://shop.example/privacy"),
         "sender.privacy_contact", "https"),
        (pb.SenderIdentity(name="Shop", privacy_contact="not@an@address"),
         "sender.privacy_contact", "not an email address"),
        (pb.SenderIdentity(name="Shop", privacy_contact="a@example.org",
                           postal_address="y" * 501), "sender.postal_address", "at most 500"),
    ],
)  # fmt: skip
async def test_bad_identities_are_refused_and_keep_what_was_stored(consent, sender, field, words):
    tenant = consent.tenant()
    await declare(consent, tenant)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await declare(consent, tenant, sender)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = [v for d in status_details(err.value) for v in d.field_violations]
    assert violation.field == field
    assert words in violation.description
    kept = await consent.stub.GetSenderIdentity(
        pb.GetSenderIdentityRequest(), metadata=consent.md(tenant), timeout=10
    )
    assert kept.sender.name == SENDER.name


async def test_every_kind_of_link_describes_its_sender_without_being_used(consent):
    tenant, email = consent.tenant(), consent.email()
    await declare(consent, tenant)
    news = await consent.purpose(tenant, "news")
    await consent.grant(tenant, email, news.purpose_id)
    issued = await links(consent, tenant, email, news.purpose_id)
    hits_before = await consent.scalar("SELECT count(*) FROM link_hits")
    unsubscribe = await describe(consent, issued.unsubscribe_token, pb.LINK_KIND_UNSUBSCRIBE)
    assert unsubscribe.sender.name == SENDER.name
    assert unsubscribe.sender.privacy_contact == SENDER.privacy_contact
    assert list(unsubscribe.purpose_names) == ["News"]
    preferences = await describe(consent, issued.preferences_token, pb.LINK_KIND_PREFERENCES)
    assert preferences.sender.postal_address == SENDER.postal_address
    assert list(preferences.purpose_names) == []
    my_data = consent.keyring.sign(
        "my_data", {"a": tenant, "k": consent.key(email)}, ttl=timedelta(hours=1)
    )
    assert (await describe(consent, my_data, pb.LINK_KIND_MY_DATA)).sender.name == SENDER.name
    # Nothing was used: the person is still subscribed and no visit was recorded.
    assert (await consent.check(tenant, email, news.purpose_id)).allowed
    assert await consent.scalar("SELECT count(*) FROM link_hits") == hits_before
    # The same links of the preference centre carry the identity too.
    centre = await consent.stub.GetPreferences(
        pb.GetPreferencesRequest(token=issued.preferences_token), timeout=10
    )
    assert centre.sender.name == SENDER.name


async def test_a_confirmation_link_names_its_purposes_and_says_when_it_is_used(consent):
    tenant, email = consent.tenant(), consent.email()
    await declare(consent, tenant)
    news = await consent.purpose(tenant, "news", double_opt_in=True)
    started = await consent.stub.StartDoubleOptIn(
        pb.StartDoubleOptInRequest(
            person=consent.person(email),
            purpose_ids=[news.purpose_id],
            evidence=consent.form_evidence(),
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )
    token = consent.keyring.sign(
        "confirm", {"a": tenant, "d": started.confirmation_id}, ttl=timedelta(days=1)
    )
    before = await describe(consent, token, pb.LINK_KIND_CONFIRM)
    assert list(before.purpose_names) == ["News"]
    assert not before.already_confirmed
    assert not (await consent.check(tenant, email, news.purpose_id)).allowed  # not used
    await consent.stub.ConfirmDoubleOptIn(pb.ConfirmDoubleOptInRequest(token=token), timeout=10)
    after = await describe(consent, token, pb.LINK_KIND_CONFIRM)
    assert after.already_confirmed
    assert after.sender.name == SENDER.name
    # A confirmation of another account (or none) is gone.
    stray = consent.keyring.sign(
        "confirm", {"a": consent.tenant(), "d": started.confirmation_id}, ttl=timedelta(days=1)
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await describe(consent, stray, pb.LINK_KIND_CONFIRM)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_bad_expired_and_misplaced_tokens_are_refused(consent):
    tenant, email = consent.tenant(), consent.email()
    issued = await links(consent, tenant, email)
    for token, kind, code in (
        ("", pb.LINK_KIND_UNSUBSCRIBE, grpc.StatusCode.INVALID_ARGUMENT),
        ("v1.nope.nope.nope", pb.LINK_KIND_UNSUBSCRIBE, grpc.StatusCode.INVALID_ARGUMENT),
        (issued.unsubscribe_token[:-2] + "xx", pb.LINK_KIND_UNSUBSCRIBE,
         grpc.StatusCode.INVALID_ARGUMENT),
        # An unsubscribe token is not a preference-centre link, nor any other kind.
        (issued.unsubscribe_token, pb.LINK_KIND_PREFERENCES, grpc.StatusCode.INVALID_ARGUMENT),
        (issued.preferences_token, pb.LINK_KIND_MY_DATA, grpc.StatusCode.INVALID_ARGUMENT),
        (issued.preferences_token, pb.LINK_KIND_UNSPECIFIED, grpc.StatusCode.INVALID_ARGUMENT),
    ):  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await describe(consent, token, kind)
        assert err.value.code() == code, (token[:12], kind)
        assert err.value.details()
    expired = consent.keyring.sign(
        "my_data", {"a": tenant, "k": consent.key(email)}, ttl=timedelta(seconds=1)
    )
    await asyncio.sleep(1.1)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await describe(consent, expired, pb.LINK_KIND_MY_DATA)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "expired" in err.value.details()


async def test_the_identity_goes_with_the_account(consent):
    tenant = consent.tenant()
    await declare(consent, tenant)
    erased = identity_events.AccountErased(account_id=tenant)
    await consent.publish(
        "identity.account.erased",
        envelope(erased, subject="identity.account.erased", tenant_id=tenant, producer="identity"),
    )
    deadline = time.monotonic() + 20
    while await consent.scalar(
        "SELECT count(*) FROM sender_identities WHERE account_id = %s", tenant
    ):
        assert time.monotonic() < deadline, "the erased account's identity stayed"
        await asyncio.sleep(0.05)
