"""`queueless seed-demo`: realistic demo data, idempotent, and big enough for benchmarks.

Everything the demo creates has a fixed identity, so a second run finds it and only tops up:
organizations and users by e-mail (the demo domain), services, citizens and appointments by
deterministic UUIDs (`00000000-0000-4000-<kind>-<12 digits>`). The hand-written part (three
organizations with staff, services, hours and closures) is a handful of ORM-free Core inserts; the
bulk (citizens, extra service points, appointments with their history and `slot_loads`) is
set-based SQL (`INSERT ... SELECT generate_series`), committed in chunks so that a progress bar can
follow it and an interrupted run can simply be run again.

Appointment invariants kept by construction:
- every appointment starts on a real slot of its service (opening hours, step, closures, zone);
- seats are drawn from each slot's free seats (capacity minus `slot_loads.booked`), so no slot is
  ever over capacity, and `slot_loads` is incremented by the active appointments of each chunk in
  the same statement that inserts them;
- a citizen's active appointments never overlap (an overlapping draw becomes `cancelled`);
- the status follows the clock (past: completed / no-show / cancelled, the last three days also
  checked in or in progress; future: booked or cancelled), and `appointment_events` holds the
  path that leads to it: booked -> checked_in -> in_progress -> completed, or booked -> cancelled,
  or booked -> no_show.
"""

import sys
import time as clock
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.core.security import hash_password_sync
from app.demo import catalog, clinic
from app.demo import helpdesk as helpdesk_demo
from app.demo import platform as platform_demo
from app.demo import property as property_demo
from app.demo import property_construction as property_construction_demo
from app.services.appointments.models import ACTIVE_VALUES_SQL
from app.services.appointments.service import REFERENCE_ALPHABET, REFERENCE_LENGTH
from app.services.catalog.models import Closure, OpeningHours, Requirement, Service
from app.services.organizations.models import Department, Membership, Organization
from app.services.users.models import Role, User

DOMAIN = "demo.example.org"
PASSWORD = "queueless-demo"
ADMIN_EMAIL = f"admin@{DOMAIN}"
MARKER_EMAIL = f"{catalog.CITY_HALL.key}@{DOMAIN}"

DEFAULT_APPOINTMENTS = 4000
DEFAULT_CITIZENS = 300
PAST_DAYS = 90
FUTURE_DAYS = 30
CHUNK = 50_000
POINT_SERVICES_PER_ORG = 10
ACTIVE = ACTIVE_VALUES_SQL
LOCK_KEY = 7_244_301_118  # pg_advisory_lock: one seeder at a time


def demo_uuid(kind: str, number: int) -> uuid.UUID:
    """A demo id: `kind` is one hex digit group (a000 services, b000 service points, ...)."""
    return uuid.UUID(f"00000000-0000-4000-{kind}-{100_000_000_000 + number}")


def _uuid_sql(kind: str, number_sql: str) -> str:
    return f"('00000000-0000-4000-{kind}-' || (100000000000 + ({number_sql}))::text)::uuid"


SERVICE, POINT, CITIZEN, APPOINTMENT = "a000", "b000", "c000", "8000"


def _range(kind: str) -> dict[str, uuid.UUID]:
    return {"lo": demo_uuid(kind, 0), "hi": uuid.UUID(f"00000000-0000-4000-{kind}-999999999999")}


def citizen_email(number: int) -> str:
    return f"citizen{number:05d}@{DOMAIN}"


@dataclass
class SeedReport:
    organizations: int = 0
    services: int = 0
    citizens: int = 0
    appointments_added: int = 0
    appointments_total: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"demo data: {self.organizations} organizations, {self.services} services, {self.citizens} citizens, "
            f"{self.appointments_total} appointments ({self.appointments_added} added) in {self.seconds:.1f} s"
        )


class Progress:
    """A plain progress bar on a text stream (stderr): redrawn in place on a terminal, lines otherwise."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.started = clock.monotonic()
        self._last_line_share = -1.0

    def step(self, message: str) -> None:
        self.stream.write(f"{message}\n")
        self.stream.flush()

    def bar(self, label: str, done: int, total: int) -> None:
        share = done / total if total else 1.0
        filled = int(self.width * share)
        line = (
            f"{label} [{'#' * filled}{'-' * (self.width - filled)}] {share:4.0%} "
            f"{done:,}/{total:,} {clock.monotonic() - self.started:5.0f} s"
        )
        if self.stream.isatty():
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        elif done >= total or share - self._last_line_share >= 0.1:
            self.stream.write(line + "\n")
            self._last_line_share = share
        self.stream.flush()


class VerticalSeeder(Protocol):
    """A vertical's demo (`app/demo/<vertical>.py`): idempotent, run after the appointments."""

    async def __call__(self, conn: AsyncConnection, *, password_hash: str, progress: "Progress") -> None: ...


