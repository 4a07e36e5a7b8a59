"""Entry point: `python -m missiva_delivery [serve|migrate|retention]`."""

from __future__ import annotations

from pathlib import Path

from missiva.delivery.v1 import delivery_service_pb2_grpc
from missiva_delivery import SERVICE_NAME
from missiva_delivery.config import DeliverySettings
from missiva_delivery.retention import RULES
from missiva_delivery.servicer import ACCESS_RULES, DeliveryPrivacy, DeliveryServicer
from missiva_platform.privacy import add_privacy_service
from missiva_platform.service import ServiceApp, run_cli

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: DeliverySettings) -> ServiceApp:
    """Wire the kit: settings → runtime → servicers → consumers."""
    app = ServiceApp(SERVICE_NAME, settings, migrations_dir=MIGRATIONS, retention_rules=RULES)
    app.add_service(
        delivery_service_pb2_grpc.add_DeliveryServiceServicer_to_server,
        DeliveryServicer(app),
        "missiva.delivery.v1.DeliveryService",
        ACCESS_RULES,
    )
    add_privacy_service(app, DeliveryPrivacy(app))
    return app


def main() -> None:
    run_cli(build, DeliverySettings)


if __name__ == "__main__":
    main()
