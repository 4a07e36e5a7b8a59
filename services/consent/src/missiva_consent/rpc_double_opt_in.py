"""Double opt-in: start, confirm (the emailed link), resend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import domain, links
from missiva_consent.core import DOI_SOURCES, PENDING_LIFETIME, utc_now
from missiva_consent.domain import Action, Change, Evidence, Reason, Source
from missiva_consent.rpc_base import ConsentRpcs
from missiva_consent.store import base as db
from missiva_consent.store import double_opt_ins as doi_store
from missiva_consent.store import purposes as purpose_store
from missiva_consent.store import suppressions as suppression_store
from missiva_platform.auth import current_tenant
from missiva_platform.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted


class DoubleOptInRpcs(ConsentRpcs):
    async def StartDoubleOptIn(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        if not request.person.HasField("email") or not request.person.email.strip():
            raise InvalidArgument.field("person.email", "is required: the confirmation goes there")
        person_key, email = self.svc.person_key(request.person)
        assert email is not None
        refs = db.unique(
            [*([request.purpose_id] if request.purpose_id else []), *request.purpose_ids]
        )
        if not refs:
            raise InvalidArgument.field("purpose_ids", "name at least one purpose")
        if len(refs) > 20:
            raise InvalidArgument.field("purpose_ids", "at most 20 purposes")
        locale = domain.check_locale(request.locale)
        domain.check_text(request.display_name, "display_name", limit=200)
        now = utc_now()
        evidence = self.svc.evidence(
            request.evidence, allowed=DOI_SOURCES, account_id=account, now=now, grant=True
        )
        if not evidence.checkbox_text.strip():
            raise InvalidArgument.field("evidence.checkbox_text", "the text shown is the proof")

        async def work(conn: db.Conn) -> pb.StartDoubleOptInResponse:
            purposes = []
            for index, ref in enumerate(refs):
                purpose = await self.svc.purpose(conn, account, ref, f"purpose_ids[{index}]")
                if not purpose.changeable or not purpose.active:
                    raise FailedPrecondition(f"{purpose.name} cannot be subscribed to")
                purposes.append(purpose)
            blocked = [
                e for e in await suppression_store.suppressions_of_person(conn, account, person_key)
                if e.reason in (Reason.HARD_BOUNCE, Reason.COMPLAINT)
            ]  # fmt: skip
            if blocked:
                raise FailedPrecondition(
                    "this address cannot be mailed (it bounced or reported spam)",
                    [("ADDRESS_SUPPRESSED", "person", str(blocked[0].reason))],
                )
            sent = await doi_store.confirmation_sends_since(
                conn, account, person_key, now - timedelta(days=1)
            )
            if sent >= self.svc.settings.confirmation_max_per_day:
                raise ResourceExhausted("too many confirmation emails to this address today")
            expires = now + timedelta(days=self.svc.settings.confirmation_link_days)
            row: dict[str, Any] = {
                "confirmation_id": domain.new_id(),
                "account_id": account,
                "person_key": person_key,
                "email": email,
                "to_name": request.display_name.strip() or None,
                "purpose_ids": [p.purpose_id for p in purposes],
                "source": str(evidence.source),
                "source_detail": evidence.source_detail,
                "checkbox_text": evidence.checkbox_text,
                "document_id": evidence.document_id,
                "document_version": evidence.document_version,
                "ip_hash": evidence.ip_hash,
                "user_agent": evidence.user_agent,
                "locale": locale,
                "started_at": evidence.occurred_at or now,
                "link_expires_at": expires,
            }
            await doi_store.insert_double_opt_in(conn, row)
            await self.svc.queue_confirmation(conn, row, [p.name for p in purposes], expires)
            records = [domain.pending_record(p, person_key, evidence, now) for p in purposes]
            reply = pb.StartDoubleOptInResponse(
                confirmation_id=row["confirmation_id"], record=records[0], records=records
            )
            reply.expires_at.FromDatetime(expires)
            return reply

        return await self._once("StartDoubleOptIn", request, pb.StartDoubleOptInResponse, work)

    async def ConfirmDoubleOptIn(self, request: Any, context: Any) -> Any:
        claims = self.svc.verify_token(request.token, links.CONFIRM)
        account, confirmation_id = str(claims.get("a", "")), str(claims.get("d", ""))
        now = utc_now()
        async with self.pool.connection() as conn, conn.transaction():
            row = await doi_store.lock_double_opt_in(conn, account, confirmation_id)
            if row is None:
                raise FailedPrecondition(
                    "this confirmation link has expired: please subscribe again",
                    [("LINK_EXPIRED", "token", "the pending subscription no longer exists")],
                )
            if row["confirmed_at"] is not None:
                raise FailedPrecondition(
                    "this confirmation link was already used: the subscription is confirmed",
                    [("LINK_USED", "token", "single-use link")],
                )
            if row["link_expires_at"] <= now:
                raise FailedPrecondition(
                    "this confirmation link has expired: ask for a new one",
                    [("LINK_EXPIRED", "token", "expired")],
                )
            requested = Evidence(
                source=Source(row["source"]),
                source_detail=row["source_detail"],
                checkbox_text=row["checkbox_text"],
                document_id=row["document_id"],
                document_version=row["document_version"],
                ip_hash=row["ip_hash"],
                user_agent=row["user_agent"],
                occurred_at=row["started_at"],
            )
            client = request.client
            confirmed = Evidence(
                source=Source.CONFIRMATION_LINK,
                source_detail=confirmation_id,
                checkbox_text=row["checkbox_text"],
                document_id=row["document_id"],
                document_version=row["document_version"],
                ip_hash=self.svc.keys.proof_ip(client.ip_address, now),
                user_agent=client.user_agent[: domain.MAX_USER_AGENT],
            )
            changes, purposes = [], []
            for purpose_id in row["purpose_ids"]:
                found = await purpose_store.find_purpose(conn, account, purpose_id)
                if found is None or not found.active:
                    continue  # archived since: nothing to confirm for it
                purposes.append(found)
                changes += [
                    Change(Action.REQUEST, requested, found),
                    Change(Action.CONFIRM, confirmed, found),
                ]
            entries = await self.svc.append(conn, account, row["person_key"], changes)
            await doi_store.mark_confirmed(conn, confirmation_id, now)
            for purpose in purposes:
                await suppression_store.lift_own_unsubscription(
                    conn, account, row["person_key"], purpose.purpose_id
                )
        grants = [e.to_pb() for e in entries if e.action is Action.CONFIRM]
        reply = pb.ConfirmDoubleOptInResponse(
            records=grants, purpose_names=[p.name for p in purposes]
        )
        if grants:
            reply.record.CopyFrom(grants[0])
            reply.purpose_name = purposes[0].name
        return reply

    async def ResendConfirmation(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        if not request.confirmation_id:
            raise InvalidArgument.field("confirmation_id", "is required")
        now = utc_now()
        settings = self.svc.settings

        async def work(conn: db.Conn) -> pb.ResendConfirmationResponse:
            row = await doi_store.lock_double_opt_in(conn, account, request.confirmation_id)
            if row is None:
                raise NotFound("no pending confirmation with this id (it may have expired)")
            if row["confirmed_at"] is not None:
                raise FailedPrecondition("this subscription is already confirmed")
            wait = row["last_sent_at"] + timedelta(seconds=settings.confirmation_resend_seconds)
            if now < wait:
                seconds = int((wait - now).total_seconds()) + 1
                raise ResourceExhausted(f"a confirmation email was just sent: retry in {seconds} s")
            sent = await doi_store.confirmation_sends_since(
                conn, account, row["person_key"], now - timedelta(days=1)
            )
            if sent >= settings.confirmation_max_per_day:
                raise ResourceExhausted("too many confirmation emails to this address today")
            expires = min(
                now + timedelta(days=settings.confirmation_link_days),
                row["started_at"] + PENDING_LIFETIME,
            )
            if expires <= now:
                raise FailedPrecondition("this pending subscription has expired: subscribe again")
            await doi_store.mark_resent(conn, request.confirmation_id, now, expires)
            names = []
            for purpose_id in row["purpose_ids"]:
                found = await purpose_store.find_purpose(conn, account, purpose_id)
                if found is not None:
                    names.append(found.name)
            row["sends"] += 1
            await self.svc.queue_confirmation(conn, row, names, expires)
            reply = pb.ResendConfirmationResponse()
            reply.expires_at.FromDatetime(expires)
            return reply

        return await self._once("ResendConfirmation", request, pb.ResendConfirmationResponse, work)