# Each vertical's seeder, in order; each finds what an earlier run made and only tops it up.
VERTICALS: list[VerticalSeeder] = [
    clinic.seed,
    platform_demo.seed,
    property_demo.seed,
    property_construction_demo.seed,
    helpdesk_demo.seed,
]


async def seed(
    engine: AsyncEngine,
    *,
    appointments: int = DEFAULT_APPOINTMENTS,
    citizens: int = DEFAULT_CITIZENS,
    services: int = catalog.N_SERVICES,
    bcrypt_rounds: int = 12,
    reminder_minutes_before: Sequence[int] = (),
    progress: Progress | None = None,
    today: date | None = None,
) -> SeedReport:
    """Create the demo or top it up to the given sizes. Safe to run again (and concurrently).

    `reminder_minutes_before` are the server's reminder offsets: reminders whose time has passed
    are recorded as sent (see `_record_past_reminders`)."""
    progress = progress or Progress()
    started = clock.monotonic()
    report = SeedReport()
    password_hash = hash_password_sync(PASSWORD, bcrypt_rounds)  # once: every demo account shares it
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        await conn.commit()
        try:
            if await _ensure_base(conn, password_hash=password_hash, today=today):
                progress.step("created the city hall, the clinic and the property developer (staff, services, hours)")
            else:
                progress.step("found the demo organizations: topping up")
            added = await _ensure_points(conn, total=services, password_hash=password_hash)
            if added:
                progress.step(f"added {added} services in service points")
            added = await _ensure_citizens(conn, total=citizens, password_hash=password_hash)
            if added:
                progress.step(f"added {added} citizens")
            await conn.commit()
            report.appointments_added = await _ensure_appointments(conn, total=appointments, progress=progress)
            await _record_past_reminders(conn, reminder_minutes_before)
            for seed_vertical in VERTICALS:
                await seed_vertical(conn, password_hash=password_hash, progress=progress)
                await conn.commit()
            report.organizations = await _count(conn, "organizations", f"email LIKE '%@{DOMAIN}'")
            report.services = await _count(conn, "services", "id BETWEEN :lo AND :hi", _range(SERVICE))
            report.citizens = await _count(conn, "users", "id BETWEEN :lo AND :hi", _range(CITIZEN))
            report.appointments_total = await _count(
                conn, "appointments", "id BETWEEN :lo AND :hi", _range(APPOINTMENT)
            )
        finally:
            await conn.rollback()
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            await conn.commit()
    if report.appointments_added:
        await _vacuum(engine)
    report.seconds = clock.monotonic() - started
    return report


# Vacuumed, not only analysed: a bulk load leaves the visibility map empty, so the index-only
# scans (a citizen's page total, the insights' covering indexes) would visit the table, and
# autovacuum would then do this work under the first minutes of load.
_VACUUM = "VACUUM (ANALYZE) users, appointments, appointment_events, slot_loads, sent_reminders, insights_daily_totals"


async def _vacuum(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(_VACUUM))


async def seed_database(url: str, **options: Any) -> SeedReport:
    """`seed` on a database URL of its own (the CLI): one connection, disposed at the end."""
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    try:
        return await seed(engine, **options)
    finally:
        await engine.dispose()


async def _count(conn: AsyncConnection, table: str, where: str, params: dict[str, Any] | None = None) -> int:
    return int(await conn.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}"), params or {}) or 0)


# --- the hand-written organizations ---------------------------------------------------------------


