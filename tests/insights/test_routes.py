import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments.models import Status
from app.services.ratings.models import Rating
from tests.factories import Org, create_org
from tests.helpers import Account, assert_problem, register
from tests.insights.factories import make_appointment, make_org, make_service, make_user

PARIS = ZoneInfo("Europe/Paris")
RANGE = {"from": "2026-12-01", "to": "2026-12-05"}


def paris(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=PARIS)


@dataclass
class DataSet:
    org: Org
    passport: uuid.UUID
    id_card: uuid.UUID
    empty: uuid.UUID


async def _data_set(client: httpx.AsyncClient, session: AsyncSession) -> DataSet:
    """Known answers (Europe/Paris, UTC+1 in December; 1 Dec 2026 is a Tuesday):

    | # | service  | local start      | status      | lead | notes                                  |
    | 1 | Passport | Tue 1 Dec 09:00  | completed   | 48 h | wait 15 min, service 20 min, rated 5   |
    | 2 | Passport | Tue 1 Dec 10:00  | completed   | 24 h | wait 5 min, service 30 min, rated 3    |
    | 3 | Passport | Wed 2 Dec 09:00  | no_show     | 24 h |                                        |
    | 4 | ID card  | Wed 2 Dec 11:00  | cancelled   | 48 h | cancelled 12 h before the start        |
    | 5 | ID card  | Thu 3 Dec 23:30  | booked      | 12 h | 22:30 UTC: still 3 Dec locally         |
    | 6 | ID card  | Sat 5 Dec 14:00  | checked_in  | 24 h | never started: no wait time            |
    | - | Passport | Sun 6 Dec 00:30  | booked      |      | 5 Dec in UTC, 6 Dec locally: left out  |
    | - | Passport | Mon 30 Nov 23:59 | completed   |      | before the range: left out             |
    | - | other organization, 2 Dec               |      | left out                               |
    Fri 4 Dec has no appointment.
    """
    org = await create_org(client, session, timezone="Europe/Paris")
    passport = await make_service(session, organization_id=org.id, name="Passport")
    id_card = await make_service(session, organization_id=org.id, name="ID card")
    empty = await make_service(session, organization_id=org.id, name="Zoning permit")
    citizen = await make_user(session)

    async def visit(service: Any, starts: datetime, lead_hours: int, timeline: list[tuple[Status, datetime]]) -> Any:
        return await make_appointment(
            session,
            service=service,
            citizen_id=citizen.id,
            starts_at=starts,
            created_at=starts - timedelta(hours=lead_hours),
            timeline=timeline,
        )

    done = [Status.checked_in, Status.in_progress, Status.completed]
    first = await visit(
        passport, paris(1, 9), 48, list(zip(done, [paris(1, 8, 50), paris(1, 9, 5), paris(1, 9, 25)], strict=True))
    )
    second = await visit(
        passport, paris(1, 10), 24, list(zip(done, [paris(1, 9, 55), paris(1, 10), paris(1, 10, 30)], strict=True))
    )
    await visit(passport, paris(2, 9), 24, [(Status.no_show, paris(2, 9, 30))])
    await visit(id_card, paris(2, 11), 48, [(Status.cancelled, paris(1, 23))])
    await visit(id_card, paris(3, 23, 30), 12, [])
    await visit(id_card, paris(5, 14), 24, [(Status.checked_in, paris(5, 13, 50))])
    await visit(passport, paris(6, 0, 30), 24, [])
    await visit(passport, paris(30, 23, 59, month=11), 24, [(status, paris(30, 23, 59, month=11)) for status in done])
    for appointment, score in ((first, 5), (second, 3)):
        session.add(
            Rating(
                appointment_id=appointment.id,
                service_id=appointment.service_id,
                organization_id=org.id,
                citizen_id=citizen.id,
                score=score,
            )
        )
    other = await make_org(session, name="Elsewhere")
    elsewhere = await make_service(session, organization_id=other.id)
    await make_appointment(session, service=elsewhere, citizen_id=citizen.id, starts_at=paris(2, 10))
    await session.commit()
    return DataSet(org=org, passport=passport.id, id_card=id_card.id, empty=empty.id)


