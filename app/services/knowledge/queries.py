"""The public article list and search as one statement: the organization check, for a signed-in
caller the login check and the membership that shows drafts, the page's bodies as JSON written by
PostgreSQL (as `ArticleRead.model_dump_json()` writes them) and the total, in one round trip.

A search ranks by `ts_rank_cd` (title above body), then id. How the page is found depends on the
query, decided inside the statement (`_lexeme`):

- one lexeme (`passport`, `renewing`, `"the passport"`): the page is the start of one range of
  `ix_article_terms_rank`, whose `score` is `ts_rank_cd` of that one-lexeme query, and the total
  one row of `article_term_counts` (see the migration that keeps them): no match is ranked or
  counted at request time, however common the word;
- several lexemes joined by `or` only (`passport or visa`): `ts_rank_cd` of such a query is the sum
  of the articles' one-lexeme ranks (each occurrence is a cover of its own), so the matches and
  their approximate ranks are the lexemes' ranges of `article_terms` added up per article (index
  only), and `ts_rank_cd` itself runs only for the articles that can still place on the page (as
  the assistant's sources do: `APPROXIMATE`); the total is the number of articles summed;
- anything else (two words, `-word`, phrases): the matches through the GIN index, each ranked
  with `ts_rank_cd` (a word's matches are all ranked: the rank of a several-word query depends on
  where the words stand), then counted.

Either way the order is exactly `ts_rank_cd` DESC, id; `ts_headline` runs for the page's rows only.
Statements are compiled once per shape (`Shape`) and page size, and run as prepared statements.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Double,
    Integer,
    Select,
    String,
    Text,
    Uuid,
    bindparam,
    case,
    cast,
    column,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.selectable import CTE

from app.core.json_sql import json_object
from app.core.prepared import Prepared
from app.services.auth import service as auth_service
from app.services.auth import throttle
from app.services.auth.models import ThrottleCounter
from app.services.knowledge.models import TEXT_CONFIG, Article, ArticleStatus, article_term_counts, article_terms
from app.services.knowledge.schemas import ArticleRead
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Organization

# A sum of one-lexeme ranks against `ts_rank_cd` of their `or` (the search's, the assistant's): reals
# added in another order, ~1e-7 apart.
APPROXIMATE = 0.99999
HEADLINE_OPTIONS = "MaxFragments=2, MaxWords=35, MinWords=12, StartSel=<mark>, StopSel=</mark>, FragmentDelimiter= … "


def regconfig() -> Any:
    return literal_column(f"'{TEXT_CONFIG}'::regconfig")


def _parsed() -> Any:
    """`q` as web-search syntax (parsed once per use: an InitPlan)."""
    return select(func.websearch_to_tsquery(regconfig(), bindparam("q", type_=String)).label("query")).subquery(
        "parsed"
    )


def _query() -> ColumnElement[Any]:
    return select(_parsed().c.query).scalar_subquery()


def _unquoted(inner: Any) -> Any:
    """A lexeme as the tsquery's text writes it between quotes, its `''` and `\\\\` escapes undone."""
    return func.replace(func.replace(inner, "''", "'"), "\\\\", "\\")


def _lexeme() -> ColumnElement[Any]:
    """The query's lexeme when it is a single one, else NULL: the tsquery's text `'lexeme'`
    without its quotes."""
    parsed = _parsed()
    quoted = cast(parsed.c.query, Text)
    inner = func.substr(quoted, 2, func.length(quoted) - 2)
    return select(case((func.numnode(parsed.c.query) == 1, _unquoted(inner)))).scalar_subquery()


# A tsquery's text that is two or more quoted lexemes joined by `|` and nothing else.
_QUOTED = "'(?:[^']|'')*'"
_ANY_OF = f"^{_QUOTED}( [|] {_QUOTED})+$"


def _lexemes() -> ColumnElement[Any]:
    """The query's lexemes when it is several distinct ones joined by `or` only, else NULL."""
    parsed = _parsed()
    quoted = cast(parsed.c.query, Text)
    found = (
        func.regexp_matches(quoted, "'((?:[^']|'')*)'", "g")
        .table_valued(column("m", ARRAY(Text)))
        .render_derived("found")
    )
    lexeme = _unquoted(found.c.m[1])
    terms = select(func.array_agg(lexeme)).having(func.count(lexeme.distinct()) == func.count()).scalar_subquery()
    return select(case((quoted.regexp_match(_ANY_OF), terms))).scalar_subquery()


