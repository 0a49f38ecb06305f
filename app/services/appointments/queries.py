"""The appointment body in one statement: its columns plus its requirements, each with the
document currently linked to it, aggregated as JSON by PostgreSQL.

Reads of one appointment, of a page and of the rows a mutation returns all use this, so no list
makes a query per row and a read by id is a single round trip after the token check.
"""

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    JSON,
    String,
    Uuid,
    and_,
    column,
    exists,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement

from app.core.json_sql import json_object
from app.services.appointments.models import Appointment
from app.services.appointments.schemas import AppointmentRead
from app.services.catalog.models import Requirement
from app.services.organizations.models import Membership, Organization
from app.services.users.models import Role, User

# The body shows, for each requirement, the document currently linked to it. `documents` is a
# feature above this one (a document names its appointment), so the body reads those columns of
# its table by name, as a foreign key names a table, rather than importing the feature; a test
# holds them equal to the `Document` model.
DOCUMENTS = table(
    "documents",
    column("id", Uuid),
    column("appointment_id", Uuid),
    column("requirement_id", Uuid),
    column("status", String),
)
DOCUMENT_REPLACED = "replaced"


def _requirement_list(document_id: Any, document_status: Any) -> Any:
    item = func.json_build_object(
        "id", Requirement.id,
        "name", Requirement.name,
        "mandatory", Requirement.mandatory,
        "document_id", document_id,
        "document_status", document_status,
    )  # fmt: skip
    return func.coalesce(
        func.json_agg(aggregate_order_by(item, Requirement.position, Requirement.name)),
        literal_column("'[]'::json"),
        type_=JSON,
    )


def linked_requirements() -> Any:
    """The `requirements` of the appointment row of the enclosing statement (correlated to
    `appointments`), each with the document linked to it now."""
    return (
        select(_requirement_list(DOCUMENTS.c.id, DOCUMENTS.c.status))
        .select_from(Requirement)
        .outerjoin(
            DOCUMENTS,
            and_(
                DOCUMENTS.c.appointment_id == Appointment.id,
                DOCUMENTS.c.requirement_id == Requirement.id,
                DOCUMENTS.c.status != DOCUMENT_REPLACED,
            ),
        )
        .where(Requirement.service_id == Appointment.service_id)
        .correlate(Appointment)
        .scalar_subquery()
        .label("requirements")
    )


def new_requirements(service_id: Any) -> Any:
    """The `requirements` of a new appointment of `service_id`: none has a document yet."""
    return (
        select(_requirement_list(null(), null()))
        .where(Requirement.service_id == service_id)
        .scalar_subquery()
        .label("requirements")
    )


BODY_COLUMNS = (*Appointment.__table__.c, linked_requirements())


def body(columns: Mapping[str, Any], requirements: Any) -> ColumnElement[Any]:
    """The body as JSON text, from an appointment's columns (the table's, or those a statement's
    INSERT ... RETURNING gave) and its `requirements` (`linked_requirements`, `new_requirements`)."""
    return json_object(AppointmentRead, {**columns, "requirements": requirements})


# The body as JSON text, written by PostgreSQL with the values `AppointmentRead.model_dump_json()`
# writes (same fields, same order, timestamps in the same form; only the spacing differs, and a
# test holds them equal), for the hot reads: no row decoding, validation or serialization per
# appointment in Python.
BODY_JSON = body(dict(Appointment.__table__.c.items()), linked_requirements()).label("body")


def visible_to(user_id: Any, is_admin: Any) -> ColumnElement[bool]:
    """Rows a user may see: their own, their organizations' (as staff), or all for an admin.

    Takes values (a signed-in `User`) or columns (the `login` CTE of a hot-path statement).
    """
    # A membership counts only while the organization's MFA policy is met (users.mfa_enabled_at).
    policy_met = or_(
        Organization.require_mfa.is_(False),
        exists().where(User.id == user_id, User.mfa_enabled_at.is_not(None)).correlate_except(User),
    )
    member = (
        exists()
        .where(
            Membership.organization_id == Appointment.organization_id,
            Membership.user_id == user_id,
            Organization.id == Membership.organization_id,
            policy_met,
        )
        .correlate_except(Membership, Organization)
    )
    return or_(is_admin, Appointment.citizen_id == user_id, member)


def user_sees(user: User) -> ColumnElement[bool]:
    return visible_to(user.id, user.role == Role.admin)


def by_ids(ids: list[uuid.UUID]) -> Any:
    return select(*BODY_COLUMNS).where(Appointment.id.in_(ids) if ids else false())
