"""Entry point: `python -m missiva_consent [serve|migrate|retention]`."""

from __future__ import annotations

from pathlib import Path

from missiva.consent.v1 import consent_service_pb2_grpc
from missiva_consent import SERVICE_NAME
from missiva_consent.config import ConsentSettings
from missiva_consent.retention import RULES
from missiva_consent.servicer import ACCESS_RULES, ConsentPrivacy, ConsentServicer
from missiva_platform.privacy import add_privacy_service
from missiva_platform.service import ServiceApp, run_cli

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: ConsentSettings) -> ServiceApp:
    """Wire the kit: settings → runtime → servicers → consumers."""
    app = ServiceApp(SERVICE_NAME, settings, migrations_dir=MIGRATIONS, retention_rules=RULES)
    app.add_service(
        consent_service_pb2_grpc.add_ConsentServiceServicer_to_server,
        ConsentServicer(app),
        "missiva.consent.v1.ConsentService",
        ACCESS_RULES,
    )
    add_privacy_service(app, ConsentPrivacy(app))
    return app


def main() -> None:
    run_cli(build, ConsentSettings)


if __name__ == "__main__":
    main()
