"""``/app/domains``: the account's sender domains (delivery's ``ListSenderDomains``), each
with its status, last check and the DNS records to publish; registering one
(``CreateSenderDomain``), checking its records now (``VerifySenderDomain``, the result shown
per record) and, for admins, rotating its DKIM keys (``RotateDkimKey``).

Delivery decides who may do what (admins register, verify and rotate; every member reads)
and answers NOT_FOUND for another account's domain; the page only hides the buttons a
member cannot use. In embedded mode the page names the operator's command that publishes
the records into the platform's loopback DNS (``missiva publish-dns``).
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from missiva.delivery.v1 import delivery_service_pb2 as dpb
from missiva.delivery.v1 import delivery_service_pb2_grpc
from missiva_gateway.web.account import MAX_FORM_BYTES, form_of
from missiva_gateway.web.context import Caller, Web
from missiva_gateway.web.problems import FormProblem, form_problem
from missiva_gateway.web.render import gettext_for, page

N_ = str
STATUS_NAMES = {
    dpb.SENDER_DOMAIN_STATUS_PENDING: N_("pending"),
    dpb.SENDER_DOMAIN_STATUS_VERIFIED: N_("verified"),
    dpb.SENDER_DOMAIN_STATUS_FAILED: N_("failed"),
}
PURPOSES = {
    dpb.DNS_RECORD_PURPOSE_DKIM: N_("DKIM key"),
    dpb.DNS_RECORD_PURPOSE_SPF: N_("SPF of the return path"),
    dpb.DNS_RECORD_PURPOSE_DMARC: N_("DMARC (suggested)"),
    dpb.DNS_RECORD_PURPOSE_RETURN_PATH: N_("Return path (bounces)"),
}
MAX_DOMAINS = 100


def delivery_stub(web: Web) -> Any:
    return delivery_service_pb2_grpc.DeliveryServiceStub(web.backends.channel("delivery"))


class DomainPages(Controller):
    """The sender domains page and its three forms."""

    include_in_schema = False

    async def _domains(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        *,
        problem: FormProblem | None = None,
        action_problem: FormProblem | None = None,
        notice: str = "",
        status: int = 200,
        values: dict[str, str] | None = None,
    ) -> Response[str]:
        reply = await delivery_stub(web).ListSenderDomains(
            dpb.ListSenderDomainsRequest(page_size=MAX_DOMAINS),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        _ = gettext_for(request)
        return page(
            request,
            "domains.html",
            status=status,
            title=_("Sender domains"),
            domains=list(reply.sender_domains),
            more=bool(reply.next_page_token),
            status_names=STATUS_NAMES,
            purposes=PURPOSES,
            problem=problem,
            action_problem=action_problem,
            notice=notice,
            admin=caller.is_admin,
            account_id=caller.account.account.account_id,
            values=values or {},
            key=str(uuid.uuid4()),
        )

    @get("/app/domains")
    async def domains(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        return await self._domains(request, web, caller)

    @post("/app/domains", request_max_body_size=MAX_FORM_BYTES)
    async def register(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        _ = gettext_for(request)
        try:
            reply = await delivery_stub(web).CreateSenderDomain(
                dpb.CreateSenderDomainRequest(
                    domain=form.get("domain", "").strip(),
                    idempotency_key=form.get("idempotency_key", "")[:64],
                ),
                metadata=caller.metadata,
                timeout=web.timeout * 3,  # two keys are made (RSA-2048 takes a moment)
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {}, ("domain",))
            if problem.status >= 500:
                raise
            return await self._domains(
                request, web, caller, problem=problem, values=form, status=problem.status
            )
        name = reply.sender_domain.domain
        return await self._domains(
            request,
            web,
            caller,
            notice=_("%(domain)s is registered. Publish its records, then verify it.")
            % {"domain": name},
        )

    @post("/app/domains/{sender_domain_id:str}/verify", request_max_body_size=MAX_FORM_BYTES)
    async def verify(
        self,
        sender_domain_id: FromPath[str],
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
    ) -> Any:
        caller = await web.signed_in(request)
        _ = gettext_for(request)
        try:
            reply = await delivery_stub(web).VerifySenderDomain(
                dpb.VerifySenderDomainRequest(sender_domain_id=sender_domain_id[:64]),
                metadata=caller.metadata,
                timeout=web.timeout * 3,  # one DNS question per record
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc)
            if problem.status >= 500 or problem.status == 404:
                raise
            return await self._domains(
                request, web, caller, action_problem=problem, status=problem.status
            )
        domain = reply.sender_domain
        wrong = sum(1 for r in domain.dns_records if not r.verified)
        if domain.status == dpb.SENDER_DOMAIN_STATUS_VERIFIED:
            notice = _("%(domain)s is verified: campaigns can be sent from it.") % {
                "domain": domain.domain
            }
            if wrong:
                notice += " " + _("Records still missing or different: %(count)s.") % {
                    "count": wrong
                }
        else:
            notice = _(
                "%(domain)s is not verified yet: %(count)s record(s) are missing or different."
            ) % {"domain": domain.domain, "count": wrong}
        return await self._domains(request, web, caller, notice=notice)

    @post("/app/domains/{sender_domain_id:str}/rotate", request_max_body_size=MAX_FORM_BYTES)
    async def rotate(
        self,
        sender_domain_id: FromPath[str],
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
    ) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        _ = gettext_for(request)
        try:
            reply = await delivery_stub(web).RotateDkimKey(
                dpb.RotateDkimKeyRequest(
                    sender_domain_id=sender_domain_id[:64],
                    idempotency_key=form.get("idempotency_key", "")[:64],
                ),
                metadata=caller.metadata,
                timeout=web.timeout * 3,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc)
            if problem.status >= 500 or problem.status == 404:
                raise
            return await self._domains(
                request, web, caller, action_problem=problem, status=problem.status
            )
        return await self._domains(
            request,
            web,
            caller,
            notice=_(
                "New keys (%(selector)s) are made. Publish their records and verify: mail is "
                "signed with the current keys until then."
            )
            % {"selector": reply.new_selector},
        )
