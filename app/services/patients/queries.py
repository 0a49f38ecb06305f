"""Statements and parts of statements: the booking's single read, a patient's body written by
PostgreSQL (`BODY_JSON`), and the clinic gate of the hot paths (`clinic_standing`,
`patient_standing`, read by `patients_service.standing_roles`)."""

from typing import Any

from sqlalchemy import CTE, and_, false, func, or_, select, true

from app.core.json_sql import json_object
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Organization, OrganizationKind
from app.services.patients.models import Patient
from app.services.patients.schemas import PatientRead
from app.services.users.models import User

# A patient's body as `PatientRead.model_dump_json()` writes it (up to spacing).
BODY_JSON = json_object(PatientRead, dict(Patient.__table__.c.items()))


def for_booking(*, patient_id: Any, organization_id: Any, user_id: Any) -> Any:
    """The patient a booking is for: `patient_id` if given (any clinic: the caller checks it is the
    service's), else the booker's own linked record at the service's clinic, if any; with the
    linked account's name (who is told). Values, bind parameters or columns."""
    return (
        select(
            Patient.id.label("patient_id"),
            Patient.organization_id.label("patient_organization_id"),
            Patient.user_id.label("patient_user_id"),
            Patient.archived.label("patient_archived"),
            User.full_name.label("patient_user_name"),
        )
        .outerjoin(User, User.id == Patient.user_id)
        .where(
            or_(
                Patient.id == patient_id,
                and_(patient_id.is_(None), Patient.organization_id == organization_id, Patient.user_id == user_id),
            )
        )
        .limit(1)
    )


def clinic_standing(login: CTE, organization_id: Any) -> Any:
    """`organizations_service.standing` (a part of `auth_service.for_login`) for clinics only: no
    row for an organization of another kind, as for none at all."""
    return organizations_service.standing(login, organization_id).where(Organization.kind == OrganizationKind.clinic)


def patient_standing(login: CTE, patient_id: Any) -> Any:
    """The patient `patient_id` of a clinic (`patient_id`, `patient_organization_id`), the login's
    `clinic_standing` there and whether the login is the patient's linked account (`linked`): one
    row, none for no such patient of a clinic (or an ended login)."""
    standing = clinic_standing(login, Patient.organization_id).lateral("standing")
    return select(
        Patient.id.label("patient_id"),
        Patient.organization_id.label("patient_organization_id"),
        standing,
        func.coalesce(Patient.user_id == login.c.id, false()).label("linked"),
    ).select_from(login.join(Patient, Patient.id == patient_id).join(standing, true()))
