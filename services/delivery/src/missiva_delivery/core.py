"""What the RPCs, the command consumer and the sender share: the pool, settings, the field
cipher for addresses and variables, the templates, and queueing a transactional message."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from missiva_delivery import domain
from missiva_delivery.config import DeliverySettings
from missiva_delivery.domain import SendRequest, Status
from missiva_delivery.store import messages, suppressions
from missiva_delivery.templates import Templates
from missiva_platform.crypto import FieldCipher
from missiva_platform.secrets import load_field_cipher

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
        self.queued = asyncio.Event()  # set when this process queued a message: send now
        self.feedback: Any = None  # feedback.Feedback (bounces, complaints), set by build()

    def wake(self) -> None:
        self.queued.set()

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
