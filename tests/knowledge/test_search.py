"""The article list and search as one prepared statement (`knowledge/queries.py`): the same pages
as ranking every match with `ts_rank_cd` (one-word queries read their ranks from `article_terms`),
the JSON PostgreSQL writes equal to pydantic's, the table the triggers keep, and the gates that
run inside the statement."""

import asyncio
import math
import random
import uuid
from typing import Any

import httpx
import pydantic_core
from sqlalchemy import ARRAY, REAL, Text, bindparam, cast, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.auth.models import ThrottleCounter
from app.services.knowledge import queries
from app.services.knowledge.models import Article, article_term_counts, article_terms
from app.services.knowledge.schemas import ArticleRead
from app.services.organizations.models import Organization
from tests.factories import Org, create_org
from tests.helpers import assert_problem, register

WORDS = ["passport", "renewal", "card", "lost", "photo", "appointment", "office", "parking", "fee", "queue"]


def _text(rng: random.Random, count: int) -> str:
    # Skewed: the first words are in most articles, the last in few, and words repeat (ties, ranks > 1).
    return " ".join(WORDS[min(int(rng.expovariate(0.35)), len(WORDS) - 1)] for _ in range(count))


async def _seed(session: AsyncSession, org: Org, count: int = 60) -> None:
    rng = random.Random(7)
    rows = [
        {
            "id": uuid.uuid4(),
            "organization_id": org.id,
            "title": _text(rng, rng.randint(1, 4)),
            "body": _text(rng, rng.randint(3, 40)) + " and the rest.",
            "status": "draft" if rng.random() < 0.2 else "published",
        }
        for _ in range(count)
    ]
    await session.execute(insert(Article), rows)  # one statement: the trigger's transition table
    await session.commit()


REFERENCE = text(
    """
    SELECT a.id, ts_rank_cd(a.search, q) AS rank, ts_headline('english', a.body, q, :options) AS snippet
    FROM articles AS a, websearch_to_tsquery('english', :q) AS q
    WHERE a.organization_id = :organization_id AND (a.status = 'published' OR :member)
      AND (CAST(:status AS text) IS NULL OR a.status = :status) AND a.search @@ q
    ORDER BY rank DESC, a.id
    """
)


async def _reference(
    session: AsyncSession, org: Org, q: str, *, member: bool, status: str | None
) -> list[dict[str, Any]]:
    """What the search answered before `article_terms`: every match ranked by `ts_rank_cd`."""
    params = {"q": q, "organization_id": org.id, "member": member, "status": status}
    rows = (await session.execute(REFERENCE, {**params, "options": queries.HEADLINE_OPTIONS})).all()
    articles = {a.id: a for a in (await session.scalars(select(Article).where(Article.organization_id == org.id)))}
    return [
        ArticleRead.model_validate(articles[row.id])
        .model_copy(update={"snippet": row.snippet, "rank": round(float(row.rank), 6)})
        .model_dump(mode="json")
        for row in rows
    ]


QUERIES = [
    "passport",  # one lexeme, in most articles
    "passports",  # stemmed to the same lexeme
    "the queue",  # a stop word and a lexeme: one lexeme
    '"fee"',  # quoted
    "fee",  # rare
    "renewal passport",  # two lexemes: ranked match by match
    "card or parking",  # lexemes joined by `or`: their ranks summed from `article_terms`
    "passport or renewal or fee",
    "fee or nothing",  # one of them in no article
    "card or card",  # a lexeme twice: ranked match by match
    "fee or the",  # a stop word: one lexeme
    '"lost card" or fee',  # a phrase among them: ranked match by match
    "passport -photo",
    '"lost card"',
    "nothing",  # no article
    "the",  # stop words only
]


