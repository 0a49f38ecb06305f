from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import assert_problem, register
from tests.properties.factories import Clock, create_builder, create_project, make_sale


async def test_milestones_number_themselves_and_make_the_project_progress(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    assert project["progress_percent"] is None
    url = f"/projects/{project['id']}/milestones"
    buyer = await register(client)
    assert_problem(await client.post(url, headers=buyer.headers, json={"name": "Dig"}), 403, "forbidden")
    first = await client.post(url, headers=org.staff.headers, json={"name": "Foundations", "percent_complete": 100})
    assert first.status_code == 201, first.text
    second = await client.post(url, headers=org.staff.headers, json={"name": "Frame", "percent_complete": 33})
    today = clock.now.astimezone(ZoneInfo(org.timezone)).date().isoformat()
    assert (first.json()["position"], second.json()["position"]) == (1, 2)
    assert (first.json()["completed_on"], second.json()["completed_on"]) == (today, None)
    listing = (await client.get(url)).json()
    assert [m["name"] for m in listing["items"]] == ["Foundations", "Frame"]
    assert (await client.get(f"/projects/{project['id']}")).json()["progress_percent"] == 66  # (100 + 33) / 2
    bad = await client.patch(
        f"/milestones/{second.json()['id']}", headers=org.staff.headers, json={"percent_complete": 101}
    )
    assert_problem(bad, 422, "validation_error")
    refused = await client.patch(f"/milestones/{second.json()['id']}", headers=buyer.headers, json={"name": "x"})
    assert_problem(refused, 403, "forbidden")


async def test_a_milestone_instalment_falls_due_when_its_milestone_completes(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    other = await create_project(client, org)
    milestone = (
        await client.post(f"/projects/{project['id']}/milestones", headers=org.staff.headers, json={"name": "Roof"})
    ).json()
    foreign = (
        await client.post(f"/projects/{other['id']}/milestones", headers=org.staff.headers, json={"name": "Roof"})
    ).json()
    plan = [
        {"label": "Deposit", "percent": "20", "trigger": "booking"},
        {"label": "Roof", "percent": "80", "trigger": "milestone", "milestone_id": milestone["id"], "offset_days": 7},
    ]
    wrong = [plan[0], {**plan[1], "milestone_id": foreign["id"]}]
    refused = await client.post(
        f"/projects/{project['id']}/payment-plans", headers=org.staff.headers, json={"name": "x", "instalments": wrong}
    )
    assert_problem(refused, 422, "validation_error")
    sale = await make_sale(client, session, org=org, instalments=plan, project=project)
    schedule = (await client.get(f"/bookings/{sale.booking['id']}/schedule", headers=sale.buyer.headers)).json()
    assert schedule["instalments"][1]["due_on"] is None
    done = await client.patch(
        f"/milestones/{milestone['id']}", headers=org.staff.headers, json={"percent_complete": 100}
    )
    assert done.status_code == 200
    schedule = (await client.get(f"/bookings/{sale.booking['id']}/schedule", headers=sale.buyer.headers)).json()
    today = clock.now.astimezone(ZoneInfo(org.timezone)).date()
    assert schedule["instalments"][1]["due_on"] == (today + timedelta(days=7)).isoformat()
