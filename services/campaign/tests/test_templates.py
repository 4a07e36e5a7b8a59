"""Template RPCs: the sandbox's variables, the required links, sanitising, CSS inlining, the
text part, starters, previews with sample data or a real contact; bad input names its field,
another account's template is NOT_FOUND, the least scope works."""

from __future__ import annotations

import grpc
import pytest
from campaign_testkit import violated_fields
from google.protobuf import field_mask_pb2

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.common.v1 import types_pb2

pytestmark = pytest.mark.asyncio(loop_scope="module")

WRITE = ("templates:write",)
READ = ("templates:read",)
PREVIEW = ("templates:read", "contacts:read")

BODY = (
    "<style>p { color: #ff0000; }</style>"
    "<p>Hello {{ first_name }} from {{ attributes.city }}</p><script>alert(1)</script>"
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a> <a href="{{ my_data_url }}">My data</a>'
)


def template(**fields) -> pb.Template:
    values = {"name": "Spring news", "subject": "News for {{ first_name }}", "html_body": BODY}
    values.update(fields)
    return pb.Template(**values)


async def create(campaign, tenant: str, **fields) -> pb.Template:
    reply = await campaign.stub.CreateTemplate(
        pb.CreateTemplateRequest(template=template(**fields)),
        metadata=campaign.md(tenant, scopes=WRITE),
        timeout=10,
    )
    return reply.template


async def refused(call, request, metadata) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, metadata=metadata, timeout=10)
    return caught.value


async def test_a_template_is_created_read_and_listed_after_the_starters(campaign) -> None:
    tenant = campaign.tenant()
    created = await create(campaign, tenant)
    assert created.revision == 1
    assert created.category == types_pb2.EMAIL_CATEGORY_MARKETING
    got = await campaign.stub.GetTemplate(
        pb.GetTemplateRequest(template_id=created.template_id),
        metadata=campaign.md(tenant, scopes=READ),
        timeout=10,
    )
    assert got.template.html_body == BODY
    listed = await campaign.stub.ListTemplates(
        pb.ListTemplatesRequest(), metadata=campaign.md(tenant, scopes=READ), timeout=10
    )
    ids = [t.template_id for t in listed.templates]
    assert ids == ["starter-en", "starter-it", created.template_id]
    assert all(t.html_body == "" for t in listed.templates)  # bodies omitted from the list
    starter = await campaign.stub.GetTemplate(
        pb.GetTemplateRequest(template_id="starter-it"),
        metadata=campaign.md(tenant, scopes=READ),
        timeout=10,
    )
    assert starter.template.starter
    assert starter.template.locale == "it"
    assert "{{ unsubscribe_url }}" in starter.template.html_body


