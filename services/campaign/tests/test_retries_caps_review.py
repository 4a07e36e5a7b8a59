"""Retrying a campaign's failed sends (only those still allowed, credits held first, a new
batch), frequency caps set over the API (per purpose or over every marketing purpose), and
the content screen (it flags and decides nothing). With billing running beside campaign."""

from __future__ import annotations

import uuid

import grpc
import pytest
from campaign_testkit import violated_fields

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import events_pb2
from missiva.delivery.v1 import delivery_service_pb2 as delivery_pb
from missiva.delivery.v1 import events_pb2 as delivery
from missiva_campaign.content_screen import registrable, screen
from missiva_platform.events import envelope

pytestmark = pytest.mark.asyncio(loop_scope="module")

WRITE = ("campaigns:write",)
READ = ("campaigns:read",)
LINKS = '<a href="{{ unsubscribe_url }}">Unsubscribe</a> <a href="{{ my_data_url }}">My data</a>'


def outcome(tenant: str, message, subject: str):
    return envelope(message, subject=subject, tenant_id=tenant, producer="delivery")


async def refused(call, request, metadata) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, metadata=metadata, timeout=10)
    return caught.value


async def sent(sender, tenant, campaign_id, contact) -> None:
    await sender.publish(outcome(tenant, delivery.MessageSent(
        message_id=f"m-{uuid.uuid4().hex[:8]}", campaign_id=campaign_id,
        contact_id=contact.contact_id, person_key=contact.person_key,
    ), "delivery.message.sent"))  # fmt: skip


async def failed(sender, tenant, campaign_id, contact) -> None:
    await sender.publish(outcome(tenant, delivery.MessageBounced(
        message_id=f"m-{uuid.uuid4().hex[:8]}", campaign_id=campaign_id,
        person_key=contact.person_key, bounce_type=delivery_pb.BOUNCE_TYPE_SOFT,
    ), "delivery.message.bounced"))  # fmt: skip


