"""Billing: the plan (choose, change, cancel at the period's end), the credits and their
ledger, invoices as PDF and XML, the referral link, and the billing profile invoices are
made out to. Every rule is billing's: these pages call its RPCs and show its answers."""

from __future__ import annotations

import re
import uuid
from typing import Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from missiva.billing.v1 import billing_service_pb2 as bpb
from missiva_gateway.web.account import MAX_FORM_BYTES, form_of
from missiva_gateway.web.app_pages import billing_stub, optional
from missiva_gateway.web.context import Caller, Web
from missiva_gateway.web.problems import FormProblem, form_problem
from missiva_gateway.web.render import gettext_for, origin, page

N_ = str
_FILE = re.compile(r"[^A-Za-z0-9._-]")
LEDGER_LINES = 20
STATUS = {
    bpb.SUBSCRIPTION_STATUS_INCOMPLETE: N_("waiting for the first payment"),
    bpb.SUBSCRIPTION_STATUS_TRIALING: N_("trial"),
    bpb.SUBSCRIPTION_STATUS_ACTIVE: N_("active"),
    bpb.SUBSCRIPTION_STATUS_PAST_DUE: N_("payment overdue"),
    bpb.SUBSCRIPTION_STATUS_CANCELED: N_("cancelled"),
}
ENTRY_KINDS = {
    bpb.CREDIT_ENTRY_KIND_GRANT: N_("granted"),
    bpb.CREDIT_ENTRY_KIND_RESERVE: N_("held for a send"),
    bpb.CREDIT_ENTRY_KIND_RELEASE: N_("given back"),
    bpb.CREDIT_ENTRY_KIND_EXPIRE: N_("hold expired"),
    bpb.CREDIT_ENTRY_KIND_ADJUST: N_("corrected"),
}
INTERVALS = {
    bpb.BILLING_INTERVAL_MONTHLY: N_("per month"),
    bpb.BILLING_INTERVAL_YEARLY: N_("per year"),
}
# The profile form's fields, and where billing names each in its field violations.
ADDRESS_FIELDS = ("line1", "line2", "city", "province", "postal_code", "country_code")
PROFILE_FIELDS = ("business_name", "legal_form", "vat_number", "tax_code", "sdi_code", "pec",
                  "rea_number", "invoice_email")  # fmt: skip
PROFILE_NAMES = {
    **{f"profile.address.{name}": name for name in ADDRESS_FIELDS},
    **{f"profile.{name}": name for name in PROFILE_FIELDS},
}
PROFILE_LABELS = {
    "business_name": N_("Business or person name"),
    "legal_form": N_("Legal form"),
    "line1": N_("Street and number"),
    "line2": N_("Further address line"),
    "city": N_("City"),
    "province": N_("Province"),
    "postal_code": N_("Postal code"),
    "country_code": N_("Country"),
    "vat_number": N_("VAT number"),
    "tax_code": N_("Tax code (codice fiscale)"),
    "sdi_code": N_("SDI recipient code"),
    "pec": N_("PEC address"),
    "rea_number": N_("REA number"),
    "invoice_email": N_("Invoices go to"),
}


def _plan_problem(exc: grpc.aio.AioRpcError, _: Any) -> FormProblem:
    """Billing's refusal of a plan; a profile it cannot invoice yet names the profile's field
    by its label on the profile page."""
    problem = form_problem(exc, PROFILE_NAMES, ("plan_id",))
    missing = [name for name in problem.fields if name in PROFILE_LABELS]
    if missing:
        name = missing[0]
        message = _("Complete the billing profile first: %(field)s %(why)s.") % {
            "field": _(PROFILE_LABELS[name]),
            "why": problem.fields[name],
        }
        return FormProblem(problem.status, message)
    return problem


def money(value: Any) -> str:
    amount = value.units + value.nanos / 1e9
    return f"{amount:,.2f} {value.currency_code}".strip()


