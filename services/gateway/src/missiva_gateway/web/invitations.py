"""Joining an account from an invitation: ``/accept-invitation?token=…`` (identity mails the
link). The GET shows the form and never spends the token; the POST creates the user with
the Terms and Privacy policy accepted, and signs them in."""

from __future__ import annotations

from typing import Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect

from missiva.identity.v1 import identity_service_pb2 as ipb
from missiva_gateway.web.account import MAX_FORM_BYTES, acceptances_of, form_of, sign_up_documents
from missiva_gateway.web.context import Web
from missiva_gateway.web.problems import FormProblem, form_problem
from missiva_gateway.web.render import gettext_for, page
from missiva_gateway.web.session import Session

FIELDS = ("display_name", "password", "acceptances", "token")
MAX_TOKEN = 512


class InvitationPages(Controller):
    """The invitee's page."""

    include_in_schema = False

    async def _form(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        token: str,
        values: dict[str, str],
        problem: FormProblem | None = None,
        status: int = 200,
    ) -> Response[str]:
        _ = gettext_for(request)
        return page(
            request,
            "invitation.html",
            status=status,
            title=_("Join your team on Missiva"),
            narrow=True,
            token=token,
            documents=await sign_up_documents(request, web),
            values=values,
            problem=problem,
        )

    @get("/accept-invitation")
    async def invitation_page(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web], token: FromQuery[str] = ""
    ) -> Any:
        web.prepare(request)
        web.limit(request, "public")
        return await self._form(request, web, token[:MAX_TOKEN], {})

    @post("/accept-invitation", request_max_body_size=MAX_FORM_BYTES)
    async def accept(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        web.prepare(request)
        web.limit(request, "auth")
        form = await form_of(request)
        token = form.get("token", "")[:MAX_TOKEN]
        documents = await sign_up_documents(request, web)
        try:
            reply = await web.backends.identity().AcceptInvitation(
                ipb.AcceptInvitationRequest(
                    token=token,
                    password=form.get("password", ""),
                    display_name=form.get("display_name", ""),
                    acceptances=acceptances_of(form, documents),
                    client=web.client(request),
                ),
                timeout=web.timeout * 6,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {"acceptances": "acceptances"}, FIELDS)
            if problem.status >= 500:
                raise
            values = {k: v for k, v in form.items() if k != "password"}
            return await self._form(request, web, token, values, problem, status=problem.status)
        web.sessions.write(request, Session.of(reply.tokens))
        return Redirect("/app", status_code=303)
