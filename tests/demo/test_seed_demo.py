"""`queueless seed-demo`: realistic data that the booking engine agrees with, idempotent."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio.to_thread
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app import cli
from app.core.settings import Settings, get_settings
from app.demo import seed as demo_seed
from app.demo.clinic import BOOKED_PATIENTS

ACTIVE = "('booked', 'checked_in', 'in_progress')"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path) -> None:
    """The command line pointed at the suite's database."""
    assert settings.database_url
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BCRYPT_ROUNDS", "4")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def run_seed(*args: str) -> None:
    await anyio.to_thread.run_sync(cli.main, ["seed-demo", *args])


async def scalar(session: AsyncSession, sql: str) -> int:
    return int((await session.execute(text(sql))).scalar_one())


async def test_seed_demo_fills_the_database_and_a_second_run_adds_nothing(
    cli_env: None, session: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_seed("--appointments", "4000", "--citizens", "120", "--services", "25")
    first = capsys.readouterr()
    assert "4000 appointments (4000 added)" in first.out
    assert "appointments [" in first.err  # the progress bar
    assert "100%" in first.err

    await run_seed("--appointments", "4000", "--citizens", "120", "--services", "25")
    second = capsys.readouterr()
    assert "4000 appointments (0 added)" in second.out
    assert "nothing to add" in second.err

    # Vacuumed after the bulk load (the visibility map lets index-only scans skip the table).
    vacuumed = await session.scalar(
        text("SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'appointments'")
    )
    assert vacuumed is True
    kinds = (await session.execute(text("SELECT DISTINCT kind FROM organizations WHERE timezone <> 'UTC'"))).scalars()
    assert set(kinds) == {"government", "clinic", "property"}
    assert await scalar(session, "SELECT count(*) FROM organizations") == 3 + 2  # 12 extra services: 2 points
    assert await scalar(session, "SELECT count(*) FROM services") == 25
    assert await scalar(session, "SELECT count(*) FROM users WHERE email LIKE 'citizen%'") == 120
    # The citizens' appointments, and those the clinic booked for its patients (app/demo/clinic.py).
    assert await scalar(session, "SELECT count(*) FROM appointments WHERE patient_id IS NULL") == 4000
    assert await scalar(session, "SELECT count(*) FROM appointments WHERE patient_id IS NOT NULL") == BOOKED_PATIENTS
    assert await scalar(session, "SELECT count(*) FROM departments") == 8
    roles = (await session.execute(text("SELECT DISTINCT role, title FROM memberships"))).all()
    assert {"owner", "manager", "staff"} <= {role for role, _ in roles}
    assert {"doctor", "officer", "nurse"} <= {title for _, title in roles}
    assert await scalar(session, "SELECT count(*) FROM requirements") > 25
    assert await scalar(session, "SELECT count(*) FROM closures") >= 13 * 2
    # Several opening ranges a day: the city hall's lunch break.
    assert (
        await scalar(
            session,
            "SELECT count(*) FROM opening_hours h JOIN services s ON s.id = h.service_id "
            "WHERE s.name = 'ID card renewal' AND h.weekday = 0",
        )
        == 2
    )


async def test_seeded_appointments_keep_every_invariant_of_the_booking_engine(
    cli_env: None, session: AsyncSession
) -> None:
    await run_seed("--appointments", "4000", "--citizens", "120", "--services", "25")

    statuses = dict((await session.execute(text("SELECT status, count(*) FROM appointments GROUP BY 1"))).all())
    assert set(statuses) == {"booked", "checked_in", "in_progress", "completed", "cancelled", "no_show"}
    now = datetime.now(UTC)
    span = (await session.execute(text("SELECT min(starts_at), max(starts_at) FROM appointments"))).one()
    assert now - timedelta(days=92) < span[0] < now - timedelta(days=80)
    assert now + timedelta(days=20) < span[1] < now + timedelta(days=32)
    # The clock decides: nothing in the past is still booked, nothing in the future is finished.
    assert await scalar(session, "SELECT count(*) FROM appointments WHERE status = 'booked' AND starts_at < now()") == 0
    assert (
        await scalar(
            session, "SELECT count(*) FROM appointments WHERE status IN ('completed', 'no_show') AND ends_at > now()"
        )
        == 0
    )

    # slot_loads counts exactly the active appointments of each slot, never above capacity.
    assert (
        await scalar(
            session,
            f"""SELECT count(*) FROM slot_loads l FULL JOIN (
                SELECT service_id, starts_at, count(*) AS n FROM appointments WHERE status IN {ACTIVE} GROUP BY 1, 2
            ) a ON a.service_id = l.service_id AND a.starts_at = l.starts_at
            WHERE coalesce(l.booked, 0) <> coalesce(a.n, 0)""",
        )
        == 0
    )
    assert await scalar(session, f"SELECT count(*) FROM appointments WHERE status IN {ACTIVE}") == await scalar(
        session, "SELECT coalesce(sum(booked), 0) FROM slot_loads"
    )
    assert (
        await scalar(
            session,
            "SELECT count(*) FROM slot_loads l JOIN services s ON s.id = l.service_id WHERE l.booked > s.capacity",
        )
        == 0
    )

    # History: the first event is the booking, the last one is the current status, each step legal.
    assert (
        await scalar(
            session,
            """SELECT count(*) FROM appointments a WHERE a.status <> (
               SELECT to_status FROM appointment_events e WHERE e.appointment_id = a.id ORDER BY e.id DESC LIMIT 1)
           OR (SELECT from_status IS NOT NULL OR to_status <> 'booked' FROM appointment_events e
               WHERE e.appointment_id = a.id ORDER BY e.id LIMIT 1)""",
        )
        == 0
    )
    steps = dict(
        (
            await session.execute(
                text("""SELECT a.status, min(n) = max(n) AND min(n) = CASE a.status WHEN 'booked' THEN 1
                            WHEN 'in_progress' THEN 3 WHEN 'completed' THEN 4 ELSE 2 END
                        FROM appointments a
                        JOIN (SELECT appointment_id, count(*) AS n FROM appointment_events GROUP BY 1) e
                          ON e.appointment_id = a.id
                        GROUP BY a.status""")
            )
        ).all()
    )
    assert len(steps) == 6
    assert all(steps.values()), steps
    assert (
        await scalar(
            session,
            "SELECT count(*) FROM appointment_events WHERE at > now() OR actor_id IS NULL",
        )
        == 0
    )
    references = await scalar(session, "SELECT count(DISTINCT reference) FROM appointments")
    assert references == 4000 + BOOKED_PATIENTS
    assert await scalar(session, "SELECT count(*) FROM appointments WHERE reference ~ '[01OI]'") == 0


async def test_seeded_slots_are_the_slots_the_api_offers(
    cli_env: None, session: AsyncSession, client: httpx.AsyncClient
) -> None:
    await run_seed("--appointments", "4000", "--citizens", "120")
    rows = (
        await session.execute(
            text("""SELECT s.id, o.timezone FROM services s JOIN organizations o ON o.id = s.organization_id
                    WHERE s.name IN ('ID card renewal', 'Blood test', 'Show flat viewing')""")
        )
    ).all()
    assert len(rows) == 3
    for service_id, zone in rows:
        today = datetime.now(ZoneInfo(zone)).date()
        first, last = today + timedelta(days=2), today + timedelta(days=20)
        response = await client.get(f"/services/{service_id}/slots", params={"from": str(first), "to": str(last)})
        assert response.status_code == 200, response.text
        offered = {datetime.fromisoformat(s["starts_at"]): s for s in response.json()}
        booked = (
            await session.execute(
                text(f"""SELECT starts_at, count(*) FROM appointments
                         WHERE service_id = :id AND status IN {ACTIVE} AND starts_at >= :low AND starts_at < :high
                         GROUP BY 1"""),
                {
                    "id": service_id,
                    "low": datetime.combine(first, datetime.min.time(), ZoneInfo(zone)),
                    "high": datetime.combine(last + timedelta(days=1), datetime.min.time(), ZoneInfo(zone)),
                },
            )
        ).all()
        assert booked, f"no future appointments for {service_id}"
        for starts_at, count in booked:
            assert starts_at in offered, f"{starts_at} is not a slot of {service_id}"
            assert offered[starts_at]["available"] == offered[starts_at]["capacity"] - count


async def test_demo_accounts_sign_in_with_the_documented_password(cli_env: None, client: httpx.AsyncClient) -> None:
    await run_seed("--appointments", "50", "--citizens", "5")
    for email in (demo_seed.ADMIN_EMAIL, "amir.haddad@demo.example.org", demo_seed.citizen_email(5)):
        response = await client.post("/auth/login", json={"email": email, "password": demo_seed.PASSWORD})
        assert response.status_code == 200, response.text
    mine = await client.get("/appointments", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert mine.status_code == 200
    assert mine.json()["total"] >= 1
    wrong = await client.post("/auth/login", json={"email": demo_seed.citizen_email(6), "password": "queueless-demo"})
    assert wrong.status_code == 401


async def test_reminders_whose_time_passed_are_recorded_as_sent(
    cli_env: None, session: AsyncSession, settings: Settings
) -> None:
    """The demo stands for months of bookings: a server started on it must not send every
    overdue reminder at once."""
    from app.services.appointments.reminders import send_due_reminders

    await run_seed("--appointments", "4000", "--citizens", "120", "--services", "25")
    recorded = await scalar(session, "SELECT count(*) FROM sent_reminders")
    assert recorded > 0
    assert await send_due_reminders(session, settings=settings) == 0
    # Each recorded reminder's time has passed, for an appointment still ahead.
    assert (
        await scalar(
            session,
            "SELECT count(*) FROM sent_reminders r JOIN appointments a ON a.id = r.appointment_id "
            "WHERE r.sent_at = a.starts_at - make_interval(mins => r.minutes_before) AND r.sent_at <= now() "
            "AND a.starts_at > now() AND r.minutes_before IN (1440, 60)",
        )
        == recorded
    )