def rank_json(rank: Any) -> ColumnElement[Any]:
    """The rank as the API writes it: `round(rank, 6)` as pydantic writes that float (`12.0`,
    `0.4`, `0.00008`, `1e-6`). `rank * 1e6` is exact for a real, `round` is half-even like Python's,
    and the division gives the same double as Python's `round`."""
    millionths = func.round(cast(rank, Double) * 1_000_000, type_=Double)
    rounded = cast(millionths / cast(literal(1_000_000, Integer), Double), Text)
    whole = cast(millionths, BigInteger)
    written = case(
        (millionths == 0, "0.0"),
        (millionths < 10, cast(whole, Text) + "e-6"),
        (millionths < 100, func.rtrim("0.0000" + cast(whole, Text), "0")),
        (func.strpos(rounded, ".") == 0, rounded + ".0"),
        else_=rounded,
    )
    return cast(written, JSON)


@dataclass(frozen=True, slots=True)
class Shape:
    """Which parameters a list request gives (their values are the statement's parameters)."""

    q: bool = False  # a search, by rank (else the most recently updated first)
    status: bool = False  # `status` (drafts stay the members')
    # `q` has the word `or`: the statement carries the branch that adds up `article_terms` (which
    # the statement itself takes only for lexemes joined by `or`). Without it the statement is
    # smaller, and cheaper to start (~0.2 ms of PostgreSQL a search).
    any_of: bool = False

    @classmethod
    def of(cls, *, q: str | None, status: bool) -> "Shape":
        return cls(q=bool(q), status=status, any_of=bool(q and _OR_WORD.search(q)))


_OR_WORD = re.compile(r"(?<!\S)or(?!\S)", re.IGNORECASE)


def _body(*, snippet: Any, rank: Any) -> ColumnElement[Any]:
    columns: dict[str, Any] = dict(Article.__table__.c.items())
    return json_object(ArticleRead, {**columns, "snippet": snippet, "rank": rank})


def _page(shape: Shape, *, member: Any, limit: int) -> Select[Any]:
    """One row: `total` and `items` (the page's bodies, comma-separated). `member` (a boolean
    expression) shows drafts. Parameters: `organization_id`, `q`, `status` and `published` (with
    `shape.status`), `offset`.

    The page size `limit` is a constant of the statement: with a parameter there, PostgreSQL's
    generic plan costs a tenth of the matches as the page (and their snippets), so it kept planning
    the statement anew for each call (~0.75 ms, more than running it)."""
    organization_id = bindparam("organization_id", type_=Uuid)
    # The offset as a subquery: a custom plan that knew it costed itself below the generic plan, and
    # PostgreSQL planned the statement anew on every call (~1 ms, more than running it).
    offset = select(bindparam("offset", type_=Integer)).scalar_subquery()
    visible: list[ColumnElement[bool]] = [
        Article.organization_id == organization_id,
        or_(Article.status == ArticleStatus.published.value, member),
    ]
    if shape.status:
        visible.append(Article.status == bindparam("status", type_=String))
    if not shape.q:
        latest = (
            select(Article.id, Article.updated_at)
            .where(*visible)
            .order_by(Article.updated_at.desc(), Article.id)
            .offset(offset)
            .limit(limit)
            .subquery("latest")
        )
        body = _body(snippet=cast(null(), Text), rank=cast(null(), JSON))
        items = func.string_agg(
            body, aggregate_order_by(literal_column("','"), latest.c.updated_at.desc(), latest.c.id)
        )
        return select(
            select(func.count()).select_from(Article).where(*visible).scalar_subquery().label("total"),
            select(func.coalesce(items, ""))
            .select_from(latest.join(Article, Article.id == latest.c.id))
            .scalar_subquery()
            .label("items"),
        )

    lexeme = _lexeme()
    lexemes = _lexemes() if shape.any_of else None
    terms, counts = article_terms.c, article_term_counts.c
    of_status: list[ColumnElement[bool]] = [terms.organization_id == organization_id]
    drafts = case((member, counts.drafts), else_=0)
    counted: ColumnElement[int] = counts.published + drafts
    if shape.status:
        published = bindparam("published", type_=Boolean)
        of_status.append(terms.published == published)
        counted = case((published, counts.published), else_=drafts)
    matching = [*visible, lexeme.is_(None), Article.search.op("@@")(_query())]
    rank = func.ts_rank_cd(Article.search, _query())
    branches: list[Select[Any]] = [
        select(terms.article_id.label("id"), terms.score.label("rank"), cast(null(), BigInteger).label("matches"))
        .where(*of_status, or_(terms.published, member), terms.lexeme == lexeme)
        .order_by(terms.score.desc(), terms.article_id)
        .offset(offset)
        .limit(limit)
    ]
    totals: list[tuple[ColumnElement[bool], Any]] = []
    if lexemes is not None:
        matching.append(lexemes.is_(None))
        rows, total_of_any = _any_of(lexemes, of_status, member=member, rank=rank, offset=offset, limit=limit)
        branches.append(rows)
        totals.append((lexemes.is_not(None), total_of_any))
    # The page's rows, with (other queries) the number of matches counted by the same pass.
    branches.append(
        select(Article.id, rank, func.count().over())
        .where(*matching)
        .order_by(rank.desc(), Article.id)
        .offset(offset)
        .limit(limit)
    )
    ranked = union_all(*branches).subquery("ranked")
    snippet = func.ts_headline(regconfig(), Article.body, _query(), HEADLINE_OPTIONS)
    body = _body(snippet=snippet, rank=rank_json(ranked.c.rank))
    items = func.string_agg(body, aggregate_order_by(literal_column("','"), ranked.c.rank.desc(), ranked.c.id))
    page = (
        select(func.coalesce(items, "").label("items"), func.max(ranked.c.matches).label("matches"))
        .select_from(ranked.join(Article, Article.id == ranked.c.id))
        .subquery("page")
    )
    one_word_total = select(counted).where(counts.organization_id == organization_id, counts.lexeme == lexeme)
    total = case(
        (lexeme.is_not(None), func.coalesce(one_word_total.scalar_subquery(), 0)),
        *totals,
        # A page past the end has no row to tell: counted apart then only.
        else_=func.coalesce(
            page.c.matches, select(func.count()).select_from(Article).where(*matching).scalar_subquery()
        ),
    )
    return select(total.label("total"), page.c["items"]).select_from(page)


