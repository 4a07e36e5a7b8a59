"""Link tokens and the public links: unsubscribe, preference centre, my-data link."""

from __future__ import annotations

from typing import Any

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import domain, links
from missiva_consent.core import HISTORY_LIMIT, PREFERENCE_CHECKBOX, utc_now
from missiva_consent.domain import Action, Change, Evidence, Source
from missiva_consent.links import LinkScope
from missiva_consent.rpc_base import ConsentRpcs
from missiva_consent.rpc_senders import sender_of
from missiva_consent.store import base as db
from missiva_consent.store import ledger as ledger_store
from missiva_consent.store import suppressions as suppression_store
from missiva_platform.auth import current_tenant
from missiva_platform.crypto import InvalidToken
from missiva_platform.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from missiva_platform.streams import SEND_TRANSACTIONAL_EMAIL


class LinkRpcs(ConsentRpcs):
    async def IssueLinkTokens(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        domain.check_text(request.campaign_id, "campaign_id", limit=128)
        purpose_id = links.ALL_BUT_SYSTEM
        if request.purpose_id:
            async with self.pool.connection() as conn:
                purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
            if not purpose.changeable:
                raise InvalidArgument.field("purpose_id", "SYSTEM mail carries no unsubscribe link")
            purpose_id = purpose.purpose_id
        scope = LinkScope(account, person_key, purpose_id, request.campaign_id)
        unsubscribe, preferences = self.svc.link_tokens(scope)
        return pb.IssueLinkTokensResponse(
            unsubscribe_token=unsubscribe,
            preferences_token=preferences,
            unsubscribe_url=self.svc.url("unsubscribe", unsubscribe),
            preferences_url=self.svc.url("preferences", preferences),
        )

    async def SendMyDataLink(self, request: Any, context: Any) -> Any:
        if not request.preferences_token:
            raise InvalidArgument.field("preferences_token", "is required")
        try:
            claims = self.svc.keys.tokens.verify(request.preferences_token, links.PREFERENCES)
        except InvalidToken as exc:
            message = links.TOKEN_MESSAGES[exc.reason]
            if exc.reason == "expired":
                raise FailedPrecondition(
                    message, [("LINK_EXPIRED", "preferences_token", message)]
                ) from None
            raise InvalidArgument.field("preferences_token", message) from None
        scope = LinkScope.from_claims(claims)
        if not request.email.strip():
            raise InvalidArgument.field("email", "is required")
        email = request.email.strip()
        if self.svc.keys.person_key(email, "email") != scope.person_key:
            raise PermissionDenied("this is not the address the link was sent to")
        expires = utc_now() + links.MY_DATA_LIFETIME
        token = self.svc.keys.tokens.sign(
            links.MY_DATA,
            {"a": scope.account_id, "k": scope.person_key},
            ttl=links.MY_DATA_LIFETIME,
        )
        command = links.my_data_command(
            account_id=scope.account_id,
            person_key=scope.person_key,
            email=email,
            url=self.svc.url("my-data", token),
            token=token,
            expires=expires,
        )
        async with self.pool.connection() as conn, conn.transaction():
            await db.emit(
                conn, command, subject=SEND_TRANSACTIONAL_EMAIL, tenant_id=scope.account_id
            )
        reply = pb.SendMyDataLinkResponse()
        reply.expires_at.FromDatetime(expires)
        return reply

    async def Unsubscribe(self, request: Any, context: Any) -> Any:
        scope = LinkScope.from_claims(self.svc.verify_token(request.token, links.UNSUBSCRIBE))
        targets, changed = await self.svc.unsubscribe(
            scope,
            all_purposes=request.all_purposes,
            one_click=request.one_click,
            ip=request.client.ip_address,
        )
        preferences = self.svc.preferences_token(scope)  # the unsubscribe link is spent
        return pb.UnsubscribeResponse(
            purpose_ids=[p.purpose_id for p in targets],
            purpose_names=[p.name for p in targets],
            preferences_token=preferences,
            already_unsubscribed=not changed,
        )

    def _preference_scope(self, token: str) -> LinkScope:
        claims = self.svc.verify_token(token, links.PREFERENCES)
        return LinkScope.from_claims(claims)

    async def GetPreferences(self, request: Any, context: Any) -> Any:
        scope = self._preference_scope(request.token)
        async with self.pool.connection() as conn, conn.transaction():
            if request.client.ip_address:
                await self.svc.note_link_hit(
                    conn, scope, request.client.ip_address, "preferences", utc_now()
                )
            items, tracking = await self.svc.preference_items(
                conn, scope.account_id, scope.person_key
            )
            history = await ledger_store.person_entries(
                conn, scope.account_id, scope.person_key, newest=HISTORY_LIMIT
            )
            sender = await sender_of(conn, scope.account_id)
        return pb.GetPreferencesResponse(
            items=items,
            sender=sender,
            engagement_tracking=tracking,
            person_key=scope.person_key,
            history=[e.to_pb() for e in history],
        )

    async def UpdatePreferences(self, request: Any, context: Any) -> Any:
        scope = self._preference_scope(request.token)
        if not request.changes:
            raise InvalidArgument.field("changes", "name at least one purpose to change")
        now = utc_now()
        ip, agent = request.client.ip_address, request.client.user_agent
        async with self.pool.connection() as conn, conn.transaction():
            if ip:
                await self.svc.note_link_hit(conn, scope, ip, "preferences", now)
            changes, enabled = [], []
            for index, change in enumerate(request.changes):
                purpose = await self.svc.purpose(
                    conn, scope.account_id, change.purpose_id, f"changes[{index}].purpose_id"
                )
                if not purpose.changeable:
                    if change.enabled:
                        continue  # SYSTEM mail is always on
                    raise FailedPrecondition(f"{purpose.name} cannot be turned off")
                if change.enabled:
                    evidence = Evidence(
                        source=Source.PREFERENCE_CENTER,
                        checkbox_text=PREFERENCE_CHECKBOX.format(name=purpose.name),
                        ip_hash=self.svc.keys.proof_ip(ip, now) if ip else "",
                        user_agent=agent[: domain.MAX_USER_AGENT],
                    )
                    changes.append(Change(Action.GRANT, evidence, purpose))
                    enabled.append(purpose.purpose_id)
                else:
                    evidence = Evidence(source=Source.PREFERENCE_CENTER)
                    changes.append(Change(domain.withdrawal_action(purpose), evidence, purpose))
            await self.svc.append(conn, scope.account_id, scope.person_key, changes)
            for purpose_id in enabled:
                await suppression_store.lift_own_unsubscription(
                    conn, scope.account_id, scope.person_key, purpose_id
                )
            items, _ = await self.svc.preference_items(conn, scope.account_id, scope.person_key)
        return pb.UpdatePreferencesResponse(items=items)
