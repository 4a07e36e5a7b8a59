"""Delivery settings: the only reader of the environment."""

from __future__ import annotations

from missiva_platform.config import ServiceSettings


class DeliverySettings(ServiceSettings, frozen=True, kw_only=True):
    """Everything delivery reads from the environment (see the README's configuration reference)."""
