"""A patient's entries page as one statement: the login check, the clinic gate, the rights, the
access-log item, the page of `EntryRead` bodies (JSON written by PostgreSQL) and its total, in one
round trip (`page_statement`).

The read is logged by a data-modifying CTE of the same statement, which inserts only when the
rights allow the read: the item and the page commit together or not at all (a read that cannot be
logged is not served), and a refused read writes nothing. The rights the statement applies are
`patients_service.judge` and `rights.read_right` themselves, tabulated (`READ_RIGHTS`).
"""

from functools import lru_cache
from itertools import product
from typing import Any

from sqlalchemy import (
    CTE,
    Boolean,
    Integer,
    Select,
    String,
    Uuid,
    and_,
    bindparam,
    column,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    values,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from app.core.errors import AppError
from app.core.json_sql import json_object
from app.core.prepared import Prepared
from app.services.auth import service as auth_service
from app.services.medical_records import rights
from app.services.medical_records.models import AccessAction, AccessLogItem, MedicalEntry
from app.services.medical_records.schemas import EntryRead
from app.services.organizations.models import ClinicalRole, MemberRole
from app.services.patients import queries as patients_queries
from app.services.patients import service as patients_service
from app.services.patients.errors import PatientNotFound

ENTRIES = MedicalEntry.__table__
SUCCESSOR = ENTRIES.alias("successor")

# An entry's body as `EntryRead.model_dump_json()` writes it (up to spacing), from `ENTRIES`
# outer-joined with its `SUCCESSOR` (the version that superseded it).
BODY_JSON = json_object(EntryRead, {**ENTRIES.c, "superseded_by_id": SUCCESSOR.c.id})


def _read_rights() -> Any:
    """Every standing a login can have at a patient's clinic (role, clinical role, held back by
    the MFA policy, linked to the patient) under which it reads the patient's entries, with the
    reader's role and whether it sees confidential entries: `judge`, then `read_right`."""
    rows = []
    for role, clinical_role, held_back, linked in product(
        (None, *MemberRole), (None, *ClinicalRole), (False, True), (False, True)
    ):
        try:
            _, acting_clinical_role = patients_service.judge(
                role=role, clinical_role=clinical_role, held_back=held_back, linked=linked, refusal=PatientNotFound
            )
        except AppError:
            continue
        right = rights.read_right(acting_clinical_role, linked=linked)
        if right is not None:
            as_sql = [null() if value is None else value.value for value in (role, clinical_role)]
            rows.append((*as_sql, held_back, linked, right.role.value, right.confidential))
    return values(
        column("role", String),
        column("clinical_role", String),
        column("held_back", Boolean),
        column("linked", Boolean),
        column("reader_role", String),
        column("confidential", Boolean),
        name="read_rights",
    ).data(rows)


READ_RIGHTS = _read_rights()


def _reader(login: CTE) -> Select[Any]:
    """The patient, the login's standing at its clinic (`patients_queries.patient_standing`) and,
    when it may read the entries, `reader_role` and `confidential` (else NULL): one row, none for
    no such patient of a clinic or an ended login."""
    patient = patients_queries.patient_standing(login, bindparam("patient_id", type_=Uuid)).subquery("patient")
    right = READ_RIGHTS
    return select(patient, right.c.reader_role, right.c.confidential).select_from(
        patient.outerjoin(
            right,
            and_(
                right.c.role.is_not_distinct_from(patient.c.standing_role),
                right.c.clinical_role.is_not_distinct_from(patient.c.standing_clinical_role),
                right.c.held_back == patient.c.standing_held_back,
                right.c.linked == patient.c.linked,
            ),
        )
    )


@lru_cache(maxsize=8)
def page_statement(*, kind: bool, include_superseded: bool) -> Prepared:
    """The entries page, newest `effective_at` first, for one shape of filters (at most 4, each
    compiled once). Parameters: the login's (`auth_service.login_parameters`), `patient_id`,
    `request_id`, `kind` (with `kind=True`), `offset`, `limit`. One row (none for an ended login):
    the standing's columns, `linked`, `reader_role` (NULL for a refused read, which logs and
    reads nothing), `items` (comma-separated bodies) and `total`."""

    def page(login: CTE) -> Select[Any]:
        reader = _reader(login).cte("reader")
        logged = insert(AccessLogItem).from_select(
            ["id", "organization_id", "patient_id", "actor_id", "actor_name", "actor_role", "action", "request_id"],
            select(
                func.gen_random_uuid(),
                reader.c.patient_organization_id,
                reader.c.patient_id,
                login.c.id,
                login.c.full_name,
                reader.c.reader_role,
                literal(AccessAction.list_entries.value),
                bindparam("request_id", type_=String),
            ).where(reader.c.reader_role.is_not(None)),
        )
        where = [
            ENTRIES.c.patient_id == reader.c.patient_id,
            reader.c.reader_role.is_not(None),
            or_(reader.c.confidential, ENTRIES.c.confidential.is_(False)),
        ]
        if not include_superseded:
            where.append(SUCCESSOR.c.id.is_(None))
        if kind:
            where.append(ENTRIES.c.kind == bindparam("kind", type_=String))
        with_successor = ENTRIES.outerjoin(SUCCESSOR, SUCCESSOR.c.supersedes_id == ENTRIES.c.id)
        # PostgreSQL builds the bodies after the sort and the limit: only the page's rows get one.
        rows = (
            select(BODY_JSON.label("body"), ENTRIES.c.effective_at, ENTRIES.c.id)
            .select_from(with_successor)
            .where(*where)
            .order_by(ENTRIES.c.effective_at.desc(), ENTRIES.c.id)
            .offset(bindparam("offset", type_=Integer))
            .limit(bindparam("limit", type_=Integer))
            .subquery("page")
        )
        in_order = aggregate_order_by(literal(","), rows.c.effective_at.desc(), rows.c.id)
        items = select(func.coalesce(func.string_agg(rows.c.body, in_order), "")).scalar_subquery()
        total = select(func.count()).select_from(with_successor).where(*where).scalar_subquery()
        return select(
            *(c for c in reader.c if c.name not in ("patient_id", "patient_organization_id")),
            items.label("items"),
            total.label("total"),
        ).add_cte(logged.cte("logged"))

    return Prepared(auth_service.for_login(page))
