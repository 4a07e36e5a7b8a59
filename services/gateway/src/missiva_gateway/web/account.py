"""Pages without a session: home, sign-up, email verification, sign-in (password, second
factor, changed legal documents), forgotten and reset password, sign-out, legal texts.

Every POST here is rate limited per client address (``auth``), and every GET of a public
page too (``public``). Tokens from email links arrive in the query string
(``/verify-email?token=…``), so these pages, like all of ours, send ``no-referrer``; a GET
with a token never spends it: the page shows a button, and the POST does the work (mail
scanners prefetch links).
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from typing import Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from missiva.consent.v1 import consent_service_pb2 as cpb
from missiva.identity.v1 import identity_service_pb2 as ipb
from missiva_gateway.errors import precondition_types
from missiva_gateway.web.context import Web
from missiva_gateway.web.problems import FormProblem, form_problem
from missiva_gateway.web.referral_signup import redeem, referral_code, remember
from missiva_gateway.web.render import gettext_for, language, page
from missiva_gateway.web.session import Session

MAX_FORM_BYTES = 64 * 1024
SIGN_UP_DOCUMENTS = (cpb.DOCUMENT_KIND_TERMS_OF_SERVICE, cpb.DOCUMENT_KIND_PRIVACY_POLICY)
SIGN_UP_FIELDS = (
    "email",
    "password",
    "display_name",
    "account_name",
    "age_confirmed",
    "acceptances",
    "marketing_opt_in",
)
ACCOUNT_DELETION_REQUESTED = "ACCOUNT_DELETION_REQUESTED"  # identity's precondition type
_SAFE_NEXT = re.compile(r"^/(app|mailbox)(/[A-Za-z0-9/_-]*)?$")


async def form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The posted form, one value per name (the first)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def deletion_requested(request: Request[Any, Any, Any]) -> FormProblem:
    """Identity refuses to sign in to an account whose deletion was asked: say what to do."""
    _ = gettext_for(request)
    return FormProblem(
        409,
        _(
            "This account is being deleted, so nobody can sign in to it. To keep it, open the "
            "restore link in the email we sent when the deletion was asked for: it works for "
            "30 days, then the account and its data are erased for good."
        ),
    )


def safe_next(value: str) -> str:
    """Where to go after signing in: only our own app pages."""
    return value if _SAFE_NEXT.match(value or "") else "/app"


def marketing_text(request: Request[Any, Any, Any]) -> str:
    _ = gettext_for(request)
    return str(_("Send me Missiva's product news and offers by email (optional)."))


async def sign_up_documents(request: Request[Any, Any, Any], web: Web) -> list[Any]:
    """The platform's Terms and Privacy policy in effect, which a new user accepts."""
    reply = await web.backends.consent().GetCurrentDocuments(
        cpb.GetCurrentDocumentsRequest(kinds=SIGN_UP_DOCUMENTS, locale=language(request)),
        timeout=web.timeout,
    )
    return list(reply.documents)


def acceptances_of(form: dict[str, str], documents: list[Any]) -> list[ipb.DocumentAcceptance]:
    """The documents whose box the form ticked, at the version the page showed."""
    return [
        ipb.DocumentAcceptance(
            document_id=doc.document_id,
            version=form.get(f"version_{doc.document_id}", ""),
            checkbox_text=doc.checkbox_text,
            accepted=True,
        )
        for doc in documents
        if form.get(f"accept_{doc.document_id}") == "1"
    ]


