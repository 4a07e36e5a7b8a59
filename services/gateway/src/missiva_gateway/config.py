"""Gateway settings: the only reader of the environment."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import msgspec

from missiva_platform.config import ConfigError, load_or_exit

BACKENDS = ("identity", "consent", "campaign", "delivery", "billing")


class GatewaySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the gateway reads from the environment.

    The ``*_target`` defaults match ``missiva up`` with its default base port (50050), so a
    gateway started by hand next to an embedded platform finds its backends.
    """

    bind_host: str = "127.0.0.1"
    http_port: int = 8080
    # /metrics (and /healthz, /readyz) on a port of their own, never on the public one.
    metrics_port: int = 9090
    identity_target: str = "127.0.0.1:50051"
    consent_target: str = "127.0.0.1:50052"
    campaign_target: str = "127.0.0.1:50053"
    delivery_target: str = "127.0.0.1:50054"
    billing_target: str = "127.0.0.1:50055"
    log_level: str = "INFO"
    otel_exporter_otlp_endpoint: str | None = None
    smtp_sink_dir: str | None = None
    backend_timeout_seconds: float = 5.0
    readiness_timeout_seconds: float = 1.0
    shutdown_grace_seconds: float = 10.0
    # CIDRs of reverse proxies whose X-Forwarded-For is believed (comma-separated); empty:
    # the client is always the socket peer.
    trusted_proxies: str = ""
    # REST API (missiva_gateway.api): per-key token bucket (per replica), body limits.
    api_rate_per_second: float = 20.0
    api_rate_burst: int = 40
    api_body_max_bytes: int = 1_048_576
    api_import_max_bytes: int = 268_435_456
    api_import_timeout_seconds: float = 900.0
    api_token_refresh_seconds: float = 60.0
    # The web app's limits per client address and replica: POSTs to sign-up, sign-in,
    # verification and reset; GETs of the public pages (per minute).
    web_auth_requests_per_minute: int = 20
    web_public_requests_per_minute: int = 120

    def validate(self) -> None:
        """Refuse unusable values with an error naming the variable."""
        if not 0 <= self.http_port < 65536:
            raise ConfigError("HTTP_PORT", "must be a port number between 0 and 65535")
        if not 0 <= self.metrics_port < 65536:
            raise ConfigError("METRICS_PORT", "must be a port number between 0 and 65535")
        if self.metrics_port and self.metrics_port == self.http_port:
            raise ConfigError("METRICS_PORT", "must differ from HTTP_PORT (metrics stay private)")
        for name in BACKENDS:
            check_target(f"{name.upper()}_TARGET", getattr(self, f"{name}_target"))
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("LOG_LEVEL", "must be one of DEBUG, INFO, WARNING, ERROR")
        for variable, seconds in (
            ("BACKEND_TIMEOUT_SECONDS", self.backend_timeout_seconds),
            ("READINESS_TIMEOUT_SECONDS", self.readiness_timeout_seconds),
        ):
            if seconds <= 0:
                raise ConfigError(variable, "must be a positive number of seconds")
        for variable, number in (
            ("API_RATE_PER_SECOND", self.api_rate_per_second),
            ("API_RATE_BURST", self.api_rate_burst),
            ("API_BODY_MAX_BYTES", self.api_body_max_bytes),
            ("API_IMPORT_MAX_BYTES", self.api_import_max_bytes),
            ("API_IMPORT_TIMEOUT_SECONDS", self.api_import_timeout_seconds),
        ):
            if number <= 0:
                raise ConfigError(variable, "must be a positive number")
        if self.api_token_refresh_seconds < 0:
            raise ConfigError("API_TOKEN_REFRESH_SECONDS", "must not be negative")
        for variable, limit in (
            ("WEB_AUTH_REQUESTS_PER_MINUTE", self.web_auth_requests_per_minute),
            ("WEB_PUBLIC_REQUESTS_PER_MINUTE", self.web_public_requests_per_minute),
        ):
            if limit < 1:
                raise ConfigError(variable, "must be a positive number of requests")
        try:
            parse_networks(self.trusted_proxies)
        except ValueError:
            raise ConfigError(
                "TRUSTED_PROXIES", "must be comma-separated IP addresses or CIDRs"
            ) from None

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``TRUSTED_PROXIES`` parsed (validated at start-up)."""
        return parse_networks(self.trusted_proxies)

    @property
    def targets(self) -> dict[str, str]:
        """Backend name → gRPC ``host:port``, in the platform's order."""
        return {name: getattr(self, f"{name}_target") for name in BACKENDS}


@lru_cache(maxsize=8)
def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``"10.0.0.0/8, 192.0.2.1"`` → networks (a bare address is a /32 or /128)."""
    return tuple(
        ipaddress.ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip()
    )


def check_target(variable: str, value: str) -> None:
    """A gRPC target must be ``host:port`` (or a ``dns:``/``unix:`` URI gRPC understands)."""
    if value.startswith(("dns:", "unix:", "ipv4:", "ipv6:")):
        return
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(variable, "must be host:port")


def load() -> GatewaySettings:
    """Read the settings once at start-up; a bad value exits with a one-line error."""
    return load_or_exit(GatewaySettings)
