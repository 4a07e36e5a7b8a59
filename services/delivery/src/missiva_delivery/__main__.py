"""Entry point: `python -m missiva_delivery [serve|migrate|retention|<command>]`.

Commands: `publish-dns` (dns_publish.py), `recheck-domains` (domain_jobs.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

from missiva.delivery.v1 import delivery_service_pb2_grpc
from missiva_delivery import SERVICE_NAME
from missiva_delivery.alerts import alert_refresher
from missiva_delivery.config import DeliverySettings
from missiva_delivery.core import DeliveryCore
from missiva_delivery.dns_publish import COMMANDS as DNS_COMMANDS
from missiva_delivery.domain_jobs import COMMANDS as DOMAIN_JOBS
from missiva_delivery.events import add_consumers
from missiva_delivery.feedback import Feedback
from missiva_delivery.hooks_sender import HookSender, queue_gauge
from missiva_delivery.hooks_sender import run_forever as run_hooks
from missiva_delivery.inbound import InboundServer
from missiva_delivery.metrics import queue_gauges
from missiva_delivery.privacy import DeliveryPrivacy
from missiva_delivery.retention import rules
from missiva_delivery.sender import Sender, run_forever
from missiva_delivery.servicer import ACCESS_RULES, DeliveryServicer
from missiva_delivery.transport import LimitSettings, load_limits
from missiva_platform.auth import JwksSource
from missiva_platform.privacy import add_privacy_service
from missiva_platform.service import ServiceApp, run_cli
from missiva_platform.streams import commands_stream, events_stream

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: DeliverySettings, *, jwks: JwksSource | None = None) -> ServiceApp:
    """Wire the kit: settings → runtime → servicers → consumers → sender."""
    app = ServiceApp(
        SERVICE_NAME,
        settings,
        migrations_dir=MIGRATIONS,
        retention_rules=rules(settings),
        jwks=jwks,
    )
    core = DeliveryCore(app)
    sender = Sender(core)
    _PARTS[id(app)] = (core, sender)
    core.feedback = Feedback(settings)  # bounce and complaint reports (SMTP and webhooks)
    core.feedback.hooks_wake = core.hooks_wake
    app.add_service(
        delivery_service_pb2_grpc.add_DeliveryServiceServicer_to_server,
        DeliveryServicer(core),
        "missiva.delivery.v1.DeliveryService",
        ACCESS_RULES,
    )
    add_privacy_service(app, DeliveryPrivacy(core))
    # Our work queue and our events (provisioning is idempotent: producers declare them too).
    app.add_streams(
        commands_stream("delivery"),
        *(events_stream(p) for p in ("delivery", "consent", "campaign", "identity")),
    )
    add_consumers(app, core)
    app.add_refresher("queue-gauges", 5.0, queue_gauges(core))
    if settings.smtp_limits_file:
        app.add_refresher(
            "smtp-limits", settings.smtp_limits_refresh_seconds, limits_reader(sender, settings)
        )
    if settings.alert_webhook_url:
        app.add_refresher(
            "fallback-alert",
            settings.alert_check_seconds,
            alert_refresher(sender.watch, settings.alert_webhook_url),
        )
    # The sender loop: stopped, after the message in hand, before the kit closes the pool.
    app.add_worker("sender", lambda stopping: run_forever(sender, stopping, core.queued))
    # Outbound webhooks: the worker that POSTs the queued deliveries (hooks_sender.py).
    hooks = HookSender(core)
    _HOOKS[id(app)] = hooks
    app.add_worker("webhooks", lambda stopping: run_hooks(hooks, stopping, core.hooks_queued))
    app.add_refresher("webhook-queue", 5.0, queue_gauge(core))
    # Bounces and complaints: the bounce domain's SMTP server (when it has a port).
    if settings.inbound_smtp_port:
        app.add_worker("inbound-smtp", InboundServer(core, core.feedback).run)
    return app


# Each built app's core and sender, for tests and benchmarks that look inside a running one.
_PARTS: dict[int, tuple[DeliveryCore, Sender]] = {}
_HOOKS: dict[int, HookSender] = {}


def hooks_of(app: ServiceApp) -> HookSender:
    return _HOOKS[id(app)]


def parts_of(app: ServiceApp) -> tuple[DeliveryCore, Sender]:
    return _PARTS[id(app)]


def limits_reader(sender: Sender, settings: DeliverySettings):  # type: ignore[no-untyped-def]
    """A refresher: SMTP_LIMITS_FILE's limits applied to the running transport (a file that
    is wrong keeps the limits in force, with a warning naming the problem)."""
    path = settings.smtp_limits_file
    assert path is not None
    seen: list[LimitSettings] = []

    async def refresh() -> None:
        try:
            limits = load_limits(path, settings.limit_settings())
        except (OSError, ValueError) as exc:
            log.warning("SMTP_LIMITS_FILE not applied: %s", exc)
            return
        if not seen or seen[-1] != limits:
            sender.transport.limits.update(limits)
            seen[:] = [limits]
            log.info("SMTP limits applied", extra={"global_rate": limits.global_rate})

    return refresh


def main() -> None:
    run_cli(build, DeliverySettings, commands={**DNS_COMMANDS, **DOMAIN_JOBS})


if __name__ == "__main__":
    main()
