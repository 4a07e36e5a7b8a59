"""Administrative commands: ``python -m missiva_billing <command>`` (a CronJob or an operator).

- ``expire-reservations``: release every reservation past its expiry (ledger kind
  ``expire``), each in its own transaction; hourly in the chart.
- ``adjust-credits ACCOUNT AMOUNT REASON``: an operator's signed correction of an account's
  available credits (ledger kind ``adjust``, the reason kept as its reference).
- ``rotate-field-keys``: re-encrypt every tax field (VAT number, tax code) not under the
  newest key of ``FIELD_KEYS_FILE``, in batches, each in its own transaction; safe to run
  again after an interruption. Run it after adding a key, before retiring the old one.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psycopg

from missiva_billing.core import Credits
from missiva_billing.invoice_jobs import COMMANDS as INVOICE_COMMANDS
from missiva_billing.keys import BillingKeys
from missiva_billing.store import reservations
from missiva_platform.crypto import FieldCipher, reencrypt_column
from missiva_platform.errors import DomainError

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

log = logging.getLogger(__name__)


async def expire_reservations(url: str, now: datetime | None = None, batch: int = 500) -> int:
    """Release the reservations expired at ``now``; returns the credits released."""
    now = now or datetime.now(UTC)
    credits = Credits()
    total = 0
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            async with conn.transaction():
                due = await reservations.expired(conn, now, batch)
            for account_id, reservation_id in due:
                async with conn.transaction():
                    total += await credits.expire(conn, account_id, reservation_id)
            if len(due) < batch:
                break
    log.info("reservations expired", extra={"credits": total})
    return total


async def _expire_command(app: ServiceApp, args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="missiva-billing expire-reservations")
    parser.parse_args(args)
    released = await expire_reservations(app.settings.database_url)
    print(f"billing: released {released} expired credit(s)")
    return 0


async def _adjust_command(app: ServiceApp, args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="missiva-billing adjust-credits")
    parser.add_argument("account_id")
    parser.add_argument("amount", type=int)
    parser.add_argument("reason")
    parsed = parser.parse_args(args)
    if not parsed.reason.strip():
        print("billing: adjust-credits needs a reason", flush=True)
        return 2
    async with await psycopg.AsyncConnection.connect(app.settings.database_url) as conn:
        try:
            async with conn.transaction():
                balance = await Credits().adjust(
                    conn, parsed.account_id, parsed.amount, parsed.reason
                )
        except DomainError as exc:
            print(f"billing: {exc.message}", flush=True)
            return 1
    print(f"billing: {parsed.account_id} now has {balance.available} credit(s) available")
    return 0


# (table, key column, encrypted column): every tax field, bound to its row's account.
ENCRYPTED_COLUMNS = (
    ("billing_profiles", "account_id", "vat_number_enc"),
    ("billing_profiles", "account_id", "tax_code_enc"),
    ("invoices", "invoice_id", "billed_vat_enc"),
    ("invoices", "invoice_id", "billed_tax_enc"),
)


async def rotate_field_keys(url: str, cipher: FieldCipher, batch: int = 500) -> dict[str, int]:
    """Re-encrypt every tax field to the newest key; the rows rewritten, per column."""
    done: dict[str, int] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for table, key, column in ENCRYPTED_COLUMNS:
            done[f"{table}.{column}"] = await reencrypt_column(
                conn,
                cipher,
                table=table,
                key_column=key,
                value_column=column,
                aad_column="account_id",
                batch_size=batch,
            )
    return done


async def _rotate_command(app: ServiceApp, args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="missiva-billing rotate-field-keys")
    parser.parse_args(args)
    keys = BillingKeys(app.settings.field_keys_file, None)
    try:
        cipher = keys.cipher
    except DomainError as exc:
        print(f"billing: {exc.message}", flush=True)
        return 2
    done = await rotate_field_keys(app.settings.database_url, cipher)
    for column, count in done.items():
        print(f"billing: {column}: {count} value(s) re-encrypted to key {cipher.primary_kid}")
    return 0


COMMANDS = {
    **INVOICE_COMMANDS,
    "expire-reservations": _expire_command,
    "adjust-credits": _adjust_command,
    "rotate-field-keys": _rotate_command,
}
