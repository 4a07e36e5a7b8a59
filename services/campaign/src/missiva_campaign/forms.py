"""Subscribe forms: validation of a form's settings, the render token that dates a page for the
minimum fill time, and the optional challenge verifier.

Anti-bot, in the order SubmitForm applies it:

1. the honeypot: a hidden input people never fill in; a submission that fills it is answered
   like any other and dropped (a robot learns nothing);
2. the minimum fill time: GetPublicForm signs ``{form, rendered at}`` with campaign's token
   keyring (a key derived for forms only); a submission sooner than the form's
   ``min_fill_seconds`` after rendering, or more than a day later, is refused;
3. the challenge, for forms that ask for one: a ``ChallengeVerifier``. ``SiteVerify`` speaks
   the siteverify wire format that Cloudflare Turnstile and hCaptcha share (POST
   ``secret``, ``response``, ``remoteip`` as a form; JSON ``{"success": true|false}``).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import domain
from missiva_platform.crypto import InvalidToken, TokenKeyring
from missiva_platform.errors import FailedPrecondition, InvalidArgument

RENDER_PURPOSE = "form-render"
RENDER_MAX_AGE = timedelta(days=1)
MAX_FIELDS = 20
MAX_TEXT = 2000
MAX_CONSENT_TEXT = 5000
MAX_URL = 2000
NAMED_FIELDS = ("first_name", "last_name", "locale")
KINDS = {pb.FORM_KIND_HOSTED: "hosted", pb.FORM_KIND_POPUP: "popup"}
KIND_VALUES = {v: k for k, v in KINDS.items()}
DEFAULT_SHOW_AGAIN_DAYS = 30


# ---------------------------------------------------------------------------- settings


def field_specs(values: Any) -> list[dict[str, Any]]:
    """The form's inputs: ``first_name``, ``last_name``, ``locale`` or ``attributes.<key>``."""
    if len(values) > MAX_FIELDS:
        raise InvalidArgument.field("form.fields", f"at most {MAX_FIELDS} fields")
    found: list[dict[str, Any]] = []
    seen = set()
    for i, given in enumerate(values):
        path = f"form.fields[{i}].name"
        name = given.name.strip()
        if name.startswith("attributes."):
            name = "attributes." + domain.attribute_key(path, name.removeprefix("attributes."))
        elif name not in NAMED_FIELDS:
            raise InvalidArgument.field(
                path, f"must be one of {', '.join(NAMED_FIELDS)} or attributes.<key>"
            )
        if name in seen:
            raise InvalidArgument.field(path, f"{name} is named twice")
        seen.add(name)
        label = domain.text(f"form.fields[{i}].label", given.label, limit=200)
        found.append({"name": name, "label": label or name, "required": bool(given.required)})
    return found


