"""Statements other features build into their own (the booking's single read)."""

from typing import Any

from sqlalchemy import and_, or_, select

from app.services.patients.models import Patient
from app.services.users.models import User


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
