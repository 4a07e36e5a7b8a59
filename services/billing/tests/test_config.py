"""Billing's settings: reservation lifetimes are bounded, a bad value names its variable."""

from __future__ import annotations

import pytest

from missiva_billing.config import BillingSettings
from missiva_platform.config import ConfigError, load_settings

BASE = {"DATABASE_URL": "postgresql://u@127.0.0.1/billing"}


def test_defaults_hold_a_week_and_allow_thirty_days():
    settings = load_settings(BillingSettings, BASE)
    assert settings.reservation_default_ttl_seconds == 7 * 86_400
    assert settings.reservation_max_ttl_seconds == 30 * 86_400


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"RESERVATION_DEFAULT_TTL_SECONDS": "30"}, "RESERVATION_DEFAULT_TTL_SECONDS"),
        ({"RESERVATION_DEFAULT_TTL_SECONDS": str(31 * 86_400)}, "RESERVATION_DEFAULT_TTL_SECONDS"),
        ({"RESERVATION_MAX_TTL_SECONDS": str(91 * 86_400)}, "RESERVATION_MAX_TTL_SECONDS"),
        ({"RESERVATION_MAX_TTL_SECONDS": "soon"}, "RESERVATION_MAX_TTL_SECONDS"),
    ],
)
def test_bad_lifetimes_are_refused_naming_the_variable(env, variable):
    with pytest.raises(ConfigError) as caught:
        load_settings(BillingSettings, {**BASE, **env})
    assert variable in str(caught.value)
