"""The staff queue's page as JSON written by PostgreSQL: the ticket bodies (as
`TicketRead.model_dump_json()` writes them) and the total, in one round trip, with no row decoding,
validation or serialisation per ticket in Python.

The statement is built and compiled once per *shape* (which filters are given: at most 2^9 of
them, a handful in practice) and run as a prepared statement (`app/core/prepared.py`): building
and cache-keying the JSON body on every request cost more CPU than PostgreSQL spent on the page.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    CTE,
    ColumnElement,
    Integer,
    Select,
    String,
    Uuid,
    bindparam,
    case,
    func,
    or_,
    select,
    true,
)
from sqlalchemy import DateTime as SADateTime
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.expression import literal_column

from app.core.json_sql import json_object
from app.core.prepared import Prepared
from app.services.auth import service as auth_service
from app.services.organizations import service as organizations_service
from app.services.tickets.models import Ticket
from app.services.tickets.schemas import TicketRead, TicketRequesterRead

BODY_JSON = json_object(TicketRead, dict(Ticket.__table__.c.items()))
REQUESTER_JSON = json_object(TicketRequesterRead, dict(Ticket.__table__.c.items()))


@dataclass(frozen=True, slots=True)
class Shape:
    """Which filters a queue request gives (their values are the statement's parameters)."""

    status: bool = False
    priority: bool = False
    assignee: bool = False
    unassigned: bool = False
    category: bool = False
    tag: bool = False
    breached: bool | None = None
    due_within: bool = False
    q: bool = False


def _conditions(shape: Shape) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Ticket.organization_id == bindparam("organization_id", type_=Uuid)]
    if shape.status:
        conditions.append(Ticket.status == bindparam("status", type_=String))
    if shape.priority:
        conditions.append(Ticket.priority == bindparam("priority", type_=String))
    if shape.unassigned:
        conditions.append(Ticket.assignee_id.is_(None))
    elif shape.assignee:
        conditions.append(Ticket.assignee_id == bindparam("assignee_id", type_=Uuid))
    if shape.category:
        conditions.append(Ticket.category_id == bindparam("category_id", type_=Uuid))
    if shape.tag:
        conditions.append(Ticket.tags.contains(bindparam("tags", type_=ARRAY(String))))
    breached = or_(Ticket.first_response_breached, Ticket.resolution_breached)
    if shape.breached is True:
        conditions.append(breached)
    elif shape.breached is False:
        conditions.append(~breached)
    if shape.due_within:
        # The partial due-time indexes answer this: targets not yet breached, due before the horizon.
        horizon = bindparam("horizon", type_=SADateTime(timezone=True))
        conditions.append(
            or_(
                Ticket.first_response_breached.is_(False) & (Ticket.first_response_due_at <= horizon),
                Ticket.resolution_breached.is_(False) & (Ticket.resolution_due_at <= horizon),
            )
        )
    if shape.q:
        pattern = bindparam("pattern", type_=String)
        conditions.append(
            or_(
                Ticket.reference == bindparam("reference", type_=String),
                Ticket.subject.ilike(pattern),
                Ticket.requester_email.ilike(pattern),
            )
        )
    return conditions


def _page(shape: Shape) -> Select[Any]:
    """One row: `total` (the tickets the filters match) and `items` (the page's bodies,
    comma-separated, newest first). Parameters: the filters', `offset`, `limit`."""
    conditions = _conditions(shape)
    # The page's ids first (an index scan), the bodies after: built in the same select, PostgreSQL
    # would build the body of every matching row it sorts.
    rows = (
        select(Ticket.created_at, Ticket.id)
        .where(*conditions)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
        .subquery("page")
    )
    total = select(func.count()).select_from(Ticket).where(*conditions).scalar_subquery()
    items = func.string_agg(
        BODY_JSON, aggregate_order_by(literal_column("','"), rows.c.created_at.desc(), rows.c.id.desc())
    )
    return select(total.label("total"), func.coalesce(items, "").label("items")).select_from(
        rows.join(Ticket, Ticket.id == rows.c.id)
    )


@lru_cache(maxsize=128)
def page_statement(shape: Shape, *, signed_in: bool) -> Prepared:
    """The queue's page (`_page`). For a signed-in caller the login check and the organization gate
    (`organizations_service.standing`) run in the same statement, so a request is one round trip;
    an API key, already checked, runs the page alone."""
    if not signed_in:
        return Prepared(_page(shape))
    organization_id = bindparam("organization_id", type_=Uuid)
    return Prepared(
        auth_service.for_login(
            lambda login: organizations_service.standing(login, organization_id), lambda login: _page(shape)
        )
    )


def _read(login: CTE) -> Select[Any]:
    """A ticket's body as the login may see it: the member view for the organization's staff
    (`organizations_service.is_staff`: members not held back by its MFA policy, and admins), the
    requester view otherwise (the caller checks that the requester is the user, and refuses a
    held-back member, `held_back`, with 403). Parameter: `ticket_id`."""
    standing = organizations_service.standing(login, Ticket.organization_id).lateral("standing")
    member = organizations_service.staff_in_standing(standing)
    held_back = standing.c.standing_role.is_not(None) & ~member  # a member, yet not staff
    return (
        select(
            case((member, BODY_JSON), else_=REQUESTER_JSON).label("body"),
            member.label("member"),
            (Ticket.requester_id == login.c.id).label("requester"),
            held_back.label("held_back"),
        )
        .select_from(Ticket)
        .join(standing, true())
        .where(Ticket.id == bindparam("ticket_id", type_=Uuid))
    )


# The read of one ticket with the login check, in one round trip; and the read of one of an API
# key's organization's tickets (the key already checked). Parameters: `ticket_id`, and
# `user_id`/`session_id` or `organization_id`.
READ = Prepared(auth_service.for_login(_read))
READ_FOR_KEY = Prepared(
    select(BODY_JSON.label("body")).where(
        Ticket.id == bindparam("ticket_id", type_=Uuid),
        Ticket.organization_id == bindparam("organization_id", type_=Uuid),
    )
)
