"""Entry point: `python -m missiva_identity [serve|migrate|retention|<command>]`.

Commands: `create-account`, `create-api-key`, `rotate-signing-key` (see `commands.py`) and
`send-legal-notices` (`legal_notices.py`; a CronJob, not run by the service itself).
"""

from __future__ import annotations

from pathlib import Path

from missiva.identity.v1 import identity_service_pb2_grpc
from missiva_identity import SERVICE_NAME
from missiva_identity.commands import COMMANDS
from missiva_identity.config import IdentitySettings
from missiva_identity.core import IdentityCore
from missiva_identity.events import consumer_spec, own_handlers
from missiva_identity.keys import SigningKeysJwks
from missiva_identity.privacy import IdentityPrivacy
from missiva_identity.retention import rules
from missiva_identity.servicer import ACCESS_RULES, IdentityServicer
from missiva_identity.vault import IdentityVault
from missiva_platform.privacy import add_privacy_service
from missiva_platform.service import ServiceApp, run_cli
from missiva_platform.streams import commands_stream, events_stream

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: IdentitySettings) -> ServiceApp:
    """Wire the kit: settings → runtime → servicers → consumers."""
    app = ServiceApp(
        SERVICE_NAME, settings, migrations_dir=MIGRATIONS, retention_rules=rules(settings)
    )
    core = IdentityCore(settings, IdentityVault.load(settings), lambda: app.pool)
    app.jwks = SigningKeysJwks(core.keys)  # identity verifies its own tokens from its key store
    app.add_service(
        identity_service_pb2_grpc.add_IdentityServiceServicer_to_server,
        IdentityServicer(app, core),
        "missiva.identity.v1.IdentityService",
        ACCESS_RULES,
    )
    add_privacy_service(app, IdentityPrivacy(settings, lambda: app.pool))
    app.add_streams(
        events_stream("identity"),
        commands_stream("identity"),
        commands_stream("delivery"),  # emails
        events_stream("consent"),  # legal documents
    )
    for subject, handler in own_handlers(settings).items():
        app.add_consumer(consumer_spec(subject), handler)
    return app


def main() -> None:
    run_cli(build, IdentitySettings, commands=COMMANDS)


if __name__ == "__main__":
    main()
