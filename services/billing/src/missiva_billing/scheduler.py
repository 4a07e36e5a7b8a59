"""Billing's scheduled jobs, in two ways.

In Kubernetes each is a CronJob running ``python -m missiva_billing <job>`` (the chart's
``services.billing.jobs``): ``expire-reservations`` (hourly), ``renew-subscriptions``
(hourly: renewals, period ends, payment reminders and Stripe retries, downgrades after the
grace), ``sdi-transmit`` and ``sdi-receipts`` (every 10 minutes: the folder drop's outgoing
invoices and the SDI's receipts).

Under ``missiva up`` there is no cron: ``JOBS_INTERVAL_SECONDS`` (``missiva up`` sets 60) makes
the billing process run the same jobs itself, one after the other, every that many seconds
(a worker of the service: ``ServiceApp.add_worker``). A failed job is logged and tried again
at the next round. The SDI jobs run only when ``SDI_OUTBOX_DIR`` and ``SDI_INBOX_DIR`` are set.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from missiva_billing import documents
from missiva_billing.core_invoices import Invoices
from missiva_billing.core_profile import Profiles
from missiva_billing.invoice_jobs import apply_receipts, renew_subscriptions, transmit
from missiva_billing.jobs import expire_reservations
from missiva_billing.keys import BillingKeys
from missiva_billing.sdi import FolderDrop

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

log = logging.getLogger(__name__)

JOBS = ("expire-reservations", "renew-subscriptions", "sdi-transmit", "sdi-receipts")


async def run_jobs(settings: Any, now: datetime | None = None) -> dict[str, Any]:
    """One round of every job; what each did (or ``"failed"``)."""
    url = settings.database_url
    keys = BillingKeys(settings.field_keys_file, settings.email_hash_key_file)
    core = Invoices(keys, Profiles(keys), oss=settings.vat_oss)
    channel = None
    if settings.sdi_outbox_dir and settings.sdi_inbox_dir:
        channel = FolderDrop(settings.sdi_outbox_dir, settings.sdi_inbox_dir)
    work: dict[str, Any] = {
        "expire-reservations": lambda: expire_reservations(url, now),
        "renew-subscriptions": lambda: renew_subscriptions(
            url, now or datetime.now(UTC), keys, settings
        ),
    }
    if channel is not None:
        work["sdi-transmit"] = lambda: transmit(url, core, documents.seller_of(settings), channel)
        work["sdi-receipts"] = lambda: apply_receipts(url, core, channel)
    done: dict[str, Any] = {}
    for name, job in work.items():
        try:
            done[name] = await job()
        except Exception:
            log.exception("billing: the scheduled job %s failed; it runs again next round", name)
            done[name] = "failed"
    return done


def add_scheduler(app: ServiceApp) -> None:
    """Run the jobs inside the service every ``JOBS_INTERVAL_SECONDS`` (when not 0)."""
    settings: Any = app.settings
    interval = settings.jobs_interval_seconds
    if not interval:
        return

    async def worker(stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            done = await run_jobs(settings)
            log.info("billing: scheduled jobs ran", extra={"jobs": sorted(done)})
            try:
                await asyncio.wait_for(stopping.wait(), timeout=interval)
            except TimeoutError:
                continue

    app.add_worker("billing-jobs", worker)
