"""Delivery gRPC servicer: the RPC groups of ``rpc_*.py`` and every method's access rule.

RPCs not implemented yet answer UNIMPLEMENTED (the generated base class); each lands with
its own part of the issue, and each already has its rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from missiva.delivery.v1 import delivery_service_pb2_grpc
from missiva_delivery.hooks_rpc import WebhookRpcs
from missiva_delivery.rpc_domains import DomainRpcs
from missiva_delivery.rpc_feedback import FeedbackRpcs
from missiva_delivery.rpc_messages import MessageRpcs
from missiva_delivery.rpc_online import OnlineRpcs
from missiva_delivery.rpc_reports import ReportRpcs
from missiva_delivery.rpc_tracking import TrackingRpcs
from missiva_platform.auth import Access, MethodRule, rule

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore

ADMIN_ROLES = ("admin", "primary_admin")
MEMBER_ROLES = ("admin", "member", "primary_admin")

# Access rules by method name. A rule cannot say "an admin, an API key with the scope, or one
# of these services": rules that admit API keys and services carry the scope, and the handler
# adds the role check for users and the allowlist of services (``rpc_messages.require_caller``).
ACCESS_RULES: dict[str, MethodRule] = {
    # Users: admins; API keys: scope mail:send; services: identity, consent, campaign, billing.
    "SendTransactional": rule(Access.AUTHENTICATED, scopes=("mail:send",)),
    # Users: any team role; API keys: scope mail:read; the same services.
    "GetMessageStatus": rule(Access.AUTHENTICATED, scopes=("mail:read",)),
    # The preference centre asks through consent, for a person who allows tracking.
    "ListRecentMessages": rule(Access.SERVICE, scopes=("mail:read",), services=("consent",)),
    # Sender domains: account admins (members may list) or API keys with the scope.
    "CreateSenderDomain": rule(Access.USER, scopes=("domains:write",), roles=ADMIN_ROLES),
    "VerifySenderDomain": rule(Access.USER, scopes=("domains:write",), roles=ADMIN_ROLES),
    "RotateDkimKey": rule(Access.USER, scopes=("domains:write",), roles=ADMIN_ROLES),
    "ListSenderDomains": rule(Access.USER, scopes=("domains:read",), roles=MEMBER_ROLES),
    "GetCampaignDeliveryStats": rule(Access.USER, scopes=("campaigns:read",), roles=MEMBER_ROLES),
    # An email provider's webhook, forwarded by the gateway: its HMAC signature authenticates it.
    "HandleProviderFeedback": rule(Access.ANONYMOUS),
    # Outbound webhooks: any team member (or a key with webhooks:read) reads; account admins
    # (or a key with webhooks:write) change endpoints and send test events.
    "CreateWebhookEndpoint": rule(Access.USER, scopes=("webhooks:write",), roles=ADMIN_ROLES),
    "ListWebhookEndpoints": rule(Access.USER, scopes=("webhooks:read",), roles=MEMBER_ROLES),
    "GetWebhookEndpoint": rule(Access.USER, scopes=("webhooks:read",), roles=MEMBER_ROLES),
    "UpdateWebhookEndpoint": rule(Access.USER, scopes=("webhooks:write",), roles=ADMIN_ROLES),
    "DeleteWebhookEndpoint": rule(Access.USER, scopes=("webhooks:write",), roles=ADMIN_ROLES),
    "RotateWebhookSecret": rule(Access.USER, scopes=("webhooks:write",), roles=ADMIN_ROLES),
    "SendTestWebhook": rule(Access.USER, scopes=("webhooks:write",), roles=ADMIN_ROLES),
    "ListWebhookDeliveries": rule(Access.USER, scopes=("webhooks:read",), roles=MEMBER_ROLES),
    # The gateway's /t/c/<token> and /t/o/<token> (its service token: no account, no scope).
    "RecordEngagement": rule(Access.SERVICE, services=("gateway",)),
    # The gateway's /v/<token> (view online), the same way.
    "RenderOnline": rule(Access.SERVICE, services=("gateway",)),
}


class DeliveryServicer(
    MessageRpcs,
    ReportRpcs,
    DomainRpcs,
    FeedbackRpcs,
    WebhookRpcs,
    TrackingRpcs,
    OnlineRpcs,
    delivery_service_pb2_grpc.DeliveryServiceServicer,
):
    """Every DeliveryService RPC (constructed with the ``DeliveryCore``)."""

    def __init__(self, core: DeliveryCore) -> None:
        self.core = core
