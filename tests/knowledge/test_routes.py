"""Knowledge base and assistant through HTTP: drafts and published articles, full-text search with
ranks and snippets, the assistant's deterministic score and its rate limit."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Org, create_org
from tests.helpers import assert_problem, register

ARTICLES = [
    ("Renew your passport", "To renew a passport, book an appointment and bring your old passport and one photo."),
    ("Lost identity card", "Report a lost identity card at the police first, then book an appointment with us."),
    ("Opening hours", "The office opens at nine on weekdays. Parking is free in the yard behind the building."),
]


async def write(
    client: httpx.AsyncClient, org: Org, title: str, body: str, status: str = "published"
) -> dict[str, Any]:
    response = await client.post(
        f"/organizations/{org.id}/articles",
        headers=org.staff.headers,
        json={"title": title, "body": body, "status": status},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_drafts_are_for_members_and_published_articles_for_everyone(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    stranger = await register(client)
    draft = await write(client, org, "Secret plan", "Not yet ready for the public.", status="draft")
    published = await write(client, org, *ARTICLES[0])
    assert draft["published_at"] is None
    assert published["published_at"] is not None

    assert (await client.get(f"/articles/{published['id']}")).status_code == 200
    assert_problem(await client.get(f"/articles/{draft['id']}"), 404, "not_found")
    assert_problem(await client.get(f"/articles/{draft['id']}", headers=stranger.headers), 404, "not_found")
    assert (await client.get(f"/articles/{draft['id']}", headers=org.staff.headers)).status_code == 200

    public = (await client.get(f"/organizations/{org.id}/articles")).json()
    assert [item["id"] for item in public["items"]] == [published["id"]]
    members = (await client.get(f"/organizations/{org.id}/articles", headers=org.staff.headers)).json()
    assert {item["id"] for item in members["items"]} == {draft["id"], published["id"]}
    drafts = await client.get(f"/organizations/{org.id}/articles", params={"status": "draft"})
    assert drafts.json()["total"] == 0

    # Changes: members only; a stranger gets 404 for a draft and 403 for a published article.
    assert_problem(
        await client.patch(f"/articles/{draft['id']}", headers=stranger.headers, json={"title": "x"}), 404, "not_found"
    )
    assert_problem(
        await client.patch(f"/articles/{published['id']}", headers=stranger.headers, json={"title": "x"}),
        403,
        "forbidden",
    )
    assert_problem(
        await client.post(
            f"/organizations/{org.id}/articles", headers=stranger.headers, json={"title": "t", "body": "b"}
        ),
        403,
        "forbidden",
    )
    published_now = await client.patch(
        f"/articles/{draft['id']}", headers=org.staff.headers, json={"status": "published"}
    )
    assert published_now.status_code == 200
    assert published_now.json()["published_at"] is not None
    assert (await client.get(f"/articles/{draft['id']}")).status_code == 200
    assert (await client.delete(f"/articles/{draft['id']}", headers=org.staff.headers)).status_code == 204
    assert_problem(await client.get(f"/articles/{draft['id']}", headers=org.staff.headers), 404, "not_found")


async def test_another_organizations_category_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    other = await create_org(client, session, name="Other")
    category = await client.post(
        f"/organizations/{other.id}/ticket-categories", headers=other.owner.headers, json={"name": "Billing"}
    )
    response = await client.post(
        f"/organizations/{org.id}/articles",
        headers=org.staff.headers,
        json={"title": "t", "body": "b", "category_id": category.json()["id"]},
    )
    assert_problem(response, 422, "invalid_category")


async def test_search_stems_ranks_and_highlights(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    other = await create_org(client, session, name="Other")
    ids = [(await write(client, org, *article))["id"] for article in ARTICLES]
    await write(client, other, "Renewing passports elsewhere", "Passports renewed in another organization.")
    await write(client, org, "Passport draft", "Passport renewal draft.", status="draft")

    # "renewing passports" stems to renew + passport: the passport article first, with a snippet.
    found = (await client.get(f"/organizations/{org.id}/articles", params={"q": "renewing passports"})).json()
    assert [item["id"] for item in found["items"]] == [ids[0]]
    assert found["total"] == 1
    assert "<mark>passport</mark>" in found["items"][0]["snippet"].lower()
    assert found["items"][0]["rank"] > 0

    # Web syntax: OR and exclusion; ranked by rank (title weighs more).
    either = (await client.get(f"/organizations/{org.id}/articles", params={"q": "appointment or parking"})).json()
    assert {item["id"] for item in either["items"]} == set(ids)
    ranks = [item["rank"] for item in either["items"]]
    assert ranks == sorted(ranks, reverse=True)
    excluded = (await client.get(f"/organizations/{org.id}/articles", params={"q": "appointment -police"})).json()
    assert [item["id"] for item in excluded["items"]] == [ids[0]]
    # Pages of a search: the total on every page, also past the end.
    for page, count in ((2, 1), (9, 0)):
        paged = await client.get(
            f"/organizations/{org.id}/articles", params={"q": "appointment or parking", "size": 1, "page": page}
        )
        assert (paged.json()["total"], len(paged.json()["items"])) == (3, count)
    # Members also find drafts.
    members = await client.get(f"/organizations/{org.id}/articles", headers=org.staff.headers, params={"q": "passport"})
    assert members.json()["total"] == 2


async def test_assistant_scores_by_share_of_terms_and_suggests_a_ticket(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    ids = [(await write(client, org, *article))["id"] for article in ARTICLES]
    await write(client, org, "Passport renewal draft", "How to renew a passport quickly.", status="draft")

    # Terms: renew, passport, quick (stop words "how", "do", "i", "my" dropped). The passport
    # article holds 2 of 3.
    answer = (
        await client.post(
            f"/organizations/{org.id}/assistant/ask", json={"question": "How do I renew my passport quickly?"}
        )
    ).json()
    assert answer["answered"] is True
    assert answer["suggest_ticket"] is False
    assert answer["score"] == pytest.approx(2 / 3, abs=1e-4)
    assert answer["sources"][0]["id"] == ids[0]
    assert answer["sources"][0]["url"] == f"/api/v1/articles/{ids[0]}"
    assert answer["answer"] == answer["sources"][0]["snippet"]
    # The draft is never a source; every source scores above 0, best first, at most 3.
    assert all(source["id"] in ids for source in answer["sources"])
    scores = [source["score"] for source in answer["sources"]]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)

    # One term of four: below 0.5, no answer, a ticket suggested, the source still listed.
    weak = (
        await client.post(f"/organizations/{org.id}/assistant/ask", json={"question": "parking fines tax refund"})
    ).json()
    assert weak["answered"] is False
    assert weak["answer"] is None
    assert weak["suggest_ticket"] is True
    assert weak["score"] == pytest.approx(0.25)
    assert [source["id"] for source in weak["sources"]] == [ids[2]]

    nothing = (await client.post(f"/organizations/{org.id}/assistant/ask", json={"question": "the and of"})).json()
    assert nothing == {"answered": False, "score": 0.0, "answer": None, "sources": [], "suggest_ticket": True}


async def test_assistant_is_rate_limited_per_address(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    org = await create_org(client, session)
    settings = app.state.settings
    limit = settings.assistant_asks_per_window
    for _ in range(limit):
        response = await client.post(f"/organizations/{org.id}/assistant/ask", json={"question": "passport"})
        assert response.status_code == 200
    refused = await client.post(f"/organizations/{org.id}/assistant/ask", json={"question": "passport"})
    assert_problem(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1


async def test_assistant_of_an_unknown_organization_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/organizations/00000000-0000-0000-0000-000000000000/assistant/ask", json={"question": "passport"}
    )
    assert_problem(response, 404, "not_found")
