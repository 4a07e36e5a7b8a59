"""The signed-in user's own email preferences with Missiva, on ``/app/privacy``.

SYSTEM mail (security, billing, legal notices) is always on; PRODUCT_UPDATE and MARKETING
are the user's choice. They live at consent, under the platform account, for the user's
person: consent's ``IssueMyPreferencesToken`` (the caller's own token, a verified address)
gives the gateway a short-lived preference-centre token for the caller, and the preference
centre's ``GetPreferences`` / ``UpdatePreferences`` read and change them with it, with the
same evidence, history and rules as a recipient's link. The token stays on the server: the
form posts the ticked boxes, never a token, and it is CSRF-protected like every app form.
"""

from __future__ import annotations

from typing import Any

import grpc
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.response import Redirect

from missiva.consent.v1 import consent_service_pb2 as cpb
from missiva_gateway.errors import problem_of
from missiva_gateway.web.context import Caller, Web

MAX_FORM_BYTES = 16 * 1024
SAVED = "/app/privacy?saved=preferences#email-preferences"


async def _token(web: Web, caller: Caller) -> str:
    reply = await web.backends.consent().IssueMyPreferencesToken(
        cpb.IssueMyPreferencesTokenRequest(), metadata=caller.metadata, timeout=web.timeout
    )
    return str(reply.preferences_token)


async def my_preferences(web: Web, caller: Caller) -> list[dict[str, Any]] | None:
    """The caller's platform purposes (name, on/off, changeable); None when consent has none
    for them yet or their address is not verified (the page says so)."""
    try:
        token = await _token(web, caller)
    except grpc.aio.AioRpcError as exc:
        if problem_of(exc).status in (403, 404):
            return None
        raise
    reply = await web.backends.consent().GetPreferences(
        cpb.GetPreferencesRequest(token=token), timeout=web.timeout
    )
    return [
        {
            "purpose_id": item.purpose_id,
            "name": item.name,
            "description": item.description,
            "enabled": item.enabled,
            "changeable": item.changeable,
        }
        for item in reply.items
    ]


class EmailPreferencePages(Controller):
    """``POST /app/privacy/email-preferences``: save the ticked boxes (only what changed)."""

    include_in_schema = False

    @post("/app/privacy/email-preferences", request_max_body_size=MAX_FORM_BYTES)
    async def save(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        form = await request.form()
        ticked = {v for k, v in form.multi_items() if k == "enabled" and isinstance(v, str)}
        shown = {v for k, v in form.multi_items() if k == "shown" and isinstance(v, str)}
        token = await _token(web, caller)
        consent = web.backends.consent()
        current = await consent.GetPreferences(
            cpb.GetPreferencesRequest(token=token), timeout=web.timeout
        )
        changes = [
            cpb.PreferenceChange(purpose_id=item.purpose_id, enabled=item.purpose_id in ticked)
            for item in current.items
            if item.changeable
            and item.purpose_id in shown
            and item.enabled != (item.purpose_id in ticked)
        ]
        if changes:
            await consent.UpdatePreferences(
                cpb.UpdatePreferencesRequest(
                    token=token, changes=changes, client=web.client(request)
                ),
                timeout=web.timeout,
            )
        return Redirect(SAVED, status_code=303)
