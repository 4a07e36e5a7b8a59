"""Consent settings: the only reader of the environment."""

from __future__ import annotations

import re

# The kit module, not its names: the contract tests pick this module's *Settings class.
import missiva_platform.config as kit

_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
DEFAULT_PLATFORM_ACCOUNT = "platform"
_SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


class ConsentSettings(kit.ServiceSettings, frozen=True, kw_only=True):  # type: ignore[call-arg]
    """Everything consent reads from the environment (see the README's configuration reference)."""

    # The account whose purposes (SYSTEM, PRODUCT_UPDATE, MARKETING) and legal documents
    # (Terms, Privacy, DPA, sub-processors) are Missiva's own.
    platform_account_id: str = DEFAULT_PLATFORM_ACCOUNT
    # At start, publish the default (DRAFT) Terms of Service and Privacy Policy for each of
    # them that has no version yet, so a fresh platform can take sign-ups (legal_defaults.py).
    publish_default_documents: bool = True
    # Base of the public links (the gateway): /unsubscribe/, /preferences/, /confirm/<token>.
    public_base_url: str = "http://127.0.0.1:8080"
    # Unsubscribe and preference links stay valid this long (old emails must keep working).
    link_token_days: int = 730
    # A double opt-in link expires after this; the pending record itself lives 60 days.
    confirmation_link_days: int = 7
    # Throttle of confirmation emails: minimum seconds between two sends of one request,
    # and at most this many confirmation emails to one person per day.
    confirmation_resend_seconds: int = 60
    confirmation_max_per_day: int = 5
    # Unsubscribes from one IP hash for this many different people within the window raise
    # the abuse metric and a review flag (they are still honoured).
    unsubscribe_abuse_threshold: int = 20
    unsubscribe_abuse_window_hours: int = 24
    # Data-subject requests: the services asked to export or erase (each must answer before
    # a request completes), how long a finished export can be downloaded before its content
    # is deleted, and how long the request records are kept as accountability evidence.
    privacy_services: str = "identity,consent,campaign,delivery,billing"
    privacy_export_days: int = 30
    privacy_record_days: int = 1095

    @property
    def privacy_service_names(self) -> tuple[str, ...]:
        """The services every data-subject request asks, in order, without repeats."""
        names = (n.strip() for n in self.privacy_services.split(",") if n.strip())
        return tuple(dict.fromkeys(names))

    def validate(self) -> None:
        super().validate()
        if not _ACCOUNT_ID.fullmatch(self.platform_account_id):
            raise kit.ConfigError("PLATFORM_ACCOUNT_ID", "must be 1-128 of [A-Za-z0-9_.:-]")
        if not self.public_base_url.startswith(("http://", "https://")):
            raise kit.ConfigError("PUBLIC_BASE_URL", "must be an http(s):// URL")
        positive = {
            "LINK_TOKEN_DAYS": self.link_token_days,
            "CONFIRMATION_LINK_DAYS": self.confirmation_link_days,
            "CONFIRMATION_MAX_PER_DAY": self.confirmation_max_per_day,
            "UNSUBSCRIBE_ABUSE_THRESHOLD": self.unsubscribe_abuse_threshold,
            "UNSUBSCRIBE_ABUSE_WINDOW_HOURS": self.unsubscribe_abuse_window_hours,
        }
        for variable, value in positive.items():
            if value < 1:
                raise kit.ConfigError(variable, "must be at least 1")
        if not self.privacy_service_names or any(
            not _SERVICE.fullmatch(name) for name in self.privacy_service_names
        ):
            raise kit.ConfigError(
                "PRIVACY_SERVICES", "must be a comma-separated list of service names"
            )
        if not 1 <= self.privacy_export_days <= 90:
            raise kit.ConfigError("PRIVACY_EXPORT_DAYS", "must be between 1 and 90")
        if self.privacy_record_days < 365:
            raise kit.ConfigError("PRIVACY_RECORD_DAYS", "must be at least 365")
        if self.confirmation_link_days > 60:
            raise kit.ConfigError(
                "CONFIRMATION_LINK_DAYS", "must not exceed the 60-day pending life"
            )
        if self.confirmation_resend_seconds < 0:
            raise kit.ConfigError("CONFIRMATION_RESEND_SECONDS", "must not be negative")
