"""A clinic that requires MFA holds back its members without it from patient records (403
`mfa_required`), while a member who is also a patient of the clinic still reads their own record;
clinical role changes are in the organization's audit log."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import assert_problem
from tests.mfa.helpers import enable_mfa, frozen_clock
from tests.patients.factories import add_member, create_clinic, create_patient

__all__ = ["frozen_clock"]

pytestmark = pytest.mark.usefixtures("frozen_clock")


async def test_clinic_members_without_mfa_are_held_back_from_patients(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    clinic = await create_clinic(client, session)
    patient = await create_patient(client, clinic)
    own = await create_patient(client, clinic, full_name="Nora As Patient", user_id=str(clinic.nurse.id))
    policy = await client.patch(
        f"/organizations/{clinic.id}/security", headers=clinic.admin.headers, json={"require_mfa": True}
    )
    assert policy.status_code == 200, policy.text

    listing = f"/organizations/{clinic.id}/patients"
    assert_problem(await client.get(listing, headers=clinic.doctor.headers), 403, "mfa_required")
    assert_problem(await client.get(f"/patients/{patient['id']}", headers=clinic.doctor.headers), 403, "mfa_required")
    # The nurse is held back as a member, and still reads her own record as its patient.
    assert_problem(await client.get(f"/patients/{patient['id']}", headers=clinic.nurse.headers), 403, "mfa_required")
    assert (await client.get(f"/patients/{own['id']}", headers=clinic.nurse.headers)).status_code == 200

    await enable_mfa(client, clinic.doctor)
    assert (await client.get(listing, headers=clinic.doctor.headers)).status_code == 200
    assert (await client.get(f"/patients/{patient['id']}", headers=clinic.doctor.headers)).status_code == 200


async def test_a_clinical_role_change_is_audited(client: httpx.AsyncClient, session: AsyncSession) -> None:
    clinic = await create_clinic(client, session)
    changed = await add_member(client, clinic.id, clinic.admin, clinic.nurse, "staff", "doctor")
    assert changed.status_code == 200, changed.text
    entries = await client.get(
        f"/organizations/{clinic.id}/audit",
        headers=clinic.owner.headers,
        params={"target_id": str(clinic.nurse.id), "action": "member.changed"},
    )
    assert [e["data"] for e in entries.json()["items"]] == [{"clinical_role": "doctor"}]
    added = await client.get(
        f"/organizations/{clinic.id}/audit",
        headers=clinic.owner.headers,
        params={"target_id": str(clinic.doctor.id), "action": "member.added"},
    )
    assert added.json()["items"][0]["data"]["clinical_role"] == "doctor"
