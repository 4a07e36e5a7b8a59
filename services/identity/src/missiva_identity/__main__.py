"""Entry point: `python -m missiva_identity [serve|migrate|retention]`."""

from __future__ import annotations

from pathlib import Path

from missiva.identity.v1 import identity_service_pb2_grpc
from missiva_identity import SERVICE_NAME
from missiva_identity.config import IdentitySettings
from missiva_identity.retention import RULES
from missiva_identity.servicer import ACCESS_RULES, IdentityPrivacy, IdentityServicer
from missiva_platform.privacy import add_privacy_service
from missiva_platform.service import ServiceApp, run_cli

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: IdentitySettings) -> ServiceApp:
    """Wire the kit: settings → runtime → servicers → consumers."""
    app = ServiceApp(SERVICE_NAME, settings, migrations_dir=MIGRATIONS, retention_rules=RULES)
    app.add_service(
        identity_service_pb2_grpc.add_IdentityServiceServicer_to_server,
        IdentityServicer(app),
        "missiva.identity.v1.IdentityService",
        ACCESS_RULES,
    )
    add_privacy_service(app, IdentityPrivacy(app))
    return app


def main() -> None:
    run_cli(build, IdentitySettings)


if __name__ == "__main__":
    main()
