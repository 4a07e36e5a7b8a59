"""The signed-in person's privacy (``/app/privacy``), the restore link of a deleted account
(``/restore-account``) and the account's sender identity (``/app/settings/sender``).

Built only on what the services offer:

- **A copy of my data**: consent's ``OpenPrivacyRequest`` about oneself (``person.user_id``
  = one's own id; needs a verified address), followed with ``GetPrivacyRequest`` at
  ``/app/privacy/requests/<id>``; the finished export is downloaded from the gateway's
  ``/my-data/export/<token>`` (``StreamPrivacyExport``). No RPC lists a person's own
  requests, so the request's page is the place to come back to.
- **Email preferences**: the platform's purposes (SYSTEM always on, PRODUCT_UPDATE and
  MARKETING the user's choice) are shown and saved on the page itself
  (``email_preferences.py``: consent's ``IssueMyPreferencesToken``, then the preference
  centre's RPCs). **Consent history**: consent's part of the finished export holds it
  (``consent_state``, ``consent_history``: the Terms and Privacy acceptances with their
  time and IP pseudonym), so the request's page shows it from the export, read-only.
- **Delete the account**: identity's ``DeleteAccount`` (primary admin, password as
  confirmation); every session of the account ends and identity mails a restore link valid
  30 days, which opens ``/restore-account?token=`` (a button: a GET spends nothing) and
  ``RestoreAccount``. Another member cannot delete the account; they may erase their own
  data (``Reauthenticate`` with their password, then an ERASE request), which is final.
- **Sender identity**: consent's ``GetSenderIdentity`` (members: read-only) and
  ``SetSenderIdentity`` (admins), shown on every public page of the account's links.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as cpb
from missiva.identity.v1 import identity_service_pb2 as ipb
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_gateway.web.account import MAX_FORM_BYTES, form_of
from missiva_gateway.web.context import Caller, Web
from missiva_gateway.web.email_preferences import my_preferences
from missiva_gateway.web.problems import FormProblem, form_problem
from missiva_gateway.web.render import gettext_for, page

N_ = str
REQUEST_STATUS = {
    cpb.PRIVACY_REQUEST_STATUS_OPEN: N_("open"),
    cpb.PRIVACY_REQUEST_STATUS_IN_PROGRESS: N_("in progress"),
    cpb.PRIVACY_REQUEST_STATUS_COMPLETED: N_("completed"),
    cpb.PRIVACY_REQUEST_STATUS_REJECTED: N_("rejected"),
}
REQUEST_KIND = {
    ppb.PRIVACY_REQUEST_KIND_EXPORT: N_("copy of your data"),
    ppb.PRIVACY_REQUEST_KIND_ERASE: N_("erasure of your data"),
}
EMAIL_PURPOSES = (
    ("system", N_("Service emails (security, billing, changes to our terms)")),
    ("product_update", N_("Product updates")),
    ("marketing", N_("News and offers")),
)
PURPOSE_STATES = {
    "granted": N_("on"),
    "pending": N_("waiting for confirmation"),
    "withdrawn": N_("off"),
    "objected": N_("off"),
    "not_recorded": N_("not recorded"),
}
DEFAULT_STATES = {
    "system": N_("always on: these emails are part of the service"),
    "product_update": N_("on (the default)"),
    "marketing": N_("off (the default)"),
}
ACTIONS = {
    "accept": N_("accepted"),
    "request": N_("asked for"),
    "grant": N_("agreed"),
    "confirm": N_("confirmed"),
    "withdraw": N_("withdrew"),
    "object": N_("objected"),
    "restrict": N_("restricted"),
    "lift": N_("lifted the restriction"),
}
DOCUMENTS = {"terms": N_("Terms of Service"), "privacy": N_("Privacy Policy")}
SOURCES = {
    "sign_up": N_("signing up or in"),
    "form": N_("a form"),
    "import": N_("an import"),
    "api": N_("the API"),
    "confirmation_link": N_("a confirmation link"),
    "unsubscribe_link": N_("an unsubscribe link"),
    "preference_center": N_("the preference centre"),
    "admin": N_("an admin"),
    "privacy_request": N_("a privacy request"),
    "delivery_feedback": N_("mail delivery feedback"),
}
MAX_EXPORT_SUMMARY_BYTES = 8 * 1024 * 1024
_REQUEST_ID = re.compile(r"^[0-9a-fA-F-]{36}$")
SENDER_FIELDS = {
    "sender.name": "name",
    "sender.postal_address": "postal_address",
    "sender.privacy_contact": "privacy_contact",
}


def export_token(url: str) -> str:
    """The download token at the end of consent's ``export_url`` (``…/my-data/export/<t>``)."""
    head, _, token = url.rpartition("/my-data/export/")
    return token if head and token and "/" not in token else ""


