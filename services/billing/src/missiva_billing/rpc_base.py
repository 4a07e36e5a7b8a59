"""What billing's RPC groups share: dependencies and validation helpers.

The servicer (``servicer.py``) is put together from the groups in ``rpc_*.py``; each is thin:
validate, run the core operation in a transaction, answer. The account of a call comes from
its verified token only (``current_tenant``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from google.protobuf import timestamp_pb2
from psycopg_pool import AsyncConnectionPool

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing.config import BillingSettings
from missiva_billing.core import Credits
from missiva_billing.core_invoices import Invoices
from missiva_billing.core_profile import Profiles
from missiva_billing.documents import seller_of
from missiva_billing.domain import Balance
from missiva_billing.stripe_provider import StripeProvider
from missiva_billing.stripe_subscriptions import StripeSubscriptions, subscriptions_of
from missiva_platform.errors import InvalidArgument, Unavailable

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def balance_pb(balance: Balance) -> pb.CreditBalance:
    # The plan's per-period allowance and its reset land with subscriptions; the free tier
    # has none (its credits are granted once).
    return pb.CreditBalance(available=balance.available, reserved=balance.reserved)


def required_key(value: str) -> str:
    if not value:
        raise InvalidArgument.field("idempotency_key", "is required: the same key reserves once")
    return value


def valid_id(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument.field(field, "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument.field(field, "is not a valid id") from None


def positive(field: str, value: int, maximum: int) -> int:
    if value <= 0:
        raise InvalidArgument.field(field, "must be a positive number of credits")
    if value > maximum:
        raise InvalidArgument.field(field, f"must be at most {maximum:,} credits")
    return value


class RpcBase:
    """State every RPC group uses."""

    def __init__(
        self, app: ServiceApp, credits: Credits, profiles: Profiles, invoices: Invoices
    ) -> None:
        self.app = app
        self.credits = credits
        self.profiles = profiles
        self.invoices = invoices
        assert isinstance(app.settings, BillingSettings)
        self.settings: BillingSettings = app.settings
        self.subscriptions = subscriptions_of(self.settings, credits, invoices)
        self.seller = seller_of(self.settings)
        self.stripe = StripeProvider(
            invoices,
            api_base=self.settings.stripe_api_base,
            secret_key_file=self.settings.stripe_secret_key_file,
            webhook_secret_file=self.settings.stripe_webhook_secret_file,
        )
        self.stripe_subscriptions = StripeSubscriptions(
            self.subscriptions, lambda: self.stripe.client
        )
        self.stripe.subscriptions = self.stripe_subscriptions

    @property
    def pool(self) -> AsyncConnectionPool:
        if self.app.pool is None:
            raise Unavailable("billing is starting")
        return self.app.pool
