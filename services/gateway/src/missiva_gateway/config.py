"""Gateway settings: the only reader of the environment."""

from __future__ import annotations

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

    def validate(self) -> None:
        """Refuse unusable values with an error naming the variable."""
        if not 0 <= self.http_port < 65536:
            raise ConfigError("HTTP_PORT", "must be a port number between 0 and 65535")
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

    @property
    def targets(self) -> dict[str, str]:
        """Backend name → gRPC ``host:port``, in the platform's order."""
        return {name: getattr(self, f"{name}_target") for name in BACKENDS}


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
