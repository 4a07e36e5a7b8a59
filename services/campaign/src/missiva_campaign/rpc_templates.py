"""Template RPCs: create, get, list, update, and the rendered preview.

A template is checked and compiled (``rendering.compile_template``) whenever it is saved, so a
template that uses an undocumented variable, breaks the Jinja2 syntax or (unless it is SYSTEM
mail) lacks the unsubscribe and my-data links is refused with the field named. The starter
templates (``starters.py``) are listed first and read-only.
"""

from __future__ import annotations

import uuid
from typing import Any

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.common.v1 import types_pb2
from missiva_campaign import domain, rendering
from missiva_campaign.core import CampaignCore, in_trash, new_id, now, timestamp
from missiva_campaign.starters import STARTERS
from missiva_campaign.store import contacts
from missiva_campaign.store import templates as store
from missiva_platform.auth import current_tenant
from missiva_platform.errors import FailedPrecondition, InvalidArgument, NotFound
from missiva_platform.idempotency import run_once

TEMPLATE_NOT_FOUND = "template not found"
MAX_NAME = 200
CATEGORIES = {
    types_pb2.EMAIL_CATEGORY_UNSPECIFIED: "marketing",
    types_pb2.EMAIL_CATEGORY_MARKETING: "marketing",
    types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE: "product_update",
    types_pb2.EMAIL_CATEGORY_SYSTEM: "system",
}
CATEGORY_VALUES = {
    "marketing": types_pb2.EMAIL_CATEGORY_MARKETING,
    "product_update": types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE,
    "system": types_pb2.EMAIL_CATEGORY_SYSTEM,
}
UPDATABLE = ("name", "category", "locale", "subject", "preheader", "html_body", "text_body")


def template_pb(row: dict[str, Any], *, bodies: bool = True) -> pb.Template:
    found = pb.Template(
        template_id=row["id"],
        name=row["name"],
        subject=row["subject"],
        preheader=row["preheader"],
        html_body=row["html_body"] if bodies else "",
        text_body=row["text_body"] if bodies else "",
        revision=row["revision"],
        category=CATEGORY_VALUES[row["category"]],  # type: ignore[arg-type]
        locale=row["locale"],
        starter=row["id"] in STARTERS,
        created_at=timestamp(row.get("created_at")),
        updated_at=timestamp(row.get("updated_at")),
    )
    return in_trash(found, row)  # type: ignore[no-any-return]


