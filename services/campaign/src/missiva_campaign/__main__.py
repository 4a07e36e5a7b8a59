"""Entry point: `python -m missiva_campaign [serve|migrate|retention]`."""

from __future__ import annotations

from pathlib import Path

from missiva.campaign.v1 import campaign_service_pb2_grpc
from missiva_campaign import SERVICE_NAME
from missiva_campaign.config import CampaignSettings
from missiva_campaign.core import CampaignCore
from missiva_campaign.events import consumer_spec, own_handlers
from missiva_campaign.privacy import CampaignPrivacy
from missiva_campaign.retention import RULES
from missiva_campaign.servicer import ACCESS_RULES, CampaignServicer
from missiva_platform.auth import JwksSource
from missiva_platform.privacy import add_privacy_service
from missiva_platform.service import ServiceApp, run_cli
from missiva_platform.streams import commands_stream, events_stream

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: CampaignSettings, *, jwks: JwksSource | None = None) -> ServiceApp:
    """Wire the kit: settings → runtime → servicers → consumers."""
    app = ServiceApp(
        SERVICE_NAME, settings, migrations_dir=MIGRATIONS, retention_rules=RULES, jwks=jwks
    )
    core = CampaignCore(settings, lambda: app.pool)
    app.add_service(
        campaign_service_pb2_grpc.add_CampaignServiceServicer_to_server,
        CampaignServicer(core),
        "missiva.campaign.v1.CampaignService",
        ACCESS_RULES,
    )
    add_privacy_service(app, CampaignPrivacy(lambda: app.pool))
    app.add_streams(
        events_stream("campaign"),
        commands_stream("campaign"),  # document notices (and their continuations)
        commands_stream("delivery"),  # the notice emails
        commands_stream("consent"),  # imported contacts' consent proofs
        events_stream("consent"),  # suppressions
        events_stream("identity"),  # account erasure
    )
    for subject, handler in own_handlers(settings).items():
        app.add_consumer(consumer_spec(subject), handler)
    return app


def main() -> None:
    run_cli(build, CampaignSettings)


if __name__ == "__main__":
    main()
