"""Automation rules: when a ticket event matches a rule's trigger and conditions, its actions run
in the event's own transaction, rules in creation order, each action logged in the ticket's
history with the rule's id. What a rule does never triggers a rule (events it causes carry its
`rule_id`, and a rule run ignores events while it runs).

A rule that fails (its assignee left the organization, its template was deleted, the ticket has no
assignee to e-mail) is skipped: its savepoint is rolled back, so none of its actions stay, and the
history gets an `automation_failed` event naming the rule and the problem. The customer's request
(or the SLA pass) that triggered it still succeeds: a broken rule must not stop a requester from
opening a ticket, nor stall the breach pass forever.
"""

import logging
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.core.errors import AppError
from app.services.automations.errors import AutomationNotFound, RecipientMissing, UnknownTemplate
from app.services.automations.models import Automation
from app.services.automations.schemas import (
    AddTag,
    Assign,
    AutomationCreate,
    AutomationUpdate,
    Conditions,
    SendEmail,
    SetPriority,
)
from app.services.email_templates import service as email_templates_service
from app.services.notifications import service as notifications_service
from app.services.organizations import service as organizations_service
from app.services.organizations.models import MemberRole, Organization
from app.services.tickets import events as ticket_events
from app.services.tickets import service as tickets_service
from app.services.tickets.events import TicketHappened
from app.services.tickets.models import MAX_TAGS, Ticket, TicketEvent, TicketStatus
from app.services.tickets.placeholders import ticket_values
from app.services.users.models import User

logger = logging.getLogger(__name__)

TRIGGER_OF = {
    ticket_events.CREATED: "ticket_created",
    ticket_events.STATUS_CHANGED: "status_changed",
    ticket_events.ASSIGNED: "ticket_assigned",
    ticket_events.SLA_BREACHED: "sla_breached",
}
_running: ContextVar[bool] = ContextVar("automations_running", default=False)


# --- managing rules -----------------------------------------------------------------------------


async def _check(
    session: AsyncSession, *, organization_id: uuid.UUID, conditions: Conditions | None, actions: Sequence[Any] | None
) -> None:
    for category_id in (conditions.category_id if conditions else None) or []:
        await tickets_service.check_category(session, organization_id=organization_id, category_id=category_id)
    for action in actions or []:
        if isinstance(action, Assign):
            await tickets_service.check_assignee(
                session, organization_id=organization_id, assignee_id=action.assignee_id
            )
        elif isinstance(action, SendEmail) and not await email_templates_service.exists(
            session, organization_id=organization_id, key=action.template
        ):
            raise UnknownTemplate(f"No e-mail template `{action.template}`.")


def _stored(value: Any) -> Any:
    return value.model_dump(mode="json", exclude_none=True)


