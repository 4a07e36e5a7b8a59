"""Entry point: `python -m missiva_delivery [serve|migrate|retention|<command>]`.

Commands: `publish-dns` (dns_publish.py), `recheck-domains` (domain_jobs.py).
"""

from __future__ import annotations

from pathlib import Path

from missiva.delivery.v1 import delivery_service_pb2_grpc
from missiva_delivery import SERVICE_NAME
from missiva_delivery.config import DeliverySettings
from missiva_delivery.core import DeliveryCore
from missiva_delivery.dns_publish import COMMANDS as DNS_COMMANDS
from missiva_delivery.domain_jobs import COMMANDS as DOMAIN_JOBS
from missiva_delivery.events import add_consumers
from missiva_delivery.feedback import Feedback
from missiva_delivery.inbound import InboundServer
from missiva_delivery.metrics import queue_gauges
from missiva_delivery.privacy import DeliveryPrivacy
from missiva_delivery.retention import rules
from missiva_delivery.sender import Sender, run_forever
from missiva_delivery.servicer import ACCESS_RULES, DeliveryServicer
from missiva_platform.auth import JwksSource
from missiva_platform.privacy import add_privacy_service
from missiva_platform.service import ServiceApp, run_cli
from missiva_platform.streams import commands_stream, events_stream

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
    core.feedback = Feedback(settings)  # bounce and complaint reports (SMTP and webhooks)
    app.add_service(
        delivery_service_pb2_grpc.add_DeliveryServiceServicer_to_server,
        DeliveryServicer(core),
        "missiva.delivery.v1.DeliveryService",
        ACCESS_RULES,
    )
    add_privacy_service(app, DeliveryPrivacy(core))
    # Our work queue and our events (provisioning is idempotent: producers declare them too).
    app.add_streams(commands_stream("delivery"), events_stream("delivery"))
    add_consumers(app, core)
    app.add_refresher("queue-gauges", 5.0, queue_gauges(core))
    # The sender loop: stopped, after the message in hand, before the kit closes the pool.
    app.add_worker("sender", lambda stopping: run_forever(sender, stopping, core.queued))
    # Bounces and complaints: the bounce domain's SMTP server (when it has a port).
    if settings.inbound_smtp_port:
        app.add_worker("inbound-smtp", InboundServer(core, core.feedback).run)
    return app


def main() -> None:
    run_cli(build, DeliverySettings, commands={**DNS_COMMANDS, **DOMAIN_JOBS})


if __name__ == "__main__":
    main()