async def test_failed_sends_are_queued_again_and_the_campaign_completes(sender) -> None:
    tenant = sender.tenant()
    a, b, c = [await sender.create(tenant) for _ in range(3)]
    for contact in (a, b, c):
        await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 10)
    draft = await sender.draft(tenant, [await sender.list_with(tenant, [a, b, c])])
    await sender.send_now(tenant, draft.campaign_id)
    await sender.batches(draft.campaign_id, 3)
    await sent(sender, tenant, draft.campaign_id, a)
    await failed(sender, tenant, draft.campaign_id, b)
    await failed(sender, tenant, draft.campaign_id, c)
    await sender.event(
        "campaign.campaign.completed", draft.campaign_id, events_pb2.CampaignCompleted
    )
    # c unsubscribed since: it is not retried.
    await sender.consent(tenant, c.person_key, 2, granted=False)

    # Not this account's campaign, bad input, one scope less.
    other = sender.tenant()
    request = pb.RetryCampaignSendsRequest(campaign_id=draft.campaign_id)
    err = await refused(sender.stub.RetryCampaignSends, request, sender.md(other, scopes=WRITE))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await refused(sender.stub.RetryCampaignSends, request, sender.md(tenant, scopes=READ))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    bad = pb.RetryCampaignSendsRequest(campaign_id="x")
    err = await refused(sender.stub.RetryCampaignSends, bad, sender.md(tenant, scopes=WRITE))
    assert violated_fields(err) == ["campaign_id"]

    reply = await sender.stub.RetryCampaignSends(
        pb.RetryCampaignSendsRequest(campaign_id=draft.campaign_id, idempotency_key="r-1"),
        metadata=sender.md(tenant, scopes=WRITE),
        timeout=20,
    )
    assert (reply.requeued_count, reply.skipped_count) == (1, 1)
    assert reply.campaign.status == pb.CAMPAIGN_STATUS_SENDING
    assert reply.campaign.retry_count == 1
    # The same key again: the same answer, nothing queued twice.
    again = await sender.stub.RetryCampaignSends(
        pb.RetryCampaignSendsRequest(campaign_id=draft.campaign_id, idempotency_key="r-1"),
        metadata=sender.md(tenant, scopes=WRITE),
        timeout=20,
    )
    assert again.requeued_count == 1
    assert (1, f"campaign:{draft.campaign_id}") in await sender.reservations(tenant)
    batches = await sender.batches(draft.campaign_id, 4)
    retried = [x for x in batches if x.batch_id.endswith("-r1")]
    assert [r.contact_id for x in retried for r in x.recipients] == [b.contact_id]

    await sent(sender, tenant, draft.campaign_id, b)

    async def completed():
        got = await sender.get(tenant, draft.campaign_id)
        return got if got.status != pb.CAMPAIGN_STATUS_SENDING else None

    # c still failed for good: the campaign says so (never plain "completed").
    done = await sender.until(completed)
    assert done.status == pb.CAMPAIGN_STATUS_COMPLETED_WITH_FAILURES
    assert (done.sent_count, done.failed_count) == (2, 1)

    # A draft has nothing to retry.
    fresh = await sender.draft(tenant, [await sender.list_with(tenant, [a])])
    err = await refused(sender.stub.RetryCampaignSends,
                        pb.RetryCampaignSendsRequest(campaign_id=fresh.campaign_id),
                        sender.md(tenant, scopes=WRITE))  # fmt: skip
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_cap_over_every_marketing_purpose_leaves_the_capped_out(sender) -> None:
    tenant, other = sender.tenant(), sender.tenant()
    md = sender.md(tenant, scopes=WRITE)
    for cap, field in (
        (pb.FrequencyCap(max_messages=0, window_days=7), "cap.max_messages"),
        (pb.FrequencyCap(max_messages=1, window_days=400), "cap.window_days"),
        (pb.FrequencyCap(purpose_id="not a purpose!", max_messages=1, window_days=7),
         "cap.purpose_id"),
    ):  # fmt: skip
        err = await refused(sender.stub.SetFrequencyCap, pb.SetFrequencyCapRequest(cap=cap), md)
        assert violated_fields(err) == [field]
    err = await refused(
        sender.stub.SetFrequencyCap,
        pb.SetFrequencyCapRequest(cap=pb.FrequencyCap(max_messages=1, window_days=7)),
        sender.md(tenant, scopes=READ),
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    await sender.stub.SetFrequencyCap(
        pb.SetFrequencyCapRequest(cap=pb.FrequencyCap(max_messages=1, window_days=7)), metadata=md
    )
    listed = await sender.stub.ListFrequencyCaps(
        pb.ListFrequencyCapsRequest(), metadata=sender.md(tenant, scopes=READ)
    )
    assert [(c.purpose_id, c.max_messages, c.window_days) for c in listed.caps] == [("", 1, 7)]
    theirs = await sender.stub.ListFrequencyCaps(
        pb.ListFrequencyCapsRequest(), metadata=sender.md(other, scopes=READ)
    )
    assert list(theirs.caps) == []

    a, b = await sender.create(tenant), await sender.create(tenant)
    for contact in (a, b):
        await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 10)
    first = await sender.draft(tenant, [await sender.list_with(tenant, [a])])
    assert (await sender.send_now(tenant, first.campaign_id)).recipient_count == 1
    second = await sender.draft(tenant, [await sender.list_with(tenant, [a, b])])
    assert (await sender.send_now(tenant, second.campaign_id)).recipient_count == 1  # a capped

    err = await refused(
        sender.stub.DeleteFrequencyCap, pb.DeleteFrequencyCapRequest(purpose_id="no good!"), md
    )
    assert violated_fields(err) == ["purpose_id"]
    err = await refused(
        sender.stub.DeleteFrequencyCap,
        pb.DeleteFrequencyCapRequest(),
        sender.md(tenant, scopes=READ),
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    nothing = await sender.stub.DeleteFrequencyCap(
        pb.DeleteFrequencyCapRequest(), metadata=sender.md(other, scopes=WRITE)
    )
    assert not nothing.deleted  # another account's cap is not reached
    removed = await sender.stub.DeleteFrequencyCap(pb.DeleteFrequencyCapRequest(), metadata=md)
    assert removed.deleted
    gone = await sender.stub.DeleteFrequencyCap(pb.DeleteFrequencyCapRequest(), metadata=md)
    assert not gone.deleted


async def test_the_screen_flags_phishing_signs_and_leaves_ordinary_mail_alone() -> None:
    flags = screen(
        "Please verify your account",
        '<p>Log in at <a href="https://evil.example.net/x">www.mybank.example</a></p>'
        '<a href="https://bit.ly/abc">offer</a>'
        '<a href="https://shop.example.com/p">shop.example.com</a>'
        '<a href="{{ unsubscribe_url }}">unsubscribe.example.org</a>'
        "<form><input type=password></form>"
        "<p>Il tuo account sarà sospeso</p>",
    )
    kinds = [(f["kind"], f["detail"]) for f in flags]
    assert (
        "link_text_mismatch",
        "text names www.mybank.example, link goes to evil.example.net",
    ) in kinds
    assert ("url_shortener", "bit.ly") in kinds
    assert ("form_in_email", "2 form or password input(s)") in kinds
    assert {k for k, _ in kinds} == {
        "link_text_mismatch", "url_shortener", "form_in_email", "credential_request",
    }  # fmt: skip
    assert len([k for k, _ in kinds if k == "credential_request"]) == 2  # English and Italian
    assert not any("shop.example.com" in d or "unsubscribe" in d for _, d in kinds)
    assert (
        screen("Spring news", '<p>Hello</p><a href="https://www.shop.example/">shop.example</a>')
        == []
    )
    assert registrable("mail.shop.co.uk") == "shop.co.uk"


async def test_a_flagged_campaign_is_flagged_and_still_sends(sender) -> None:
    tenant = sender.tenant()
    made = await sender.stub.CreateTemplate(
        pb.CreateTemplateRequest(template=pb.Template(
            name="Alert", subject="Confirm your password",
            html_body=f'<p><a href="https://tinyurl.com/x">www.bank.example</a></p>{LINKS}',
        )),
        metadata=sender.md(tenant, scopes=("templates:write",)), timeout=10,
    )  # fmt: skip
    contact = await sender.create(tenant)
    await sender.consent(tenant, contact.person_key, 1)
    await sender.grant(tenant, 10)
    draft = await sender.draft(
        tenant, [await sender.list_with(tenant, [contact])], template_id=made.template.template_id
    )
    err = await refused(sender.stub.ScreenCampaignContent,
                        pb.ScreenCampaignContentRequest(campaign_id=draft.campaign_id),
                        sender.md(sender.tenant(), scopes=WRITE))  # fmt: skip
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await refused(sender.stub.ScreenCampaignContent,
                        pb.ScreenCampaignContentRequest(campaign_id=draft.campaign_id),
                        sender.md(tenant, scopes=READ))  # fmt: skip
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = await refused(sender.stub.ScreenCampaignContent,
                        pb.ScreenCampaignContentRequest(campaign_id="nope"),
                        sender.md(tenant, scopes=WRITE))  # fmt: skip
    assert violated_fields(err) == ["campaign_id"]
    found = await sender.stub.ScreenCampaignContent(
        pb.ScreenCampaignContentRequest(campaign_id=draft.campaign_id),
        metadata=sender.md(tenant, scopes=WRITE), timeout=10,
    )  # fmt: skip
    assert {f.kind for f in found.flags} == {
        "url_shortener", "link_text_mismatch", "credential_request",
    }  # fmt: skip
    assert {f.kind for f in (await sender.get(tenant, draft.campaign_id)).review_flags} == {
        f.kind for f in found.flags
    }
    reply = await sender.send_now(tenant, draft.campaign_id)  # a flag decides nothing
    assert reply.campaign.status == pb.CAMPAIGN_STATUS_SENDING
    assert {f.kind for f in reply.campaign.review_flags} == {f.kind for f in found.flags}
