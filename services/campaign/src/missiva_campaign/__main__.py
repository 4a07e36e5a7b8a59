"""Entry point: `python -m missiva_campaign [serve|migrate|retention]`."""

from __future__ import annotations

from pathlib import Path

from missiva.campaign.v1 import campaign_service_pb2_grpc
from missiva_campaign import SERVICE_NAME
from missiva_campaign.config import CampaignSettings
from missiva_campaign.retention import RULES
from missiva_campaign.servicer import ACCESS_RULES, CampaignPrivacy, CampaignServicer
from missiva_platform.privacy import add_privacy_service
from missiva_platform.service import ServiceApp, run_cli

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: CampaignSettings) -> ServiceApp:
    """Wire the kit: settings → runtime → servicers → consumers."""
    app = ServiceApp(SERVICE_NAME, settings, migrations_dir=MIGRATIONS, retention_rules=RULES)
    app.add_service(
        campaign_service_pb2_grpc.add_CampaignServiceServicer_to_server,
        CampaignServicer(app),
        "missiva.campaign.v1.CampaignService",
        ACCESS_RULES,
    )
    add_privacy_service(app, CampaignPrivacy(app))
    return app


def main() -> None:
    run_cli(build, CampaignSettings)


if __name__ == "__main__":
    main()
