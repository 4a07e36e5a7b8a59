"""Typed settings from the environment.

Every service declares its settings as a frozen ``msgspec.Struct``; ``load_settings`` fills it
from environment variables named after the fields (upper-cased, optionally prefixed). A field
whose name ends in ``_file`` holds a path to a secret file. A bad or missing value raises
``ConfigError`` whose message is one line naming the variable; ``load_or_exit`` turns that into
a clean process exit.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

T = TypeVar("T", bound=msgspec.Struct)


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"configuration error: {variable} {problem}")
        self.variable = variable


def env_name(field: str, prefix: str = "") -> str:
    return f"{prefix}{field}".upper()


def load_settings(cls: type[T], env: Mapping[str, str] | None = None, prefix: str = "") -> T:
    """Build ``cls`` from ``env`` (default ``os.environ``), converting strings to field types."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        name = env_name(field.encode_name, prefix)
        if name in env and env[name] != "":
            raw[field.encode_name] = env[name]
        elif field.required:
            raise ConfigError(name, "is required but not set")
    try:
        settings = msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_variable_of(exc, prefix), f"is invalid: {_first_line(exc)}") from None
    validate = getattr(settings, "validate", None)
    if callable(validate):
        validate()
    return settings


def load_or_exit(cls: type[T], env: Mapping[str, str] | None = None, prefix: str = "") -> T:
    """Like ``load_settings`` but prints the one-line error and exits with status 2."""
    try:
        return load_settings(cls, env, prefix)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from None


def _variable_of(exc: msgspec.ValidationError, prefix: str) -> str:
    # msgspec reports the path as "... - at `$.field_name`"
    text = str(exc)
    if "`$." in text:
        field = text.split("`$.", 1)[1].split("`", 1)[0].split("[", 1)[0]
        return env_name(field, prefix)
    return "settings"


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0].split(" - at ", 1)[0]


def check_postgres_url(variable: str, value: str) -> None:
    """Refuse anything that is not a usable postgresql:// URL, naming the variable."""
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("postgresql", "postgres"):
        raise ConfigError(variable, "must be a postgresql:// URL")
    try:
        port = parsed.port
    except ValueError:
        raise ConfigError(variable, "has an invalid port") from None
    if not parsed.hostname and "host=" not in parsed.query:
        raise ConfigError(variable, "must name a host")
    if not parsed.path.strip("/"):
        raise ConfigError(variable, "must name a database")
    if port is not None and not 0 < port < 65536:
        raise ConfigError(variable, "has an invalid port")


def check_nats_url(variable: str, value: str) -> None:
    for url in value.split(","):
        parsed = urllib.parse.urlsplit(url.strip())
        if parsed.scheme not in ("nats", "tls", "nats+tls") or not parsed.hostname:
            raise ConfigError(variable, "must be a nats:// URL (comma-separated for a cluster)")
        try:
            _ = parsed.port
        except ValueError:
            raise ConfigError(variable, "has an invalid port") from None


def read_secret_file(variable: str, path: str) -> bytes:
    """Read a secret file named by ``variable``; a missing file is a ConfigError."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ConfigError(variable, f"points to an unreadable file ({exc.strerror})") from None


class ServiceSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings every domain service has. Services subclass and add their own fields."""

    database_url: str
    nats_url: str = "nats://127.0.0.1:4222"
    bind_host: str = "127.0.0.1"
    grpc_port: int = 50051
    http_port: int = 9090
    log_level: str = "INFO"
    otel_exporter_otlp_endpoint: str | None = None
    identity_target: str | None = None
    jwks_cache_seconds: float = 300.0
    db_pool_min: int = 1
    db_pool_max: int = 10
    shutdown_grace_seconds: float = 10.0
    health_interval_seconds: float = 2.0
    token_keyring_file: str | None = None
    field_keys_file: str | None = None
    email_hash_key_file: str | None = None
    ip_salts_file: str | None = None
    service_credentials_file: str | None = None
    # The largest request message a service accepts; bulk input is streamed in pieces
    # (imports, suppression lists), so one message never needs more.
    grpc_max_receive_bytes: int = 4 * 1024 * 1024

    def validate(self) -> None:
        check_postgres_url("DATABASE_URL", self.database_url)
        if not 64 * 1024 <= self.grpc_max_receive_bytes <= 64 * 1024 * 1024:
            raise ConfigError("GRPC_MAX_RECEIVE_BYTES", "must be between 65536 and 67108864")
        check_nats_url("NATS_URL", self.nats_url)
        for variable, port in (("GRPC_PORT", self.grpc_port), ("HTTP_PORT", self.http_port)):
            if not 0 <= port < 65536:
                raise ConfigError(variable, "must be a port number between 0 and 65535")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("LOG_LEVEL", "must be one of DEBUG, INFO, WARNING, ERROR")
        if self.db_pool_min < 1 or self.db_pool_max < self.db_pool_min:
            raise ConfigError("DB_POOL_MAX", "must be >= DB_POOL_MIN >= 1")
