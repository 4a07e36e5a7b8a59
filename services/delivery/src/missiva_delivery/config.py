"""Delivery settings: the only reader of the environment."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse

# The kit module, not its names: the contract tests pick this module's *Settings class.
import missiva_platform.config as kit

_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def dns_resolver_address(value: str) -> tuple[str, int]:
    """``DNS_RESOLVER`` as (IP address, port): ``host:port`` or ``[v6]:port``, port 53 if
    not given."""
    host, port = value, 53
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise kit.ConfigError("DNS_RESOLVER", "must be host:port")
            port = int(rest[1:])
    elif value.count(":") == 1:
        host, _, text = value.partition(":")
        if not text.isdigit():
            raise kit.ConfigError("DNS_RESOLVER", "must be host:port with a numeric port")
        port = int(text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise kit.ConfigError("DNS_RESOLVER", "must name the resolver by IP address") from None
    if not 0 < port < 65536:
        raise kit.ConfigError("DNS_RESOLVER", "has a port outside 1..65535")
    return host, port


class DeliverySettings(kit.ServiceSettings, frozen=True, kw_only=True):  # type: ignore[call-arg]
    """Everything delivery reads from the environment (see the README's configuration reference)."""

    # Where mail goes: smtp://[user:password@]host:port (STARTTLS when offered) or smtps://
    # (implicit TLS). The embedded platform points it at its SMTP sink.
    smtp_url: str = "smtp://127.0.0.1:25"
    smtp_timeout_seconds: float = 30.0
    # Envelope sender and From header of transactional mail.
    mail_from_address: str = "no-reply@missiva.localhost"
    mail_from_name: str = "Missiva"
    # The domain part of generated Message-IDs.
    message_id_domain: str = "missiva.localhost"
    # Retries: a 4xx reply or a connection failure defers the message for
    # retry_base_seconds, doubling up to retry_max_seconds; it fails once it has been
    # trying for give_up_after_hours.
    retry_base_seconds: float = 60.0
    retry_max_seconds: float = 3600.0
    give_up_after_hours: float = 72.0
    # A message claimed for sending whose claim is older than this was in flight when its
    # sender died: it is sent again (same Message-ID) and counted as a resend.
    claim_stale_seconds: float = 300.0
    # The sender loop: messages claimed per round, and how often it looks when idle.
    sender_batch_size: int = 20
    sender_poll_seconds: float = 0.5
    send_log_days: int = 90
    # Inbound (bounces and complaints, see inbound.py): the SMTP server for the bounce domain
    # (0: none in this process), the VERP return-path domain it accepts mail for, its caps.
    inbound_smtp_port: int = 0
    bounce_domain: str = "bounces.missiva.localhost"
    inbound_max_message_bytes: int = 10 * 1024 * 1024
    inbound_max_recipients: int = 10
    inbound_max_sessions: int = 100
    inbound_timeout_seconds: float = 60.0
    # This many soft bounces in a row for one address make it a hard bounce; a message sent
    # longer than the grace ago without a bounce breaks the row.
    soft_bounce_limit: int = 3
    soft_bounce_grace_hours: float = 24.0
    # The reputation guard (reputation.py): per campaign, over the messages sent in the last
    # window (and since its last alert), with at least min_sent of them.
    reputation_bounce_rate: float = 0.05
    reputation_complaint_rate: float = 0.003
    reputation_min_sent: int = 200
    reputation_window_hours: float = 24.0
    # Provider webhooks (webhooks.py): the shared HMAC secret (a file), how old a signed
    # timestamp may be, and how long the received events are kept.
    provider_webhook_secret_file: str = ""
    provider_webhook_tolerance_seconds: int = 300
    provider_events_days: int = 548
    # Sender domains. DNS_RESOLVER is host:port of the resolver that verification asks
    # (empty: the system's); `missiva up` points it at its loopback DNS server, whose zone
    # file DNS_ZONE_FILE `publish-dns` writes.
    dns_resolver: str = ""
    dns_zone_file: str = ""
    dns_timeout_seconds: float = 5.0
    # The return path of a sender domain is <RETURN_PATH_LABEL>.<domain>: an MX to
    # BOUNCE_MX_HOST (our inbound SMTP server) and an SPF record including SPF_INCLUDE.
    return_path_label: str = "bounces"
    bounce_mx_host: str = "mx.missiva.localhost"
    spf_include: str = "_spf.missiva.localhost"
    # A superseded DKIM key stays published (and stored) this long: mail it signed is older.
    dkim_retire_after_days: int = 7

    def validate(self) -> None:
        super().validate()
        self.validate_feedback()
        parsed = urllib.parse.urlsplit(self.smtp_url)
        if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
            raise kit.ConfigError("SMTP_URL", "must be an smtp:// or smtps:// URL with a host")
        try:
            _ = parsed.port
        except ValueError:
            raise kit.ConfigError("SMTP_URL", "has an invalid port") from None
        if not self.field_keys_file:
            raise kit.ConfigError("FIELD_KEYS_FILE", "is required: addresses are stored encrypted")
        if "@" not in self.mail_from_address:
            raise kit.ConfigError("MAIL_FROM_ADDRESS", "must be an email address")
        positive = {
            "SMTP_TIMEOUT_SECONDS": self.smtp_timeout_seconds,
            "RETRY_BASE_SECONDS": self.retry_base_seconds,
            "RETRY_MAX_SECONDS": self.retry_max_seconds,
            "GIVE_UP_AFTER_HOURS": self.give_up_after_hours,
            "CLAIM_STALE_SECONDS": self.claim_stale_seconds,
            "SENDER_BATCH_SIZE": self.sender_batch_size,
            "SENDER_POLL_SECONDS": self.sender_poll_seconds,
            "SEND_LOG_DAYS": self.send_log_days,
            "DNS_TIMEOUT_SECONDS": self.dns_timeout_seconds,
            "DKIM_RETIRE_AFTER_DAYS": self.dkim_retire_after_days,
        }
        for variable, value in positive.items():
            if value <= 0:
                raise kit.ConfigError(variable, "must be positive")
        if self.dns_resolver:
            dns_resolver_address(self.dns_resolver)
        for variable, host in (("BOUNCE_MX_HOST", self.bounce_mx_host),
                               ("SPF_INCLUDE", self.spf_include),
                               ("RETURN_PATH_LABEL", self.return_path_label)):  # fmt: skip
            labels = host.split(".")
            if not host.isascii() or not all(_LABEL.fullmatch(x) for x in labels):
                raise kit.ConfigError(variable, "must be an ASCII host name")
        if self.retry_max_seconds < self.retry_base_seconds:
            raise kit.ConfigError("RETRY_MAX_SECONDS", "must be at least RETRY_BASE_SECONDS")

    def validate_feedback(self) -> None:
        if not 0 <= self.inbound_smtp_port <= 65535:
            raise kit.ConfigError("INBOUND_SMTP_PORT", "must be a port number (0: no server)")
        if self.inbound_smtp_port and not self.token_keyring_file:
            raise kit.ConfigError("TOKEN_KEYRING_FILE", "is required to read VERP return paths")
        if "." not in self.bounce_domain or "@" in self.bounce_domain:
            raise kit.ConfigError("BOUNCE_DOMAIN", "must be a domain name")
        positive = {
            "INBOUND_MAX_MESSAGE_BYTES": self.inbound_max_message_bytes,
            "INBOUND_MAX_RECIPIENTS": self.inbound_max_recipients,
            "INBOUND_MAX_SESSIONS": self.inbound_max_sessions,
            "INBOUND_TIMEOUT_SECONDS": self.inbound_timeout_seconds,
            "SOFT_BOUNCE_LIMIT": self.soft_bounce_limit,
            "SOFT_BOUNCE_GRACE_HOURS": self.soft_bounce_grace_hours,
            "REPUTATION_MIN_SENT": self.reputation_min_sent,
            "REPUTATION_WINDOW_HOURS": self.reputation_window_hours,
            "PROVIDER_WEBHOOK_TOLERANCE_SECONDS": self.provider_webhook_tolerance_seconds,
            "PROVIDER_EVENTS_DAYS": self.provider_events_days,
        }
        for variable, value in positive.items():
            if value <= 0:
                raise kit.ConfigError(variable, "must be positive")
        for variable, rate in (
            ("REPUTATION_BOUNCE_RATE", self.reputation_bounce_rate),
            ("REPUTATION_COMPLAINT_RATE", self.reputation_complaint_rate),
        ):
            if not 0 < rate < 1:
                raise kit.ConfigError(variable, "must be a fraction between 0 and 1")
