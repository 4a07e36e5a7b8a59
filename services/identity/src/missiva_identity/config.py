"""Identity settings: the only reader of the environment."""

from __future__ import annotations

import urllib.parse

from missiva_platform import config as kit_config
from missiva_platform.config import ConfigError

# OWASP (ASVS 5.0 / Password Storage Cheat Sheet) minimum for argon2id.
ARGON2_MIN_MEMORY_KIB = 19 * 1024
ARGON2_MIN_TIME_COST = 2


def _check_http_url(variable: str, value: str | None) -> None:
    if value is None:
        return
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(variable, "must be an http(s):// URL")


# The kit's base is imported by module: the settings class must be the only *Settings name here.
class IdentitySettings(kit_config.ServiceSettings, frozen=True, kw_only=True):  # type: ignore[call-arg]
    """Everything identity reads from the environment (see the README's configuration reference).

    The environment cannot weaken the password hash below the ASVS minimum (``validate``
    refuses it); tests build the struct in code to use cheaper parameters where they do not
    test the parameters themselves.
    """

    jwt_signing_keys_file: str | None = None
    access_token_ttl_seconds: int = 600
    service_token_ttl_seconds: int = 600
    refresh_token_ttl_seconds: int = 24 * 3600
    remember_me_ttl_seconds: int = 30 * 24 * 3600
    signing_key_grace_seconds: int = 300
    # A new key is published this long before it signs, so every service's cached JWKS
    # (JWKS_CACHE_SECONDS, 300 by default) already holds it when its first token arrives.
    signing_key_publish_seconds: int = 360
    signing_keys_reload_seconds: float = 30.0
    reauth_window_seconds: int = 300
    argon2_memory_kib: int = ARGON2_MIN_MEMORY_KIB
    argon2_time_cost: int = ARGON2_MIN_TIME_COST
    argon2_parallelism: int = 1
    argon2_max_concurrency: int = 4
    pwned_passwords_url: str | None = None
    pwned_passwords_timeout_seconds: float = 3.0
    challenge_verify_url: str | None = None
    challenge_secret_file: str | None = None
    login_challenge_after_failures: int = 5
    login_max_failures_per_hour: int = 100
    login_max_failures_per_ip_per_hour: int = 1000
    login_delay_base_seconds: float = 1.0
    login_delay_max_seconds: float = 60.0
    required_legal_documents: str = "terms,privacy"
    # The consent service's account for Missiva's own documents (its PLATFORM_ACCOUNT_ID).
    platform_account_id: str = "platform"
    public_base_url: str = "http://127.0.0.1:8080"
    audit_retention_days: int = 365
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret_file: str | None = None
    oidc_redirect_uris: str = ""
    oidc_scopes: str = "openid email profile"

    @property
    def required_documents(self) -> tuple[str, ...]:
        return tuple(d.strip() for d in self.required_legal_documents.split(",") if d.strip())

    @property
    def max_token_ttl_seconds(self) -> int:
        return max(self.access_token_ttl_seconds, self.service_token_ttl_seconds)

    def validate(self) -> None:
        super().validate()
        if self.argon2_memory_kib < ARGON2_MIN_MEMORY_KIB:
            raise ConfigError("ARGON2_MEMORY_KIB", f"must be at least {ARGON2_MIN_MEMORY_KIB}")
        if self.argon2_time_cost < ARGON2_MIN_TIME_COST:
            raise ConfigError("ARGON2_TIME_COST", f"must be at least {ARGON2_MIN_TIME_COST}")
        if self.argon2_parallelism < 1:
            raise ConfigError("ARGON2_PARALLELISM", "must be at least 1")
        if self.argon2_max_concurrency < 1:
            raise ConfigError("ARGON2_MAX_CONCURRENCY", "must be at least 1")
        for variable, seconds in (
            ("ACCESS_TOKEN_TTL_SECONDS", self.access_token_ttl_seconds),
            ("SERVICE_TOKEN_TTL_SECONDS", self.service_token_ttl_seconds),
            ("REFRESH_TOKEN_TTL_SECONDS", self.refresh_token_ttl_seconds),
            ("REMEMBER_ME_TTL_SECONDS", self.remember_me_ttl_seconds),
        ):
            if not 60 <= seconds <= 400 * 86400:
                raise ConfigError(variable, "must be between 60 seconds and 400 days")
        if self.access_token_ttl_seconds > 3600:
            raise ConfigError("ACCESS_TOKEN_TTL_SECONDS", "must be at most 3600 (short-lived)")
        if self.login_challenge_after_failures < 1:
            raise ConfigError("LOGIN_CHALLENGE_AFTER_FAILURES", "must be at least 1")
        if not 1 <= self.login_max_failures_per_hour <= 100:
            raise ConfigError("LOGIN_MAX_FAILURES_PER_HOUR", "must be between 1 and 100")
        if self.audit_retention_days < 1:
            raise ConfigError("AUDIT_RETENTION_DAYS", "must be at least 1")
        _check_http_url("PWNED_PASSWORDS_URL", self.pwned_passwords_url)
        _check_http_url("CHALLENGE_VERIFY_URL", self.challenge_verify_url)
        _check_http_url("PUBLIC_BASE_URL", self.public_base_url)
        _check_http_url("OIDC_ISSUER", self.oidc_issuer)
        if self.challenge_verify_url and not self.challenge_secret_file:
            raise ConfigError("CHALLENGE_SECRET_FILE", "is required with CHALLENGE_VERIFY_URL")
        if self.oidc_issuer and not self.oidc_client_id:
            raise ConfigError("OIDC_CLIENT_ID", "is required with OIDC_ISSUER")