def _any_of(
    lexemes: ColumnElement[Any],
    of_status: list[ColumnElement[bool]],
    *,
    member: Any,
    rank: Any,
    offset: Any,
    limit: int,
) -> tuple[Select[Any], ColumnElement[Any]]:
    """The page's rows and the total for lexemes joined by `or` (`lexemes` not NULL): each article
    holding one, with the sum of its one-lexeme ranks, from `article_terms`; `ts_rank_cd` (`rank`)
    for those that can still place on the page only."""
    terms = article_terms.c
    # A CTE (read three times) sits at the top of the statement, out of the login's reach: who
    # sees drafts is asked where it is read.
    held = (
        select(terms.article_id, terms.published, func.sum(terms.score).label("approx"))
        .where(*of_status, lexemes.is_not(None), terms.lexeme == func.any(cast(lexemes, ARRAY(Text))))
        .group_by(terms.article_id, terms.published)
        .cte("held")
    )
    shown = or_(held.c.published, member)
    last = select(held.c.approx).where(shown).order_by(held.c.approx.desc()).offset(offset + (limit - 1)).limit(1)
    # Those that can still place on the page: the others rank below at least `offset + limit`.
    placing = select(held.c.article_id).where(
        shown, held.c.approx >= func.coalesce(last.scalar_subquery() * APPROXIMATE, 0)
    )
    rows = (
        select(Article.id, rank, cast(null(), BigInteger))
        .where(lexemes.is_not(None), Article.id.in_(placing))
        .order_by(rank.desc(), Article.id)
        .offset(offset)
        .limit(limit)
    )
    return rows, select(func.count()).select_from(held).where(shown).scalar_subquery()


def _member(login: CTE) -> ColumnElement[bool]:
    """Whether the login sees drafts: the organization's members (any role) not held back by its
    MFA policy, and platform admins (`organizations_service.is_staff`), from the organization gate
    (`organizations_service.standing`)."""
    standing = organizations_service.standing(login, bindparam("organization_id", type_=Uuid)).subquery("standing")
    return select(organizations_service.staff_in_standing(standing)).scalar_subquery()


@lru_cache(maxsize=256)
def page_statement(shape: Shape, *, signed_in: bool, size: int) -> Prepared:
    """The page (`_page`) and `standing_organization_id`, NULL when the organization does not
    exist. Signed in, the login check and the membership (`organizations_service.standing`) run in
    the same statement, which gives no row when the login has ended. Parameters:
    `organization_id`, the page's, and signed in `user_id` and `session_id`; one statement per page
    `size`."""
    if signed_in:
        organization_id = bindparam("organization_id", type_=Uuid)
        return Prepared(
            auth_service.for_login(
                lambda login: organizations_service.standing(login, organization_id),
                lambda login: _page(shape, member=_member(login), limit=size),
            )
        )
    page = _page(shape, member=false(), limit=size).subquery("page")
    found = select(Organization.id).where(Organization.id == bindparam("organization_id", type_=Uuid))
    return Prepared(select(found.scalar_subquery().label("standing_organization_id"), page.c.total, page.c["items"]))


