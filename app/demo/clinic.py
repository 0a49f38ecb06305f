"""The clinic's demo: Lakeside Family Clinic's clinical roles, patients, histories and bookings.

Idempotent like the rest of `seed-demo`: people by e-mail, patients, entries and appointments by
fixed ids (`00000000-0000-4000-<kind>-<12 digits>`, kinds d000 patients, e000 entries, f000
appointments); a second run finds them and adds nothing. Appointments are booked the way the
booking engine books: on real future slots of the clinic's services, a seat taken in `slot_loads`
first (the conditional upsert that guards capacity), one appointment per patient so that none
overlaps, with the booking as the first history row.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.demo import catalog
from app.services.appointments import bookable_query, slots
from app.services.appointments import service as appointments_service
from app.services.appointments.models import ACTIVE_SQL
from app.services.organizations.models import Membership, Organization
from app.services.users.models import User

if TYPE_CHECKING:
    from app.demo.seed import Progress

DOMAIN = "demo.example.org"
CLINIC_EMAIL = f"{catalog.CLINIC.key}@{DOMAIN}"
PATIENTS = 300
LINKED_CITIZENS = 40  # patients 1..40 are demo citizens citizen00001..citizen00040
BOOKED_PATIENTS = 80
PATIENT, ENTRY, APPOINTMENT = "d000", "e000", "f000"

# Clinical roles of the catalogue's staff (by e-mail name), and the people the clinic adds.
CLINICAL_ROLES = {
    "helena.brandt": "doctor",  # the owner is a doctor too: rights add up
    "amir.haddad": "doctor",
    "lena.vogel": "doctor",
    "marta.kowalski": "nurse",
}
EXTRA_STAFF = (
    ("jonas.weber", "Jonas Weber", "nurse", "nurse"),
    ("sara.klein", "Sara Klein", None, "receptionist"),
)
RECEPTIONIST = "sara.klein"


def _uuid_sql(kind: str, number_sql: str) -> str:
    return f"('00000000-0000-4000-{kind}-' || (100000000000 + ({number_sql}))::text)::uuid"


def demo_id(kind: str, number: int) -> uuid.UUID:
    return uuid.UUID(f"00000000-0000-4000-{kind}-{100_000_000_000 + number}")


async def seed(conn: AsyncConnection, *, password_hash: str, progress: "Progress") -> None:
    clinic_id = await conn.scalar(select(Organization.id).where(Organization.email == CLINIC_EMAIL))
    if clinic_id is None:
        return
    progress.step("clinic: clinical roles, patients, histories, bookings")
    people = await _ensure_staff(conn, clinic_id=clinic_id, password_hash=password_hash)
    doctors = [people[name] for name, role in CLINICAL_ROLES.items() if role == "doctor"]
    nurses = [people["marta.kowalski"], people["jonas.weber"]]
    await _ensure_patients(conn, clinic_id=clinic_id, doctors=doctors)
    await _ensure_entries(conn, doctors=doctors, nurses=nurses)
    await _ensure_appointments(conn, clinic_id=clinic_id, doctors=doctors, receptionist=people[RECEPTIONIST])


async def _ensure_staff(conn: AsyncConnection, *, clinic_id: uuid.UUID, password_hash: str) -> dict[str, uuid.UUID]:
    rows = [
        {"id": uuid.uuid4(), "email": f"{name}@{DOMAIN}", "password_hash": password_hash, "full_name": full_name}
        for name, full_name, _, _ in EXTRA_STAFF
    ]
    await conn.execute(pg_insert(User).values(rows).on_conflict_do_nothing(index_elements=[User.email]))
    names = [*CLINICAL_ROLES, *(name for name, *_ in EXTRA_STAFF)]
    found = await conn.execute(select(User.email, User.id).where(User.email.in_([f"{n}@{DOMAIN}" for n in names])))
    people = {email.split("@")[0]: user_id for email, user_id in found}
    memberships = [
        {"organization_id": clinic_id, "user_id": people[name], "role": "staff", "title": title, "clinical_role": role}
        for name, _, role, title in EXTRA_STAFF
    ]
    await conn.execute(pg_insert(Membership).values(memberships).on_conflict_do_nothing())
    for name, role in CLINICAL_ROLES.items():
        await conn.execute(
            text("UPDATE memberships SET clinical_role = :role WHERE organization_id = :org AND user_id = :user"),
            {"role": role, "org": clinic_id, "user": people[name]},
        )
    return people


async def _ensure_patients(conn: AsyncConnection, *, clinic_id: uuid.UUID, doctors: list[uuid.UUID]) -> None:
    first, last = len(catalog.FIRST_NAMES), len(catalog.LAST_NAMES)
    await conn.execute(
        text(f"""
        INSERT INTO patients (id, organization_id, mrn, national_id, full_name, date_of_birth, sex, phone, email,
                              address, user_id, assigned_doctor_id)
        SELECT {_uuid_sql(PATIENT, "n")}, CAST(:clinic AS uuid), 'LFC-' || lpad(n::text, 5, '0'),
               'DE' || lpad((n * 7919 % 1000000)::text, 9, '0'),
               coalesce(u.full_name, (CAST(:first_names AS text[]))[1 + (n * 7) % {first}] || ' ' ||
                                     (CAST(:last_names AS text[]))[1 + (n * 13 + n / {first}) % {last}]),
               DATE '1940-01-01' + (n * 2477 % 29000), (ARRAY['female', 'male', 'other', 'unknown'])[1 + n % 4],
               coalesce(u.phone, '+49 30 ' || lpad((5550000 + n * 37)::text, 7, '0')), u.email,
               (n % 97 + 1)::text || ' Lake Road, Riverton', u.id,
               (CAST(:doctors AS uuid[]))[1 + n % cardinality(CAST(:doctors AS uuid[]))]
        FROM generate_series(1, CAST(:total AS integer)) AS n
        LEFT JOIN users AS u ON n <= {LINKED_CITIZENS}
            AND u.email = 'citizen' || lpad(n::text, 5, '0') || '@{DOMAIN}'
        ON CONFLICT DO NOTHING
        """),
        {
            "clinic": clinic_id,
            "total": PATIENTS,
            "doctors": doctors,
            "first_names": list(catalog.FIRST_NAMES),
            "last_names": list(catalog.LAST_NAMES),
        },
    )


# Per patient n: a diagnosis (slot 0), an allergy for every third (1), a medication (2), two vital
# signs (3, 4) and a note (5); entry number n * 10 + slot. Every seventh diagnosis is amended once
# (slot 6: version 2), every eleventh note is confidential.
_ENTRIES = f"""
WITH patient AS (
    SELECT n, {_uuid_sql(PATIENT, "n")} AS id,
           (CAST(:doctors AS uuid[]))[1 + n % cardinality(CAST(:doctors AS uuid[]))] AS doctor,
           (CAST(:nurses AS uuid[]))[1 + n % cardinality(CAST(:nurses AS uuid[]))] AS nurse,
           now() - make_interval(days => 5 + n % 300) AS seen
    FROM generate_series(1, CAST(:total AS integer)) AS n
), drafted AS (
    SELECT p.n, s.slot, p.id AS patient_id, s.kind, s.data, s.author, s.effective_at, s.confidential
    FROM patient AS p
    CROSS JOIN LATERAL (VALUES
        (0, 'diagnosis', jsonb_build_object(
            'description', (ARRAY['Essential hypertension', 'Type 2 diabetes mellitus', 'Asthma', 'Hypothyroidism',
                                  'Seasonal allergic rhinitis', 'Migraine', 'Iron deficiency anaemia'])[1 + p.n % 7],
            'code', (ARRAY['I10', 'E11.9', 'J45.9', 'E03.9', 'J30.2', 'G43.9', 'D50.9'])[1 + p.n % 7],
            'status', CASE WHEN p.n % 5 = 0 THEN 'resolved' ELSE 'active' END,
            'onset_date', to_char(p.seen - interval '400 days', 'YYYY-MM-DD')),
         p.doctor, p.seen - interval '2 hours', false),
        (1, 'allergy', jsonb_build_object(
            'substance', (ARRAY['Penicillin', 'Peanuts', 'Pollen', 'Latex', 'Ibuprofen'])[1 + p.n % 5],
            'reaction', (ARRAY['Rash', 'Swelling', 'Sneezing', 'Hives', 'Shortness of breath'])[1 + p.n % 5],
            'severity', (ARRAY['mild', 'moderate', 'severe'])[1 + p.n % 3]),
         p.doctor, p.seen - interval '1 hour 50 minutes', false),
        (2, 'medication', jsonb_build_object(
            'name', (ARRAY['Amlodipine', 'Metformin', 'Salbutamol', 'Levothyroxine', 'Cetirizine', 'Sumatriptan',
                           'Ferrous sulfate'])[1 + p.n % 7],
            'dose', (ARRAY['5 mg', '500 mg', '100 µg', '50 µg', '10 mg', '50 mg', '200 mg'])[1 + p.n % 7],
            'route', CASE WHEN p.n % 7 = 2 THEN 'inhaled' ELSE 'oral' END,
            'frequency', CASE WHEN p.n % 2 = 0 THEN 'once daily' ELSE 'twice daily' END,
            'start_date', to_char(p.seen, 'YYYY-MM-DD')),
         p.doctor, p.seen - interval '1 hour 40 minutes', false),
        (3, 'vital_signs', jsonb_build_object(
            'systolic_mmhg', 110 + p.n % 40, 'diastolic_mmhg', 65 + p.n % 25, 'heart_rate_bpm', 58 + p.n % 35,
            'spo2_percent', 94 + p.n % 6, 'temperature_c', 36.2 + (p.n % 12) / 10.0,
            'weight_kg', 52 + p.n % 48, 'height_cm', 155 + p.n % 40),
         p.nurse, p.seen - interval '2 hours 10 minutes', false),
        (4, 'vital_signs', jsonb_build_object(
            'systolic_mmhg', 108 + p.n % 42, 'diastolic_mmhg', 66 + p.n % 22, 'heart_rate_bpm', 60 + p.n % 30),
         p.nurse, p.seen - interval '95 days', false),
        (5, 'note', jsonb_build_object('text', CASE WHEN p.n % 11 = 0
            THEN 'Discussed family history and personal circumstances; see the doctor before sharing.'
            ELSE 'Patient reports feeling well. Follow-up in three months.' END),
         p.doctor, p.seen - interval '1 hour 30 minutes', p.n % 11 = 0)
    ) AS s(slot, kind, data, author, effective_at, confidential)
    WHERE s.slot <> 1 OR p.n % 3 = 0
), written AS (
    SELECT d.*, {_uuid_sql(ENTRY, "d.n * 10 + d.slot")} AS id FROM drafted AS d
)
INSERT INTO medical_entries (id, patient_id, chain_id, version, supersedes_id, kind, data, confidential,
                             effective_at, author_id, author_name, author_role, amendment_reason, created_at)
