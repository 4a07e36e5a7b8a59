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

    def validate(self) -> None:
        super().validate()
        if not 60 <= self.reservation_max_ttl_seconds <= 90 * DAY:
            raise ConfigError("RESERVATION_MAX_TTL_SECONDS", "must be between 60 and 7776000")
        if not 60 <= self.reservation_default_ttl_seconds <= self.reservation_max_ttl_seconds:
            raise ConfigError(
                "RESERVATION_DEFAULT_TTL_SECONDS",
                "must be at least 60 and at most RESERVATION_MAX_TTL_SECONDS",
            )
