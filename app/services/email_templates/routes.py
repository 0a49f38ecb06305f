from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from app.core.database import SessionDep
from app.core.schemas import json_response
from app.services.email_templates import service as email_templates_service
from app.services.email_templates.dependencies import Now, TemplateManager
from app.services.email_templates.schemas import (
    EmailTemplateIn,
    EmailTemplatePreview,
    EmailTemplatePreviewIn,
    EmailTemplateRead,
)

router = APIRouter(tags=["helpdesk"])

Key = Annotated[str, Path(max_length=64, description="A built-in kind, or a custom key `[a-z][a-z0-9_]{2,63}`")]
_GATE: dict[int | str, dict[str, Any]] = {
    403: {"description": "`forbidden`: not an owner or manager"},
    404: {"description": "`not_found`: no such organization (or template)"},
}
_WRITE: dict[int | str, dict[str, Any]] = {
    **_GATE,
    422: {"description": "`unknown_placeholder` (each named in `errors`), `invalid_template_key`, `validation_error`"},
}


@router.get("/organizations/{organization_id}/email-templates", responses=_GATE)
async def list_email_templates(access: TemplateManager, session: SessionDep) -> list[EmailTemplateRead]:
    """Owners and managers: every template the organization sends, built-in kinds (`customized`
    when it wrote its own words) and its custom ones, with the placeholders each may use."""
    return await email_templates_service.get_all(session, organization=access.organization)


@router.put(
    "/organizations/{organization_id}/email-templates/{key}",
    response_model=EmailTemplateRead,
    responses={**_WRITE, 201: {"description": "A new custom template", "model": EmailTemplateRead}},
)
async def put_email_template(
    key: Key, data: EmailTemplateIn, access: TemplateManager, session: SessionDep, now: Now
) -> Response:
    """Owners and managers: the organization's words for an e-mail (`$name` or `${name}` among
    its `placeholders`; `$$` is a dollar sign). A new key makes a custom template (201) with the
    ticket placeholders, for automation rules to send."""
    template, created = await email_templates_service.put(
        session, organization=access.organization, key=key, data=data, now=now
    )
    return json_response(template, status_code=201 if created else 200)


@router.delete("/organizations/{organization_id}/email-templates/{key}", status_code=204, responses=_WRITE)
async def delete_email_template(key: Key, access: TemplateManager, session: SessionDep) -> None:
    """Owners and managers: a built-in kind goes back to its default words; a custom template is
    deleted."""
    await email_templates_service.delete(session, organization=access.organization, key=key)


@router.post(
    "/organizations/{organization_id}/email-templates/{key}/preview",
    responses={**_WRITE, 422: {"description": "`unknown_placeholder`, `invalid_ticket`, `validation_error`"}},
)
async def preview_email_template(
    key: Key, data: EmailTemplatePreviewIn, access: TemplateManager, session: SessionDep
) -> EmailTemplatePreview:
    """Owners and managers: the e-mail as it would go out, from the given `subject`/`body` (else
    the current template), filled with a ticket's values (`ticket_id`) or samples."""
    return await email_templates_service.preview(session, organization=access.organization, key=key, data=data)
