"""Campaign settings: the only reader of the environment."""

from __future__ import annotations

from missiva_platform import config as kit_config


# The kit's base is imported by module: the settings class must be the only *Settings name here.
class CampaignSettings(kit_config.ServiceSettings, frozen=True, kw_only=True):  # type: ignore[call-arg]
    """Everything campaign reads from the environment (see the README's configuration reference)."""

    # Contacts told about a document change per transaction (one command per batch).
    document_notice_batch_size: int = 500
    # Import rows merged per transaction (one COPY and one merge statement per chunk).
    import_chunk_rows: int = 20000
    # Bytes of one serialized event or command of an import: a chunk's created contacts and its
    # consents are each split into as many messages as this needs (NATS refuses messages over
    # its max_payload, 1 MiB).
    import_message_bytes: int = 512 * 1024
    # Billing's gRPC address (credits are reserved there before a campaign sends).
    billing_target: str | None = None
    # Consent's gRPC address (form submissions start double opt-in there).
    consent_target: str | None = None
    # Forms' optional challenge: a siteverify endpoint (Turnstile / hCaptcha wire format) and
    # the file holding its secret. Empty: forms cannot require a challenge.
    form_challenge_url: str = ""
    form_challenge_secret_file: str | None = None
    # Recipients per SendBatch, and batches handed to delivery per run of the send chain.
    send_batch_size: int = 500
    send_batches_per_run: int = 4

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.document_notice_batch_size <= 5000:
            raise kit_config.ConfigError("DOCUMENT_NOTICE_BATCH_SIZE", "must be between 1 and 5000")
        if not 1 <= self.import_chunk_rows <= 50000:
            raise kit_config.ConfigError("IMPORT_CHUNK_ROWS", "must be between 1 and 50000")
        if not 1024 <= self.import_message_bytes <= 768 * 1024:
            raise kit_config.ConfigError("IMPORT_MESSAGE_BYTES", "must be between 1024 and 786432")
        if not 1 <= self.send_batch_size <= 5000:
            raise kit_config.ConfigError("SEND_BATCH_SIZE", "must be between 1 and 5000")
        if not 1 <= self.send_batches_per_run <= 50:
            raise kit_config.ConfigError("SEND_BATCHES_PER_RUN", "must be between 1 and 50")
        if self.form_challenge_url and not self.form_challenge_secret_file:
            raise kit_config.ConfigError(
                "FORM_CHALLENGE_SECRET_FILE", "FORM_CHALLENGE_URL needs the verifier's secret"
            )
        if self.consent_target and not (self.identity_target and self.service_credentials_file):
            raise kit_config.ConfigError(
                "SERVICE_CREDENTIALS_FILE",
                "CONSENT_TARGET needs IDENTITY_TARGET and SERVICE_CREDENTIALS_FILE (the"
                " service token for consent comes from identity)",
            )
        if self.billing_target and not (self.identity_target and self.service_credentials_file):
            raise kit_config.ConfigError(
                "SERVICE_CREDENTIALS_FILE",
                "BILLING_TARGET needs IDENTITY_TARGET and SERVICE_CREDENTIALS_FILE (the"
                " service token for billing comes from identity)",
            )
