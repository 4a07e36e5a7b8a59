"""Form RPCs: the account's CRUD (CreateForm, GetForm, ListForms, UpdateForm, DeleteForm,
RestoreForm from the 30-day trash) and
the two public ones the gateway calls for visitors (GetPublicForm, SubmitForm).

A submission passes the anti-bot checks (``forms.py``), is validated field by field, is
stored as pending (``form_submissions``), and starts double opt-in at consent (one email for
the purposes of all the form's lists; the submission's id is the retry key) — or, for a form
with single opt-in, records the consent. Either way the contact is written only when
consent's ``consent.purpose.granted`` reaches the projection (``form_confirmations.py``).
A refusal by consent removes the pending submission again: nothing half-accepted stays.

The public RPCs need no token, like consent's link pages: a published form's id is its
address, and the form names the account (never the caller).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva_campaign import domain, forms
from missiva_campaign.consent_client import ConsentClient
from missiva_campaign.core import CampaignCore, new_id, now, timestamp
from missiva_campaign.rpc_my_contact import MyDataLinks
from missiva_campaign.store import forms as form_store
from missiva_campaign.store import lists
from missiva_platform import metrics
from missiva_platform.auth import current_tenant
from missiva_platform.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from missiva_platform.idempotency import run_once

log = logging.getLogger(__name__)

FORM_NOT_FOUND = "form not found"
DUPLICATE_NAME = "form.name: the account already has a form of this name"
UPDATABLE = (
    "name", "kind", "fields", "list_ids", "title", "description", "submit_label",
    "consent_text", "policy_document_id", "policy_version", "single_opt_in",
    "thank_you_message", "thank_you_url", "confirmed_message", "confirmed_url", "popup",
    "min_fill_seconds", "challenge_required", "locale", "active",
)  # fmt: skip
DEFAULT_THANK_YOU = "Thank you! Check your inbox: we sent you a link to confirm."
MAX_VALUE_CHARS = 500


@dataclass
class FormParts:
    """What submissions need beyond the database (None: not configured)."""

    consent: ConsentClient | None = None
    render: forms.RenderTokens | None = None
    challenge: forms.ChallengeVerifier | None = None
    links: MyDataLinks | None = None  # consent's my-data link tokens (rpc_my_contact.py)


def _dropped() -> Any:
    return metrics.counter(
        "form_submissions_dropped_total",
        "Form submissions dropped as robots (the honeypot was filled in).",
    )


def form_pb(row: dict[str, Any]) -> pb.Form:
    popup = row["popup"] or {}
    form = pb.Form(
        form_id=row["id"],
        name=row["name"],
        kind=forms.KIND_VALUES[row["kind"]],  # type: ignore[arg-type]
        fields=[pb.FormField(**f) for f in row["fields"]],
        list_ids=row["list_ids"],
        title=row["title"],
        description=row["description"],
        submit_label=row["submit_label"],
        consent_text=row["consent_text"],
        policy_document_id=row["policy_document_id"],
        policy_version=row["policy_version"],
        single_opt_in=row["single_opt_in"],
        thank_you_message=row["thank_you_message"],
        thank_you_url=row["thank_you_url"],
        confirmed_message=row["confirmed_message"],
        confirmed_url=row["confirmed_url"],
        popup=pb.PopupRules(**popup),
        min_fill_seconds=row["min_fill_seconds"],
        challenge_required=row["challenge_required"],
        locale=row["locale"],
        active=row["active"],
        submission_count=row["submission_count"],
        confirmed_count=row["confirmed_count"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        deleted_at=timestamp(row["deleted_at"]),
    )
    if row["deleted_at"] is not None:
        form.restorable_until.FromDatetime(
            (row["deleted_at"] + domain.TRASH_WINDOW).astimezone(UTC)
        )
    return form


def public_pb(row: dict[str, Any]) -> pb.PublicForm:
    full = form_pb(row)
    return pb.PublicForm(
        form_id=full.form_id,
        kind=full.kind,
        fields=full.fields,
        title=full.title,
        description=full.description,
        submit_label=full.submit_label,
        consent_text=full.consent_text,
        policy_document_id=full.policy_document_id,
        policy_version=full.policy_version,
        popup=full.popup,
        challenge_required=full.challenge_required,
        locale=full.locale,
        thank_you_message=full.thank_you_message,
        thank_you_url=full.thank_you_url,
        confirmed_message=full.confirmed_message,
        confirmed_url=full.confirmed_url,
        single_opt_in=full.single_opt_in,
    )


def form_id(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument.field(field, "is required")
    return domain.contact_id(field, value)


async def _check_lists(conn: Any, tenant: str, list_ids: list[str]) -> None:
    missing = await lists.missing(conn, tenant, list_ids)
    if missing:
        raise NotFound(f"form.list_ids: list not found: {missing[0]}")


def _answers(form: dict[str, Any], request: pb.SubmitFormRequest) -> dict[str, Any]:
    """The visitor's inputs checked against the form's fields (each error names its field)."""
    known = {f["name"]: f for f in form["fields"]}
    for name in request.values:
        if name not in known:
            raise InvalidArgument.field(f"values.{name[:64]}", "is not a field of this form")
    found: dict[str, Any] = {"first_name": "", "last_name": "", "locale": "", "attributes": {}}
    for name, spec in known.items():
        path = f"values.{name}"
        value = domain.text(
            path, request.values.get(name, ""), limit=MAX_VALUE_CHARS, required=spec["required"]
        )
        if name == "locale":
            found["locale"] = domain.locale(path, value)
        elif name.startswith("attributes."):
            if value:
                found["attributes"][name.removeprefix("attributes.")] = value
        else:
            found[name] = value[: domain.MAX_NAME_CHARS]
    return found


class FormRpcs:
    """Forms: the account's CRUD and the visitor's page and submission."""

    core: CampaignCore
    form_parts: FormParts

    async def _form(self, conn: Any, tenant: str, fid: str) -> dict[str, Any]:
        row = await form_store.get(conn, tenant, fid)
        if row is None:
            raise NotFound(FORM_NOT_FOUND)
        return row

    async def CreateForm(self, request: pb.CreateFormRequest, context: Any) -> Any:
        tenant = current_tenant()
        given = request.form
        if given.kind == pb.FORM_KIND_UNSPECIFIED:
            given.kind = pb.FORM_KIND_HOSTED
        if not given.HasField("popup"):
            given.popup.CopyFrom(pb.PopupRules())
        paths = tuple(p for p in UPDATABLE if p not in ("active", "min_fill_seconds"))
        row = {"id": new_id(), "account_id": tenant, **forms.settings(given, paths)}
        row["min_fill_seconds"] = (
            forms.settings(given, ("min_fill_seconds",))["min_fill_seconds"]
            if given.min_fill_seconds
            else 3
        )

        async def work(conn: Any) -> pb.CreateFormResponse:
            await _check_lists(conn, tenant, row["list_ids"])
            try:
                created = await form_store.create(conn, row)
            except form_store.DuplicateName:
                raise AlreadyExists(
                    "form.name: the account already has a form of this name"
                ) from None
            return pb.CreateFormResponse(form=form_pb(created))

        return await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="CreateForm",
            request=request,
            response_type=pb.CreateFormResponse,
            work=work,
        )

    async def GetForm(self, request: pb.GetFormRequest, context: Any) -> Any:
        tenant = current_tenant()
        fid = form_id("form_id", request.form_id)
        async with self.core.pool.connection() as conn:
            return pb.GetFormResponse(form=form_pb(await self._form(conn, tenant, fid)))

    async def ListForms(self, request: pb.ListFormsRequest, context: Any) -> Any:
        tenant = current_tenant()
        size = domain.page_size("page_size", request.page_size)
        digest = domain.filter_digest("forms", request.in_trash)
        after = domain.decode_page_token("page_token", request.page_token, digest)
        since = now() - domain.TRASH_WINDOW if request.in_trash else None
        async with self.core.pool.connection() as conn:
            rows = await form_store.page(
                conn, tenant, after=after, limit=size + 1, trash_since=since
            )
        more = len(rows) > size
        rows = rows[:size]
        token = domain.encode_page_token(rows[-1]["id"], digest) if more else ""
        return pb.ListFormsResponse(forms=[form_pb(r) for r in rows], next_page_token=token)

    async def UpdateForm(self, request: pb.UpdateFormRequest, context: Any) -> Any:
        tenant = current_tenant()
        fid = form_id("form.form_id", request.form.form_id)
        paths = tuple(dict.fromkeys(p.split(".")[0] for p in request.update_mask.paths))
        if not paths:
            raise InvalidArgument.field("update_mask", "is required (e.g. title,consent_text)")
        for path in paths:
            if path not in UPDATABLE:
                raise InvalidArgument.field(
                    "update_mask", f"{path} is not updatable; these are: " + ", ".join(UPDATABLE)
                )
        changes = forms.settings(request.form, paths)
        async with self.core.pool.connection() as conn, conn.transaction():
            await self._form(conn, tenant, fid)
            if "list_ids" in changes:
                await _check_lists(conn, tenant, changes["list_ids"])
            try:
                updated = await form_store.update(conn, tenant, fid, changes)
            except form_store.DuplicateName:
                raise AlreadyExists(
                    "form.name: the account already has a form of this name"
                ) from None
        if updated is None:
            raise NotFound(FORM_NOT_FOUND)
        return pb.UpdateFormResponse(form=form_pb(updated))

    async def DeleteForm(self, request: pb.DeleteFormRequest, context: Any) -> Any:
        tenant = current_tenant()
        fid = form_id("form_id", request.form_id)
        async with self.core.pool.connection() as conn, conn.transaction():
            row = await form_store.trash(conn, tenant, fid)
        if row is None:
            raise NotFound(FORM_NOT_FOUND)
        return pb.DeleteFormResponse(form=form_pb(row))

    async def RestoreForm(self, request: pb.RestoreFormRequest, context: Any) -> Any:
        tenant = current_tenant()
        fid = form_id("form_id", request.form_id)
        since = now() - domain.TRASH_WINDOW
        try:
            async with self.core.pool.connection() as conn, conn.transaction():
                row = await form_store.restore(conn, tenant, fid, since=since)
        except form_store.DuplicateName:
            raise AlreadyExists(
                "form_id: a live form has this form's name; rename that one first"
            ) from None
        if row is None:
            raise NotFound(FORM_NOT_FOUND)
        return pb.RestoreFormResponse(form=form_pb(row))

    # -- public ------------------------------------------------------------------------------

    def _render(self) -> forms.RenderTokens:
        if self.form_parts.render is None:
            raise FailedPrecondition("forms are not configured: TOKEN_KEYRING_FILE is not set")
        return self.form_parts.render

    async def _published(self, fid: str) -> dict[str, Any]:
        async with self.core.pool.connection() as conn:
            row = await form_store.published(conn, fid)
        if row is None:
            raise NotFound(FORM_NOT_FOUND)
        return row

    async def GetPublicForm(self, request: pb.GetPublicFormRequest, context: Any) -> Any:
        fid = form_id("form_id", request.form_id)
        row = await self._published(fid)
        return pb.GetPublicFormResponse(
            form=public_pb(row), render_token=self._render().issue(row["id"])
        )

    async def SubmitForm(self, request: pb.SubmitFormRequest, context: Any) -> Any:
        fid = form_id("form_id", request.form_id)
        form = await self._published(fid)
        thanks = pb.SubmitFormResponse(
            thank_you_message=form["thank_you_message"] or DEFAULT_THANK_YOU,
            thank_you_url=form["thank_you_url"],
            confirmation_sent=not form["single_opt_in"],
        )
        if request.honeypot:
            _dropped().inc()
            return thanks  # a robot is answered like anyone and nothing is kept
        now = datetime.now(UTC)
        self._render().check(request.render_token, fid, form["min_fill_seconds"], now)
        if form["challenge_required"]:
            verifier = self.form_parts.challenge
            if verifier is None:
                raise FailedPrecondition(
                    "this form asks for a challenge but none is configured (FORM_CHALLENGE_URL)"
                )
            if not await verifier.verify(request.challenge_response, request.client.ip_address):
                raise FailedPrecondition(
                    "the challenge was not passed: try it again",
                    [("CHALLENGE_FAILED", "challenge_response", "not passed")],
                )
        address = domain.email_address("email", request.email)
        if not request.consent_given:
            raise InvalidArgument.field("consent_given", "tick the box to subscribe")
        answers = _answers(form, request)
        consent = self.form_parts.consent
        if consent is None:
            raise FailedPrecondition("forms are not configured: CONSENT_TARGET is not set")
        tenant = form["account_id"]
        submission_id = new_id()
        async with self.core.pool.connection() as conn, conn.transaction():
            purposes = [
                row["purpose_id"]
                for row in [await lists.get(conn, tenant, i) for i in form["list_ids"]]
                if row is not None
            ]
            purpose_ids = list(dict.fromkeys(purposes))
            if not purpose_ids:
                raise FailedPrecondition("this form's lists are gone: it takes no subscription")
            await form_store.add_submission(
                conn,
                {
                    "id": submission_id,
                    "account_id": tenant,
                    "form_id": fid,
                    "person_key": self.core.person_key(address),
                    "email": address.email,
                    **answers,
                    "list_ids": form["list_ids"],
                    "purpose_ids": purpose_ids,
                },
            )
        evidence = consent_pb.ConsentEvidence(
            source=consent_pb.CONSENT_SOURCE_FORM,
            source_detail=f"form:{fid} {form['name']}"[:500],
            checkbox_text=form["consent_text"],
            policy_document_id=form["policy_document_id"],
            policy_version=form["policy_version"],
            client=request.client,
        )
        try:
            if form["single_opt_in"]:
                for purpose in purpose_ids:
                    await consent.record(
                        tenant,
                        email=address.email,
                        purpose_id=purpose,
                        evidence=evidence,
                        key=f"form:{submission_id}:{purpose}",
                    )
                confirmation = ""
            else:
                confirmation = await consent.start_double_opt_in(
                    tenant,
                    email=address.email,
                    purpose_ids=purpose_ids,
                    evidence=evidence,
                    locale=answers["locale"] or form["locale"],
                    display_name=domain.display_name(answers["first_name"], answers["last_name"]),
                    key=f"form:{submission_id}",
                )
        except Exception:
            async with self.core.pool.connection() as conn, conn.transaction():
                await form_store.drop_submission(conn, submission_id)
            raise
        if confirmation:
            async with self.core.pool.connection() as conn, conn.transaction():
                await form_store.set_confirmation(conn, submission_id, confirmation)
        return thanks