async def create(
    session: AsyncSession, *, organization: Organization, data: AutomationCreate, now: datetime
) -> Automation:
    await _check(session, organization_id=organization.id, conditions=data.conditions, actions=data.actions)
    rule = Automation(
        organization_id=organization.id,
        name=data.name,
        trigger=data.trigger,
        conditions=_stored(data.conditions),
        actions=[_stored(action) for action in data.actions],
        active=data.active,
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    await session.flush()
    return rule


async def get_all(
    session: AsyncSession, *, organization: Organization, offset: int, limit: int
) -> tuple[Sequence[Automation], int]:
    query = select(Automation).where(Automation.organization_id == organization.id)
    return await paging.page_of(session, query, order_by=[Automation.position], offset=offset, limit=limit)


async def get_managed(session: AsyncSession, *, user: User, automation_id: uuid.UUID) -> Automation:
    """The rule, for its organization's owners and managers; anyone else: 404."""
    rule = await session.get(Automation, automation_id, with_for_update=True)
    if rule is None:
        raise AutomationNotFound()
    await organizations_service.require_staff(
        session, user=user, organization_id=rule.organization_id, minimum=MemberRole.manager
    )
    return rule


async def update(session: AsyncSession, *, rule: Automation, data: AutomationUpdate, now: datetime) -> Automation:
    await _check(session, organization_id=rule.organization_id, conditions=data.conditions, actions=data.actions)
    changes = data.model_dump(exclude_unset=True, mode="json", exclude_none=True)
    if data.conditions is not None:
        changes["conditions"] = _stored(data.conditions)
    if data.actions is not None:
        changes["actions"] = [_stored(action) for action in data.actions]
    for field, value in changes.items():
        setattr(rule, field, value)
    rule.updated_at = now
    await session.flush()
    return rule


async def delete(session: AsyncSession, *, rule: Automation) -> None:
    await session.delete(rule)
    await session.flush()


# --- running rules ------------------------------------------------------------------------------


def matches(conditions: dict[str, Any], ticket: Ticket) -> bool:
    wanted = Conditions.model_validate(conditions)
    if wanted.priority is not None and ticket.priority not in wanted.priority:
        return False
    if wanted.category_id is not None and ticket.category_id not in wanted.category_id:
        return False
    return wanted.status is None or ticket.status in wanted.status


async def on_ticket_event(session: AsyncSession, event: TicketHappened) -> None:
    """The listener the tickets service calls: run the organization's matching rules."""
    trigger = TRIGGER_OF.get(event.type)
    if trigger is None or event.rule_id is not None or _running.get():
        return
    ticket = event.ticket
    rules = (
        await session.scalars(
            select(Automation)
            .where(
                Automation.organization_id == ticket.organization_id,
                Automation.trigger == trigger,
                Automation.active.is_(True),
            )
            .order_by(Automation.position)
        )
    ).all()
    if not rules:
        return
    token = _running.set(True)
    try:
        for rule in rules:
            if matches(rule.conditions, ticket):
                await _run(session, rule, ticket, now=event.at)
    finally:
        _running.reset(token)


async def _run(session: AsyncSession, rule: Automation, ticket: Ticket, *, now: datetime) -> None:
    try:
        async with session.begin_nested():
            for action in rule.actions:
                await _act(session, rule, ticket, action, now=now)
            await session.flush()
    except AppError as exc:
        # The savepoint is gone and with it the rule's changes: read the ticket as it stands.
        await session.refresh(ticket)
        logger.warning(
            "automation rule failed and was skipped",
            extra={"rule_id": str(rule.id), "ticket_id": str(ticket.id), "code": exc.code},
        )
        _log(
            session, rule, ticket, "automation_failed", now, {"name": rule.name, "code": exc.code, "detail": exc.detail}
        )
        await session.flush()


def _log(
    session: AsyncSession, rule: Automation, ticket: Ticket, type_: str, now: datetime, data: dict[str, Any]
) -> None:
    session.add(TicketEvent(ticket_id=ticket.id, type=type_, actor_id=None, rule_id=rule.id, data=data, at=now))


async def _act(
    session: AsyncSession, rule: Automation, ticket: Ticket, stored: dict[str, Any], *, now: datetime
) -> None:
    match stored["type"]:
        case "set_priority":
            action = SetPriority.model_validate(stored)
            if ticket.priority != action.priority:
                _log(session, rule, ticket, "priority_changed", now, {"from": ticket.priority, "to": action.priority})
                ticket.priority = action.priority
                ticket.updated_at = now
                await session.flush()
                await tickets_service.refresh_sla(session, ticket, now=now)
        case "add_tag":
            tag = AddTag.model_validate(stored).tag.lower()
            if tag not in ticket.tags and len(ticket.tags) < MAX_TAGS:
                _log(session, rule, ticket, "tags_changed", now, {"from": list(ticket.tags), "to": [*ticket.tags, tag]})
                ticket.tags = [*ticket.tags, tag]
                ticket.updated_at = now
        case "assign":
            await _assign(session, rule, ticket, Assign.model_validate(stored).assignee_id, now=now)
        case "send_email":
            await _send(session, rule, ticket, SendEmail.model_validate(stored), now=now)


async def _assign(
    session: AsyncSession, rule: Automation, ticket: Ticket, assignee_id: uuid.UUID, *, now: datetime
) -> None:
    if ticket.status == TicketStatus.closed:
        return
    await tickets_service.check_assignee(session, organization_id=ticket.organization_id, assignee_id=assignee_id)
    if ticket.assignee_id == assignee_id:
        return
    before = ticket.assignee_id
    _log(session, rule, ticket, "assigned", now, {"from": str(before) if before else None, "to": str(assignee_id)})
    ticket.assignee_id = assignee_id
    ticket.updated_at = now
    moved = ticket.status == TicketStatus.new
    if moved:  # as a member's assignment does
        _log(session, rule, ticket, "status_changed", now, {"from": TicketStatus.new, "to": TicketStatus.open})
        ticket.status = TicketStatus.open
    await session.flush()
    await tickets_service.refresh_sla(session, ticket, now=now)
    await tickets_service.announce_assigned(session, ticket)
    # Other listeners (webhooks) hear of it; rules do not (the event carries the rule).
    change = {"from": str(before) if before else None, "to": str(assignee_id)}
    await ticket_events.emit(session, TicketHappened(ticket_events.ASSIGNED, ticket, now, change, rule_id=rule.id))
    if moved:
        status_change = {"from": TicketStatus.new, "to": TicketStatus.open}
        await ticket_events.emit(
            session, TicketHappened(ticket_events.STATUS_CHANGED, ticket, now, status_change, rule_id=rule.id)
        )


async def _send(session: AsyncSession, rule: Automation, ticket: Ticket, action: SendEmail, *, now: datetime) -> None:
    if not await email_templates_service.exists(session, organization_id=ticket.organization_id, key=action.template):
        raise UnknownTemplate(f"No e-mail template `{action.template}`.")
    address: str | None
    name: str | None
    if action.to == "assignee":
        user = await session.get(User, ticket.assignee_id) if ticket.assignee_id else None
        address, name = (user.email, user.full_name) if user is not None else (None, None)
    else:
        user = await session.get(User, ticket.requester_id) if ticket.requester_id else None
        address = user.email if user is not None else ticket.requester_email
        name = user.full_name if user is not None else ticket.requester_email
    if not address:
        raise RecipientMissing(f"The ticket has no {action.to} to e-mail.")
    values = await ticket_values(session, ticket)
    # The notification words of the built-in templates, for a rule that sends one of them.
    values["title"] = f"{ticket.subject} [#{ticket.reference}]"
    values["body"] = f"Your ticket [#{ticket.reference}] {ticket.subject} is {ticket.status.replace('_', ' ')}."
    await notifications_service.queue_email(
        session,
        organization_id=ticket.organization_id,
        kind=action.template,
        to_address=address,
        full_name=name or address,
        title=values["title"],
        body=values["body"],
        values=values,
    )
    _log(session, rule, ticket, "email_queued", now, {"template": action.template, "to": address})
