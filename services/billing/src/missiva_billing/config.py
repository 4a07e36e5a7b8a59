"""Billing settings: the only reader of the environment."""

from __future__ import annotations

from missiva_platform import config as kit_config
from missiva_platform.config import ConfigError

DAY = 86_400


# The kit's base is imported by module: the settings class must be the only *Settings name here.
class BillingSettings(kit_config.ServiceSettings, frozen=True, kw_only=True):  # type: ignore[call-arg]
    """Everything billing reads from the environment (see the README's configuration reference)."""

    # A reservation without a ttl holds its credits this long; at most the maximum.
    reservation_default_ttl_seconds: int = 7 * DAY
    reservation_max_ttl_seconds: int = 30 * DAY

    # The seller on every invoice (CedentePrestatore). The defaults are a development
    # placeholder (a well-formed but fictional VAT number): production sets every one.
    seller_name: str = "Missiva S.r.l."
    seller_vat_number: str = "IT12345670157"
    seller_tax_code: str = ""
    seller_street: str = "Via dell'Esempio 1"
    seller_postal_code: str = "20121"
    seller_city: str = "Milano"
    seller_province: str = "MI"
    seller_rea: str = "MI-1234567"
    # FatturaPA RegimeFiscale: RF01 is the ordinary regime.
    seller_tax_regime: str = "RF01"
    seller_iban: str = ""
    # Who transmits to the SDI (IdTrasmittente): the seller itself unless an intermediary.
    sdi_transmitter_id: str = ""
    # The folder-drop SDI channel: XML files are written to sdi_outbox_dir for the
    # intermediary to pick up; its receipts arrive in sdi_inbox_dir. Empty: not transmitted.
    sdi_outbox_dir: str = ""
    sdi_inbox_dir: str = ""

    # Stripe: the API's base address (a test server in tests), and the files holding the
    # secret API key and the webhook endpoint's signing secret (unset: Stripe is off).
    stripe_api_base: str = "https://api.stripe.com"
    stripe_secret_key_file: str | None = None
    stripe_webhook_secret_file: str | None = None

    # Registered for the Union OSS scheme: EU consumers pay their own country's VAT (tax.py).
    vat_oss: bool = False

    # How subscriptions are paid: "bank_transfer" (the embedded default: each period's invoice
    # is issued and paid against) or "stripe" (Stripe Checkout and Stripe subscriptions).
    payment_provider: str = "bank_transfer"
    # An unpaid period: reminders (and, through Stripe, payment retries) this many days after
    # it fell due, then the account goes back to Free after the grace.
    payment_retry_days: str = "1,3,7"
    payment_grace_days: int = 14

    # Credits each side of a referral gets when the referred account first pays.
    referral_reward_credits: int = 500
    # The account whose admins operate the platform (MarkInvoicePaid); consent reads the same.
    platform_account_id: str = "platform"

    # The scheduled jobs (expire-reservations, renew-subscriptions, sdi-transmit, sdi-receipts)
    # inside the service, every this many seconds: what `missiva up` uses. 0 (the default, and
    # the chart's): off, the chart's CronJobs run them as commands.
    jobs_interval_seconds: int = 0

    @property
    def retry_days(self) -> tuple[int, ...]:
        return tuple(int(day) for day in self.payment_retry_days.split(",") if day.strip())

    def validate(self) -> None:
        super().validate()
        if self.payment_provider not in ("bank_transfer", "stripe"):
            raise ConfigError("PAYMENT_PROVIDER", "must be bank_transfer or stripe")
        if self.payment_provider == "stripe" and not self.stripe_secret_key_file:
            raise ConfigError("STRIPE_SECRET_KEY_FILE", "is needed when PAYMENT_PROVIDER=stripe")
        if not 1 <= self.payment_grace_days <= 90:
            raise ConfigError("PAYMENT_GRACE_DAYS", "must be between 1 and 90")
        try:
            days = self.retry_days
        except ValueError:
            raise ConfigError(
                "PAYMENT_RETRY_DAYS", "must be comma-separated days, e.g. 1,3,7"
            ) from None
        if list(days) != sorted(set(days)) or any(
            not 0 < d < self.payment_grace_days for d in days
        ):
            raise ConfigError(
                "PAYMENT_RETRY_DAYS", "must be increasing days, each within PAYMENT_GRACE_DAYS"
            )
        if not 0 <= self.referral_reward_credits <= 1_000_000:
            raise ConfigError("REFERRAL_REWARD_CREDITS", "must be between 0 and 1000000")
        if not 0 <= self.jobs_interval_seconds <= DAY:
            raise ConfigError("JOBS_INTERVAL_SECONDS", "must be between 0 and 86400")
        from stdnum.it import iva  # here, so the settings module imports nothing heavy

        if not self.seller_vat_number.startswith("IT") or not iva.is_valid(self.seller_vat_number):
            raise ConfigError("SELLER_VAT_NUMBER", "must be a valid Italian VAT number, IT...")
        if self.seller_tax_regime[:2] != "RF" or len(self.seller_tax_regime) != 4:
            raise ConfigError("SELLER_TAX_REGIME", "must be a FatturaPA RegimeFiscale, e.g. RF01")
        if not 60 <= self.reservation_max_ttl_seconds <= 90 * DAY:
            raise ConfigError("RESERVATION_MAX_TTL_SECONDS", "must be between 60 and 7776000")
        if not 60 <= self.reservation_default_ttl_seconds <= self.reservation_max_ttl_seconds:
            raise ConfigError(
                "RESERVATION_DEFAULT_TTL_SECONDS",
                "must be at least 60 and at most RESERVATION_MAX_TTL_SECONDS",
            )