def url(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    parsed = urllib.parse.urlsplit(value)
    if len(value) > MAX_URL or parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise InvalidArgument.field(field, "must be an http(s) address")
    return value


def popup_rules(given: pb.PopupRules) -> dict[str, Any]:
    checks = (
        ("delay_seconds", given.delay_seconds, 0, 3600),
        ("scroll_percent", given.scroll_percent, 0, 100),
        ("show_again_after_days", given.show_again_after_days, 0, 365),
    )
    for name, value, low, high in checks:
        if not low <= value <= high:
            raise InvalidArgument.field(f"form.popup.{name}", f"must be {low} to {high}")
    return {
        "delay_seconds": given.delay_seconds,
        "scroll_percent": given.scroll_percent,
        "exit_intent": given.exit_intent,
        "show_again_after_days": given.show_again_after_days or DEFAULT_SHOW_AGAIN_DAYS,
    }


def settings(given: pb.Form, paths: tuple[str, ...]) -> dict[str, Any]:
    """The checked columns named in ``paths``, each violation naming its field."""
    row: dict[str, Any] = {}
    texts = {
        "name": 200, "title": 300, "description": MAX_TEXT, "submit_label": 100,
        "thank_you_message": MAX_TEXT, "confirmed_message": MAX_TEXT,
        "policy_document_id": 64, "policy_version": 64,
    }  # fmt: skip
    for name, limit in texts.items():
        if name in paths:
            row[name] = domain.text(
                f"form.{name}", getattr(given, name), limit=limit, required=name == "name"
            )
    if "consent_text" in paths:
        row["consent_text"] = domain.text(
            "form.consent_text", given.consent_text, limit=MAX_CONSENT_TEXT, required=True
        )
    if "kind" in paths:
        if given.kind not in KINDS:
            raise InvalidArgument.field("form.kind", "must be HOSTED or POPUP")
        row["kind"] = KINDS[given.kind]
    if "fields" in paths:
        row["fields"] = field_specs(given.fields)
    if "list_ids" in paths:
        ids = list(
            dict.fromkeys(
                domain.contact_id(f"form.list_ids[{i}]", v) for i, v in enumerate(given.list_ids)
            )
        )
        if not ids:
            raise InvalidArgument.field("form.list_ids", "name at least one list to join")
        if len(ids) > 20:
            raise InvalidArgument.field("form.list_ids", "at most 20 lists")
        row["list_ids"] = ids
    for name in ("thank_you_url", "confirmed_url"):
        if name in paths:
            row[name] = url(f"form.{name}", getattr(given, name))
    if "popup" in paths:
        row["popup"] = popup_rules(given.popup)
    if "min_fill_seconds" in paths:
        if not 0 <= given.min_fill_seconds <= 600:
            raise InvalidArgument.field("form.min_fill_seconds", "must be 0 to 600")
        row["min_fill_seconds"] = given.min_fill_seconds
    if "locale" in paths:
        row["locale"] = domain.locale("form.locale", given.locale)
    for name in ("single_opt_in", "challenge_required", "active"):
        if name in paths:
            row[name] = bool(getattr(given, name))
    return row


# ------------------------------------------------------------------------- render token


class RenderTokens:
    """Signed ``{form, rendered at}``: what dates a form page for the minimum fill time."""

    def __init__(self, keyring: TokenKeyring) -> None:
        self._keys = keyring.derive("campaign-forms")

    def issue(self, form_id: str, now: datetime | None = None) -> str:
        rendered = now or datetime.now(UTC)
        claims = {"f": form_id, "r": int(rendered.timestamp() * 1000)}  # milliseconds
        return self._keys.sign(RENDER_PURPOSE, claims, ttl=RENDER_MAX_AGE, now=rendered)

    def check(self, token: str, form_id: str, min_fill_seconds: int, now: datetime) -> None:
        try:
            claims = self._keys.verify(token, RENDER_PURPOSE, now=now)
        except InvalidToken as exc:
            if "expired" in str(exc):
                raise FailedPrecondition(
                    "the form page is more than a day old: reload it and send it again"
                ) from None
            raise InvalidArgument.field("render_token", "is not a token of this form") from None
        if claims.get("f") != form_id:
            raise InvalidArgument.field("render_token", "is not a token of this form")
        rendered = datetime.fromtimestamp(int(claims.get("r", 0)) / 1000, UTC)
        if now - rendered < timedelta(seconds=min_fill_seconds):
            raise FailedPrecondition(
                "the form was sent too quickly after it appeared: wait a moment and send it again",
                [("FORM_TOO_FAST", "render_token", f"at least {min_fill_seconds} s")],
            )


# --------------------------------------------------------------------------- challenge


class ChallengeVerifier(Protocol):
    async def verify(self, response: str, remote_ip: str) -> bool: ...


class SiteVerify:
    """A siteverify endpoint (Turnstile / hCaptcha wire format)."""

    def __init__(self, endpoint: str, secret: str, *, timeout: float = 5.0) -> None:
        self._endpoint = endpoint
        self._secret = secret
        self._timeout = timeout

    def _post(self, response: str, remote_ip: str) -> bool:
        fields = {"secret": self._secret, "response": response}
        if remote_ip:
            fields["remoteip"] = remote_ip
        body = urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(  # noqa: S310 - the configured https endpoint
            self._endpoint,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
            data = json.loads(answer.read(64 * 1024) or b"{}")
        return isinstance(data, dict) and data.get("success") is True

    async def verify(self, response: str, remote_ip: str) -> bool:
        if not response:
            return False
        try:
            return await asyncio.to_thread(self._post, response, remote_ip)
        except (OSError, ValueError):
            return False  # an unreachable verifier lets nobody through
