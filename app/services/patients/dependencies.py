"""The clinic gates, defined once: routes of `patients` and `medical_records` take these.

Everything outside a clinic's members (and a patient's linked account on its own record) is 404.
Finer rights (archive, clinical reads and writes, the access logs) are checked on `ClinicAccess`
by the services. When API keys arrive, their scopes (`patients:read`, `records:read`, ...) are added
here.
"""

import uuid
from typing import Annotated

from fastapi import Depends

from app.core.database import SessionDep
from app.services.auth.dependencies import CurrentUser
from app.services.patients import service as patients_service
from app.services.patients.service import ClinicAccess


async def get_clinic_member(organization_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ClinicAccess:
    return await patients_service.clinic_access(session, organization_id=organization_id, user=user)


async def get_patient_reader(patient_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ClinicAccess:
    return await patients_service.patient_access(session, patient_id=patient_id, user=user)


async def get_patient_writer(patient_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ClinicAccess:
    """The patient row locked, so that concurrent changes (an archive, an entry) are serialised."""
    return await patients_service.patient_access(session, patient_id=patient_id, user=user, for_update=True)


# `/organizations/{organization_id}/...` of a clinic: its members.
ClinicMember = Annotated[ClinicAccess, Depends(get_clinic_member)]
# `/patients/{patient_id}...`: the clinic's members and the patient's linked account.
PatientReader = Annotated[ClinicAccess, Depends(get_patient_reader)]
PatientWriter = Annotated[ClinicAccess, Depends(get_patient_writer)]
