"""What billing consumes, and examples of what it emits (for ``tests/contract``).

- ``identity.user.registered``: a primary admin signing up creates an account, which gets the
  free plan's credits (500) once: the grant is keyed by (account, "plan:free"), so a
  redelivered or re-sent event grants nothing more. Invited users join an existing account.
- ``delivery.message.sent``: one credit per sent message, committed against the batch's
  reservation (``credit_reservation_id``) once per message id, so a replayed event or a
  resend after a crash is never charged twice. Mail without a reservation (transactional
  mail) is not charged.
- ``campaign.campaign.completed`` / ``campaign.campaign.cancelled``: the campaign's
  reservations (reference ``campaign:<id>``) give back what they hold beyond the sends the
  campaign reported and billing has not committed yet (their events may still be on the way;
  what stays held waits for them, then expires).
- ``cmd.billing.export_person_data`` / ``erase_person_data``: the kit's privacy consumers
  (``add_privacy_service``) over ``privacy.BillingPrivacy``.

``HANDLERS`` (subject → handler) is what the app registers and the contract tests replay;
``EXAMPLES()`` returns envelopes built by the builders the service emits with.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva.identity.v1 import events_pb2 as identity_events
from missiva.identity.v1 import identity_service_pb2 as identity_pb
from missiva_billing import SERVICE_NAME
from missiva_billing.core import FREE_GRANT_KEY, Credits, credits_low_event
from missiva_billing.core_invoices import compose, invoice_issued_event
from missiva_billing.core_subscriptions import payment_failed_event, payment_failed_mail
from missiva_billing.domain import Balance, campaign_reference
from missiva_billing.plans import free_plan
from missiva_billing.privacy import INVOICES_KEPT
from missiva_billing.profile import Profile
from missiva_billing.store import profiles, referrals, subscriptions
from missiva_billing.store.subscriptions import SubscriptionRow
from missiva_billing.tax import Line
from missiva_platform.bus import ConsumerSpec
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.privacy import Erasure, Retained, erasure_reply, export_reply
from missiva_platform.streams import events_stream

log = logging.getLogger(__name__)

Handler = Callable[[Any, EventEnvelope, Any], Awaitable[None]]

USER_REGISTERED = "identity.user.registered"
MESSAGE_SENT = "delivery.message.sent"
CAMPAIGN_COMPLETED = "campaign.campaign.completed"
CAMPAIGN_CANCELLED = "campaign.campaign.cancelled"
ACCOUNT_ERASED = "identity.account.erased"

_DURABLES = {
    USER_REGISTERED: ("identity", "billing_users_registered"),
    MESSAGE_SENT: ("delivery", "billing_messages_sent"),
    CAMPAIGN_COMPLETED: ("campaign", "billing_campaigns_completed"),
    CAMPAIGN_CANCELLED: ("campaign", "billing_campaigns_cancelled"),
    ACCOUNT_ERASED: ("identity", "billing_accounts_erased"),
}


def consumer_spec(subject: str) -> ConsumerSpec:
    producer, durable = _DURABLES[subject]
    return ConsumerSpec(
        stream=events_stream(producer).name,
        durable=durable,
        filter_subject=subject,
        service="billing",
    )


class BillingConsumers:
    def __init__(self, credits: Credits) -> None:
        self.credits = credits

    def handlers(self) -> dict[str, Handler]:
        return {
            USER_REGISTERED: self.user_registered,
            MESSAGE_SENT: self.message_sent,
            CAMPAIGN_COMPLETED: self.campaign_completed,
            CAMPAIGN_CANCELLED: self.campaign_cancelled,
            ACCOUNT_ERASED: self.account_erased,
        }

    async def user_registered(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        user = unpack(event, identity_events.UserRegistered)
        if user.role != identity_pb.MEMBER_ROLE_PRIMARY_ADMIN or not user.account_id:
            return  # an invited member joins an account that already had its grant
        if user.person_key:  # the account's owner: whose one trial its subscription may use
            await subscriptions.set_owner(conn, user.account_id, user.user_id, user.person_key)
        plan = free_plan()
        granted = await self.credits.grant(
            conn, user.account_id, plan.included_credits, key=FREE_GRANT_KEY,
            reference=f"plan:{plan.plan_id}",
        )  # fmt: skip
        if granted:
            log.info("free credits granted", extra={"account_id": user.account_id})

    async def message_sent(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        sent = unpack(event, delivery_events.MessageSent)
        if not sent.credit_reservation_id or not event.tenant_id:
            return  # transactional mail is not paid with credits
        await self.credits.commit_message(
            conn, event.tenant_id, sent.credit_reservation_id, sent.message_id
        )

    async def _campaign_ended(self, conn: Any, tenant: str, campaign_id: str, sent: int) -> None:
        if not tenant or not campaign_id:
            return
        released = await self.credits.settle_reference(
            conn, tenant, campaign_reference(campaign_id), sent
        )
        log.info(
            "campaign credits settled",
            extra={"account_id": tenant, "campaign_id": campaign_id, "released": released},
        )

    async def campaign_completed(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        done = unpack(event, campaign_events.CampaignCompleted)
        await self._campaign_ended(conn, event.tenant_id, done.campaign_id, done.sent_count)

    async def campaign_cancelled(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        done = unpack(event, campaign_events.CampaignCancelled)
        await self._campaign_ended(conn, event.tenant_id, done.campaign_id, done.sent_count)

    async def account_erased(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """The account is gone: its billing profile is anonymised, its subscription ended and
        its owner's person key forgotten (the trial registry keeps that a trial was used);
        its invoices (and their tax fields) stay for their 10 years."""
        erased = unpack(event, identity_events.AccountErased)
        if not erased.account_id:
            return
        await subscriptions.forget_owner(conn, erased.account_id)
        await referrals.forget_account(conn, erased.account_id)
        await subscriptions.end(conn, erased.account_id)
        if await profiles.anonymise(conn, erased.account_id):
            log.info("billing profile anonymised", extra={"account_id": erased.account_id})


HANDLERS: dict[str, Handler] = BillingConsumers(Credits()).handlers()


def EXAMPLES() -> list[EventEnvelope]:
    """One envelope of each event and command billing emits, from the production builders
    (the erasure reply as ``BillingPrivacy`` answers it: a profile anonymised, invoices kept)."""
    account, request = (
        "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d",
        "0195a6a0-5555-7ef0-b123-456789abcdef",
    )
    low = Balance(account, available=40, reserved=460, last_grant=500, low_notified=True,
                  version=24)  # fmt: skip
    due = SubscriptionRow(
        "0195a6b0-1111-7c00-8d00-0a0b0c0d0e0f", account, "pro-monthly", "past_due",
        "bank_transfer", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC),
        past_due_since=datetime(2026, 3, 1, tzinfo=UTC), reminders_sent=1,
    )  # fmt: skip
    issued = compose(
        invoice_id="0195a6b0-2222-7c00-8d00-0a0b0c0d0e0f", account_id=account, kind="invoice",
        number=123, customer=Profile(business_name="Rossi S.r.l.", country_code="IT"),
        lines=[Line("Missiva Pro (monthly)", 1, 4900, 2200)], provider="bank_transfer",
        payment_ref="order:1", status="issued", now=datetime(2026, 3, 1, tzinfo=UTC),
    )  # fmt: skip
    return [
        credits_low_event(low),
        invoice_issued_event(issued),
        payment_failed_event(due, 5978, datetime(2026, 3, 4, tzinfo=UTC)),
        payment_failed_mail(
            due,
            to="fatture@rossi.example",
            person_key="ab" * 32,
            locale="it",
            amount_cents=5978,
            next_attempt=datetime(2026, 3, 4, tzinfo=UTC),
            grace_ends=datetime(2026, 3, 15, tzinfo=UTC),
        ),
        export_reply(SERVICE_NAME, request, [], account),
        erasure_reply(
            SERVICE_NAME,
            request,
            Erasure(
                erased={"billing_profiles": 1},
                retained=[Retained(category="invoices", reason=INVOICES_KEPT)],
            ),
            account,
        ),
    ]