async def _ensure_users(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> dict[str, uuid.UUID]:
    """Insert users that do not exist yet (by e-mail); map every e-mail to its user id."""
    await conn.execute(pg_insert(User).values(list(rows)).on_conflict_do_nothing(index_elements=[User.email]))
    emails = [r["email"] for r in rows]
    found = await conn.execute(select(User.email, User.id).where(User.email.in_(emails)))
    return dict(found.all())


async def _ensure_base(conn: AsyncConnection, *, password_hash: str, today: date | None) -> bool:
    """The admin and the three organizations, once. Returns whether they were created now."""
    if await conn.scalar(select(Organization.id).where(Organization.email == MARKER_EMAIL)) is not None:
        return False
    users = [
        {
            "id": uuid.uuid4(),
            "email": ADMIN_EMAIL,
            "password_hash": password_hash,
            "full_name": "Demo Administrator",
            "role": Role.admin,
        }
    ]
    for spec in catalog.ORGANIZATIONS:
        users += [
            {
                "id": uuid.uuid4(),
                "email": f"{s.email}@{DOMAIN}",
                "password_hash": password_hash,
                "full_name": s.full_name,
                "role": Role.citizen,
            }
            for s in spec.staff
        ]
    user_ids = await _ensure_users(conn, users)
    number = 0
    for spec in catalog.ORGANIZATIONS:
        org_id = uuid.uuid4()
        first_day = today or datetime.now(ZoneInfo(spec.timezone)).date()
        await conn.execute(
            insert(Organization).values(
                id=org_id,
                name=spec.name,
                kind=spec.kind,
                timezone=spec.timezone,
                address=spec.address,
                phone=spec.phone,
                email=f"{spec.key}@{DOMAIN}",
            )
        )
        departments = {name: uuid.uuid4() for name in spec.departments}
        await conn.execute(
            insert(Department), [{"id": i, "organization_id": org_id, "name": n} for n, i in departments.items()]
        )
        await conn.execute(
            insert(Membership),
            [
                {
                    "organization_id": org_id,
                    "user_id": user_ids[f"{s.email}@{DOMAIN}"],
                    "role": s.role,
                    "title": s.title,
                    "department_id": departments.get(s.department or ""),
                }
                for s in spec.staff
            ],
        )
        hours, requirements, closures = [], [], []
        for service in spec.services:
            number += 1
            service_id = demo_uuid(SERVICE, number)
            await conn.execute(
                insert(Service).values(
                    id=service_id,
                    organization_id=org_id,
                    department_id=departments[service.department],
                    name=service.name,
                    description=service.description,
                    duration_minutes=service.duration,
                    capacity=service.capacity,
                    slot_minutes=service.slot_minutes,
                    min_notice_minutes=service.min_notice_minutes,
                    max_days_ahead=service.max_days_ahead,
                )
            )
            hours += [
                {"id": uuid.uuid4(), "service_id": service_id, "weekday": day, "opens": opens, "closes": closes}
                for days, ranges in service.hours
                for day in days
                for opens, closes in ranges
            ]
            requirements += [
                {
                    "id": uuid.uuid4(),
                    "service_id": service_id,
                    "name": name,
                    "mandatory": mandatory,
                    "position": position,
                }
                for position, (name, mandatory) in enumerate(service.requirements)
            ]
            closures += [
                {
                    "id": uuid.uuid4(),
                    "service_id": service_id,
                    "starts_on": first_day + timedelta(days=c.first_day),
                    "ends_on": first_day + timedelta(days=c.last_day),
                    "reason": c.reason,
                }
                for c in spec.closures
            ]
        await conn.execute(insert(OpeningHours), hours)
        if requirements:
            await conn.execute(insert(Requirement), requirements)
        await conn.execute(insert(Closure), closures)
    return True


# --- generated service points and citizens (set-based) ---------------------------------------------


async def _ensure_points(conn: AsyncConnection, *, total: int, password_hash: str) -> int:
    """Services beyond the hand-written ones, ten per generated organization ("Service Point 001")."""
    extra = total - catalog.N_SERVICES
    if extra <= 0:
        return 0
    orgs = (extra + POINT_SERVICES_PER_ORG - 1) // POINT_SERVICES_PER_ORG
    params = {"orgs": orgs, "hash": password_hash, "first": catalog.N_SERVICES + 1, "last": total}
    org_id = _uuid_sql(POINT, "n")
    await conn.execute(
        text(f"""
        INSERT INTO organizations (id, name, kind, timezone, address, email)
        SELECT {org_id}, 'Service Point ' || lpad(n::text, 3, '0'),
               (ARRAY['government', 'clinic', 'property', 'business'])[1 + n % 4], 'UTC',
               n || ' Harbour Street, Riverton', 'point' || n || '@{DOMAIN}'
        FROM generate_series(1, CAST(:orgs AS integer)) AS n
        ON CONFLICT DO NOTHING
        """),
        params,
    )
    await conn.execute(
        text(f"""
        INSERT INTO users (id, email, password_hash, full_name)
        SELECT gen_random_uuid(), 'point' || n || '.' || r.role || '@{DOMAIN}', CAST(:hash AS text),
               initcap(r.role) || ' of Service Point ' || lpad(n::text, 3, '0')
        FROM generate_series(1, CAST(:orgs AS integer)) AS n, (VALUES ('owner'), ('staff')) AS r(role)
        ON CONFLICT (email) DO NOTHING
        """),
        params,
    )
    await conn.execute(
        text(f"""
        INSERT INTO memberships (organization_id, user_id, role, title)
        SELECT {org_id}, u.id, r.role, r.title
        FROM generate_series(1, CAST(:orgs AS integer)) AS n
        CROSS JOIN (VALUES ('owner', 'branch manager'), ('staff', 'officer')) AS r(role, title)
        JOIN users u ON u.email = 'point' || n || '.' || r.role || '@{DOMAIN}'
        ON CONFLICT DO NOTHING
        """),
        params,
    )
    names = [name for name, _ in catalog.POINT_SERVICES]
    durations = [minutes for _, minutes in catalog.POINT_SERVICES]
    n_hand = catalog.N_SERVICES
    added = await conn.execute(
        text(f"""
        WITH created AS (
            INSERT INTO services (id, organization_id, name, description, duration_minutes, capacity, slot_minutes,
                                  min_notice_minutes, max_days_ahead)
            SELECT {_uuid_sql(SERVICE, "i")}, {_uuid_sql(POINT, f"(i - {n_hand} - 1) / {POINT_SERVICES_PER_ORG} + 1")},
                   (CAST(:names AS text[]))[1 + (i - {n_hand} - 1) % {POINT_SERVICES_PER_ORG}],
                   'Generated demo service ' || i,
                   (CAST(:durations AS integer[]))[1 + (i - {n_hand} - 1) % {POINT_SERVICES_PER_ORG}],
                   1 + i % 3, 60, 0, 730
            FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS i
            ON CONFLICT DO NOTHING
            RETURNING id
        ), hours AS (
            INSERT INTO opening_hours (id, service_id, weekday, opens, closes)
            SELECT gen_random_uuid(), created.id, d, time '08:00', time '20:00'
            FROM created, generate_series(0, 6) AS d
        ), requirements AS (
            INSERT INTO requirements (id, service_id, name, mandatory, position)
            SELECT gen_random_uuid(), created.id, 'Photo ID', true, 0 FROM created
        )
        SELECT count(*) FROM created
        """).bindparams(bindparam("names", names), bindparam("durations", durations)),
        params,
    )
    return int(added.scalar_one())


def _name_sql(n: str) -> str:
    first, last = len(catalog.FIRST_NAMES), len(catalog.LAST_NAMES)
    return (
        f"(CAST(:first_names AS text[]))[1 + {n} % {first}] || ' ' || "
        f"(CAST(:last_names AS text[]))[1 + ({n} / {first} + {n}) % {last}]"
    )


async def _ensure_citizens(conn: AsyncConnection, *, total: int, password_hash: str) -> int:
    result = await conn.execute(
        text(f"""
        INSERT INTO users (id, email, password_hash, full_name, phone)
        SELECT {_uuid_sql(CITIZEN, "n")}, 'citizen' || lpad(n::text, 5, '0') || '@{DOMAIN}', CAST(:hash AS text),
               {_name_sql("n")}, '+49 151 ' || lpad(n::text, 7, '0')
        FROM generate_series(1, CAST(:total AS integer)) AS n
        ON CONFLICT DO NOTHING
        """),
        {
            "total": total,
            "hash": password_hash,
            "first_names": list(catalog.FIRST_NAMES),
            "last_names": list(catalog.LAST_NAMES),
        },
    )
    return int(result.rowcount or 0)


# --- appointments (set-based) ----------------------------------------------------------------------

# Every free seat of every demo slot from PAST_DAYS ago to FUTURE_DAYS ahead (local dates).
_SEATS = f"""
CREATE TEMP TABLE demo_seats AS
WITH svc AS (
    SELECT s.id, s.organization_id, s.capacity, s.duration_minutes AS dur,
           coalesce(s.slot_minutes, s.duration_minutes) AS step, o.timezone AS tz,
           (now() AT TIME ZONE o.timezone)::date AS today
    FROM services s JOIN organizations o ON o.id = s.organization_id
    WHERE s.id BETWEEN :lo AND :hi AND s.is_active
), starts AS (
    SELECT svc.id AS service_id, svc.organization_id, svc.capacity, svc.dur,
           ((d.day + h.opens + make_interval(mins => k * svc.step)) AT TIME ZONE svc.tz) AS starts_at
    FROM svc
    JOIN opening_hours h ON h.service_id = svc.id
    CROSS JOIN LATERAL generate_series(
        CAST(svc.today - {PAST_DAYS} AS timestamp), CAST(svc.today + {FUTURE_DAYS} AS timestamp), interval '1 day'
    ) AS d(day)
    CROSS JOIN LATERAL generate_series(
        0,
        CASE WHEN extract(epoch FROM h.closes - h.opens)::int / 60 >= svc.dur
             THEN (extract(epoch FROM h.closes - h.opens)::int / 60 - svc.dur) / svc.step ELSE -1 END
    ) AS k
    WHERE extract(isodow FROM d.day)::int - 1 = h.weekday
      AND NOT EXISTS (
          SELECT 1 FROM closures c
          WHERE c.service_id = svc.id AND d.day::date BETWEEN c.starts_on AND c.ends_on
      )
)
SELECT st.service_id, st.organization_id, st.dur, st.starts_at
FROM starts st
LEFT JOIN slot_loads l ON l.service_id = st.service_id AND l.starts_at = st.starts_at
CROSS JOIN LATERAL generate_series(coalesce(l.booked, 0) + 1, st.capacity) AS seat
"""

# A readable reference from the sequence number: an odd multiplier is a bijection modulo 2^40,
# so distinct numbers give distinct 8-character references (5 bits a character).
if len(REFERENCE_ALPHABET) != 32 or REFERENCE_LENGTH != 8:
    raise RuntimeError("the demo writes references as 8 characters of 5 bits each")
_SCRAMBLED = "((seq * 2654435761 + 977) % 1099511627776)"
_REFERENCE = " || ".join(
    f"substr('{REFERENCE_ALPHABET}', 1 + (({_SCRAMBLED} >> {5 * i}) & 31)::int, 1)" for i in range(REFERENCE_LENGTH)
)

# Draw `n` seats, give them citizens (round robin in time order, so that one citizen's
# appointments are far apart), sequence numbers (contiguous per citizen), statuses and times.
_PLAN = f"""
CREATE TEMP TABLE demo_plan AS
WITH drawn AS (
    SELECT * FROM demo_seats ORDER BY random() LIMIT :n
), with_citizen AS (
    SELECT d.*, (row_number() OVER (ORDER BY d.starts_at, random()) - 1) % :citizens + 1 AS citizen_no
    FROM drawn d
), numbered AS (
    SELECT w.*, CAST(:base AS bigint) + row_number() OVER (ORDER BY w.citizen_no, w.starts_at) AS seq,
           w.starts_at + make_interval(mins => w.dur) AS ends_at, random() AS r
    FROM with_citizen w
), checked AS (
    SELECT n.*,
           max(n.ends_at) OVER (PARTITION BY n.citizen_no ORDER BY n.starts_at, n.seq
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_end
    FROM numbered n
), statused AS (
    SELECT c.*,
           CASE
               WHEN c.previous_end > c.starts_at THEN 'cancelled'
               WHEN c.ends_at <= now() THEN CASE
                   WHEN c.starts_at > now() - interval '72 hours' AND c.r < 0.12 THEN 'checked_in'
                   WHEN c.starts_at > now() - interval '72 hours' AND c.r < 0.24 THEN 'in_progress'
                   WHEN c.r < 0.22 THEN 'cancelled'
                   WHEN c.r < 0.30 THEN 'no_show'
                   ELSE 'completed' END
               WHEN c.starts_at <= now() THEN CASE
                   WHEN c.r < 0.5 THEN 'in_progress' WHEN c.r < 0.85 THEN 'checked_in' ELSE 'cancelled' END
               ELSE CASE WHEN c.r < 0.15 THEN 'cancelled' ELSE 'booked' END
           END AS status,
           least(c.starts_at - make_interval(days => 1 + (c.r * 1000)::int % 20, mins => (c.r * 7919)::int % 600),
                 now() - make_interval(mins => 1 + (c.r * 104729)::int % 4000)) AS created_at
    FROM checked c
)
SELECT s.seq, s.service_id, s.organization_id, s.starts_at, s.ends_at, s.status, s.created_at,
       {_uuid_sql(APPOINTMENT, "s.seq")} AS id,
       {_uuid_sql(CITIZEN, "s.citizen_no")} AS citizen_id,
       CASE WHEN s.status = 'cancelled' OR (s.status = 'booked' AND s.r > 0.3) THEN NULL
            ELSE st.members[1 + s.seq % cardinality(st.members)] END AS staff_id,
       CASE WHEN s.status IN ('checked_in', 'in_progress', 'completed')
            THEN least(now(), s.starts_at - make_interval(mins => (s.r * 1000)::int % 15)) END AS checked_in_at,
       CASE s.status
           WHEN 'cancelled' THEN s.created_at + (least(now(), s.starts_at) - s.created_at) * s.r
           WHEN 'no_show' THEN least(now(), s.starts_at + interval '15 minutes')
           WHEN 'completed' THEN s.ends_at
           WHEN 'in_progress' THEN s.starts_at
           WHEN 'checked_in' THEN least(now(), s.starts_at - make_interval(mins => (s.r * 1000)::int % 15))
           ELSE s.created_at
       END AS updated_at,
       CASE WHEN s.r * 37 - floor(s.r * 37) < 0.05
            THEN (ARRAY['Wheelchair access, please', 'I may be a few minutes late', 'Interpreter needed (Turkish)',
                        'Second visit for the same matter'])[1 + s.seq % 4] END AS notes
FROM statused s
JOIN demo_staff st ON st.organization_id = s.organization_id
"""

# A citizen's earlier appointments (another run, or booked through the API) win over the draw.
_YIELD_TO_EXISTING = f"""
UPDATE demo_plan p SET status = 'cancelled', staff_id = NULL, checked_in_at = NULL,
       updated_at = p.created_at + (least(now(), p.starts_at) - p.created_at) / 2
WHERE p.status IN {ACTIVE} AND EXISTS (
    SELECT 1 FROM appointments a
    WHERE a.citizen_id = p.citizen_id AND a.status IN {ACTIVE}
      AND tstzrange(a.starts_at, a.ends_at) && tstzrange(p.starts_at, p.ends_at)
)
"""

# One chunk: the appointments, their history and their seats, in one statement.
_INSERT_CHUNK = f"""
WITH ins AS (
    INSERT INTO appointments (id, reference, service_id, organization_id, citizen_id, staff_id, starts_at, ends_at,
                              status, notes, checked_in_at, created_at, updated_at)
    SELECT id, {_REFERENCE}, service_id, organization_id, citizen_id, staff_id, starts_at, ends_at,
           status, notes, checked_in_at, created_at, updated_at
    FROM demo_plan WHERE seq > :low AND seq <= :high
    ORDER BY seq
    ON CONFLICT DO NOTHING
    RETURNING id, service_id, citizen_id, staff_id, starts_at, ends_at, status, created_at, checked_in_at, updated_at
), events AS (
    INSERT INTO appointment_events (appointment_id, from_status, to_status, actor_id, note, at)
    SELECT ins.id, e.from_status, e.to_status, e.actor_id, e.note, e.at
    FROM ins
    CROSS JOIN LATERAL (VALUES
        (1, NULL, 'booked', ins.citizen_id, NULL, ins.created_at),
        (2, 'booked',
            CASE ins.status WHEN 'cancelled' THEN 'cancelled' WHEN 'no_show' THEN 'no_show' ELSE 'checked_in' END,
            CASE ins.status WHEN 'cancelled' THEN ins.citizen_id ELSE ins.staff_id END,
            CASE ins.status WHEN 'cancelled' THEN 'Cannot make it' END,
            CASE WHEN ins.status IN ('cancelled', 'no_show') THEN ins.updated_at ELSE ins.checked_in_at END),
        (3, 'checked_in', 'in_progress', ins.staff_id, NULL, ins.starts_at),
        (4, 'in_progress', 'completed', ins.staff_id, NULL, ins.ends_at)
    ) AS e(step, from_status, to_status, actor_id, note, at)
    WHERE e.step <= CASE ins.status WHEN 'booked' THEN 1 WHEN 'in_progress' THEN 3 WHEN 'completed' THEN 4 ELSE 2 END
    ORDER BY ins.id, e.step
), loads AS (
    INSERT INTO slot_loads (service_id, starts_at, booked)
    SELECT service_id, starts_at, count(*) FROM ins WHERE status IN {ACTIVE} GROUP BY service_id, starts_at
    ON CONFLICT (service_id, starts_at) DO UPDATE SET booked = slot_loads.booked + EXCLUDED.booked
)
SELECT count(*) FROM ins
"""


# The demo's appointments are written at once, but they stand for months of bookings: a reminder
# whose time has passed went out then, and is recorded as sent (at its time) so that a server
# started on the demo does not send thousands of overdue "tomorrow" reminders in its first minutes.
# The conditions are the reminder worker's (`appointments.reminders._CLAIM_REMINDERS`).
_PAST_REMINDERS = """
INSERT INTO sent_reminders (appointment_id, starts_at, minutes_before, sent_at)
SELECT a.id, a.starts_at, o, a.starts_at - make_interval(mins => o)
FROM appointments AS a CROSS JOIN unnest(CAST(:offsets AS integer[])) AS o
WHERE a.id BETWEEN :lo AND :hi
  AND a.status = 'booked'
  AND a.starts_at > now()
  AND a.starts_at - make_interval(mins => o) <= now()
  AND a.created_at <= a.starts_at - make_interval(mins => o)
ON CONFLICT DO NOTHING
"""


async def _record_past_reminders(conn: AsyncConnection, offsets: Sequence[int]) -> None:
    if offsets:
        await conn.execute(text(_PAST_REMINDERS), {"offsets": list(offsets), **_range(APPOINTMENT)})
        await conn.commit()


async def _ensure_appointments(conn: AsyncConnection, *, total: int, progress: Progress) -> int:
    ids = _range(APPOINTMENT)
    existing = await _count(conn, "appointments", "id BETWEEN :lo AND :hi", ids)
    wanted = total - existing
    if wanted <= 0:
        progress.step(f"found {existing:,} demo appointments: nothing to add")
        return 0
    base = await conn.scalar(
        text(
            "SELECT coalesce(max(right(id::text, 12)::bigint) - 100000000000, 0) FROM appointments"
            " WHERE id BETWEEN :lo AND :hi"
        ),
        ids,
    )
    citizens = await _count(conn, "users", "id BETWEEN :lo AND :hi", _range(CITIZEN))
    if citizens == 0:
        raise ValueError("no demo citizens: seed with --citizens 1 or more")
    progress.step(f"planning {wanted:,} appointments over {PAST_DAYS} days back and {FUTURE_DAYS} ahead")
    await conn.execute(text("DROP TABLE IF EXISTS demo_seats, demo_plan, demo_staff"))
    await conn.execute(text(_SEATS), _range(SERVICE))
    seats = await _count(conn, "demo_seats", "true")
    if seats < wanted:
        progress.step(f"only {seats:,} free seats in the window: adding {seats:,} (more --services make room)")
        wanted = seats
    await conn.execute(
        text("""
        CREATE TEMP TABLE demo_staff AS
        SELECT organization_id, array_agg(user_id ORDER BY user_id) AS members
        FROM memberships GROUP BY organization_id
        """)
    )
    await conn.execute(text(_PLAN), {"n": wanted, "citizens": citizens, "base": base})
    await conn.execute(text("CREATE INDEX ON demo_plan (seq)"))
    await conn.execute(text("ANALYZE demo_plan"))
    await conn.execute(text(_YIELD_TO_EXISTING))
    await conn.execute(text("DROP TABLE demo_seats"))
    await conn.commit()
    low, high = base, base + wanted
    added = 0
    progress.bar("appointments", 0, wanted)
    for start in range(low, high, CHUNK):
        stop = min(start + CHUNK, high)
        added += int((await conn.execute(text(_INSERT_CHUNK), {"low": start, "high": stop})).scalar_one())
        await conn.commit()
        progress.bar("appointments", stop - low, wanted)
    await conn.execute(text("DROP TABLE demo_plan, demo_staff"))
    await conn.commit()
    return added
