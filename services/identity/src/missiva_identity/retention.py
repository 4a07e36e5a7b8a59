"""Identity retention rules, as data. Every table holding personal data gets a rule here."""

from __future__ import annotations

from missiva_platform.retention import RetentionRule

RULES: tuple[RetentionRule, ...] = ()