async def _get(client: httpx.AsyncClient, account: Account, org_id: uuid.UUID, what: str, **params: str) -> Any:
    response = await client.get(f"/organizations/{org_id}/insights/{what}", headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_summary_figures_match_the_data_set(client: httpx.AsyncClient, session: AsyncSession) -> None:
    data = await _data_set(client, session)
    body = await _get(client, data.org.staff, data.org.id, "summary", **RANGE)
    assert body == {
        "organization_id": str(data.org.id),
        "timezone": "Europe/Paris",
        "from": "2026-12-01",
        "to": "2026-12-05",
        "total": 6,
        "booked": 1,
        "checked_in": 1,
        "in_progress": 0,
        "completed": 2,
        "cancelled": 1,
        "no_show": 1,
        "no_show_rate": 0.3333,
        "cancellation_rate": 0.1667,
        "average_lead_time_hours": 30.0,
        "average_cancellation_notice_hours": 12.0,
        "average_wait_minutes": 10.0,
        "average_service_minutes": 25.0,
        "average_rating": 4.0,
        "rating_count": 2,
    }


async def test_daily_series_has_every_local_day_with_zeros(client: httpx.AsyncClient, session: AsyncSession) -> None:
    data = await _data_set(client, session)
    body = await _get(client, data.org.owner, data.org.id, "daily", **RANGE)
    zero = {"booked": 0, "checked_in": 0, "in_progress": 0, "completed": 0, "cancelled": 0, "no_show": 0}
    assert body == [
        {"date": "2026-12-01", "total": 2, **zero, "completed": 2},
        {"date": "2026-12-02", "total": 2, **zero, "cancelled": 1, "no_show": 1},
        {"date": "2026-12-03", "total": 1, **zero, "booked": 1},  # the 23:30 local appointment
        {"date": "2026-12-04", "total": 0, **zero},
        {"date": "2026-12-05", "total": 1, **zero, "checked_in": 1},  # not the 00:30 local one of the 6th
    ]


async def test_per_service_table_includes_services_without_appointments(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    data = await _data_set(client, session)
    rows = await _get(client, data.org.owner, data.org.id, "services", **RANGE)
    assert [(r["service_name"], r["total"]) for r in rows] == [("ID card", 3), ("Passport", 3), ("Zoning permit", 0)]
    id_card, passport, empty = rows
    assert passport["service_id"] == str(data.passport)
    assert (passport["completed"], passport["no_show"], passport["no_show_rate"]) == (2, 1, 0.3333)
    assert (passport["average_lead_time_hours"], passport["average_wait_minutes"]) == (32.0, 10.0)
    assert (passport["average_service_minutes"], passport["average_rating"], passport["rating_count"]) == (25.0, 4.0, 2)
    assert (id_card["booked"], id_card["checked_in"], id_card["cancelled"]) == (1, 1, 1)
    assert (id_card["cancellation_rate"], id_card["no_show_rate"]) == (0.3333, None)
    assert (id_card["average_lead_time_hours"], id_card["average_cancellation_notice_hours"]) == (28.0, 12.0)
    assert (id_card["average_wait_minutes"], id_card["average_rating"], id_card["rating_count"]) == (None, None, 0)
    assert empty["service_id"] == str(data.empty)
    assert (empty["total"], empty["cancellation_rate"], empty["average_lead_time_hours"]) == (0, None, None)


async def test_peak_hours_is_the_full_local_grid(client: httpx.AsyncClient, session: AsyncSession) -> None:
    data = await _data_set(client, session)
    cells = await _get(client, data.org.staff, data.org.id, "peak-hours", **RANGE)
    assert len(cells) == 7 * 24
    assert cells[0] == {"weekday": 0, "hour": 0, "count": 0}
    busy = {(c["weekday"], c["hour"]): c["count"] for c in cells if c["count"]}
    # Cancelled #4 (Wed 11:00) is left out; #5 is Thursday 23:00 local, not 22:00 UTC.
    assert busy == {(1, 9): 1, (1, 10): 1, (2, 9): 1, (3, 23): 1, (5, 14): 1}


async def test_csv_has_one_header_row_of_the_json_field_names(client: httpx.AsyncClient, session: AsyncSession) -> None:
    data = await _data_set(client, session)
    for what in ("summary", "daily", "services", "peak-hours"):
        as_json = await _get(client, data.org.staff, data.org.id, what, **RANGE)
        response = await client.get(
            f"/organizations/{data.org.id}/insights/{what}",
            headers=data.org.staff.headers,
            params={**RANGE, "format": "csv"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(response.text)))
        items = as_json if isinstance(as_json, list) else [as_json]
        assert rows[0] == list(items[0])
        assert len(rows) == 1 + len(items)
        assert rows[1] == ["" if v is None else str(v) for v in items[0].values()]
    summary_csv = await client.get(
        f"/organizations/{data.org.id}/insights/summary",
        headers=data.org.staff.headers,
        params={**RANGE, "format": "csv"},
    )
    header, values = list(csv.reader(io.StringIO(summary_csv.text)))
    assert dict(zip(header, values, strict=True))["average_wait_minutes"] == "10.0"


async def test_platform_summary_uses_utc_days_over_every_organization(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    data = await _data_set(client, session)
    response = await client.get("/admin/insights/summary", headers=data.org.admin.headers, params=RANGE)
    assert response.status_code == 200, response.text
    body = response.json()
    # The six, plus the 00:30 Paris one (23:30 UTC on the 5th) and the other organization's.
    assert (body["total"], body["organizations"], body["citizens"]) == (8, 2, 1)
    assert (body["timezone"], body["organization_id"]) == ("UTC", None)
    as_csv = await client.get(
        "/admin/insights/summary", headers=data.org.admin.headers, params={**RANGE, "format": "csv"}
    )
    assert next(csv.reader(io.StringIO(as_csv.text)))[-2:] == ["organizations", "citizens"]
    assert_problem(
        await client.get("/admin/insights/summary", headers=data.org.owner.headers, params=RANGE), 403, "forbidden"
    )


@pytest.mark.parametrize("what", ["summary", "daily", "services", "peak-hours"])
async def test_insights_are_for_the_organizations_members_and_admins_only(
    client: httpx.AsyncClient, session: AsyncSession, what: str
) -> None:
    org = await create_org(client, session)
    other = await create_org(client, session, name="Other Hall")
    citizen = await register(client)
    path = f"/organizations/{org.id}/insights/{what}"
    for allowed in (org.staff, org.owner, org.admin):
        assert (await client.get(path, headers=allowed.headers)).status_code == 200
    assert_problem(await client.get(path, headers=citizen.headers), 403, "forbidden")
    assert_problem(await client.get(path, headers=other.owner.headers), 403, "forbidden")
    assert_problem(await client.get(path, headers=other.staff.headers), 403, "forbidden")
    assert_problem(await client.get(path), 401, "not_authenticated")
    assert_problem(
        await client.get(f"/organizations/{uuid.uuid4()}/insights/{what}", headers=org.admin.headers), 404, "not_found"
    )


async def test_range_is_bounded_and_ordered(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    path = f"/organizations/{org.id}/insights/daily"
    year = await client.get(path, headers=org.staff.headers, params={"from": "2028-01-01", "to": "2028-12-31"})
    assert year.status_code == 200
    assert len(year.json()) == 366  # a leap year: the longest allowed range
    too_long = await client.get(path, headers=org.staff.headers, params={"from": "2027-01-01", "to": "2028-01-02"})
    assert_problem(too_long, 422, "range_too_long")
    backwards = await client.get(path, headers=org.staff.headers, params={"from": "2027-01-02", "to": "2027-01-01"})
    assert_problem(backwards, 422, "invalid_range")
    assert_problem(await client.get(path, headers=org.staff.headers, params={"from": "1 Dec"}), 422, "validation_error")
    assert_problem(await client.get(path, headers=org.staff.headers, params={"format": "xml"}), 422, "validation_error")
    default = await client.get(path, headers=org.staff.headers)
    assert len(default.json()) == 30
    assert default.json()[-1]["date"] == datetime.now(ZoneInfo(org.timezone)).date().isoformat()


def test_csv_cells_cannot_start_a_formula() -> None:
    from app.core.tabular import cell as _cell

    assert _cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert _cell("@SUM(A1)") == "'@SUM(A1)"
    assert _cell("Passport") == "Passport"
    assert _cell(-3) == -3
    assert _cell(None) == ""