async def test_pages_equal_ranking_every_match(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """Every page of every query, for the public and for a member, with and without `status`,
    holds what ranking all matches with `ts_rank_cd` holds, in the same order; totals agree."""
    org = await create_org(client, session)
    await _seed(session, org)
    other = await create_org(client, session, name="Other")
    await _seed(session, other, count=10)  # never shown to `org`'s searches
    size = 7
    callers: list[tuple[dict[str, str], bool, str | None]] = [
        ({}, False, None),
        (org.staff.headers, True, None),
        (org.staff.headers, True, "draft"),
        ({}, False, "published"),
        ({}, False, "draft"),
    ]
    for q in QUERIES:
        for headers, member, status in callers:
            expected = await _reference(session, org, q, member=member, status=status)
            if status == "draft" and not member:
                expected = []
            found: list[dict[str, Any]] = []
            for page in range(1, math.ceil(len(expected) / size) + 2):
                params: dict[str, Any] = {"q": q, "page": page, "size": size}
                if status:
                    params["status"] = status
                response = await client.get(f"/organizations/{org.id}/articles", params=params, headers=headers)
                assert response.status_code == 200, response.text
                body = response.json()
                assert (body["total"], body["page"], body["size"]) == (len(expected), page, size), (q, status)
                assert body["pages"] == math.ceil(len(expected) / size)
                found.extend(body["items"])
                assert all(list(item) == list(ArticleRead.model_fields) for item in body["items"])
            assert found == expected, (q, member, status)
    # The seed gives both paths real work: common and rare words, drafts, several ranks per word.
    assert len(await _reference(session, org, "passport", member=True, status=None)) > 20
    assert len({item["rank"] for item in await _reference(session, org, "passport", member=False, status=None)}) > 3


async def test_list_without_query_is_latest_first(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    await _seed(session, org, count=12)
    articles = (await session.scalars(select(Article).where(Article.organization_id == org.id))).all()
    published = sorted(
        (a for a in articles if a.status == "published"), key=lambda a: (-a.updated_at.timestamp(), a.id)
    )
    response = await client.get(f"/organizations/{org.id}/articles", params={"size": 5, "page": 2})
    body = response.json()
    assert body["total"] == len(published)
    assert body["items"] == [ArticleRead.model_validate(a).model_dump(mode="json") for a in published[5:10]]
    members = (await client.get(f"/organizations/{org.id}/articles", headers=org.admin.headers)).json()
    assert members["total"] == len(articles)


RANKS = [0.0, 1e-6, 4e-6, 9.4e-6, 1e-5, 1.2e-5, 2.5e-5, 9.99e-5, 1e-4, 1.234e-4, 0.0078125, 0.4, 1 / 3, 1.0, 2.5]
RANKS += [12.0, 100.0, 123.4567891, 4096.0]


async def test_rank_is_written_as_pydantic_writes_it(session: AsyncSession) -> None:
    """The rank, rounded to 6 places, in pydantic's notation (`12.0`, `0.00008`, `1e-6`), for
    awkward reals (ties at the 7th place like 1/128, tiny and whole ranks) and random ones."""
    rng = random.Random(3)
    values = RANKS + [10 ** rng.uniform(-7, 4) for _ in range(3000)] + [rng.randint(1, 4000) / 128 for _ in range(500)]
    ranks = func.unnest(bindparam("ranks", type_=ARRAY(REAL))).table_valued("value").render_derived()
    rows = (
        await session.execute(select(ranks.c.value, cast(queries.rank_json(ranks.c.value), Text)), {"ranks": values})
    ).all()
    assert len(rows) == len(values)
    for rank, written in rows:
        assert written == pydantic_core.to_json(round(rank, 6)).decode(), rank


async def _assert_terms_derived(session: AsyncSession) -> int:
    """`article_terms` holds exactly one row per article and lexeme, with the one-lexeme rank."""
    rows = (
        await session.execute(
            text(
                "SELECT a.organization_id, l.lexeme, ts_rank_cd(a.search, ('''' || l.lexeme || '''')::tsquery),"
                " a.id, a.status = 'published' FROM articles a, unnest(tsvector_to_array(a.search)) l(lexeme)"
            )
        )
    ).all()
    stored = (await session.execute(select(article_terms))).all()
    assert sorted(map(tuple, stored)) == sorted(map(tuple, rows))
    return len(stored)


async def test_article_terms_follow_every_change(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    headers = org.staff.headers
    created = await client.post(
        f"/organizations/{org.id}/articles",
        headers=headers,
        json={"title": "Lost passport", "body": "Report a lost passport, then renew it.", "status": "draft"},
    )
    article_id = created.json()["id"]
    assert await _assert_terms_derived(session) == 4  # lost, passport, report, renew
    for change in ({"status": "published"}, {"title": "Stolen passport"}, {"category_id": None}, {"status": "draft"}):
        assert (await client.patch(f"/articles/{article_id}", headers=headers, json=change)).status_code == 200
        await _assert_terms_derived(session)
    await _seed(session, org, count=20)
    await session.execute(update(Article).values(body=Article.body + " parking"))  # many rows in one statement
    await session.execute(update(Article).where(Article.status == "draft").values(status="published"))
    await session.commit()
    await _assert_terms_derived(session)
    assert (await client.delete(f"/articles/{article_id}", headers=headers)).status_code == 204
    await session.execute(delete(Article).where(Article.title.like("%fee%")))
    await session.commit()
    assert await _assert_terms_derived(session) > 0
    await session.execute(delete(Organization).where(Organization.id == org.id))  # articles cascade
    await session.commit()
    assert await _assert_terms_derived(session) == 0


async def test_one_word_queries_read_article_terms(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """A one-lexeme search is answered from `article_terms` and `article_term_counts` alone (no
    match is ranked or counted); a two-lexeme search from the articles."""
    org = await create_org(client, session)
    await _seed(session, org, count=10)
    url = f"/organizations/{org.id}/articles"
    before = (await client.get(url, params={"q": "passport"})).json()
    assert before["total"] > 0
    await session.execute(delete(article_terms).where(article_terms.c.lexeme == "passport"))
    await session.commit()
    assert (await client.get(url, params={"q": "passport"})).json() == {**before, "items": []}
    await session.execute(delete(article_term_counts).where(article_term_counts.c.lexeme == "passport"))
    await session.commit()
    assert (await client.get(url, params={"q": "passport"})).json() == {**before, "items": [], "total": 0, "pages": 0}
    assert (await client.get(url, params={"q": "passport passport"})).json()["total"] == before["total"]


async def test_or_queries_add_up_article_terms(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """Lexemes joined by `or` find their matches, and the approximate ranks that pick the page's
    contenders, in `article_terms` (`ts_rank_cd` runs for those only)."""
    org = await create_org(client, session)
    await _seed(session, org, count=10)
    url = f"/organizations/{org.id}/articles"
    fee = (await client.get(url, params={"q": "fee"})).json()
    assert (await client.get(url, params={"q": "card or fee"})).json()["total"] > fee["total"]
    await session.execute(delete(article_terms).where(article_terms.c.lexeme == "card"))
    await session.commit()
    found = (await client.get(url, params={"q": "card or fee"})).json()
    assert found["total"] == fee["total"]
    assert {item["id"] for item in found["items"]} == {item["id"] for item in fee["items"]}


async def test_search_gates_run_in_the_statement(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """The organization check (404), the login check (401) and who sees drafts (members not held
    back by the MFA policy, platform admins) hold inside the one statement, with and without `q`."""
    org = await create_org(client, session)
    stranger = await register(client)
    for status in ("published", "draft"):
        response = await client.post(
            f"/organizations/{org.id}/articles",
            headers=org.staff.headers,
            json={"title": f"Passport {status}", "body": "Renew your passport.", "status": status},
        )
        assert response.status_code == 201
    url = f"/organizations/{org.id}/articles"
    for params in ({}, {"q": "passport"}, {"q": "renew passport"}):
        missing = f"/organizations/{uuid.uuid4()}/articles"
        assert_problem(await client.get(missing, params=params), 404, "not_found")
        assert_problem(await client.get(missing, params=params, headers=org.staff.headers), 404, "not_found")
        for headers, total in (({}, 1), (stranger.headers, 1), (org.staff.headers, 2), (org.admin.headers, 2)):
            assert (await client.get(url, params=params, headers=headers)).json()["total"] == total
        assert (await client.get(url, params={**params, "status": "draft"})).json()["total"] == 0
        assert_problem(
            await client.get(url, params=params, headers={"Authorization": "Bearer x"}), 401, "not_authenticated"
        )
    await session.execute(update(Organization).where(Organization.id == org.id).values(require_mfa=True))
    await session.commit()
    assert (await client.get(url, params={"q": "passport"}, headers=org.staff.headers)).json()["total"] == 1
    assert (await client.get(url, params={"q": "passport"}, headers=org.admin.headers)).json()["total"] == 2
    assert (await client.post("/auth/logout", json={"refresh_token": org.staff.refresh_token})).status_code == 204
    assert_problem(await client.get(url, params={"q": "passport"}, headers=org.staff.headers), 401, "not_authenticated")


async def test_concurrent_writes_keep_the_counts(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """Articles written at once with the same words: every write lands (the counters are locked in
    one order, no deadlock) and the counts stay exact."""
    org = await create_org(client, session)
    url = f"/organizations/{org.id}/articles"

    async def write(number: int) -> httpx.Response:
        body = {"title": f"Passport renewal {number}", "body": "Renew a passport at the office.", "status": "draft"}
        created = await client.post(url, headers=org.staff.headers, json=body)
        assert created.status_code == 201, created.text
        article = created.json()["id"]
        return await client.patch(f"/articles/{article}", headers=org.staff.headers, json={"status": "published"})

    responses = await asyncio.gather(*(write(number) for number in range(12)))
    assert [response.status_code for response in responses] == [200] * 12
    await _assert_terms_derived(session)
    found = (await client.get(url, params={"q": "renewing passports"})).json()
    assert found["total"] == 12


def _old_ask(count: int) -> Any:
    """The assistant's sources as they were found before `article_terms`: every candidate's terms
    checked on its vector, every candidate ranked."""
    held = " + ".join(f"(a.search @@ CAST(:term_{i} AS tsquery))::int" for i in range(count))
    return text(
        f"""
        SELECT a.id, round(({held})::numeric / {count}, 4) AS score
        FROM articles AS a
        WHERE a.organization_id = :organization_id AND a.status = 'published'
          AND a.search @@ CAST(:or_query AS tsquery)
        ORDER BY score DESC, ts_rank_cd(a.search, CAST(:or_query AS tsquery)) DESC, a.id
        LIMIT 3
        """
    )


async def test_assistant_sources_equal_checking_every_candidate(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    await _seed(session, org, count=80)
    rng = random.Random(11)
    url = f"/organizations/{org.id}/assistant/ask"
    asked = 0
    for _ in range(40):
        words = rng.sample([*WORDS, "the", "how", "tax", "renewing"], rng.randint(1, 5))
        response = await client.post(url, json={"question": " ".join(words) + "?"})
        assert response.status_code == 200, response.text
        answer = response.json()
        await session.execute(delete(ThrottleCounter))  # the rate limit is not what this tests
        await session.commit()
        vector = func.to_tsvector("english", " ".join(words))
        terms = sorted(set(await session.scalar(select(func.tsvector_to_array(vector))) or []))
        if not terms:
            assert answer["sources"] == []
            continue
        params = {f"term_{i}": f"'{term}'" for i, term in enumerate(terms)}
        params |= {"organization_id": org.id, "or_query": " | ".join(f"'{term}'" for term in terms)}
        expected = (await session.execute(_old_ask(len(terms)), params)).all()
        assert [(s["id"], s["score"]) for s in answer["sources"]] == [(str(r.id), float(r.score)) for r in expected]
        asked += bool(expected)
    assert asked > 30


async def test_assistant_counts_exactly_the_questions_it_answers(
    client: httpx.AsyncClient, session: AsyncSession, app: Any
) -> None:
    """The counter is checked and counted in the answer's statement: questions asked at once get
    exactly the limit answered, the refused ones are not counted, an unknown organization neither."""
    org = await create_org(client, session)
    limit = app.state.settings.assistant_asks_per_window
    url = f"/organizations/{org.id}/assistant/ask"
    assert (
        await client.post(f"/organizations/{uuid.uuid4()}/assistant/ask", json={"question": "x"})
    ).status_code == 404
    responses = await asyncio.gather(*(client.post(url, json={"question": "passport"}) for _ in range(limit + 8)))
    assert sorted(response.status_code for response in responses) == [200] * limit + [429] * 8
    assert all(int(r.headers["Retry-After"]) >= 1 for r in responses if r.status_code == 429)
    counted = await session.scalar(select(ThrottleCounter.count).where(ThrottleCounter.key.like("assistant:%")))
    assert counted == limit
