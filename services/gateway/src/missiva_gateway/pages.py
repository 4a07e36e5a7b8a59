"""The consent link pages: unsubscribe, preference centre, double opt-in confirmation.

=========================================  ==============================================
``GET  /unsubscribe/{token}``              a page with a button; changes nothing (scanners
                                           and security gateways prefetch links)
``POST /unsubscribe/{token}``              ``List-Unsubscribe=One-Click`` in the body: RFC
                                           8058 one-click, text answer; otherwise the
                                           page's form, HTML answer
``GET  /preferences/{token}``              the preference centre
``POST /preferences/{token}``              save changes, or object to one purpose
``GET  /confirm/{token}``                  a page with a "Confirm" button; changes nothing
``POST /confirm/{token}``                  confirms the double opt-in
``POST /preferences/{token}/my-data``      mail me a my-data link (the address typed must be
                                           the one the token names)
=========================================  ==============================================

The recipient's data pages are in ``my_data_pages.py``; what all public pages share (headers,
templates, errors) in ``public.py``.
"""

from __future__ import annotations

from typing import Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_gateway.backends import Backends
from missiva_gateway.config import GatewaySettings
from missiva_gateway.errors import problem_of
from missiva_gateway.public import (
    MAX_FORM_BYTES,
    N_,
    PublicPageHeaders,
    _client,
    _form,
    _when,
    error_page,
    gettext_of,
    readable,
    render,
    text,
)
from missiva_gateway.senders import CONFIRM, UNSUBSCRIBE, describe, sender_view

ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"

STATUS_TEXT = {
    pb.CONSENT_STATUS_NOT_RECORDED: N_("not chosen yet (the default applies)"),
    pb.CONSENT_STATUS_PENDING: N_("waiting for you to confirm by email"),
    pb.CONSENT_STATUS_GRANTED: N_("subscribed"),
    pb.CONSENT_STATUS_WITHDRAWN: N_("unsubscribed"),
    pb.CONSENT_STATUS_OBJECTED: N_("you objected"),
    pb.CONSENT_STATUS_RESTRICTED: N_("paused at your request (restricted)"),
}
BASIS_TEXT = {
    types_pb2.LEGAL_BASIS_CONSENT: N_("your consent"),
    types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST: N_(
        "the sender's legitimate interest (you may object)"
    ),
    types_pb2.LEGAL_BASIS_CONTRACT: N_("needed to provide the service (contract)"),
    types_pb2.LEGAL_BASIS_LEGAL_OBLIGATION: N_("a legal obligation"),
}
ACTION_TEXT = {
    pb.CONSENT_ACTION_REQUESTED: N_("asked to subscribe"),
    pb.CONSENT_ACTION_GRANTED: N_("subscribed"),
    pb.CONSENT_ACTION_WITHDRAWN: N_("unsubscribed"),
    pb.CONSENT_ACTION_OBJECTED: N_("objected"),
    pb.CONSENT_ACTION_CONFIRMED: N_("confirmed by email"),
    pb.CONSENT_ACTION_RESTRICTED: N_("restricted"),
    pb.CONSENT_ACTION_LIFTED: N_("restriction lifted"),
    pb.CONSENT_ACTION_ACCEPTED: N_("accepted a document"),
}


def _item_view(item: Any, _: Any) -> dict[str, Any]:
    return {
        "purpose_id": item.purpose_id,
        "name": item.name,
        "description": item.description,
        "enabled": item.enabled,
        "changeable": item.changeable,
        "status": _(STATUS_TEXT.get(item.status, N_("unknown"))),
        "basis": _(BASIS_TEXT[item.legal_basis]) if item.legal_basis in BASIS_TEXT else "",
        "objectable": (
            item.changeable
            and item.enabled
            and item.legal_basis == types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST
        ),
    }


def _preferences_page(
    reply: Any, request: Request[Any, Any, Any], *, notice: str = "", status: int = 200
) -> Response[str]:
    _ = gettext_of(request)
    names = {item.purpose_id: item.name for item in reply.items}
    history = [
        {
            "when": _when(record.occurred_at),
            "purpose": names.get(record.purpose_id) or record.purpose_key or "—",
            "action": _(ACTION_TEXT.get(record.action, N_("changed"))),
            "source": pb.ConsentSource.Name(record.source)
            .removeprefix("CONSENT_SOURCE_")
            .replace("_", " ")
            .lower(),
        }
        for record in reply.history
    ]
    return render(
        "preferences.html",
        status=status,
        request=request,
        title=_("Your email preferences"),
        items=[_item_view(item, _) for item in reply.items],
        choosable=any(item.changeable for item in reply.items),
        my_data_action=f"{request.url.path.rstrip('/')}/my-data",
        history=history,
        sender=sender_view(reply.sender),
        notice=notice,
    )