async def test_a_template_without_the_unsubscribe_and_my_data_links_is_refused(campaign) -> None:
    tenant = campaign.tenant()
    err = await refused(
        campaign.stub.CreateTemplate,
        pb.CreateTemplateRequest(template=template(html_body="<p>Hi {{ first_name }}</p>")),
        campaign.md(tenant, scopes=WRITE),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(err) == ["template.html_body"]
    assert "must link to {{ unsubscribe_url }} and {{ my_data_url }}" in err.details()
    # SYSTEM mail (a notice owed to the contact) may go without them.
    system = await create(
        campaign, tenant, html_body="<p>Hi {{ first_name }}</p>",
        category=types_pb2.EMAIL_CATEGORY_SYSTEM,
    )  # fmt: skip
    assert system.category == types_pb2.EMAIL_CATEGORY_SYSTEM


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"html_body": BODY + "{{ password }}"}, "template.html_body"),
        ({"subject": "Hi {{ first_name"}, "template.subject"),
        ({"subject": ""}, "template.subject"),
        ({"name": ""}, "template.name"),
        ({"locale": "not a locale!"}, "template.locale"),
        ({"html_body": BODY + "{{ ''.__class__ }}"}, "template.html_body"),
    ],
)
async def test_bad_input_names_the_field(campaign, fields, field) -> None:
    tenant = campaign.tenant()
    err = await refused(
        campaign.stub.CreateTemplate,
        pb.CreateTemplateRequest(template=template(**fields)),
        campaign.md(tenant, scopes=WRITE),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violated_fields(err)


async def test_the_sandbox_refuses_unsafe_attribute_access_in_a_preview(campaign) -> None:
    tenant = campaign.tenant()
    err = await refused(
        campaign.stub.RenderPreview,
        pb.RenderPreviewRequest(
            template=template(html_body=BODY + "{{ first_name.__class__.__mro__ }}")
        ),
        campaign.md(tenant, scopes=PREVIEW),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_update_bumps_the_revision_and_keeps_checks(campaign) -> None:
    tenant = campaign.tenant()
    created = await create(campaign, tenant)
    changed = pb.Template(template_id=created.template_id, subject="Spring, {{ first_name }}")
    reply = await campaign.stub.UpdateTemplate(
        pb.UpdateTemplateRequest(
            template=changed, update_mask=field_mask_pb2.FieldMask(paths=["subject"])
        ),
        metadata=campaign.md(tenant, scopes=WRITE),
        timeout=10,
    )
    assert reply.template.revision == 2
    assert reply.template.subject == "Spring, {{ first_name }}"
    assert reply.template.html_body == BODY
    err = await refused(
        campaign.stub.UpdateTemplate,
        pb.UpdateTemplateRequest(
            template=pb.Template(template_id=created.template_id, html_body="<p>no links</p>"),
            update_mask=field_mask_pb2.FieldMask(paths=["html_body"]),
        ),
        campaign.md(tenant, scopes=WRITE),
    )
    assert violated_fields(err) == ["template.html_body"]
    err = await refused(
        campaign.stub.UpdateTemplate,
        pb.UpdateTemplateRequest(
            template=pb.Template(template_id="starter-en", subject="x"),
            update_mask=field_mask_pb2.FieldMask(paths=["subject"]),
        ),
        campaign.md(tenant, scopes=WRITE),
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_another_accounts_template_is_not_found(campaign) -> None:
    created = await create(campaign, campaign.tenant())
    other = campaign.tenant()
    for call, request, scopes in (
        (campaign.stub.GetTemplate, pb.GetTemplateRequest(template_id=created.template_id), READ),
        (
            campaign.stub.UpdateTemplate,
            pb.UpdateTemplateRequest(
                template=pb.Template(template_id=created.template_id, name="x"),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
            ),
            WRITE,
        ),
        (
            campaign.stub.RenderPreview,
            pb.RenderPreviewRequest(template_id=created.template_id),
            PREVIEW,
        ),
    ):
        err = await refused(call, request, campaign.md(other, scopes=scopes))
        assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_a_preview_sanitises_inlines_css_and_derives_the_text_part(campaign) -> None:
    tenant = campaign.tenant()
    created = await create(campaign, tenant)
    reply = await campaign.stub.RenderPreview(
        pb.RenderPreviewRequest(template_id=created.template_id),
        metadata=campaign.md(tenant, scopes=PREVIEW),
        timeout=10,
    )
    assert reply.subject == "News for Ada"
    assert "<script" not in reply.html_body
    assert "alert" not in reply.html_body
    assert 'style="color: #ff0000;"' in reply.html_body
    assert "<style" not in reply.html_body
    assert reply.text_body.startswith("Hello Ada from")
    assert "https://example.invalid/preview/unsubscribe" in reply.text_body
    assert reply.warnings == ["no value for 'city'"]


async def test_a_preview_fills_in_a_real_contact_and_escapes_its_fields(campaign) -> None:
    tenant = campaign.tenant()
    contact = await campaign.create(tenant, first_name="<b>Grace</b>", attributes={"city": "Roma"})
    created = await create(campaign, tenant)
    reply = await campaign.stub.RenderPreview(
        pb.RenderPreviewRequest(template_id=created.template_id, contact_id=contact.contact_id),
        metadata=campaign.md(tenant, scopes=PREVIEW),
        timeout=10,
    )
    assert "Hello &lt;b&gt;Grace&lt;/b&gt; from Roma" in reply.html_body
    assert reply.warnings == []
    # Another account's contact is not found; a contact id is checked.
    other = campaign.tenant()
    err = await refused(
        campaign.stub.RenderPreview,
        pb.RenderPreviewRequest(template_id="starter-en", contact_id=contact.contact_id),
        campaign.md(other, scopes=PREVIEW),
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await refused(
        campaign.stub.RenderPreview,
        pb.RenderPreviewRequest(template_id="starter-en", contact_id="nope"),
        campaign.md(other, scopes=PREVIEW),
    )
    assert violated_fields(err) == ["contact_id"]


async def test_one_scope_less_is_refused(campaign) -> None:
    tenant = campaign.tenant()
    err = await refused(
        campaign.stub.RenderPreview,
        pb.RenderPreviewRequest(template_id="starter-en"),
        campaign.md(tenant, scopes=READ),  # a preview also needs contacts:read
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = await refused(
        campaign.stub.CreateTemplate,
        pb.CreateTemplateRequest(template=template()),
        campaign.md(tenant, scopes=READ),
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