def template_id(field: str, value: str) -> str:
    if value in STARTERS:
        return value
    if not value:
        raise InvalidArgument.field(field, "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument.field(field, "is not a template id") from None


def category(field: str, value: int) -> str:
    if value not in CATEGORIES:
        raise InvalidArgument.field(field, "is not an email category")
    return CATEGORIES[value]  # type: ignore[index]


def source_of(row: dict[str, Any]) -> rendering.Source:
    return rendering.Source(
        subject=row["subject"],
        preheader=row["preheader"],
        html_body=row["html_body"],
        text_body=row["text_body"],
        system=row["category"] == "system",
    )


def checked_fields(given: pb.Template, prefix: str = "template.") -> dict[str, Any]:
    row = {
        "name": domain.text(f"{prefix}name", given.name, limit=MAX_NAME, required=True),
        "category": category(f"{prefix}category", given.category),
        "locale": domain.locale(f"{prefix}locale", given.locale) if given.locale else "",
        "subject": given.subject,
        "preheader": given.preheader,
        "html_body": given.html_body,
        "text_body": given.text_body,
    }
    rendering.compile_template(source_of(row), prefix)
    return row


async def load(conn: Any, tenant: str, tid: str) -> dict[str, Any]:
    """A template of the account, or a starter one."""
    if tid in STARTERS:
        return dict(STARTERS[tid])
    row = await store.get(conn, tenant, tid)
    if row is None:
        raise NotFound(TEMPLATE_NOT_FOUND)
    return row


class TemplateRpcs:
    """CreateTemplate, GetTemplate, ListTemplates, UpdateTemplate, RenderPreview."""

    core: CampaignCore

    async def CreateTemplate(self, request: pb.CreateTemplateRequest, context: Any) -> Any:
        tenant = current_tenant()
        row = {"id": new_id(), "account_id": tenant, **checked_fields(request.template)}

        async def work(conn: Any) -> pb.CreateTemplateResponse:
            return pb.CreateTemplateResponse(template=template_pb(await store.create(conn, row)))

        return await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="CreateTemplate",
            request=request,
            response_type=pb.CreateTemplateResponse,
            work=work,
        )

    async def GetTemplate(self, request: pb.GetTemplateRequest, context: Any) -> Any:
        tenant = current_tenant()
        tid = template_id("template_id", request.template_id)
        async with self.core.pool.connection() as conn:
            row = await load(conn, tenant, tid)
        return pb.GetTemplateResponse(template=template_pb(row))

    async def ListTemplates(self, request: pb.ListTemplatesRequest, context: Any) -> Any:
        tenant = current_tenant()
        size = domain.page_size("page_size", request.page_size)
        digest = domain.filter_digest("templates", request.in_trash)
        after = domain.decode_page_token("page_token", request.page_token, digest)
        since = now() - domain.TRASH_WINDOW if request.in_trash else None
        async with self.core.pool.connection() as conn:
            rows = await store.page(conn, tenant, after=after, limit=size + 1, trash_since=since)
        more = len(rows) > size
        rows = rows[:size]
        found = [template_pb(r, bodies=False) for r in rows]
        if after is None and since is None:  # the starters head the first live page
            found = [template_pb(s, bodies=False) for s in STARTERS.values()] + found
        token = domain.encode_page_token(rows[-1]["id"], digest) if more else ""
        return pb.ListTemplatesResponse(templates=found, next_page_token=token)

    async def UpdateTemplate(self, request: pb.UpdateTemplateRequest, context: Any) -> Any:
        tenant = current_tenant()
        tid = template_id("template.template_id", request.template.template_id)
        if tid in STARTERS:
            raise FailedPrecondition("starter templates are read-only: create a template from it")
        paths = list(dict.fromkeys(request.update_mask.paths))
        if not paths:
            raise InvalidArgument.field("update_mask", "is required (e.g. subject,html_body)")
        for path in paths:
            if path not in UPDATABLE:
                raise InvalidArgument.field(
                    "update_mask", f"{path} is not updatable; these are: " + ", ".join(UPDATABLE)
                )
        async with self.core.pool.connection() as conn, conn.transaction():
            row = await store.get(conn, tenant, tid, lock=True)
            if row is None:
                raise NotFound(TEMPLATE_NOT_FOUND)
            merged = pb.Template(**{k: row[k] for k in UPDATABLE if k != "category"})
            merged.category = CATEGORY_VALUES[row["category"]]  # type: ignore[assignment]
            for path in paths:
                setattr(merged, path, getattr(request.template, path))
            checked = checked_fields(merged)
            updated = await store.update(conn, tenant, tid, {p: checked[p] for p in paths})
        return pb.UpdateTemplateResponse(template=template_pb(updated))

    async def RenderPreview(self, request: pb.RenderPreviewRequest, context: Any) -> Any:
        tenant = current_tenant()
        async with self.core.pool.connection() as conn:
            if request.WhichOneof("source") == "template":
                row = checked_fields(request.template)
            elif request.WhichOneof("source") == "template_id":
                row = await load(conn, tenant, template_id("template_id", request.template_id))
            else:
                raise InvalidArgument.field("template_id", "name a template or give one")
            fields = dict(rendering.SAMPLE)
            if request.contact_id:
                cid = domain.contact_id("contact_id", request.contact_id)
                contact = await contacts.get(conn, tenant, cid)
                if contact is None:
                    raise NotFound("contact not found")
                name = domain.display_name(contact["first_name"], contact["last_name"])
                fields = rendering.merge_fields(contact, name)
        compiled = rendering.compile_template(source_of(row))
        extra = {**rendering.sample_links(), "sender_name": "Your company", "sender_address": ""}
        values = rendering.values_of({**fields, **dict(request.merge_fields)}, extra.items())
        preview = rendering.render(compiled, values)
        return pb.RenderPreviewResponse(
            subject=preview.subject,
            html_body=preview.html_body,
            text_body=preview.text_body,
            warnings=preview.warnings,
        )
