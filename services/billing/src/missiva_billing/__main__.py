"""Entry point: `python -m missiva_billing [serve|migrate|retention|<command>]`.

Commands: see `jobs.py` and `invoice_jobs.py`; the scheduled ones are listed in
`scheduler.py` (CronJobs in the chart, a worker of the process under `missiva up`).
"""

from __future__ import annotations

from pathlib import Path

from missiva.billing.v1 import billing_service_pb2_grpc
from missiva_billing import SERVICE_NAME
from missiva_billing.config import BillingSettings
from missiva_billing.core import Credits
from missiva_billing.core_invoices import Invoices
from missiva_billing.core_profile import Profiles
from missiva_billing.events import BillingConsumers, consumer_spec
from missiva_billing.jobs import COMMANDS
from missiva_billing.keys import BillingKeys
from missiva_billing.privacy import BillingPrivacy
from missiva_billing.retention import RULES
from missiva_billing.scheduler import add_scheduler
from missiva_billing.servicer import ACCESS_RULES, BillingServicer
from missiva_platform.auth import JwksSource
from missiva_platform.privacy import add_privacy_service
from missiva_platform.service import ServiceApp, run_cli
from missiva_platform.streams import commands_stream, events_stream

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: BillingSettings, jwks: JwksSource | None = None) -> ServiceApp:
    """Wire the kit: settings → runtime → servicers → consumers."""
    app = ServiceApp(
        SERVICE_NAME, settings, migrations_dir=MIGRATIONS, retention_rules=RULES, jwks=jwks
    )
    credits = Credits()
    keys = BillingKeys(settings.field_keys_file, settings.email_hash_key_file)
    profiles = Profiles(keys)
    invoices = Invoices(keys, profiles, oss=settings.vat_oss)
    app.add_service(
        billing_service_pb2_grpc.add_BillingServiceServicer_to_server,
        BillingServicer(app, credits, profiles, invoices),
        "missiva.billing.v1.BillingService",
        ACCESS_RULES,
    )
    add_privacy_service(app, BillingPrivacy(app, profiles, invoices))
    # Its own events (credits.low) and the streams it reads (each producer provisions its
    # own too, so neither side waits for the other).
    app.add_streams(
        *(events_stream(s) for s in ("billing", "identity", "delivery", "campaign")),
        commands_stream("delivery"),  # the billing.payment_failed mails
    )
    for subject, handler in BillingConsumers(credits).handlers().items():
        app.add_consumer(consumer_spec(subject), handler)
    add_scheduler(app)  # JOBS_INTERVAL_SECONDS: the jobs in-process (`missiva up`)
    return app


def main() -> None:
    run_cli(build, BillingSettings, commands=COMMANDS)


if __name__ == "__main__":
    main()