def export_summary(bundle: bytes, user_id: str) -> dict[str, Any]:
    """What the privacy page shows of consent's part of the export: the platform's email
    purposes and the person's consent history with Missiva (Terms and Privacy acceptances
    with their time and IP pseudonym included). Missiva's own records are those under the
    platform account, the one that holds the acceptances of our Terms."""
    document = json.loads(bundle)
    sections: dict[str, Any] = {}
    for part in document.get("services", []):
        if part.get("service") == "consent":
            sections = {s.get("name"): s.get("content") for s in part.get("sections", [])}
    history = [e for e in sections.get("consent_history") or [] if isinstance(e, dict)]
    platform = next(
        (e.get("account_id") for e in history if e.get("action") == "accept"),
        None,
    )
    if platform is None:  # no acceptance recorded: the user's own sign-up entries
        platform = next(
            (e.get("account_id") for e in history if e.get("source_detail") == f"user:{user_id}"),
            None,
        )
    ours = [e for e in history if platform is not None and e.get("account_id") == platform]
    ours.sort(key=lambda e: (str(e.get("occurred_at", "")), int(e.get("seq") or 0)))
    for entry in ours:
        entry["when"] = _when(str(entry.get("occurred_at") or ""))
    states = {
        s.get("purpose"): s.get("status")
        for s in sections.get("consent_state") or []
        if isinstance(s, dict) and s.get("account_id") == platform
    }
    return {
        "acceptances": [e for e in ours if e.get("action") == "accept"],
        "history": ours,
        "states": states,
    }


