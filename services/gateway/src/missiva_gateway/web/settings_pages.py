"""The account's settings: team (members, invitations, removal), API keys (created once
shown, revoked) and security (sessions, second factor). Billing is ``billing_pages``."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from missiva.identity.v1 import identity_service_pb2 as ipb
from missiva_gateway.web.account import MAX_FORM_BYTES, form_of
from missiva_gateway.web.context import Caller, Web
from missiva_gateway.web.problems import FormProblem, form_problem
from missiva_gateway.web.render import gettext_for, page

N_ = str
ROLES = {
    ipb.MEMBER_ROLE_PRIMARY_ADMIN: N_("primary admin"),
    ipb.MEMBER_ROLE_ADMIN: N_("admin"),
    ipb.MEMBER_ROLE_MEMBER: N_("member"),
    ipb.MEMBER_ROLE_BILLING: N_("billing"),
}
INVITABLE = {
    "admin": ipb.MEMBER_ROLE_ADMIN,
    "member": ipb.MEMBER_ROLE_MEMBER,
    "billing": ipb.MEMBER_ROLE_BILLING,
}
AUDIT_OUTCOMES = {
    ipb.AUDIT_OUTCOME_SUCCESS: N_("done"),
    ipb.AUDIT_OUTCOME_FAILURE: N_("failed"),
    ipb.AUDIT_OUTCOME_DENIED: N_("refused"),
}
AUDIT_LINES = 30
MEMBER_STATUS = {
    ipb.MEMBER_STATUS_INVITED: N_("invited"),
    ipb.MEMBER_STATUS_ACTIVE: N_("active"),
    ipb.MEMBER_STATUS_REMOVED: N_("removed"),
}
API_SCOPES = (
    "contacts:read",
    "contacts:write",
    "campaigns:read",
    "campaigns:write",
    "consent:read",
    "mail:send",
    "mail:read",
    "domains:read",
    "credits:read",
    "webhooks:read",
    "webhooks:write",
)


class SettingsPages(Controller):
    """``/app/team``, ``/app/api-keys``, ``/app/security``."""

    include_in_schema = False

    # -- team ------------------------------------------------------------------------------

    async def _team(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        *,
        problem: FormProblem | None = None,
        notice: str = "",
        status: int = 200,
        values: dict[str, str] | None = None,
    ) -> Response[str]:
        reply = await web.backends.identity().ListMembers(
            ipb.ListMembersRequest(page_size=100, show_removed=True),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        _ = gettext_for(request)
        return page(
            request,
            "team.html",
            status=status,
            title=_("Team"),
            members=list(reply.members),
            roles=ROLES,
            statuses=MEMBER_STATUS,
            problem=problem,
            notice=notice,
            admin=caller.is_admin,
            values=values or {},
            key=str(uuid.uuid4()),
            me=caller.account.profile.user_id,
            role_options=[
                ("member", _("member")),
                ("admin", _("admin")),
                ("billing", _("billing")),
            ],
        )

    @get("/app/team")
    async def team(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        return await self._team(request, web, caller)

    @post("/app/team/invite", request_max_body_size=MAX_FORM_BYTES)
    async def invite(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        _ = gettext_for(request)
        try:
            await web.backends.identity().InviteMember(
                ipb.InviteMemberRequest(
                    email=form.get("email", ""),
                    role=INVITABLE.get(form.get("role", ""), ipb.MEMBER_ROLE_UNSPECIFIED),
                    idempotency_key=form.get("idempotency_key", "")[:64],
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {}, ("email", "role"))
            if problem.status >= 500:
                raise
            return await self._team(
                request, web, caller, problem=problem, values=form, status=problem.status
            )
        return await self._team(request, web, caller, notice=_("The invitation is sent."))

    async def _member_change(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        call: Awaitable[Any],
        notice: str,
    ) -> Response[str]:
        """The team page after identity's answer to a change of one member."""
        try:
            await call
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc)
            if problem.status >= 500:
                raise
            return await self._team(request, web, caller, problem=problem, status=problem.status)
        return await self._team(request, web, caller, notice=notice)

    @post("/app/team/{user_id:str}/remove", request_max_body_size=MAX_FORM_BYTES)
    async def remove(
        self, user_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        _ = gettext_for(request)
        call = web.backends.identity().RemoveMember(
            ipb.RemoveMemberRequest(user_id=user_id[:64]),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        return await self._member_change(request, web, caller, call, _("The member is removed."))

    @post("/app/team/{user_id:str}/restore", request_max_body_size=MAX_FORM_BYTES)
    async def restore(
        self, user_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        _ = gettext_for(request)
        call = web.backends.identity().RestoreMember(
            ipb.RestoreMemberRequest(user_id=user_id[:64]),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        return await self._member_change(request, web, caller, call, _("The member is back."))

    @post("/app/team/{user_id:str}/role", request_max_body_size=MAX_FORM_BYTES)
    async def change_role(
        self, user_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        _ = gettext_for(request)
        call = web.backends.identity().ChangeMemberRole(
            ipb.ChangeMemberRoleRequest(
                user_id=user_id[:64],
                role=INVITABLE.get(form.get("role", ""), ipb.MEMBER_ROLE_UNSPECIFIED),
            ),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        return await self._member_change(request, web, caller, call, _("The role is changed."))

    # -- API keys --------------------------------------------------------------------------

    async def _keys(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        *,
        problem: FormProblem | None = None,
        notice: str = "",
        secret: str = "",
        status: int = 200,
        values: dict[str, str] | None = None,
    ) -> Response[str]:
        reply = await web.backends.identity().ListApiKeys(
            ipb.ListApiKeysRequest(page_size=100), metadata=caller.metadata, timeout=web.timeout
        )
        _ = gettext_for(request)
        return page(
            request,
            "api_keys.html",
            status=status,
            title=_("API keys"),
            keys=list(reply.api_keys),
            scopes=API_SCOPES,
            problem=problem,
            notice=notice,
            secret=secret,
            values=values or {},
            key=str(uuid.uuid4()),
        )

    @get("/app/api-keys")
    async def api_keys(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        return await self._keys(request, web, caller)

    @post("/app/api-keys", request_max_body_size=MAX_FORM_BYTES)
    async def create_key(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        _ = gettext_for(request)
        try:
            reply = await web.backends.identity().CreateApiKey(
                ipb.CreateApiKeyRequest(
                    name=str(form.get("name", "")),
                    scopes=[s for s in form.getall("scopes", []) if s in API_SCOPES],
                    idempotency_key=str(form.get("idempotency_key", ""))[:64],
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {}, ("name", "scopes"))
            if problem.status >= 500:
                raise
            return await self._keys(
                request, web, caller, problem=problem, values=values, status=problem.status
            )
        return await self._keys(
            request,
            web,
            caller,
            secret=reply.secret,
            notice=_("The key is created. Copy its secret now: it is never shown again."),
        )

    @post("/app/api-keys/{api_key_id:str}/revoke", request_max_body_size=MAX_FORM_BYTES)
    async def revoke_key(
        self, api_key_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        await web.backends.identity().RevokeApiKey(
            ipb.RevokeApiKeyRequest(api_key_id=api_key_id[:64]),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        _ = gettext_for(request)
        return await self._keys(request, web, caller, notice=_("The key is revoked."))

    # -- security --------------------------------------------------------------------------

    async def _security(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        *,
        problem: FormProblem | None = None,
        notice: str = "",
        enrolment: Any = None,
        codes: list[str] | None = None,
        status: int = 200,
    ) -> Response[str]:
        identity, md, t = web.backends.identity(), caller.metadata, web.timeout
        sessions, audit = await web.gather(
            identity.ListSessions(ipb.ListSessionsRequest(page_size=50), metadata=md, timeout=t),
            self._audit(web, caller),
        )
        _ = gettext_for(request)
        return page(
            request,
            "security.html",
            status=status,
            title=_("Security"),
            sessions=list(sessions.sessions),
            audit=audit,
            outcomes=AUDIT_OUTCOMES,
            mfa=caller.account.profile.mfa_enabled,
            problem=problem,
            notice=notice,
            enrolment=enrolment,
            codes=codes or [],
        )

    async def _audit(self, web: Web, caller: Caller) -> list[dict[str, Any]] | None:
        """The account's latest audit entries with who acted, for admins (None otherwise)."""
        if not caller.is_admin:
            return None
        identity, md, t = web.backends.identity(), caller.metadata, web.timeout
        events, members = await web.gather(
            identity.ListAuditEvents(
                ipb.ListAuditEventsRequest(page_size=AUDIT_LINES), metadata=md, timeout=t
            ),
            identity.ListMembers(
                ipb.ListMembersRequest(page_size=100, show_removed=True), metadata=md, timeout=t
            ),
        )
        names = {m.user_id: m.display_name or m.email for m in members.members}
        return [
            {
                "when": event.occurred_at,
                "action": event.action,
                "who": names.get(event.actor_user_id, "—" if not event.actor_user_id else "?"),
                "outcome": event.outcome,
                "ip": event.ip_pseudonym[:12],
                "agent": event.user_agent[:60],
            }
            for event in events.audit_events
        ]

    @get("/app/security")
    async def security_page(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        return await self._security(request, web, caller)

    @post("/app/security/sessions/{session_id:str}/revoke", request_max_body_size=MAX_FORM_BYTES)
    async def revoke_session(
        self, session_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        await web.backends.identity().RevokeSession(
            ipb.RevokeSessionRequest(session_id=session_id[:64]),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        _ = gettext_for(request)
        return await self._security(request, web, caller, notice=_("The session is ended."))

    @post("/app/security/totp", request_max_body_size=MAX_FORM_BYTES)
    async def enrol(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        try:
            reply = await web.backends.identity().EnrollTotp(
                ipb.EnrollTotpRequest(), metadata=caller.metadata, timeout=web.timeout
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc)
            if problem.status >= 500:
                raise
            return await self._security(
                request, web, caller, problem=problem, status=problem.status
            )
        return await self._security(request, web, caller, enrolment=reply)

    @post("/app/security/totp/confirm", request_max_body_size=MAX_FORM_BYTES)
    async def confirm_totp(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        _ = gettext_for(request)
        try:
            reply = await web.backends.identity().ConfirmTotp(
                ipb.ConfirmTotpRequest(totp_code=form.get("code", "").replace(" ", "")),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {"totp_code": "code"}, ("code",))
            if problem.status >= 500:
                raise
            return await self._security(
                request, web, caller, problem=problem, status=problem.status
            )
        web.forget(caller.session.session_id)
        return await self._security(
            request,
            web,
            caller,
            codes=list(reply.recovery_codes),
            notice=_(
                "The second factor is on. Keep these recovery codes somewhere safe: "
                "each works once, and they are never shown again."
            ),
        )
