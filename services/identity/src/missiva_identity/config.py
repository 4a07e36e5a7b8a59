"""Identity settings: the only reader of the environment."""

from __future__ import annotations

from missiva_platform.config import ServiceSettings


class IdentitySettings(ServiceSettings, frozen=True, kw_only=True):
    """Everything identity reads from the environment (see the README's configuration reference)."""