class AccountPages(Controller):
    """Sign-up, sign-in and their email links."""

    include_in_schema = False

    @get("/")
    async def home(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        """The address ``make run`` prints: sign in, sign up, the mailbox when embedded."""
        web.prepare(request)
        if web.sessions.read(request) is not None:
            return Redirect("/app", status_code=303)
        _ = gettext_for(request)
        return page(request, "home.html", title=_("Email marketing that people choose"))

    # -- legal texts -----------------------------------------------------------------------

    @get("/legal/{document_id:str}")
    async def legal(
        self,
        document_id: FromPath[str],
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
        version: FromQuery[str] = "",
    ) -> Response[str]:
        """A legal document's text, as consent keeps it (the version in effect by default)."""
        web.prepare(request)
        web.limit(request, "public")
        reply = await web.backends.consent().GetDocument(
            cpb.GetDocumentRequest(
                document_id=document_id[:64], version=version[:64], locale=language(request)
            ),
            timeout=web.timeout,
        )
        document = reply.document
        return page(
            request,
            "legal.html",
            title=document.title,
            document=document,
            blocks=markdown_blocks(document.body_markdown),
        )

    # -- sign-up ---------------------------------------------------------------------------

    async def _documents(self, request: Request[Any, Any, Any], web: Web) -> list[Any]:
        return await sign_up_documents(request, web)

    @get("/signup")
    async def signup_page(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web], ref: FromQuery[str] = ""
    ) -> Any:
        web.prepare(request)
        web.limit(request, "public")
        return await self._signup(request, web, {"ref": referral_code(ref)}, None)

    async def _signup(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        values: dict[str, str],
        problem: FormProblem | None,
        status: int = 200,
    ) -> Response[str]:
        _ = gettext_for(request)
        return page(
            request,
            "signup.html",
            status=status,
            title=_("Create your account"),
            narrow=True,
            documents=await self._documents(request, web),
            values=values,
            problem=problem,
            marketing_text=marketing_text(request),
            idempotency_key=values.get("idempotency_key") or str(uuid.uuid4()),
        )

    @post("/signup", request_max_body_size=MAX_FORM_BYTES)
    async def signup(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        web.prepare(request)
        web.limit(request, "auth")
        form = await form_of(request)
        acceptances = acceptances_of(form, await self._documents(request, web))
        marketing = form.get("marketing_opt_in") == "1"
        call = ipb.SignUpRequest(
            email=form.get("email", ""),
            password=form.get("password", ""),
            display_name=form.get("display_name", ""),
            account_name=form.get("account_name", ""),
            acceptances=acceptances,
            marketing_opt_in=marketing,
            marketing_checkbox_text=marketing_text(request) if marketing else "",
            age_confirmed=form.get("age_confirmed") == "1",
            locale=language(request),
            client=web.client(request),
            idempotency_key=form.get("idempotency_key", "")[:64],
        )
        try:
            created = await web.backends.identity().SignUp(call, timeout=web.timeout * 6)
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {"acceptances": "acceptances"}, SIGN_UP_FIELDS)
            values = {k: v for k, v in form.items() if k != "password"}
            if problem.status >= 500:
                raise
            return await self._signup(request, web, values, problem, status=problem.status)
        remember(request, form.get("ref", ""), created.account_id)  # for the first sign-in
        _ = gettext_for(request)
        return page(
            request,
            "message.html",
            title=_("Check your inbox"),
            narrow=True,
            message=_(
                "We sent a link to your address. Open it to confirm the address, then sign in."
            ),
        )

    # -- email verification ----------------------------------------------------------------

    @get("/verify-email")
    async def verify_page(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web], token: FromQuery[str] = ""
    ) -> Response[str]:
        web.prepare(request)
        web.limit(request, "public")
        _ = gettext_for(request)
        return page(
            request,
            "token_action.html",
            title=_("Confirm your email address"),
            narrow=True,
            action="/verify-email",
            token=token[:512],
            button=_("Confirm my address"),
        )

    @post("/verify-email", request_max_body_size=MAX_FORM_BYTES)
    async def verify(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        web.prepare(request)
        web.limit(request, "auth")
        form = await form_of(request)
        await web.backends.identity().VerifyEmail(
            ipb.VerifyEmailRequest(token=form.get("token", "")), timeout=web.timeout
        )
        _ = gettext_for(request)
        return page(
            request,
            "message.html",
            title=_("Your address is confirmed"),
            narrow=True,
            message=_("Thank you. You can sign in now."),
            link=("/login", _("Sign in")),
        )

    # -- sign-in ---------------------------------------------------------------------------

    @get("/login")
    async def login_page(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web], next: FromQuery[str] = ""
    ) -> Response[str]:
        web.prepare(request)
        web.limit(request, "public")
        return self._login(request, {"next": safe_next(next)}, None)

    def _login(
        self,
        request: Request[Any, Any, Any],
        values: dict[str, str],
        problem: FormProblem | None,
        status: int = 200,
    ) -> Response[str]:
        _ = gettext_for(request)
        return page(
            request,
            "login.html",
            status=status,
            title=_("Sign in"),
            narrow=True,
            values=values,
            problem=problem,
        )

    @post("/login", request_max_body_size=MAX_FORM_BYTES)
    async def login(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        web.prepare(request)
        web.limit(request, "auth")
        form = await form_of(request)
        values = {"email": form.get("email", ""), "next": safe_next(form.get("next", ""))}
        try:
            reply = await web.backends.identity().Login(
                ipb.LoginRequest(
                    email=form.get("email", ""),
                    password=form.get("password", ""),
                    client=web.client(request),
                    remember_me=form.get("remember_me") == "1",
                ),
                timeout=web.timeout * 6,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {}, ("email", "password"))
            if problem.status >= 500:
                raise
            if ACCOUNT_DELETION_REQUESTED in precondition_types(exc):
                problem = deletion_requested(request)
            return self._login(request, values, problem, status=problem.status)
        return await self._outcome(request, web, reply, values["next"])

    async def _outcome(
        self, request: Request[Any, Any, Any], web: Web, reply: Any, target: str
    ) -> Response[Any]:
        """Signed in (cookie, then the app), or the next step of the sign-in."""
        _ = gettext_for(request)
        outcome = reply.WhichOneof("outcome")
        if outcome == "tokens":
            session = Session.of(reply.tokens)
            account = None
            try:
                account = await web.account_of(session)
                session = Session.of(reply.tokens, account.profile.locale)
            except grpc.aio.AioRpcError:
                pass
            web.sessions.write(request, session)
            await redeem(request, web, session, account)
            return Redirect(target, status_code=303)
        if outcome == "mfa_required":
            return page(
                request,
                "mfa.html",
                title=_("Second step"),
                narrow=True,
                challenge=reply.mfa_required.challenge_token,
                next=target,
                problem=None,
            )
        challenge = reply.legal_acceptance_required
        return page(
            request,
            "accept_documents.html",
            title=_("Our terms have changed"),
            narrow=True,
            challenge=challenge.challenge_token,
            documents=list(challenge.documents),
            next=target,
            problem=None,
        )

    @post("/login/second-factor", request_max_body_size=MAX_FORM_BYTES)
    async def second_factor(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        web.prepare(request)
        web.limit(request, "auth")
        form = await form_of(request)
        code = form.get("code", "").strip()
        call = ipb.CompleteMfaLoginRequest(
            challenge_token=form.get("challenge", ""), client=web.client(request)
        )
        if form.get("method") == "recovery":
            call.recovery_code = code
        else:
            call.totp_code = code.replace(" ", "")
        target = safe_next(form.get("next", ""))
        try:
            reply = await web.backends.identity().CompleteMfaLogin(call, timeout=web.timeout)
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(
                exc, {"totp_code": "code", "recovery_code": "code", "code": "code"}, ("code",)
            )
            if problem.status >= 500:
                raise
            _ = gettext_for(request)
            return page(
                request,
                "mfa.html",
                status=problem.status,
                title=_("Second step"),
                narrow=True,
                challenge=form.get("challenge", ""),
                next=target,
                problem=problem,
            )
        return await self._outcome(request, web, reply, target)

    @post("/login/accept", request_max_body_size=MAX_FORM_BYTES)
    async def accept_documents(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        web.prepare(request)
        web.limit(request, "auth")
        form = await request.form()
        accepted = set(form.getall("accept", []))
        documents = [
            ipb.DocumentAcceptance(
                document_id=str(doc_id),
                version=str(form.get(f"version_{doc_id}", "")),
                checkbox_text=str(form.get(f"text_{doc_id}", "")),
                accepted=True,
            )
            for doc_id in form.getall("document", [])
            if doc_id in accepted
        ]
        reply = await web.backends.identity().AcceptLegalDocuments(
            ipb.AcceptLegalDocumentsRequest(
                challenge_token=str(form.get("challenge", "")),
                acceptances=documents,
                client=web.client(request),
            ),
            timeout=web.timeout,
        )
        session = Session.of(reply.tokens)
        web.sessions.write(request, session)
        try:
            account = await web.account_of(session)
        except grpc.aio.AioRpcError:
            account = None
        await redeem(request, web, session, account)
        return Redirect(safe_next(str(form.get("next", ""))), status_code=303)

    @post("/logout", request_max_body_size=MAX_FORM_BYTES)
    async def logout(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        session = web.sessions.read(request)
        await web.sessions.end(request)
        if session is not None:
            web.forget(session.session_id)
        return Redirect("/", status_code=303)

    # -- passwords -------------------------------------------------------------------------

    @get("/forgot-password")
    async def forgot_page(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        web.prepare(request)
        web.limit(request, "public")
        _ = gettext_for(request)
        return page(
            request,
            "forgot.html",
            title=_("Forgotten password"),
            narrow=True,
            problem=None,
            values={},
        )

    @post("/forgot-password", request_max_body_size=MAX_FORM_BYTES)
    async def forgot(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        web.prepare(request)
        web.limit(request, "auth")
        form = await form_of(request)
        _ = gettext_for(request)
        try:
            await web.backends.identity().RequestPasswordReset(
                ipb.RequestPasswordResetRequest(
                    email=form.get("email", ""), client=web.client(request)
                ),
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {}, ("email",))
            if problem.status >= 500:
                raise
            return page(
                request,
                "forgot.html",
                status=problem.status,
                title=_("Forgotten password"),
                narrow=True,
                problem=problem,
                values=form,
            )
        return page(
            request,
            "message.html",
            title=_("Check your inbox"),
            narrow=True,
            message=_(
                "If an account uses this address, we sent it a link to choose a new password."
            ),
        )

    @get("/reset-password")
    async def reset_page(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web], token: FromQuery[str] = ""
    ) -> Response[str]:
        web.prepare(request)
        web.limit(request, "public")
        _ = gettext_for(request)
        return page(
            request,
            "reset.html",
            title=_("Choose a new password"),
            narrow=True,
            token=token[:512],
            problem=None,
        )

    @post("/reset-password", request_max_body_size=MAX_FORM_BYTES)
    async def reset(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        web.prepare(request)
        web.limit(request, "auth")
        form = await form_of(request)
        _ = gettext_for(request)
        try:
            await web.backends.identity().ResetPassword(
                ipb.ResetPasswordRequest(
                    token=form.get("token", ""),
                    new_password=form.get("new_password", ""),
                    client=web.client(request),
                ),
                timeout=web.timeout * 6,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {}, ("new_password", "token"))
            if problem.status >= 500:
                raise
            return page(
                request,
                "reset.html",
                status=problem.status,
                title=_("Choose a new password"),
                narrow=True,
                token=form.get("token", ""),
                problem=problem,
            )
        return page(
            request,
            "message.html",
            title=_("Your password is changed"),
            narrow=True,
            message=_("Every session was signed out. Sign in with your new password."),
            link=("/login", _("Sign in")),
        )


def markdown_blocks(text: str) -> list[tuple[str, str]]:
    """Markdown as (kind, text) blocks: headings and paragraphs, shown escaped (no HTML)."""
    blocks: list[tuple[str, str]] = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        chunk = chunk.strip()
        if not chunk:
            continue
        if chunk.startswith("#"):
            level = min(len(chunk) - len(chunk.lstrip("#")), 3) + 1
            blocks.append((f"h{level}", chunk.lstrip("#").strip()))
        else:
            blocks.append(("p", " ".join(line.strip() for line in chunk.splitlines())))
    return blocks


def login_link(target: str) -> str:
    return "/login?" + urllib.parse.urlencode({"next": target})
