"""Who may read and write a patient's entries: the contract's rights table, stated once.

The ORM paths ask these functions; the entries page's statement (`queries.page_statement`) is
built from them (`queries.READ_RIGHTS`), so the rule the database applies before it logs and
serves a read is this one and no copy. Rights add up: an owner who is a doctor reads as a doctor.
"""

from dataclasses import dataclass

from app.core.errors import PermissionDenied
from app.services.medical_records.models import AuthorRole, EntryKind, ReaderRole
from app.services.organizations.models import ClinicalRole

NURSING_KINDS = frozenset({EntryKind.vital_signs, EntryKind.note})


@dataclass(frozen=True, slots=True)
class ReadRight:
    """How a reader reads a patient's entries: as whom the access log names them (`role`) and
    whether they see the confidential ones."""

    role: ReaderRole
    confidential: bool


def read_right(clinical_role: ClinicalRole | None, *, linked: bool) -> ReadRight | None:
    """Reading entries and versions: nurses and doctors read every entry, the patient's linked
    account its own non-confidential ones; owners, managers and staff (demographics and bookings
    only) and everyone else none. `clinical_role` is the one the caller acts with
    (`patients_service.judge`)."""
    if clinical_role is not None:
        return ReadRight(ReaderRole(clinical_role.value), confidential=True)
    if linked:
        return ReadRight(ReaderRole.patient, confidential=False)
    return None


def require_reader(clinical_role: ClinicalRole | None, *, linked: bool) -> ReadRight:
    """`read_right`, or 403 for a caller who reads no entries."""
    right = read_right(clinical_role, linked=linked)
    if right is None:
        raise PermissionDenied("Only nurses and doctors read clinical entries.")
    return right


def require_writer(clinical_role: ClinicalRole | None, kind: EntryKind) -> AuthorRole:
    """Writing and amending: nurses vital signs and notes, doctors every kind; else 403."""
    if clinical_role is ClinicalRole.doctor:
        return AuthorRole.doctor
    if clinical_role is ClinicalRole.nurse:
        if kind in NURSING_KINDS:
            return AuthorRole.nurse
        raise PermissionDenied(f"Only doctors write {kind.value} entries.")
    raise PermissionDenied("Only nurses and doctors write clinical entries.")
