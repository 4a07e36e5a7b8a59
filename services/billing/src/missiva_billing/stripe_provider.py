"""The Stripe adapter: checkout through the official ``stripe`` package (its API base
configurable: ``STRIPE_API_BASE``), and Stripe's webhooks.

Webhooks arrive through ``HandleProviderEvent`` with the raw body and the
``Stripe-Signature`` header. The header is ``t=<unix time>,v1=<hex>[,v1=<hex>...]``; the
signature is HMAC-SHA256 of ``"<t>.<body>"`` under the endpoint's secret
(``STRIPE_WEBHOOK_SECRET_FILE``), any ``v1`` may match (secrets being rolled), and ``t`` must
be at most 300 s old (``stripe.WebhookSignature.verify_header``). Then, in one transaction,
the event id is recorded (a replay is answered ``duplicate`` and changes nothing) and the
event applied; an event that cannot be applied (an unknown customer, a currency other than
euro) rolls back whole, so nothing of it is kept, and says which field is wrong.

Events applied:

- ``checkout.session.completed``: links the session's ``customer`` to the account in its
  ``client_reference_id`` (set by ``charge``).
- ``invoice.paid``: the customer's account gets our invoice for it (paid), one per Stripe
  invoice id; its lines are Stripe's, VAT excluded (our prices are VAT apart), and our VAT
  rules apply.
- ``charge.refunded`` (whole refunds): a credit note for the invoice of that Stripe invoice.
  A partial refund is recorded, logged and left to an operator (``handled`` false).
- Subscriptions (``stripe_subscriptions.py``): ``checkout.session.completed`` in subscription
  mode, ``invoice.paid`` of a subscription (a zero trial invoice issues nothing),
  ``invoice.payment_failed``, ``customer.subscription.updated`` and ``.deleted``.

Anything else is recorded as seen (``handled`` false). No card data is ever read or kept.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import stripe

from missiva_billing.core_invoices import Invoices, Item
from missiva_billing.store import invoices, providers
from missiva_platform import metrics
from missiva_platform.errors import FailedPrecondition, InvalidArgument, Unauthenticated

log = logging.getLogger(__name__)

NAME = "stripe"
_SUBSCRIPTION_EVENTS = ("customer.subscription.updated", "customer.subscription.deleted")
TOLERANCE_SECONDS = 300
_OBJECT = "payload.data.object"


@dataclass(frozen=True)
class Applied:
    event_id: str
    duplicate: bool
    handled: bool


def _read_secret(path: str | None) -> str | None:
    if not path:
        return None
    return Path(path).read_text().strip() or None


def _field(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidArgument.field(f"{_OBJECT}.{name}", "is required")
    return value


def _proration_items(lines: list[Any]) -> list[Item]:
    """A plan change's prorated invoice (Stripe's "Unused time on …" credit and "Remaining
    time on …" charge) as one line of its net amount; nothing when it nets to zero or less."""
    net = 0
    for index, line in enumerate(lines):
        amount = line.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise InvalidArgument.field(f"{_OBJECT}.lines.data[{index}].amount", "is not valid")
        net += amount
    charged = [str(line.get("description") or "") for line in lines if line.get("amount", 0) > 0]
    label = f"Change of plan, prorated: {charged[-1]}" if charged else "Change of plan, prorated"
    return [Item(label[:200], 1, net)] if net > 0 else []


