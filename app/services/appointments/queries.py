"""The appointment body in one statement: its columns plus its requirements, each with the
document currently linked to it, aggregated as JSON by PostgreSQL.

Reads of one appointment, of a page and of the rows a mutation returns all use this, so no list
makes a query per row and a read by id is a single round trip after the token check.
"""

import uuid
from typing import Any

from sqlalchemy import JSON, and_, exists, false, func, literal_column, or_, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement

from app.services.appointments.models import Appointment
from app.services.catalog.models import Requirement

# Documents are another feature's table; reading their link here keeps the body one query.
from app.services.documents.models import Document, DocumentStatus
from app.services.organizations.models import Membership
from app.services.users.models import Role, User


def _requirements() -> Any:
    item = func.json_build_object(
        "id", Requirement.id,
        "name", Requirement.name,
        "mandatory", Requirement.mandatory,
        "document_id", Document.id,
        "document_status", Document.status,
    )  # fmt: skip
    return (
        select(
            func.coalesce(
                func.json_agg(aggregate_order_by(item, Requirement.position, Requirement.name)),
                literal_column("'[]'::json"),
                type_=JSON,
            )
        )
        .select_from(Requirement)
        .outerjoin(
            Document,
            and_(
                Document.appointment_id == Appointment.id,
                Document.requirement_id == Requirement.id,
                Document.status != DocumentStatus.replaced,
            ),
        )
        .where(Requirement.service_id == Appointment.service_id)
        .correlate(Appointment)
        .scalar_subquery()
        .label("requirements")
    )


BODY_COLUMNS = (*Appointment.__table__.c, _requirements())


def visible_to(user: User) -> ColumnElement[bool]:
    """Rows `user` may see: their own, their organizations' (as staff), or all for an admin."""
    if user.role == Role.admin:
        return true()
    member = exists().where(Membership.organization_id == Appointment.organization_id, Membership.user_id == user.id)
    return or_(Appointment.citizen_id == user.id, member)


def by_ids(ids: list[uuid.UUID]) -> Any:
    return select(*BODY_COLUMNS).where(Appointment.id.in_(ids) if ids else false())
