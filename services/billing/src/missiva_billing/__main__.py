"""Entry point: `python -m missiva_billing [serve|migrate|retention]`."""

from __future__ import annotations

from pathlib import Path

from missiva.billing.v1 import billing_service_pb2_grpc
from missiva_billing import SERVICE_NAME
from missiva_billing.config import BillingSettings
from missiva_billing.retention import RULES
from missiva_billing.servicer import ACCESS_RULES, BillingPrivacy, BillingServicer
from missiva_platform.privacy import add_privacy_service
from missiva_platform.service import ServiceApp, run_cli

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: BillingSettings) -> ServiceApp:
    """Wire the kit: settings → runtime → servicers → consumers."""
    app = ServiceApp(SERVICE_NAME, settings, migrations_dir=MIGRATIONS, retention_rules=RULES)
    app.add_service(
        billing_service_pb2_grpc.add_BillingServiceServicer_to_server,
        BillingServicer(app),
        "missiva.billing.v1.BillingService",
        ACCESS_RULES,
    )
    add_privacy_service(app, BillingPrivacy(app))
    return app


def main() -> None:
    run_cli(build, BillingSettings)


if __name__ == "__main__":
    main()