SELECT w.id, w.patient_id, w.id, 1, NULL, w.kind, w.data, w.confidential, w.effective_at, w.author, u.full_name,
       m.clinical_role, NULL, w.effective_at
FROM written AS w JOIN users AS u ON u.id = w.author
JOIN memberships AS m ON m.user_id = w.author AND m.organization_id = CAST(:clinic AS uuid)
UNION ALL
SELECT {_uuid_sql(ENTRY, "w.n * 10 + 6")}, w.patient_id, w.id, 2, w.id, w.kind,
       w.data || jsonb_build_object('status', 'refuted'), w.confidential, w.effective_at, w.author, u.full_name,
       m.clinical_role, 'Ruled out by the laboratory results', w.effective_at + interval '3 days'
FROM written AS w JOIN users AS u ON u.id = w.author
JOIN memberships AS m ON m.user_id = w.author AND m.organization_id = CAST(:clinic AS uuid)
WHERE w.slot = 0 AND w.n % 7 = 0
ON CONFLICT DO NOTHING
"""


async def _ensure_entries(conn: AsyncConnection, *, doctors: list[uuid.UUID], nurses: list[uuid.UUID]) -> None:
    clinic = await conn.scalar(select(Organization.id).where(Organization.email == CLINIC_EMAIL))
    await conn.execute(text(_ENTRIES), {"doctors": doctors, "nurses": nurses, "total": PATIENTS, "clinic": clinic})


_OVERLAPS = text(f"""
SELECT EXISTS (
    SELECT 1 FROM appointments AS a JOIN patients AS p ON p.user_id = a.citizen_id OR p.id = a.patient_id
    WHERE p.id = :patient AND a.{ACTIVE_SQL}
      AND tstzrange(a.starts_at, a.ends_at) && tstzrange(:starts_at, :ends_at)
)
""")


async def _ensure_appointments(
    conn: AsyncConnection, *, clinic_id: uuid.UUID, doctors: list[uuid.UUID], receptionist: uuid.UUID
) -> None:
    """Patients 1..BOOKED_PATIENTS get one future appointment each, on the clinic's real slots."""
    services = (
        (
            await conn.execute(
                text("SELECT id FROM services WHERE organization_id = :org ORDER BY name"), {"org": clinic_id}
            )
        )
        .scalars()
        .all()
    )
    now = datetime.now(UTC)
    starts: list[tuple[uuid.UUID, int, datetime]] = []
    for service_id in services:
        first = now.date() + timedelta(days=1)
        last = first + timedelta(days=20)
        row = (
            await conn.execute(
                bookable_query.statement(with_seats=False),
                bookable_query.parameters(service_id=service_id, first=first, last=last),
            )
        ).first()
        if row is None:
            continue
        bookable = bookable_query.from_row(row._mapping, first=first, last=last)
        for run in slots.runs_between(first, last, bookable.rules, now):
            starts += [(service_id, bookable.capacity, run.first + bookable.rules.step * k) for k in range(run.count)]
    starts.sort(key=lambda item: (item[2], str(item[0])))
    reasons = ("Blood pressure check", "Follow-up visit", "Repeat prescription", "Vaccination", "Lab results")
    cursor = 0
    for number in range(1, BOOKED_PATIENTS + 1):
        appointment_id = demo_id(APPOINTMENT, number)
        exists = await conn.scalar(text("SELECT 1 FROM appointments WHERE id = :id"), {"id": appointment_id})
        if exists or cursor >= len(starts):
            continue
        patient_id = demo_id(PATIENT, number)
        # Spread the bookings over the calendar (every 7th start), on a start that does not overlap
        # the linked citizen's own appointments and still has a seat.
        while cursor < len(starts):
            service_id, capacity, starts_at = starts[cursor]
            cursor += 7
            duration = await conn.scalar(
                text("SELECT duration_minutes FROM services WHERE id = :id"), {"id": service_id}
            )
            ends_at = starts_at + timedelta(minutes=duration or 15)
            if await conn.scalar(_OVERLAPS, {"patient": patient_id, "starts_at": starts_at, "ends_at": ends_at}):
                continue
            if await conn.scalar(bookable_query.take_seat(service_id, starts_at, capacity)) is not None:
                break
        else:
            return
        await conn.execute(
            text(f"""
            WITH patient AS (SELECT id, user_id FROM patients WHERE id = {_uuid_sql(PATIENT, ":n")}),
            booked AS (
                INSERT INTO appointments (id, reference, service_id, organization_id, citizen_id, patient_id, staff_id,
                                          starts_at, ends_at, status, reason)
                SELECT :id, :reference, :service, :org, patient.user_id, patient.id,
                       :doctor, :starts_at, :ends_at, 'booked', :reason
                FROM patient
                RETURNING id
            )
            INSERT INTO appointment_events (appointment_id, to_status, actor_id)
            SELECT id, 'booked', :receptionist FROM booked
            """),
            {
                "n": number,
                "id": appointment_id,
                "reference": appointments_service.new_reference(),
                "service": service_id,
                "org": clinic_id,
                "doctor": doctors[number % len(doctors)],
                "starts_at": starts_at,
                "ends_at": ends_at,
                "reason": reasons[number % len(reasons)],
                "receptionist": receptionist,
            },
        )
