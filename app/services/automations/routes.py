import uuid
from typing import Any

from fastapi import APIRouter

from app.core.database import SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page
from app.services.automations import service as automations_service
from app.services.automations.dependencies import AutomationManager, AutomationUser, Now
from app.services.automations.schemas import AutomationCreate, AutomationRead, AutomationUpdate

router = APIRouter(tags=["helpdesk"])

_INVALID = "`unknown_template`, `invalid_assignee`, `invalid_category`, `validation_error`"
_GATE: dict[int | str, dict[str, Any]] = {
    403: {"description": "`forbidden`: not an owner or manager"},
    404: {"description": "`not_found`: no such organization"},
}
_RULE: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found`: no such rule, or not one you manage"},
    422: {"description": _INVALID},
}


@router.post(
    "/organizations/{organization_id}/automations", status_code=201, responses={**_GATE, 422: {"description": _INVALID}}
)
async def create_automation(
    data: AutomationCreate, access: AutomationManager, session: SessionDep, now: Now
) -> AutomationRead:
    """Owners and managers: a rule. On its `trigger` (`ticket_created`, `status_changed`,
    `sla_breached`, `ticket_assigned`), when the ticket meets every given condition list, its
    actions run in the event's transaction (the answer to the triggering request shows them),
    after the rules created before it, each logged in the ticket's history with `rule_id`. What a
    rule does never triggers rules. A rule that fails is skipped (none of its actions stay) and
    logged as `automation_failed` in the history; the event itself succeeds."""
    rule = await automations_service.create(session, organization=access.organization, data=data, now=now)
    return AutomationRead.model_validate(rule)


@router.get(
    "/organizations/{organization_id}/automations", responses={**_GATE, 422: {"description": "`validation_error`"}}
)
async def list_automations(access: AutomationManager, session: SessionDep, page: PageDep) -> Page[AutomationRead]:
    """Owners and managers: the rules in the order they run (creation order)."""
    rows, total = await automations_service.get_all(
        session, organization=access.organization, offset=page.offset, limit=page.size
    )
    items = [AutomationRead.model_validate(row) for row in rows]
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.patch("/automations/{automation_id}", responses=_RULE)
async def update_automation(
    automation_id: uuid.UUID, data: AutomationUpdate, user: AutomationUser, session: SessionDep, now: Now
) -> AutomationRead:
    """Owners and managers: change a rule (its place in the order stays)."""
    rule = await automations_service.get_managed(session, user=user, automation_id=automation_id)
    rule = await automations_service.update(session, rule=rule, data=data, now=now)
    return AutomationRead.model_validate(rule)


@router.delete("/automations/{automation_id}", status_code=204, responses=_RULE)
async def delete_automation(automation_id: uuid.UUID, user: AutomationUser, session: SessionDep) -> None:
    """Owners and managers: delete a rule."""
    rule = await automations_service.get_managed(session, user=user, automation_id=automation_id)
    await automations_service.delete(session, rule=rule)
