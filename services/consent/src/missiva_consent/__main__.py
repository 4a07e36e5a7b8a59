"""Entry point: `python -m missiva_consent [serve|migrate|retention|digest|publish-document]`."""

from __future__ import annotations

from pathlib import Path

from missiva.consent.v1 import consent_service_pb2_grpc
from missiva_consent import SERVICE_NAME
from missiva_consent.config import ConsentSettings
from missiva_consent.core import ConsentCore
from missiva_consent.dsar import PrivacyRequests
from missiva_consent.events import add_consumers
from missiva_consent.imports import ImportedConsents
from missiva_consent.imports import consumer_spec as imported_consents_spec
from missiva_consent.jobs import COMMANDS
from missiva_consent.legal_defaults import COMMANDS as DOCUMENT_COMMANDS
from missiva_consent.legal_defaults import publish_defaults_at_start
from missiva_consent.privacy import ConsentPrivacy
from missiva_consent.retention import rules
from missiva_consent.servicer import ACCESS_RULES, ConsentServicer
from missiva_platform.auth import JwksSource
from missiva_platform.privacy import add_privacy_service
from missiva_platform.service import ServiceApp, run_cli
from missiva_platform.streams import commands_stream, events_stream

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: ConsentSettings, *, jwks: JwksSource | None = None) -> ServiceApp:
    """Wire the kit: settings → runtime → servicers → consumers."""
    app = ServiceApp(
        SERVICE_NAME,
        settings,
        migrations_dir=MIGRATIONS,
        retention_rules=rules(settings),
        jwks=jwks,
    )
    publish_defaults_at_start(app, settings)
    service = ConsentCore(app)
    requests = PrivacyRequests(service)
    app.add_service(
        consent_service_pb2_grpc.add_ConsentServiceServicer_to_server,
        ConsentServicer(service, requests),
        "missiva.consent.v1.ConsentService",
        ACCESS_RULES,
    )
    add_privacy_service(app, ConsentPrivacy(service))
    # Our own events and the confirmation emails' work queue, plus the streams we consume
    # (provisioning is idempotent, so consumers bind before identity or delivery ever ran).
    app.add_streams(
        events_stream("consent"),
        commands_stream("delivery"),
        commands_stream("campaign"),  # notices of accounts' privacy-notice changes
        events_stream("identity"),
        events_stream("delivery"),
        events_stream("campaign"),
    )
    add_consumers(app, settings.platform_account_id)
    app.add_consumer(imported_consents_spec(), ImportedConsents(service).handle)
    requests.install(app)  # privacy requests: replies, command queues, the open-requests gauge
    return app


def main() -> None:
    run_cli(build, ConsentSettings, commands={**COMMANDS, **DOCUMENT_COMMANDS})


if __name__ == "__main__":
    main()