def _live(subscription: Any) -> bool:
    """Whether the account has a subscription to change (not Free, not cancelled)."""
    if subscription is None or not subscription.subscription.subscription_id:
        return False
    return subscription.subscription.status != bpb.SUBSCRIPTION_STATUS_CANCELED


class BillingPages(Controller):
    """``/app/billing`` and ``/app/billing/profile``."""

    include_in_schema = False

    async def _billing(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        *,
        problem: FormProblem | None = None,
        notice: str = "",
        status: int = 200,
    ) -> Response[str]:
        stub, md, t = billing_stub(web), caller.metadata, web.timeout
        balance, subscription, plans, entries, invoices, referral = await web.gather(
            optional(stub.GetCreditBalance(bpb.GetCreditBalanceRequest(), metadata=md, timeout=t)),
            optional(stub.GetSubscription(bpb.GetSubscriptionRequest(), metadata=md, timeout=t)),
            optional(stub.ListPlans(bpb.ListPlansRequest(page_size=50), timeout=t)),
            optional(
                stub.ListCreditEntries(
                    bpb.ListCreditEntriesRequest(page_size=LEDGER_LINES), metadata=md, timeout=t
                )
            ),
            optional(
                stub.ListInvoices(bpb.ListInvoicesRequest(page_size=50), metadata=md, timeout=t)
            ),
            optional(stub.GetReferralCode(bpb.GetReferralCodeRequest(), metadata=md, timeout=t)),
        )
        _ = gettext_for(request)
        names = {p.plan_id: p.name for p in plans.plans} if plans else {}
        return page(
            request,
            "billing.html",
            status=status,
            title=_("Billing"),
            balance=balance.balance if balance else None,
            subscription=subscription,
            live=_live(subscription),
            plans=[p for p in plans.plans if p.plan_id != "free"] if plans else [],
            plan_names=names,
            entries=list(entries.entries) if entries else [],
            invoices=list(invoices.invoices) if invoices else [],
            referral=referral,
            referral_url=f"{origin(request)}{referral.link_path}" if referral else "",
            statuses=STATUS,
            kinds=ENTRY_KINDS,
            intervals=INTERVALS,
            money=money,
            problem=problem,
            notice=notice,
            key=str(uuid.uuid4()),
        )

    @get("/app/billing")
    async def billing(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        return await self._billing(request, web, caller)

    @post("/app/billing/plan", request_max_body_size=MAX_FORM_BYTES)
    async def choose_plan(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        """Subscribe (a checkout address is followed) or change the plan."""
        caller = await web.signed_in(request)
        form = await form_of(request)
        _ = gettext_for(request)
        stub, md, t = billing_stub(web), caller.metadata, web.timeout
        plan_id, key = form.get("plan_id", "")[:64], form.get("idempotency_key", "")[:64]
        try:
            current = await optional(
                stub.GetSubscription(bpb.GetSubscriptionRequest(), metadata=md, timeout=t)
            )
            if _live(current):
                changed = await stub.ChangePlan(
                    bpb.ChangePlanRequest(plan_id=plan_id, idempotency_key=key),
                    metadata=md,
                    timeout=t * 3,
                )
                sub = changed.subscription
                if sub.pending_plan_id:
                    notice = _("The plan changes when the current period ends.")
                else:
                    notice = _("The new plan applies now.")
            else:
                back = f"{origin(request)}/app/billing"
                started = await stub.Subscribe(
                    bpb.SubscribeRequest(
                        plan_id=plan_id, success_url=back, cancel_url=back, idempotency_key=key
                    ),
                    metadata=md,
                    timeout=t * 3,
                )
                if started.checkout_url.startswith("https://"):
                    return Redirect(started.checkout_url, status_code=303)
                if started.trial_granted:
                    notice = _("Your trial has started.")
                else:
                    notice = _("You are subscribed: the first invoice is issued, below.")
        except grpc.aio.AioRpcError as exc:
            problem = _plan_problem(exc, _)
            if problem.status >= 500 and exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            return await self._billing(request, web, caller, problem=problem, status=problem.status)
        return await self._billing(request, web, caller, notice=notice)

    @post("/app/billing/cancel", request_max_body_size=MAX_FORM_BYTES)
    async def cancel(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        """Cancel at the end of the period (credits and the plan last until then); billing
        ends one never paid (waiting for its first payment) at once."""
        caller = await web.signed_in(request)
        form = await form_of(request)
        _ = gettext_for(request)
        try:
            reply = await billing_stub(web).CancelSubscription(
                bpb.CancelSubscriptionRequest(
                    at_period_end=True, idempotency_key=form.get("idempotency_key", "")[:64]
                ),
                metadata=caller.metadata,
                timeout=web.timeout * 3,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc)
            if problem.status >= 500 and exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            return await self._billing(request, web, caller, problem=problem, status=problem.status)
        if reply.subscription.status == bpb.SUBSCRIPTION_STATUS_CANCELED:
            notice = _("The subscription is cancelled: the account is on the Free plan.")
        else:
            notice = _("The subscription ends with the current period.")
        return await self._billing(request, web, caller, notice=notice)

    @get("/app/billing/invoices/{invoice_id:str}/{kind:str}")
    async def invoice_file(
        self,
        invoice_id: FromPath[str],
        kind: FromPath[str],
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
    ) -> Response[bytes]:
        caller = await web.signed_in(request)
        stub = billing_stub(web)
        if kind == "pdf":
            reply = await stub.DownloadInvoicePdf(
                bpb.DownloadInvoicePdfRequest(invoice_id=invoice_id[:64]),
                metadata=caller.metadata,
                timeout=web.timeout * 6,
            )
        elif kind == "xml":
            reply = await stub.DownloadInvoiceXml(
                bpb.DownloadInvoiceXmlRequest(invoice_id=invoice_id[:64]),
                metadata=caller.metadata,
                timeout=web.timeout * 6,
            )
        else:
            raise NotFoundException()
        name = _FILE.sub("_", reply.file_name)[:100] or f"invoice.{kind}"
        return Response(
            reply.content,
            media_type=reply.media_type or "application/octet-stream",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )

    # -- the billing profile ---------------------------------------------------------------

    async def _profile(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        *,
        values: dict[str, str] | None = None,
        problem: FormProblem | None = None,
        notice: str = "",
        status: int = 200,
    ) -> Response[str]:
        if values is None:
            reply = await optional(
                billing_stub(web).GetBillingProfile(
                    bpb.GetBillingProfileRequest(), metadata=caller.metadata, timeout=web.timeout
                )
            )
            found = reply.profile if reply else bpb.BillingProfile()
            values = {name: getattr(found.address, name) for name in ADDRESS_FIELDS}
            values.update({name: getattr(found, name) for name in PROFILE_FIELDS})
        _ = gettext_for(request)
        return page(
            request,
            "billing_profile.html",
            status=status,
            title=_("Billing profile"),
            values=values,
            problem=problem,
            notice=notice,
        )

    @get("/app/billing/profile")
    async def profile(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        return await self._profile(request, web, caller)

    @post("/app/billing/profile", request_max_body_size=MAX_FORM_BYTES)
    async def save_profile(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        values = {name: form.get(name, "").strip() for name in (*ADDRESS_FIELDS, *PROFILE_FIELDS)}
        values["country_code"] = values["country_code"].upper()
        profile = bpb.BillingProfile(
            address=bpb.PostalAddress(**{name: values[name] for name in ADDRESS_FIELDS}),
            **{name: values[name] for name in PROFILE_FIELDS},
        )
        _ = gettext_for(request)
        try:
            await billing_stub(web).UpdateBillingProfile(
                bpb.UpdateBillingProfileRequest(profile=profile),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, PROFILE_NAMES)
            if problem.status >= 500:
                raise
            return await self._profile(
                request, web, caller, values=values, problem=problem, status=problem.status
            )
        return await self._profile(request, web, caller, notice=_("The billing profile is saved."))
