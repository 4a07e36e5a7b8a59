"""Double opt-in: a pending request is not a subscription until its single-use link is used."""

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva_consent.retention import RULES
from missiva_platform.retention import run_retention, travel

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETTINGS = {"confirmation_resend_seconds": 3600, "confirmation_max_per_day": 3}


def start(consent, tenant, email, purpose_ids, **extra):
    return consent.stub.StartDoubleOptIn(
        pb.StartDoubleOptInRequest(
            person=consent.person(email),
            purpose_ids=purpose_ids,
            evidence=consent.form_evidence(),
            locale="it",
            **extra,
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )


def confirm(consent, token, ip="198.51.100.20"):
    return consent.stub.ConfirmDoubleOptIn(
        pb.ConfirmDoubleOptInRequest(
            token=token, client=types_pb2.ClientContext(ip_address=ip, user_agent="Safari/19")
        ),
        timeout=10,
    )


async def confirmation_mail(consent, person_key, want=1):
    def mine(envelope):
        command = delivery_events.SendTransactionalCommand()
        envelope.payload.Unpack(command)
        return command.person_key == person_key

    found = await consent.commands(mine, want=want)
    assert len(found) >= want, "no confirmation email was queued"
    command = delivery_events.SendTransactionalCommand()
    found[-1].payload.Unpack(command)
    return command


async def test_no_subscription_exists_before_confirmation_and_the_link_confirms_it(consent):
    tenant, email = consent.tenant(), consent.email()
    news = await consent.purpose(tenant, "news", double_opt_in=True)
    offers = await consent.purpose(tenant, "offers", double_opt_in=True)
    started = await start(consent, tenant, email, [news.purpose_id, offers.purpose_id])
    assert started.confirmation_id
    assert len(started.records) == 2
    assert all(r.resulting_status == pb.CONSENT_STATUS_PENDING for r in started.records)
    for purpose in (news, offers):
        check = await consent.check(tenant, email, purpose.purpose_id)
        assert not check.allowed
        assert check.status == pb.CONSENT_STATUS_NOT_RECORDED
    assert (
        await consent.scalar("SELECT count(*) FROM consent_ledger WHERE account_id = %s", tenant)
        == 0
    )

    mail = await confirmation_mail(consent, consent.key(email))
    assert mail.to_address == email
    assert mail.template_key == "consent.confirm_subscription"
    assert mail.locale == "it"
    assert mail.category == types_pb2.EMAIL_CATEGORY_SYSTEM
    assert mail.variables["confirm_url"].endswith(mail.variables["confirm_token"])
    assert mail.variables["purposes"] == "News, Offers"

    confirmed = await confirm(consent, mail.variables["confirm_token"])
    assert sorted(confirmed.purpose_names) == ["News", "Offers"]
    for purpose in (news, offers):
        assert (await consent.check(tenant, email, purpose.purpose_id)).allowed
    rows = await consent.sql(
        "SELECT action, source, ip_hash, user_agent, checkbox_text, occurred_at "
        "FROM consent_ledger WHERE account_id = %s AND purpose_id = %s ORDER BY seq",
        tenant,
        news.purpose_id,
    )
    (request, request_source, ip1, ua1, text1, at1), (conf, conf_source, ip2, ua2, _, at2) = rows
    assert (request, request_source, conf, conf_source) == (
        "request", "form", "confirm", "confirmation_link"
    )  # fmt: skip
    assert (ua1, ua2) == ("Firefox/140", "Safari/19")
    assert len(ip1) == len(ip2) == 64
    assert ip1 != ip2
    assert text1 == "Yes, send me the newsletter"
    assert at1 <= at2
    assert (
        await consent.scalar(
            "SELECT email FROM double_opt_ins WHERE confirmation_id = %s", started.confirmation_id
        )
        is None
    )  # the address is no longer kept once confirmed


async def test_a_used_link_is_refused_with_a_clear_message(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant, "news", double_opt_in=True)
    await start(consent, tenant, email, [purpose.purpose_id])
    mail = await confirmation_mail(consent, consent.key(email))
    await confirm(consent, mail.variables["confirm_token"])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await confirm(consent, mail.variables["confirm_token"])
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "already used" in err.value.details()
    assert (
        await consent.scalar("SELECT count(*) FROM consent_ledger WHERE account_id = %s", tenant)
        == 2
    )


async def test_an_expired_link_and_an_expired_pending_request_are_refused(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant, "news", double_opt_in=True)
    started = await start(consent, tenant, email, [purpose.purpose_id])
    stale = consent.keyring.sign(
        "confirm",
        {"a": tenant, "d": started.confirmation_id},
        ttl=timedelta(days=7),
        now=datetime.now(UTC) - timedelta(days=8),
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await confirm(consent, stale)
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "expired" in err.value.details()

    mail = await confirmation_mail(consent, consent.key(email))
    await run_retention(consent.url, RULES, now=travel(days=61))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await confirm(consent, mail.variables["confirm_token"])
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "expired" in err.value.details()
    assert not (await consent.check(tenant, email, purpose.purpose_id)).allowed


async def test_resending_is_throttled(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant, "news", double_opt_in=True)
    started = await start(consent, tenant, email, [purpose.purpose_id])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.ResendConfirmation(
            pb.ResendConfirmationRequest(confirmation_id=started.confirmation_id),
            metadata=consent.md(tenant),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "retry in" in err.value.details()
    # Past the interval, a resend goes out with a fresh link...
    await consent.sql(
        "UPDATE double_opt_ins SET last_sent_at = last_sent_at - interval '2 hours' "
        "WHERE confirmation_id = %s",
        started.confirmation_id,
    )
    resent = await consent.stub.ResendConfirmation(
        pb.ResendConfirmationRequest(confirmation_id=started.confirmation_id),
        metadata=consent.md(tenant),
        timeout=10,
    )
    assert resent.expires_at.seconds > 0
    await confirmation_mail(consent, consent.key(email), want=2)
    # ...but a form cannot mail one address without limit.
    await start(consent, tenant, email, [purpose.purpose_id])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await start(consent, tenant, email, [purpose.purpose_id])
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_double_opt_in_purposes_refuse_a_direct_grant(consent):
    tenant = consent.tenant()
    purpose = await consent.purpose(tenant, "news", double_opt_in=True)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.grant(tenant, consent.email(), purpose.purpose_id)
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "double opt-in" in err.value.details()


async def test_bad_double_opt_in_requests_are_refused(consent):
    tenant = consent.tenant()
    purpose = await consent.purpose(tenant, "news", double_opt_in=True)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.StartDoubleOptIn(
            pb.StartDoubleOptInRequest(
                person=types_pb2.PersonRef(person_key=consent.key(consent.email())),
                purpose_ids=[purpose.purpose_id],
                evidence=consent.form_evidence(),
            ),
            metadata=consent.md(tenant),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "person.email" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await start(consent, tenant, consent.email(), [])
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await confirm(consent, "v1.nope.nope.nope")
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_another_tenant_cannot_use_or_resend_a_pending_request(consent):
    owner, other, email = consent.tenant(), consent.tenant(), consent.email()
    purpose = await consent.purpose(owner, "news", double_opt_in=True)
    started = await start(consent, owner, email, [purpose.purpose_id])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.ResendConfirmation(
            pb.ResendConfirmationRequest(confirmation_id=started.confirmation_id),
            metadata=consent.md(other),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await start(consent, other, email, [purpose.purpose_id])
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    # A confirm token naming the other account does not find the request.
    forged = consent.keyring.sign("confirm", {"a": other, "d": started.confirmation_id})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await confirm(consent, forged)
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert not (await consent.check(owner, email, purpose.purpose_id)).allowed