class PublicPagesController(Controller):
    """Unsubscribe, preference centre, double opt-in confirmation and export download."""

    include_in_schema = False
    middleware = [PublicPageHeaders()]
    exception_handlers = {grpc.RpcError: error_page, Exception: error_page}

    # -- unsubscribe -------------------------------------------------------------------------

    @get("/unsubscribe/{token:str}")
    async def unsubscribe_page(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
    ) -> Response[str]:
        """The unsubscribe page: the token checked first (read-only), then one button;
        nothing changes until it is pressed."""
        link = await describe(backends, token, UNSUBSCRIBE)
        return render(
            "unsubscribe.html",
            request=request,
            title=gettext_of(request)("Unsubscribe"),
            purposes=list(link.purpose_names),
            sender=sender_view(link.sender),
        )

    @post("/unsubscribe/{token:str}", status_code=200, request_max_body_size=MAX_FORM_BYTES)
    async def unsubscribe(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        """RFC 8058 one-click (text answer) or the page's form (HTML answer)."""
        fields = await _form(request)
        one_click = ONE_CLICK_VALUE in fields.get(ONE_CLICK_FIELD, [])
        call = pb.UnsubscribeRequest(
            token=token,
            one_click=one_click,
            all_purposes=not one_click and "all" in fields.get("scope", []),
            client=_client(request, settings),
        )
        try:
            reply = await backends.consent().Unsubscribe(call, timeout=backends.call_timeout)
        except grpc.RpcError as exc:
            if not one_click:
                raise
            problem = problem_of(exc)
            return text(f"{readable(problem)}\n", status=problem.status)
        if one_click:
            return text("unsubscribed\n")
        link = await describe(backends, token, UNSUBSCRIBE)
        return render(
            "unsubscribed.html",
            request=request,
            sender=sender_view(link.sender),
            title=gettext_of(request)("You are unsubscribed"),
            purposes=list(reply.purpose_names),
            already=reply.already_unsubscribed,
            everything=call.all_purposes,
            preferences_token=reply.preferences_token,
        )

    # -- preference centre -------------------------------------------------------------------

    @get("/preferences/{token:str}")
    async def preferences_page(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        """The preference centre: every purpose, its state and basis, and the history."""
        reply = await backends.consent().GetPreferences(
            pb.GetPreferencesRequest(
                token=token,
                client=_client(request, settings),
            ),
            timeout=backends.call_timeout,
        )
        return _preferences_page(reply, request)

    @post("/preferences/{token:str}", status_code=200, request_max_body_size=MAX_FORM_BYTES)
    async def update_preferences(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        """Save the ticked boxes (only what changed), or object to one purpose."""
        fields = await _form(request)
        consent = backends.consent()
        # Read without a client: this is the same visit, noted once by the update.
        before = await consent.GetPreferences(
            pb.GetPreferencesRequest(token=token), timeout=backends.call_timeout
        )
        items = {item.purpose_id: item for item in before.items if item.changeable}
        changes: list[pb.PreferenceChange] = []
        objection = next(iter(fields.get("object", [])), "")
        if objection:
            if objection in items:
                changes.append(pb.PreferenceChange(purpose_id=objection, enabled=False))
        else:
            ticked = set(fields.get("enabled", []))
            for purpose_id in dict.fromkeys(fields.get("shown", [])):
                item = items.get(purpose_id)
                if item is not None and item.enabled != (purpose_id in ticked):
                    changes.append(
                        pb.PreferenceChange(purpose_id=purpose_id, enabled=purpose_id in ticked)
                    )
        if changes:
            await consent.UpdatePreferences(
                pb.UpdatePreferencesRequest(
                    token=token,
                    changes=changes,
                    client=_client(request, settings),
                ),
                timeout=backends.call_timeout,
            )
            _ = gettext_of(request)
            on = [items[c.purpose_id].name for c in changes if c.enabled]
            off = [items[c.purpose_id].name for c in changes if not c.enabled]
            parts = []
            if on:
                parts.append(_("turned on: %(names)s") % {"names": ", ".join(on)})
            if off:
                said = _("you objected to: %(names)s") if objection else _("turned off: %(names)s")
                parts.append(said % {"names": ", ".join(off)})
            notice = _("Your choices are saved (%(changes)s).") % {"changes": "; ".join(parts)}
        else:
            notice = gettext_of(request)("Nothing changed.")
        after = await consent.GetPreferences(
            pb.GetPreferencesRequest(token=token), timeout=backends.call_timeout
        )
        return _preferences_page(after, request, notice=notice)

    # -- double opt-in -----------------------------------------------------------------------

    @get("/confirm/{token:str}")
    async def confirm_page(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
    ) -> Response[str]:
        """The confirmation page: the token checked first (read-only), then one button;
        nothing is confirmed until it is pressed."""
        link = await describe(backends, token, CONFIRM)
        return render(
            "confirm.html",
            request=request,
            title=gettext_of(request)("Confirm your subscription"),
            purposes=list(link.purpose_names),
            already=link.already_confirmed,
            sender=sender_view(link.sender),
        )

    @post("/confirm/{token:str}", status_code=200, request_max_body_size=MAX_FORM_BYTES)
    async def confirm(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        """Confirm the double opt-in; a used or expired link gets consent's own message."""
        reply = await backends.consent().ConfirmDoubleOptIn(
            pb.ConfirmDoubleOptInRequest(
                token=token,
                client=_client(request, settings),
            ),
            timeout=backends.call_timeout,
        )
        link = await describe(backends, token, CONFIRM)
        return render(
            "confirmed.html",
            request=request,
            sender=sender_view(link.sender),
            title=gettext_of(request)("Your subscription is confirmed"),
            purposes=list(reply.purpose_names),
        )

    # -- the recipient's data ----------------------------------------------------------------

    @post("/preferences/{token:str}/my-data", status_code=200, request_max_body_size=MAX_FORM_BYTES)
    async def send_my_data_link(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        """Mail a my-data link to the address typed (consent checks it is the token's)."""
        fields = await _form(request)
        await backends.consent().SendMyDataLink(
            pb.SendMyDataLinkRequest(
                preferences_token=token,
                email=next(iter(fields.get("email", [])), "")[:320],
                client=_client(request, settings),
            ),
            timeout=backends.call_timeout,
        )
        _ = gettext_of(request)
        return render(
            "my_data_sent.html",
            request=request,
            title=_("Check your inbox"),
        )