class StripeProvider:
    name = NAME

    def __init__(
        self,
        invoices_core: Invoices,
        *,
        api_base: str,
        secret_key_file: str | None,
        webhook_secret_file: str | None,
    ) -> None:
        self.invoices = invoices_core
        self.subscriptions: Any = None  # StripeSubscriptions, set by the servicer
        self.api_base = api_base
        self.secret_key_file = secret_key_file
        self.webhook_secret_file = webhook_secret_file

    @cached_property
    def events(self) -> Any:
        # Made on first use, after the app has named the process's metrics.
        return metrics.counter(
            "provider_events_total", "Payment-provider webhooks", ("provider", "outcome")
        )

    @cached_property
    def _webhook_secret(self) -> str | None:
        return _read_secret(self.webhook_secret_file)

    @cached_property
    def client(self) -> stripe.StripeClient:
        key = _read_secret(self.secret_key_file)
        if key is None:
            raise FailedPrecondition("Stripe is not configured: STRIPE_SECRET_KEY_FILE")
        return stripe.StripeClient(
            key, base_addresses={"api": self.api_base}, max_network_retries=2
        )

    # -- checkout ------------------------------------------------------------------------------

    async def checkout(
        self,
        account_id: str,
        items: list[Item],
        *,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> str:
        """A Stripe Checkout page where the account pays ``items`` (prices VAT apart); its
        address. The session names the account (``client_reference_id``)."""
        session = await self.client.v1.checkout.sessions.create_async(
            params={
                "mode": "payment",
                "client_reference_id": account_id,
                "success_url": success_url,
                "cancel_url": cancel_url,
                "invoice_creation": {"enabled": True},
                "line_items": [
                    {
                        "quantity": item.quantity,
                        "price_data": {
                            "currency": "eur",
                            "unit_amount": item.unit_price_cents,
                            "product_data": {"name": item.description},
                        },
                    }
                    for item in items
                ],
            },
            options={"idempotency_key": idempotency_key},
        )
        return str(session.url)

    # -- webhooks ------------------------------------------------------------------------------

    def verify(self, payload: bytes, header: str) -> dict[str, Any]:
        """The event of a correctly signed, recent webhook; UNAUTHENTICATED otherwise."""
        secret = self._webhook_secret
        if secret is None:
            raise FailedPrecondition(
                "Stripe webhooks are not configured: STRIPE_WEBHOOK_SECRET_FILE"
            )
        try:
            stripe.WebhookSignature.verify_header(
                payload, header, secret, tolerance=TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError:
            self.events.labels(NAME, "bad_signature").inc()
            raise Unauthenticated(
                "the Stripe-Signature does not match this body or is too old"
            ) from None
        try:
            event = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise InvalidArgument.field("payload", "is not a JSON Stripe event") from None
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise InvalidArgument.field("payload", "is not a Stripe event")
        for name in ("id", "type"):
            if not isinstance(event.get(name), str) or not event[name]:
                raise InvalidArgument.field(f"payload.{name}", "is required")
        if not isinstance(event["data"].get("object"), dict):
            raise InvalidArgument.field(_OBJECT, "is required")
        return event

    async def apply(self, conn: Any, event: dict[str, Any]) -> Applied:
        """Apply a verified event once (in the caller's transaction)."""
        event_id, kind = event["id"], event["type"]
        if not await providers.record_event(conn, NAME, event_id, kind):
            self.events.labels(NAME, "duplicate").inc()
            return Applied(event_id, True, False)
        obj = event["data"]["object"]
        account: str | None = None
        handled = True
        if kind == "checkout.session.completed":
            account = await self._checkout_completed(conn, obj)
        elif kind == "invoice.paid":
            account = await self._invoice_paid(conn, obj)
        elif kind == "charge.refunded":
            account, handled = await self._refunded(conn, obj)
        elif kind == "invoice.payment_failed" and self.subscriptions is not None:
            account = await self._account(conn, obj)
            await self.subscriptions.payment_failed(conn, account, obj)
        elif kind in _SUBSCRIPTION_EVENTS and self.subscriptions is not None:
            account = await self._account(conn, obj)
            await self.subscriptions.subscription_changed(
                conn, account, obj, deleted=kind == "customer.subscription.deleted"
            )
        else:
            handled = False
        await providers.finish_event(conn, NAME, event_id, account, handled)
        self.events.labels(NAME, "handled" if handled else "ignored").inc()
        return Applied(event_id, False, handled)

    async def _account(self, conn: Any, obj: dict[str, Any]) -> str:
        customer = _field(obj, "customer")
        account = await providers.account_of(conn, NAME, customer)
        if account is None:
            raise InvalidArgument.field(f"{_OBJECT}.customer", "is not a customer of ours")
        return account

    async def _checkout_completed(self, conn: Any, obj: dict[str, Any]) -> str:
        reference = _field(obj, "client_reference_id")
        try:
            account = str(uuid.UUID(reference))
        except ValueError:
            raise InvalidArgument.field(
                f"{_OBJECT}.client_reference_id", "is not an account id"
            ) from None
        linked = await providers.link(conn, NAME, _field(obj, "customer"), account)
        if linked != account:
            raise FailedPrecondition("that Stripe customer belongs to another account")
        if obj.get("mode") == "subscription" and self.subscriptions is not None:
            await self.subscriptions.checkout_completed(conn, account, obj)
        return account

    async def _invoice_paid(self, conn: Any, obj: dict[str, Any]) -> str:
        account = await self._account(conn, obj)
        if obj.get("currency") != "eur":
            raise InvalidArgument.field(f"{_OBJECT}.currency", "must be eur")
        lines = (obj.get("lines") or {}).get("data")
        if not isinstance(lines, list) or not lines:
            raise InvalidArgument.field(f"{_OBJECT}.lines", "has no line")
        if obj.get("billing_reason") == "subscription_update":
            items = _proration_items(lines)
        else:
            items = []
            for index, line in enumerate(lines):
                quantity = line.get("quantity") or 1
                amount = line.get("amount")
                if not isinstance(amount, int) or amount < 0 or not isinstance(quantity, int):
                    raise InvalidArgument.field(
                        f"{_OBJECT}.lines.data[{index}].amount", "is not valid"
                    )
                if amount % quantity:
                    quantity, unit = 1, amount
                else:
                    unit = amount // quantity
                items.append(Item(str(line.get("description") or "Missiva"), quantity, unit))
        if any(item.unit_price_cents for item in items):  # a trial's zero invoice is no sale
            ours, _ = await self.invoices.issue(
                conn, account, provider=NAME, payment_ref=_field(obj, "id"), items=items, paid=True
            )
            paid = obj.get("amount_paid")
            if isinstance(paid, int) and paid != ours.total_cents:
                # Stripe collected another amount than our invoice states (VAT not added at
                # checkout): the invoice stands, an operator reconciles.
                self.events.labels(NAME, "amount_mismatch").inc()
                log.error(
                    "stripe: amount paid differs from our invoice",
                    extra={"account_id": account, "invoice": ours.number_text,
                           "paid_cents": paid, "invoiced_cents": ours.total_cents},
                )  # fmt: skip
        if obj.get("subscription") and self.subscriptions is not None:
            await self.subscriptions.invoice_paid(conn, account, obj)
        return account

    async def _refunded(self, conn: Any, obj: dict[str, Any]) -> tuple[str, bool]:
        account = await self._account(conn, obj)
        invoice_ref = _field(obj, "invoice")
        found = await invoices.for_payment(conn, "invoice", NAME, invoice_ref)
        if found is None or found.account_id != account:
            raise InvalidArgument.field(f"{_OBJECT}.invoice", "is not an invoice we issued")
        if obj.get("amount_refunded") != obj.get("amount"):
            log.warning(
                "stripe: a partial refund needs an operator's credit note",
                extra={"account_id": account, "invoice": found.number_text},
            )
            return account, False
        await self.invoices.credit(
            conn, account, found.invoice_id, refund_ref=f"refund:{_field(obj, 'id')}"
        )
        return account, True