# --- the assistant ------------------------------------------------------------------------------

MAX_TERMS = 32  # a question of 500 characters rarely has more
MAX_SOURCES = 3

# The assistant's sources as a JSON array of `{id, title, snippet, score}`, best first (NULL for
# none), in a row of one column. The question's terms: its lexemes (a vector's are distinct) in
# code point order (the first `MAX_TERMS`). Each published article holding any term, with how many
# it holds and the sum of its one-term ranks, comes from `article_terms` alone (index only).
# Sources are ordered by that share, then by `ts_rank_cd` of the any-term query, then id; that rank
# is the sum of the one-term ranks (the query's covers are the terms' single occurrences), so it is
# computed on the articles themselves only for those that can still place: every article holding
# more terms than the last source, and those holding as many whose sum comes within float rounding
# of the last one's.
_SOURCES = text(
    f"""
    WITH question AS (
        SELECT coalesce(array_agg(lexeme ORDER BY lexeme COLLATE "C"), '{{}}') AS terms
        FROM (SELECT lexeme
              FROM unnest(tsvector_to_array(to_tsvector('{TEXT_CONFIG}'::regconfig, CAST(:question AS text))))
                   AS l(lexeme)
              ORDER BY lexeme COLLATE "C" LIMIT {MAX_TERMS}) AS lexemes),
    any_term AS (
        SELECT CAST(string_agg('''' || replace(replace(term, '\\', '\\\\'), '''', '''''') || '''', ' | '
                               ORDER BY term COLLATE "C") AS tsquery) AS query
        FROM question, unnest(question.terms) AS term),
    held AS (
        SELECT article_id, count(*) AS held, sum(score) AS approx
        FROM article_terms, question
        WHERE organization_id = :organization_id AND published AND lexeme = ANY(question.terms)
        GROUP BY article_id),
    last AS (SELECT held, approx FROM held ORDER BY held DESC, approx DESC LIMIT 1 OFFSET {MAX_SOURCES - 1}),
    candidates AS (
        SELECT held.* FROM held LEFT JOIN last ON true
        WHERE last.held IS NULL OR held.held > last.held
           OR (held.held = last.held AND held.approx >= last.approx * {APPROXIMATE})),
    sources AS (
        SELECT a.id, a.title, c.held, ts_rank_cd(a.search, (SELECT query FROM any_term)) AS rank,
               ts_headline('{TEXT_CONFIG}'::regconfig, a.body, (SELECT query FROM any_term), '{HEADLINE_OPTIONS}')
                   AS snippet,
               round(c.held::numeric / (SELECT cardinality(terms) FROM question), 4) AS score
        FROM candidates AS c JOIN articles AS a ON a.id = c.article_id
        ORDER BY c.held DESC, rank DESC, a.id
        LIMIT {MAX_SOURCES})
    SELECT json_agg(json_build_object('id', id, 'title', title, 'snippet', snippet, 'score', score)
                    ORDER BY held DESC, rank DESC, id)
    FROM sources
    """
)


def _counted() -> Prepared:
    """The assistant's gate: the organization (NULL when it does not exist) and the address's
    counter (`throttle.limited_hit`: `count` NULL when refused, `window_start` to say for how long).
    A statement of its own, before the answer's: the counter's row stays locked until its commit,
    so questions from one address wait on each other for that only, not for each other's search.
    Parameters: `organization_id`, `key`, `window`, `limit`."""
    organization = select(Organization.id).where(Organization.id == bindparam("organization_id", type_=Uuid))
    counted = throttle.limited_hit(organization.exists()).cte("counted")
    return Prepared(
        select(
            organization.scalar_subquery().label("organization_id"),
            select(counted.c.count).scalar_subquery().label("count"),
            select(ThrottleCounter.window_start)
            .where(ThrottleCounter.key == bindparam("key", type_=String))
            .scalar_subquery()
            .label("window_start"),
        )
    )


COUNTED = _counted()
# Parameters: `organization_id`, `question`.
SOURCES = Prepared(_SOURCES)
