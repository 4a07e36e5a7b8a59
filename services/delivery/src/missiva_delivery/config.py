"""Delivery settings: the only reader of the environment."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import TYPE_CHECKING

# The kit module, not its names: the contract tests pick this module's *Settings class.
import missiva_platform.config as kit

if TYPE_CHECKING:
    from missiva_delivery.transport import LimitSettings

_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$){_HOST_LABEL}(?:\.{_HOST_LABEL})+$")
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
    # -- the SMTP transport -----------------------------------------------------------------
    # Connections kept open to the relay, each reused for many messages.
    smtp_pool_size: int = 4
    # Messages per second over all destinations (0: no limit), and per destination domain
    # (the recipient's domain) a rate and a cap on messages in flight (0: no limit).
    smtp_global_rate: float = 0.0
    smtp_domain_rate: float = 0.0
    smtp_domain_concurrency: int = 8
    # A JSON file of limits that replaces the three above while the service runs, read every
    # SMTP_LIMITS_REFRESH_SECONDS (see the README): {"global_rate": 500, "per_domain":
    # {"rate": 50, "concurrency": 4}, "domains": {"gmail.com": {"rate": 200}}}.
    smtp_limits_file: str | None = None
    smtp_limits_refresh_seconds: float = 5.0
    # The fallback alert: when every attempt has failed (no connection, or 421) for
    # ALERT_AFTER_SECONDS, a JSON POST without personal data goes to ALERT_WEBHOOK_URL,
    # looked at every ALERT_CHECK_SECONDS.
    alert_webhook_url: str | None = None
    alert_after_seconds: float = 300.0
    alert_check_seconds: float = 10.0
    # -- the campaign lane ------------------------------------------------------------------
    # Envelope senders are VERP addresses bounce+<token>@BOUNCE_DOMAIN (the inbound server
    # for that domain finds the ledger row of a bounce); also the unsubscribe mailto.
    bounce_domain: str = "bounces.missiva.localhost"
    # Where the links in mail lead (the gateway's unsubscribe and preference pages).
    public_base_url: str = "http://127.0.0.1:8080"
    # Lifetime of the signed unsubscribe and preference tokens in campaign mail (consent's
    # LINK_TOKEN_DAYS for the same pages).
    link_token_days: int = 730
    # The domain of List-Id values and the sender id in Feedback-ID.
    list_id_domain: str = "lists.missiva.localhost"
    feedback_sender_id: str = "missiva"
    # Campaign rows claimed per round (the suppression replica is read once per round).
    campaign_batch_size: int = 200
    # The platform's DKIM keys (JSON list of {"domain", "selector", "algorithm",
    # "private_key_pem"}): campaign mail from those domains (or subdomains) is signed with
    # every key of its domain (RSA and Ed25519). Signers are rebuilt after DKIM_SIGNER_TTL.
    dkim_keys_file: str | None = None
    dkim_signer_ttl_seconds: float = 300.0
    # The suppression replica is read again before each slice of this many campaign rows
    # (an unsubscribe stops a message of a running campaign within a second).
    suppression_check_size: int = 32
    # Compiled campaign templates kept (one per campaign revision being sent).
    render_cache_size: int = 64
    # Inbound (bounces and complaints, see inbound.py): the SMTP server for the bounce domain
    # (0: none in this process; it accepts mail for BOUNCE_DOMAIN above) and its caps.
    inbound_smtp_port: int = 0
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
    # Tracking (tracking.py): personal opens and clicks, counters and link sets are kept
    # this long (18 months).
    engagement_days: int = 548
    # View online (online.py): a sent campaign message's merge data is kept this long after
    # the send, for its /v/<token> page (at most SEND_LOG_DAYS: it goes with its ledger row).
    view_online_days: int = 30
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
    # -- outbound webhooks (hooks_*.py) -----------------------------------------------------
    # An attempt's time limit; the retry schedule (WEBHOOK_RETRY_BASE_SECONDS doubling up to
    # WEBHOOK_RETRY_MAX_SECONDS, failed once the delivery is WEBHOOK_GIVE_UP_AFTER_HOURS
    # old); an endpoint that has failed every attempt for WEBHOOK_DISABLE_AFTER_HOURS is
    # disabled. A rotated secret keeps signing for WEBHOOK_SECRET_OVERLAP_HOURS.
    webhook_timeout_seconds: float = 10.0
    webhook_retry_base_seconds: float = 30.0
    webhook_retry_max_seconds: float = 6 * 3600.0
    webhook_give_up_after_hours: float = 24.0
    webhook_disable_after_hours: float = 72.0
    webhook_secret_overlap_hours: float = 24.0
    webhook_delivery_days: int = 30
    # The worker: deliveries claimed per round (sent concurrently), how often it looks when
    # idle, and when a claim is old enough to be a stopped worker's.
    webhook_batch_size: int = 16
    webhook_poll_seconds: float = 1.0
    webhook_claim_stale_seconds: float = 120.0
    # SSRF guard: endpoints are https:// and every address they resolve to must be public.
    # True admits http:// and https:// to loopback hosts (127.0.0.1, ::1, localhost): for
    # the embedded platform (`missiva up`) and tests only, never in production.
    webhook_allow_loopback_http: bool = False

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
        if not self.token_keyring_file:
            raise kit.ConfigError(
                "TOKEN_KEYRING_FILE", "is required: campaign mail carries signed unsubscribe links"
            )
        if not self.public_base_url.startswith(("http://", "https://")):
            raise kit.ConfigError("PUBLIC_BASE_URL", "must be an http:// or https:// URL")
        for variable, name in (("BOUNCE_DOMAIN", self.bounce_domain),
                               ("LIST_ID_DOMAIN", self.list_id_domain)):  # fmt: skip
            if not _DOMAIN.fullmatch(name):
                raise kit.ConfigError(variable, "must be a domain name")
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
            "VIEW_ONLINE_DAYS": self.view_online_days,
            "LINK_TOKEN_DAYS": self.link_token_days,
            "CAMPAIGN_BATCH_SIZE": self.campaign_batch_size,
            "RENDER_CACHE_SIZE": self.render_cache_size,
            "SUPPRESSION_CHECK_SIZE": self.suppression_check_size,
            "SMTP_POOL_SIZE": self.smtp_pool_size,
            "SMTP_LIMITS_REFRESH_SECONDS": self.smtp_limits_refresh_seconds,
            "ALERT_AFTER_SECONDS": self.alert_after_seconds,
            "ALERT_CHECK_SECONDS": self.alert_check_seconds,
            "DNS_TIMEOUT_SECONDS": self.dns_timeout_seconds,
            "DKIM_RETIRE_AFTER_DAYS": self.dkim_retire_after_days,
            "WEBHOOK_TIMEOUT_SECONDS": self.webhook_timeout_seconds,
            "WEBHOOK_RETRY_BASE_SECONDS": self.webhook_retry_base_seconds,
            "WEBHOOK_RETRY_MAX_SECONDS": self.webhook_retry_max_seconds,
            "WEBHOOK_GIVE_UP_AFTER_HOURS": self.webhook_give_up_after_hours,
            "WEBHOOK_DISABLE_AFTER_HOURS": self.webhook_disable_after_hours,
            "WEBHOOK_SECRET_OVERLAP_HOURS": self.webhook_secret_overlap_hours,
            "WEBHOOK_DELIVERY_DAYS": self.webhook_delivery_days,
            "WEBHOOK_BATCH_SIZE": self.webhook_batch_size,
            "WEBHOOK_POLL_SECONDS": self.webhook_poll_seconds,
            "WEBHOOK_CLAIM_STALE_SECONDS": self.webhook_claim_stale_seconds,
        }
        for variable, value in positive.items():
            if value <= 0:
                raise kit.ConfigError(variable, "must be positive")
        if self.view_online_days > self.send_log_days:
            raise kit.ConfigError("VIEW_ONLINE_DAYS", "must be at most SEND_LOG_DAYS")
        rates = {
            "SMTP_GLOBAL_RATE": self.smtp_global_rate,
            "SMTP_DOMAIN_RATE": self.smtp_domain_rate,
            "SMTP_DOMAIN_CONCURRENCY": self.smtp_domain_concurrency,
        }
        for variable, value in rates.items():
            if value < 0:
                raise kit.ConfigError(variable, "must be 0 (no limit) or more")
        if self.alert_webhook_url and not self.alert_webhook_url.startswith(
            ("http://", "https://")
        ):
            raise kit.ConfigError("ALERT_WEBHOOK_URL", "must be an http:// or https:// URL")
        if self.dkim_keys_file:
            from missiva_delivery.signing import load_keys_file

            try:
                load_keys_file(self.dkim_keys_file)
            except (OSError, ValueError) as exc:
                raise kit.ConfigError("DKIM_KEYS_FILE", str(exc)) from None
        if self.smtp_limits_file:
            from missiva_delivery.transport import load_limits

            try:
                load_limits(self.smtp_limits_file, self.limit_settings())
            except (OSError, ValueError) as exc:
                raise kit.ConfigError("SMTP_LIMITS_FILE", str(exc)) from None
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
        if self.webhook_retry_max_seconds < self.webhook_retry_base_seconds:
            raise kit.ConfigError(
                "WEBHOOK_RETRY_MAX_SECONDS", "must be at least WEBHOOK_RETRY_BASE_SECONDS"
            )

    def limit_settings(self) -> LimitSettings:
        """The transport's limits from these settings (before any SMTP_LIMITS_FILE)."""
        from missiva_delivery.transport import DomainLimit, LimitSettings

        return LimitSettings(
            global_rate=self.smtp_global_rate,
            per_domain=DomainLimit(
                rate=self.smtp_domain_rate, concurrency=self.smtp_domain_concurrency
            ),
        )

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