class PrivacyPages(Controller):
    """``/app/privacy`` (export, delete or erase), ``/restore-account``, and the account's
    sender identity at ``/app/settings/sender``."""

    include_in_schema = False

    # -- the privacy page --------------------------------------------------------------------

    def _privacy(
        self,
        request: Request[Any, Any, Any],
        caller: Caller,
        *,
        problem: FormProblem | None = None,
        status: int = 200,
        values: dict[str, str] | None = None,
        form: str = "",
        preferences: list[dict[str, Any]] | None = None,
    ) -> Response[str]:
        _ = gettext_for(request)
        return page(
            request,
            "privacy.html",
            preferences=preferences,
            saved=request.query_params.get("saved") == "preferences",
            status=status,
            title=_("Privacy"),
            problem=problem,
            form=form,
            values=values or {},
            key=str(uuid.uuid4()),
            verified=caller.account.profile.email_verified,
            primary=caller.account.role == ipb.MEMBER_ROLE_PRIMARY_ADMIN,
            account_name=caller.account.account.name,
        )

    @get("/app/privacy")
    async def privacy(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        return self._privacy(request, caller, preferences=await my_preferences(web, caller))

    @post("/app/privacy/export", request_max_body_size=MAX_FORM_BYTES)
    async def export(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        try:
            reply = await web.backends.consent().OpenPrivacyRequest(
                cpb.OpenPrivacyRequestRequest(
                    person=types_pb2.PersonRef(user_id=caller.account.profile.user_id),
                    kind=ppb.PRIVACY_REQUEST_KIND_EXPORT,
                    client=web.client(request),
                    idempotency_key=form.get("idempotency_key", "")[:64],
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc)
            if problem.status >= 500:
                raise
            return self._privacy(request, caller, problem=problem, status=problem.status)
        target = f"/app/privacy/requests/{reply.privacy_request.request_id}"
        return Redirect(target, status_code=303)

    @get("/app/privacy/requests/{request_id:str}")
    async def privacy_request(
        self, request_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        if not _REQUEST_ID.match(request_id):
            from litestar.exceptions import NotFoundException

            raise NotFoundException()
        reply = await web.backends.consent().GetPrivacyRequest(
            cpb.GetPrivacyRequestRequest(request_id=request_id),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        found = reply.privacy_request
        token = export_token(found.export_url)
        summary = await self._summary(web, token, caller) if token else None
        _ = gettext_for(request)
        return page(
            request,
            "privacy_request.html",
            title=_("Your privacy request"),
            found=found,
            kinds=REQUEST_KIND,
            statuses=REQUEST_STATUS,
            finished=found.status
            in (cpb.PRIVACY_REQUEST_STATUS_COMPLETED, cpb.PRIVACY_REQUEST_STATUS_REJECTED),
            download=f"/my-data/export/{token}" if token else "",
            summary=summary,
            purposes=EMAIL_PURPOSES,
            purpose_labels=dict(EMAIL_PURPOSES),
            purpose_states=PURPOSE_STATES,
            default_states=DEFAULT_STATES,
            actions=ACTIONS,
            documents=DOCUMENTS,
            sources=SOURCES,
        )

    async def _summary(self, web: Web, token: str, caller: Caller) -> dict[str, Any] | None:
        """Consent's part of the finished export, read through the download stream."""
        chunks: list[bytes] = []
        size = 0
        stream = web.backends.consent().StreamPrivacyExport(
            cpb.StreamPrivacyExportRequest(token=token), timeout=web.timeout * 6
        )
        try:
            async for piece in stream:
                if piece.total_bytes > MAX_EXPORT_SUMMARY_BYTES:
                    stream.cancel()
                    return None
                chunks.append(piece.chunk)
                size += len(piece.chunk)
                if size > MAX_EXPORT_SUMMARY_BYTES:
                    stream.cancel()
                    return None
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                return None  # expired meanwhile: the page says the download is gone
            raise
        try:
            return export_summary(b"".join(chunks), caller.account.profile.user_id)
        except ValueError:
            return None

    @post("/app/privacy/delete-account", request_max_body_size=MAX_FORM_BYTES)
    async def delete_account(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        _ = gettext_for(request)
        try:
            reply = await web.backends.identity().DeleteAccount(
                ipb.DeleteAccountRequest(
                    password=form.get("password", ""),
                    reason=form.get("reason", ""),
                    idempotency_key=form.get("idempotency_key", "")[:64],
                ),
                metadata=caller.metadata,
                timeout=web.timeout * 6,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {}, ("password", "reason"))
            if problem.status >= 500:
                raise
            values = {"reason": form.get("reason", "")}
            return self._privacy(
                request,
                caller,
                problem=problem,
                status=problem.status,
                values=values,
                form="delete",
            )
        # Identity ended every session of the account: this browser's cookie goes too.
        web.forget(caller.session.session_id)
        web.sessions.write(request, None)
        request.scope["state"]["user"] = None
        when = reply.account.purge_after.ToDatetime().strftime("%Y-%m-%d")
        return page(
            request,
            "message.html",
            title=_("Your account is deleted"),
            narrow=True,
            message=_(
                "Nobody can sign in to it any more. It stays restorable until %(date)s: we "
                "emailed you a link that restores it. After that date it is erased for good."
            )
            % {"date": when},
        )

    @post("/app/privacy/erase", request_max_body_size=MAX_FORM_BYTES)
    async def erase(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        _ = gettext_for(request)
        if caller.account.role == ipb.MEMBER_ROLE_PRIMARY_ADMIN:
            problem = FormProblem(
                409, _("The primary admin deletes the whole account instead (below).")
            )
            return self._privacy(request, caller, problem=problem, status=409, form="erase")
        if form.get("confirm") != "1":
            problem = FormProblem(
                400, "", {"confirm": _("Tick this box to confirm."), **_password_missing(form, _)}
            )
            problem.other = False
            return self._privacy(request, caller, problem=problem, status=400, form="erase")
        try:
            await web.backends.identity().Reauthenticate(
                ipb.ReauthenticateRequest(
                    password=form.get("password", ""), client=web.client(request)
                ),
                metadata=caller.metadata,
                timeout=web.timeout * 6,
            )
            await web.backends.consent().OpenPrivacyRequest(
                cpb.OpenPrivacyRequestRequest(
                    person=types_pb2.PersonRef(user_id=caller.account.profile.user_id),
                    kind=ppb.PRIVACY_REQUEST_KIND_ERASE,
                    client=web.client(request),
                    idempotency_key=form.get("idempotency_key", "")[:64],
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {"proof": "password"}, ("password",))
            if problem.status >= 500:
                raise
            return self._privacy(
                request, caller, problem=problem, status=problem.status, form="erase"
            )
        await web.sessions.end(request)
        web.forget(caller.session.session_id)
        request.scope["state"]["user"] = None
        return page(
            request,
            "message.html",
            title=_("Your data is being erased"),
            narrow=True,
            message=_(
                "You are signed out. Every service erases what it holds on you, within 30 "
                "days at the latest; the account itself stays with its other members."
            ),
        )

    # -- the restore link of a deleted account ----------------------------------------------

    @get("/restore-account")
    async def restore_page(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web], token: FromQuery[str] = ""
    ) -> Response[str]:
        web.prepare(request)
        web.limit(request, "public")
        _ = gettext_for(request)
        return page(
            request,
            "token_action.html",
            title=_("Restore your account"),
            narrow=True,
            action="/restore-account",
            token=token[:512],
            button=_("Restore my account"),
        )

    @post("/restore-account", request_max_body_size=MAX_FORM_BYTES)
    async def restore(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        web.prepare(request)
        web.limit(request, "auth")
        form = await form_of(request)
        await web.backends.identity().RestoreAccount(
            ipb.RestoreAccountRequest(restore_token=form.get("token", "")[:512]),
            timeout=web.timeout,
        )
        _ = gettext_for(request)
        return page(
            request,
            "message.html",
            title=_("Your account is restored"),
            narrow=True,
            message=_("Welcome back. Everything is as you left it: you can sign in now."),
            link=("/login", _("Sign in")),
        )

    # -- sender identity ---------------------------------------------------------------------

    async def _sender(
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
        reply = await web.backends.consent().GetSenderIdentity(
            cpb.GetSenderIdentityRequest(), metadata=caller.metadata, timeout=web.timeout
        )
        sender = reply.sender
        shown = values or {
            "name": sender.name,
            "postal_address": sender.postal_address,
            "privacy_contact": sender.privacy_contact,
        }
        _ = gettext_for(request)
        return page(
            request,
            "sender_identity.html",
            status=status,
            title=_("Sender identity"),
            sender=sender,
            updated_at=reply.updated_at if reply.HasField("updated_at") else None,
            values=shown,
            admin=caller.is_admin,
            problem=problem,
            notice=notice,
        )

    @get("/app/settings/sender")
    async def sender(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        return await self._sender(request, web, caller)

    @post("/app/settings/sender", request_max_body_size=MAX_FORM_BYTES)
    async def save_sender(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        values = {
            "name": form.get("name", "").strip(),
            "postal_address": form.get("postal_address", "").strip().replace("\r\n", "\n"),
            "privacy_contact": form.get("privacy_contact", "").strip(),
        }
        _ = gettext_for(request)
        try:
            await web.backends.consent().SetSenderIdentity(
                cpb.SetSenderIdentityRequest(sender=cpb.SenderIdentity(**values)),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, SENDER_FIELDS, tuple(values))
            if problem.status >= 500:
                raise
            return await self._sender(
                request, web, caller, problem=problem, status=problem.status, values=values
            )
        return await self._sender(
            request, web, caller, notice=_("Saved. Your recipients see it from now on.")
        )


def _when(stamp: str) -> str:
    """Consent's ``2026-12-07T11:40:00.000000Z`` as the pages write times."""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _password_missing(form: dict[str, str], _: Any) -> dict[str, str]:
    return {} if form.get("password") else {"password": _("Type your password.")}
