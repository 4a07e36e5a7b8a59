"""Forms against a real consent service: the account's CRUD (least scope, one less refused,
bad input naming its field, another account's form and lists NOT_FOUND); the visitor's page
and submission (anti-bot: honeypot, minimum fill time, challenge over the siteverify wire
format); double opt-in by default, the contact written only once consent confirms; single
opt-in; the submission kept no longer than 30 days."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from campaign_testkit import violated_fields
from forms_testkit import GOOD_ANSWER, SiteVerifyServer
from google.protobuf import field_mask_pb2

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_campaign.forms import RenderTokens
from missiva_campaign.retention import RULES
from missiva_platform.auth import CallerKind
from missiva_platform.retention import run_retention, travel
from missiva_platform.secrets import load_token_keyring

pytestmark = pytest.mark.asyncio(loop_scope="module")

WRITE = ("forms:write",)
READ = ("forms:read",)
CLIENT = types_pb2.ClientContext(ip_address="203.0.113.9", user_agent="Firefox/140")


async def make_form(env, tenant: str, **form: object) -> tuple[pb.Form, str]:
    """A purpose at consent, a list for it, and a form joining the list."""
    purpose = await env.purpose(tenant)
    made = await env.stub.CreateList(
        pb.CreateListRequest(
            list=pb.ContactList(name=uuid.uuid4().hex, purpose_id=purpose.purpose_id)
        ),
        metadata=env.md(tenant, scopes=("lists:write",)),
        timeout=10,
    )
    values: dict[str, object] = {
        "name": uuid.uuid4().hex,
        "list_ids": [made.list.list_id],
        "title": "Our letter",
        "consent_text": "Yes, send me the monthly letter",
        "policy_document_id": "privacy",
        "policy_version": "2026-01",
        "fields": [pb.FormField(name="first_name", label="Name", required=True),
                   pb.FormField(name="attributes.city", label="City")],
    }  # fmt: skip
    values.update(form)
    reply = await env.stub.CreateForm(
        pb.CreateFormRequest(form=pb.Form(**values)), metadata=env.md(tenant, scopes=WRITE)
    )
    return reply.form, made.list.list_id


def aged_token(env, form_id: str, seconds: int = 10) -> str:
    """A render token as GetPublicForm signs it, ``seconds`` ago (a visitor who took time)."""
    keyring = load_token_keyring(env.app.settings.token_keyring_file)
    return RenderTokens(keyring).issue(form_id, now=datetime.now(UTC) - timedelta(seconds=seconds))


def submission(form: str, address: str, token: str, **fields: object) -> pb.SubmitFormRequest:
    values: dict[str, object] = {
        "form_id": form, "email": address,
        "values": {"first_name": "Ada", "attributes.city": "Roma"}, "consent_given": True,
        "render_token": token, "client": CLIENT,
    }  # fmt: skip
    values.update(fields)
    return pb.SubmitFormRequest(**values)


async def refused(call, request, **kw) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, timeout=10, **kw)
    return caught.value


async def test_crud_with_the_least_scopes_and_another_accounts_forms_not_found(forms_env) -> None:
    env, tenant, other = forms_env, forms_env.tenant(), forms_env.tenant()
    form, list_id = await make_form(env, tenant, kind=pb.FORM_KIND_POPUP,
                                popup=pb.PopupRules(delay_seconds=5, exit_intent=True))  # fmt: skip
    assert form.kind == pb.FORM_KIND_POPUP
    assert form.active
    assert not form.single_opt_in
    assert form.min_fill_seconds == 3
    assert form.popup.show_again_after_days == 30
    got = await env.stub.GetForm(pb.GetFormRequest(form_id=form.form_id),
                                 metadata=env.md(tenant, scopes=READ))  # fmt: skip
    assert got.form.fields[1].name == "attributes.city"
    listed = await env.stub.ListForms(pb.ListFormsRequest(), metadata=env.md(tenant, scopes=READ))
    assert [f.form_id for f in listed.forms] == [form.form_id]
    updated = await env.stub.UpdateForm(
        pb.UpdateFormRequest(form=pb.Form(form_id=form.form_id, title="New", active=False),
                             update_mask=field_mask_pb2.FieldMask(paths=["title", "active"])),
        metadata=env.md(tenant, scopes=WRITE),
    )  # fmt: skip
    assert (updated.form.title, updated.form.active) == ("New", False)

    # One scope less is refused; another account's form is not found.
    err = await refused(env.stub.GetForm, pb.GetFormRequest(form_id=form.form_id),
                        metadata=env.md(tenant, scopes=WRITE))  # fmt: skip
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = await refused(env.stub.CreateForm, pb.CreateFormRequest(form=pb.Form(name="x")),
                        metadata=env.md(tenant, scopes=READ))  # fmt: skip
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    for call, request in (
        (env.stub.GetForm, pb.GetFormRequest(form_id=form.form_id)),
        (env.stub.DeleteForm, pb.DeleteFormRequest(form_id=form.form_id)),
        (env.stub.UpdateForm, pb.UpdateFormRequest(
            form=pb.Form(form_id=form.form_id, title="Mine"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]))),
    ):  # fmt: skip
        err = await refused(call, request, metadata=env.md(other, scopes=(*READ, *WRITE)))
        assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await refused(
        env.stub.CreateForm,
        pb.CreateFormRequest(form=pb.Form(name="x", list_ids=[list_id], consent_text="Yes")),
        metadata=env.md(other, scopes=WRITE),
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND

    deleted = await env.stub.DeleteForm(pb.DeleteFormRequest(form_id=form.form_id),
                                        metadata=env.md(tenant, scopes=WRITE))  # fmt: skip
    assert deleted.form.HasField("deleted_at")
    err = await refused(env.stub.GetPublicForm, pb.GetPublicFormRequest(form_id=form.form_id))
    assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_bad_form_settings_name_their_field(forms_env) -> None:
    env, tenant = forms_env, forms_env.tenant()
    list_id = str(uuid.uuid4())
    base = {"name": "F", "list_ids": [list_id], "consent_text": "Yes"}
    for change, field in (
        ({"consent_text": ""}, "form.consent_text"),
        ({"name": ""}, "form.name"),
        ({"list_ids": []}, "form.list_ids"),
        ({"list_ids": ["nope"]}, "form.list_ids[0]"),
        ({"fields": [pb.FormField(name="password")]}, "form.fields[0].name"),
        ({"fields": [pb.FormField(name="attributes.1x")]}, "form.fields[0].name"),
        ({"thank_you_url": "javascript:alert(1)"}, "form.thank_you_url"),
        ({"popup": pb.PopupRules(scroll_percent=150)}, "form.popup.scroll_percent"),
        ({"min_fill_seconds": 9999}, "form.min_fill_seconds"),
        ({"locale": "not a locale"}, "form.locale"),
    ):
        request = pb.CreateFormRequest(form=pb.Form(**{**base, **change}))
        err = await refused(env.stub.CreateForm, request, metadata=env.md(tenant, scopes=WRITE))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert violated_fields(err) == [field]


async def test_a_submission_becomes_a_contact_only_when_consent_confirms(forms_env) -> None:
    env, tenant = forms_env, forms_env.tenant()
    form, list_id = await make_form(env, tenant)
    page = await env.stub.GetPublicForm(pb.GetPublicFormRequest(form_id=form.form_id))
    assert page.form.consent_text == "Yes, send me the monthly letter"
    assert page.form.policy_version == "2026-01"
    assert page.render_token

    # Sent within a second of rendering: too fast for a person.
    email = env.email("subscriber")
    err = await refused(env.stub.SubmitForm, submission(form.form_id, email, page.render_token))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "too quickly" in err.details()

    reply = await env.stub.SubmitForm(
        submission(form.form_id, email, aged_token(env, form.form_id))
    )
    assert reply.confirmation_sent
    assert "confirm" in reply.thank_you_message
    key = env.key(email)
    assert await env.scalar("SELECT count(*) FROM contacts WHERE person_key = %s", key) == 0
    assert (
        await env.scalar("SELECT status FROM form_submissions WHERE person_key = %s", key)
        == "pending"
    )

    confirm = await env.confirm_url(email)
    confirmed = await env.consent.ConfirmDoubleOptIn(
        consent_pb.ConfirmDoubleOptInRequest(token=confirm.rsplit("/", 1)[1], client=CLIENT),
        timeout=10,
    )
    assert confirmed.records[0].source == consent_pb.CONSENT_SOURCE_CONFIRMATION_LINK
    row = await env.until_row(
        "SELECT first_name, source, source_detail, attributes ->> 'city' FROM contacts"
        " WHERE person_key = %s", key,
    )  # fmt: skip
    assert row == ("Ada", "form", f"form:{form.form_id}", "Roma")
    assert await env.scalar(
        "SELECT count(*) FROM list_members m JOIN contacts c ON c.id = m.contact_id"
        " WHERE c.person_key = %s AND m.list_id = %s", key, list_id,
    ) == 1  # fmt: skip
    assert await env.scalar(
        "SELECT (status, email) FROM form_submissions WHERE person_key = %s", key
    ) == ("confirmed", "")
    got = await env.stub.GetForm(pb.GetFormRequest(form_id=form.form_id),
                                 metadata=env.md(tenant, scopes=READ))  # fmt: skip
    assert (got.form.submission_count, got.form.confirmed_count) == (1, 1)


async def test_single_opt_in_records_consent_and_writes_the_contact(forms_env) -> None:
    env, tenant = forms_env, forms_env.tenant()
    form, _ = await make_form(env, tenant, single_opt_in=True)
    email = env.email("single")
    reply = await env.stub.SubmitForm(
        submission(form.form_id, email, aged_token(env, form.form_id))
    )
    assert not reply.confirmation_sent
    found = await env.until_row("SELECT source FROM contacts WHERE person_key = %s", env.key(email))
    assert found == ("form",)


async def test_robots_and_bad_submissions(forms_env) -> None:
    env, tenant = forms_env, forms_env.tenant()
    form, _ = await make_form(env, tenant)
    other, _ = await make_form(env, tenant)
    token = aged_token(env, form.form_id)
    email = env.email("robot")
    # The honeypot: answered like anyone, nothing kept, no email.
    reply = await env.stub.SubmitForm(
        submission(form.form_id, email, token, honeypot="http://spam")
    )
    assert reply.thank_you_message
    assert (
        await env.scalar(
            "SELECT count(*) FROM form_submissions WHERE person_key = %s", env.key(email)
        )
        == 0
    )
    for change, field in (
        ({"consent_given": False}, "consent_given"),
        ({"email": "not an address"}, "email"),
        ({"values": {"first_name": "A", "password": "x"}}, "values.password"),
        ({"values": {"attributes.city": "Roma"}}, "values.first_name"),
        ({"render_token": aged_token(env, other.form_id)}, "render_token"),
        ({"render_token": "forged"}, "render_token"),
        ({"form_id": "nope"}, "form_id"),
    ):
        err = await refused(env.stub.SubmitForm, submission(form.form_id, email, token, **change))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert violated_fields(err) == [field]
    err = await refused(env.stub.GetPublicForm, pb.GetPublicFormRequest(form_id="nope"))
    assert violated_fields(err) == ["form_id"]
    err = await refused(env.stub.SubmitForm, submission(str(uuid.uuid4()), email, token))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert (
        await env.scalar("SELECT count(*) FROM form_submissions WHERE account_id = %s", tenant) == 0
    )


async def test_a_challenge_form_asks_the_verifier(forms_env) -> None:
    env, tenant = forms_env, forms_env.tenant()
    form, _ = await make_form(env, tenant, challenge_required=True)
    token = aged_token(env, form.form_id)
    err = await refused(
        env.stub.SubmitForm,
        submission(form.form_id, env.email(), token, challenge_response="robot-answer"),
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert SiteVerifyServer.seen[-1]["remoteip"] == [CLIENT.ip_address]
    reply = await env.stub.SubmitForm(
        submission(form.form_id, env.email(), token, challenge_response=GOOD_ANSWER)
    )
    assert reply.confirmation_sent


async def test_consent_refusing_leaves_no_submission(forms_env) -> None:
    env, tenant = forms_env, forms_env.tenant()
    form, _ = await make_form(env, tenant)
    email = env.email("bounced")
    # The address bounced before: consent refuses to mail it a confirmation.
    await env.consent.AddSuppression(
        consent_pb.AddSuppressionRequest(
            person=types_pb2.PersonRef(email=email),
            reason=consent_pb.SUPPRESSION_REASON_HARD_BOUNCE,
        ),
        metadata=env.consent_md(tenant, scopes=("suppressions:write",)),
        timeout=10,
    )
    err = await refused(
        env.stub.SubmitForm, submission(form.form_id, email, aged_token(env, form.form_id))
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (
        await env.scalar(
            "SELECT count(*) FROM form_submissions WHERE person_key = %s", env.key(email)
        )
        == 0
    )
    got = await env.stub.GetForm(pb.GetFormRequest(form_id=form.form_id),
                                 metadata=env.md(tenant, scopes=READ))  # fmt: skip
    assert got.form.submission_count == 0


async def test_submissions_and_trashed_forms_go_after_30_days(forms_env) -> None:
    env, tenant = forms_env, forms_env.tenant()
    form, _ = await make_form(env, tenant)
    email = env.email("late")
    await env.stub.SubmitForm(submission(form.form_id, email, aged_token(env, form.form_id)))
    await env.stub.DeleteForm(pb.DeleteFormRequest(form_id=form.form_id),
                              metadata=env.md(tenant, scopes=WRITE))  # fmt: skip
    held = "SELECT count(*) FROM form_submissions WHERE person_key = %s"
    await run_retention(env.url, RULES, now=travel(29))
    assert await env.scalar(held, env.key(email)) == 1
    await run_retention(env.url, RULES, now=travel(31))
    assert await env.scalar(held, env.key(email)) == 0
    assert await env.scalar("SELECT count(*) FROM forms WHERE id = %s", form.form_id) == 0


async def test_privacy_export_and_erasure_cover_pending_submissions(forms_env) -> None:
    env, tenant = forms_env, forms_env.tenant()
    form, _ = await make_form(env, tenant)
    email = env.email("private")
    await env.stub.SubmitForm(submission(form.form_id, email, aged_token(env, form.form_id)))
    person = types_pb2.PersonRef(person_key=env.key(email))
    consent_md = env.md(tenant, kind=CallerKind.SERVICE, subject="consent", scopes=(), roles=())
    exported = await env.privacy.ExportPersonData(
        ppb.ExportPersonDataRequest(request_id=str(uuid.uuid4()), person=person),
        metadata=consent_md,
    )
    sections = {s.name: json.loads(s.content) for s in exported.sections}
    assert [(s["form_id"], s["email"], s["status"]) for s in sections["form_submissions"]] == [
        (form.form_id, email, "pending")
    ]
    erased = await env.privacy.ErasePersonData(
        ppb.ErasePersonDataRequest(request_id=str(uuid.uuid4()), person=person),
        metadata=consent_md,
    )
    assert {e.category: e.count for e in erased.erased}["form_submissions"] == 1
    assert (
        await env.scalar(
            "SELECT count(*) FROM form_submissions WHERE person_key = %s", env.key(email)
        )
        == 0
    )


async def test_a_deleted_form_is_listed_in_the_trash_and_restored(forms_env) -> None:
    env, tenant, other = forms_env, forms_env.tenant(), forms_env.tenant()
    form, _ = await make_form(env, tenant, name="Letter")
    gone = await env.stub.DeleteForm(pb.DeleteFormRequest(form_id=form.form_id),
                                     metadata=env.md(tenant, scopes=WRITE))  # fmt: skip
    until = gone.form.restorable_until.ToDatetime(tzinfo=UTC)
    assert 29 <= (until - datetime.now(UTC)).days <= 30
    md = env.md(tenant, scopes=READ)
    assert list((await env.stub.ListForms(pb.ListFormsRequest(), metadata=md)).forms) == []
    trash = await env.stub.ListForms(pb.ListFormsRequest(in_trash=True), metadata=md)
    assert [f.form_id for f in trash.forms] == [form.form_id]
    restore = pb.RestoreFormRequest(form_id=form.form_id)
    err = await refused(env.stub.RestoreForm, restore, metadata=env.md(tenant, scopes=READ))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = await refused(env.stub.RestoreForm, restore, metadata=env.md(other, scopes=WRITE))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await refused(env.stub.RestoreForm, pb.RestoreFormRequest(form_id="nope"),
                        metadata=env.md(tenant, scopes=WRITE))  # fmt: skip
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(err) == ["form_id"]
    # Its name is free while it is in the trash; restoring it then clashes.
    clash, _ = await make_form(env, tenant, name="letter")
    err = await refused(env.stub.RestoreForm, restore, metadata=env.md(tenant, scopes=WRITE))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    await env.stub.DeleteForm(pb.DeleteFormRequest(form_id=clash.form_id),
                              metadata=env.md(tenant, scopes=WRITE))  # fmt: skip
    back = await env.stub.RestoreForm(restore, metadata=env.md(tenant, scopes=WRITE))
    assert not back.form.HasField("deleted_at")
    assert not back.form.HasField("restorable_until")
    public = await env.stub.GetPublicForm(pb.GetPublicFormRequest(form_id=form.form_id))
    assert public.form.form_id == form.form_id  # its page answers again
    err = await refused(env.stub.RestoreForm, restore, metadata=env.md(tenant, scopes=WRITE))
    assert err.code() == grpc.StatusCode.NOT_FOUND  # live: nothing to restore
    # Past the 30 days a form in the trash is no longer offered nor restorable.
    await env.sql("UPDATE forms SET deleted_at = now() - interval '31 days' WHERE id = %s",
                  clash.form_id)  # fmt: skip
    trash = await env.stub.ListForms(pb.ListFormsRequest(in_trash=True), metadata=md)
    assert list(trash.forms) == []
    err = await refused(env.stub.RestoreForm, pb.RestoreFormRequest(form_id=clash.form_id),
                        metadata=env.md(tenant, scopes=WRITE))  # fmt: skip
    assert err.code() == grpc.StatusCode.NOT_FOUND
