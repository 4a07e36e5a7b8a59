"""What the RPCs, the command consumer and the sender share: the pool, settings, the field
cipher for addresses and variables, the templates, and queueing a transactional message."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from missiva_delivery import batches, domain, tracking
from missiva_delivery.campaign_mail import CampaignMail
from missiva_delivery.campaign_render import Links, RenderCache
from missiva_delivery.config import DeliverySettings
from missiva_delivery.dkim import DkimKey
from missiva_delivery.domain import SendRequest, Status
from missiva_delivery.signing import FileKeys, Signing, first_of, load_keys_file, no_keys
from missiva_delivery.store import campaigns, holds, messages, suppressions
from missiva_delivery.store import domains as domains_store
from missiva_delivery.templates import Templates
from missiva_delivery.verp import Verp
from missiva_platform.crypto import FieldCipher, TokenKeyring
from missiva_platform.secrets import load_email_hasher, load_field_cipher, load_token_keyring

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from missiva_platform.service import ServiceApp


def _aad(message_id: str, what: str) -> str:
    return f"delivery:{what}:{message_id}"


class DeliveryCore:
    def __init__(self, app: ServiceApp, *, templates: Templates | None = None) -> None:
        self.app = app
        settings = app.settings
        assert isinstance(settings, DeliverySettings)
        self.settings = settings
        self.templates = templates or Templates()
        self._cipher: FieldCipher | None = None
        self._hasher: Any = None
        self._keyring: TokenKeyring | None = None
        self._mail: CampaignMail | None = None
        self.renders = RenderCache(
            settings.render_cache_size, public_base_url=settings.public_base_url
        )
        # View online for a person who does not allow tracking: the template's own links.
        self.plain_renders = RenderCache(
            settings.render_cache_size, public_base_url=settings.public_base_url, track=False
        )
        files = (
            FileKeys(load_keys_file(settings.dkim_keys_file))
            if settings.dkim_keys_file
            else no_keys
        )
        source = first_of(self.domain_keys, files)
        self.signing = Signing(source, ttl=settings.dkim_signer_ttl_seconds)
        self.queued = asyncio.Event()  # set when this process queued a message: send now
        self.hooks_queued = asyncio.Event()  # set when a webhook delivery was queued
        self.feedback: Any = None  # feedback.Feedback (bounces, complaints), set by build()

    def wake(self) -> None:
        self.queued.set()

    def hooks_wake(self) -> None:
        self.hooks_queued.set()

    @property
    def pool(self) -> AsyncConnectionPool:
        assert self.app.pool is not None, "the app is not started"
        return self.app.pool

    @property
    def cipher(self) -> FieldCipher:
        if self._cipher is None:
            if self.settings.field_keys_file:
                self._cipher = load_field_cipher(self.settings.field_keys_file)
            else:
                # Only settings built in code get here (``validate``, which every process
                # runs, requires FIELD_KEYS_FILE): a key that lives as long as this object.
                self._cipher = FieldCipher.generate()
        return self._cipher

    def person_key_of(self, address: str) -> str:
        """The person key of ``address`` for a caller that cannot compute it (an API key
        through the REST API); "" without ``EMAIL_HASH_KEY_FILE`` or for a non-address (the
        request's own checks then name the field)."""
        if self._hasher is None and self.settings.email_hash_key_file:
            self._hasher = load_email_hasher(self.settings.email_hash_key_file)
        if self._hasher is None:
            return ""
        try:
            return str(self._hasher.person_key(address))
        except ValueError:
            return ""

    async def domain_keys(self, tenant_id: str, domain: str) -> list[DkimKey]:
        """The verified sender domain's own keys: the From domain's, else its closest parent
        domain's that the account registered (relaxed DMARC alignment)."""
        labels = domain.lower().split(".")
        async with self.pool.connection() as conn:
            for start in range(len(labels) - 1):
                keys = await domains_store.signing_keys(
                    conn, tenant_id, ".".join(labels[start:]), cipher=self.cipher
                )
                if keys:
                    return keys
        return []

    @property
    def keyring(self) -> TokenKeyring:
        if self._keyring is None:
            if self.settings.token_keyring_file:
                self._keyring = load_token_keyring(self.settings.token_keyring_file)
            else:  # settings built in code only (``validate`` requires the file)
                self._keyring = TokenKeyring.generate()
        return self._keyring

    @property
    def tracking_tokens(self) -> tracking.Tokens:
        return self.campaign_mail.tracker.tokens

    @property
    def campaign_mail(self) -> CampaignMail:
        if self._mail is None:
            s = self.settings
            self._mail = CampaignMail(
                links=Links(self.keyring, s.public_base_url, timedelta(days=s.link_token_days)),
                verp=Verp(self.keyring, s.bounce_domain),
                list_id_domain=s.list_id_domain,
                feedback_sender_id=s.feedback_sender_id,
            )
        return self._mail

    # -- sealing ---------------------------------------------------------------------------

    def seal_address(self, message_id: str, address: str) -> bytes:
        return self.cipher.encrypt(address, _aad(message_id, "to"))

    def open_address(self, message_id: str, blob: bytes) -> str:
        return self.cipher.decrypt(bytes(blob), _aad(message_id, "to")).decode()

    def seal_payload(self, message_id: str, name: str, variables: dict[str, str]) -> bytes:
        document = json.dumps({"to_name": name, "variables": variables}, ensure_ascii=False)
        return self.cipher.encrypt(document, _aad(message_id, "payload"))

    def open_payload(self, message_id: str, blob: bytes) -> dict[str, Any]:
        opened: dict[str, Any] = json.loads(
            self.cipher.decrypt(bytes(blob), _aad(message_id, "payload"))
        )
        return opened

    # -- queueing --------------------------------------------------------------------------

    async def queue(
        self, conn: Any, tenant_id: str, send: SendRequest
    ) -> tuple[dict[str, Any], bool]:
        """The ledger row of ``send`` for ``tenant_id``, inserted once per idempotency key.

        Non-SYSTEM mail to a suppressed person is recorded as SUPPRESSED and never sent;
        SYSTEM mail is stopped only by a hard bounce (checked again right before sending)."""
        message_id = domain.new_message_id()
        reason = await suppressions.reason_for(conn, send.person_key, tenant_id)
        blocked = domain.suppressed_by(reason, send.category)
        row = messages.NewMessage(
            id=message_id,
            tenant_id=tenant_id,
            idempotency_key=send.idempotency_key,
            lane=domain.LANE_TRANSACTIONAL,
            priority=send.priority,
            category=send.category,
            template_key=send.template_key,
            locale=send.locale,
            person_key=send.person_key,
            requested_by=send.requested_by,
            to_address_enc=None if blocked else self.seal_address(message_id, send.to_address),
            payload_enc=None
            if blocked
            else self.seal_payload(message_id, send.to_name, send.variables),
            rfc822_message_id=domain.rfc822_message_id(message_id, self.settings.message_id_domain),
            status=Status.SUPPRESSED if blocked else Status.QUEUED,
            failure_reason=f"the address is suppressed ({reason})" if blocked else "",
        )
        return await messages.insert(conn, row, "queued" if not blocked else "")

    async def record_refused(
        self, conn: Any, tenant_id: str, idempotency_key: str, person_key: str,
        template_key: str, category: int, reason: str,
    ) -> tuple[dict[str, Any], bool]:  # fmt: skip
        """A command delivery could not accept (bad address, unknown category...): a FAILED
        row with the reason, so ``GetMessageStatus`` tells what happened."""
        message_id = domain.new_message_id()
        row = messages.NewMessage(
            id=message_id,
            tenant_id=tenant_id,
            idempotency_key=idempotency_key[: domain.MAX_KEY],
            lane=domain.LANE_TRANSACTIONAL,
            priority=domain.PRIORITY_TRANSACTIONAL,
            category=category if category > 0 else 0,
            template_key=template_key[: domain.MAX_TEMPLATE_KEY],
            locale="en",
            person_key=person_key[:64],
            requested_by="",
            to_address_enc=None,
            payload_enc=None,
            rfc822_message_id=domain.rfc822_message_id(message_id, self.settings.message_id_domain),
            status=Status.FAILED,
            failure_reason=reason,
        )
        return await messages.insert(conn, row)

    # -- campaign batches -------------------------------------------------------------------

    def seal_recipient(self, message_id: str, recipient: batches.Recipient) -> dict[str, Any]:
        fields = recipient.merge_fields
        name = fields.get("display_name") or " ".join(
            p for p in (fields.get("first_name", ""), fields.get("last_name", "")) if p
        )
        document = json.dumps(
            {"to_name": name[: domain.MAX_NAME], "fields": fields,
             "tracking": recipient.engagement_tracking},
            ensure_ascii=False,
        )  # fmt: skip
        return {
            "to_address_enc": self.seal_address(message_id, recipient.email),
            "payload_enc": self.cipher.encrypt(document, _aad(message_id, "payload")),
        }

    async def queue_batch(
        self, conn: Any, tenant_id: str, batch: batches.Batch
    ) -> list[dict[str, Any]]:
        """The ledger rows of ``batch``: one per (campaign, contact), inserted once, whatever
        how often the batch is delivered. Returns the rows created FAILED (refused
        recipients), whose events the caller emits."""
        await campaigns.save_content(conn, tenant_id, batch.content)
        state = (await holds.states(conn, {(tenant_id, batch.campaign_id)})).get(
            (tenant_id, batch.campaign_id), "running"
        )
        rows: list[campaigns.CampaignRow] = []
        refused: list[dict[str, Any]] = []
        for recipient in batch.recipients:
            message_id = domain.new_message_id()
            problem = recipient.problem or (holds.CANCELLED_REASON if state == "cancelled" else "")
            sealed = (
                self.seal_recipient(message_id, recipient)
                if not problem
                else {"to_address_enc": None, "payload_enc": None}
            )
            rows.append(
                campaigns.CampaignRow(
                    id=message_id,
                    idempotency_key=batches.idempotency_key(
                        batch.campaign_id, recipient.contact_id
                    ),
                    contact_id=recipient.contact_id,
                    person_key=recipient.person_key,
                    rfc822_message_id=domain.rfc822_message_id(
                        message_id, self.settings.message_id_domain
                    ),
                    status=str(Status.FAILED if problem else Status.QUEUED),
                    failure_reason=problem,
                    tracking=recipient.engagement_tracking,
                    **sealed,
                )
            )
        inserted = await campaigns.insert_rows(
            conn, tenant_id, batch.content, batch.batch_id, batch.credit_reservation_id, rows,
            held=state == "paused",
        )  # fmt: skip
        failed_ids = {i for i, status in inserted if status == Status.FAILED}
        for row in rows:
            if row.id in failed_ids:
                refused.append(
                    {"id": row.id, "tenant_id": tenant_id, "campaign_id": batch.campaign_id,
                     "batch_id": batch.batch_id, "contact_id": row.contact_id,
                     "person_key": row.person_key, "category": batch.content.category,
                     "attempts": 0, "credit_reservation_id": batch.credit_reservation_id,
                     "failure_reason": row.failure_reason}
                )  # fmt: skip
        return refused
