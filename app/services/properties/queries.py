"""The statements of the public browse: which units are available now, a project's figures, and
the two hot reads (the project search and a project's unit list) as prepared statements whose
bodies PostgreSQL writes.

Availability is read from the unit's own row (no join): not booked, and no hold running at `now`.
A lapsed hold therefore frees its unit the moment it lapses, with no job. The search and the
figures read `unit_stock` (a project's free units by size, kept by triggers) and look up in
`units` only the few units under a hold, whose availability depends on the clock.

Each hot read is built and compiled once per *shape* (which filters are given, whether the caller
is signed in) and run as one prepared statement (`app/core/prepared.py`): for a signed-in caller
the login check runs in the same statement (`auth_service.for_login`).
"""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Numeric,
    String,
    Text,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy import DateTime as SADateTime
from sqlalchemy.dialects.postgresql import NUMRANGE, aggregate_order_by
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select
from sqlalchemy.sql.expression import literal_column

from app.core.json_sql import json_object
from app.core.prepared import Prepared
from app.services.auth import service as auth_service
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Membership
from app.services.properties import money
from app.services.properties.models import BEDROOMS, Milestone, Project, Unit, UnitStock
from app.services.properties.schemas import ProjectRead, UnitRead


def available(now: Any) -> ColumnElement[bool]:
    return and_(Unit.sale_status.is_(None), or_(Unit.held_until.is_(None), Unit.held_until <= now))


def unit_status(now: Any, unit: Any = Unit) -> ColumnElement[str]:
    """The derived status of `unit` (`Unit`, or columns of units): the booking's, else held while
    the hold runs, else available."""
    return case(
        (unit.sale_status.is_not(None), unit.sale_status),
        (unit.held_until > now, literal("held")),
        else_=literal("available"),
    )


def price_filters(*, min_price: Any, max_price: Any, bedrooms: Any) -> list[ColumnElement[bool]]:
    """A unit's price (inclusive) and bedrooms; None for a filter not given."""
    filters: list[ColumnElement[bool]] = []
    if min_price is not None:
        filters.append(Unit.price >= min_price)
    if max_price is not None:
        filters.append(Unit.price <= max_price)
    if bedrooms is not None:
        filters.append(Unit.bedrooms == bedrooms)
    return filters


def _published_or_member(published: Any, organization_id: Any, user_id: Any) -> ColumnElement[bool]:
    """Published projects, and the drafts of the user's organizations."""
    member_of = select(Membership.organization_id).where(Membership.user_id == user_id)
    return or_(published, organization_id.in_(member_of))


# --- a project's figures ------------------------------------------------------------------------

# A unit under a hold recorded on its row (running or lapsed): `ix_units_project_id_held`.
_UNDER_HOLD = and_(Unit.held_until.is_not(None), Unit.sale_status.is_(None))


def _figures(project_id: Any, now: Any) -> Any:
    """`units_total`, `units_available` and `price_from` of a project at `now`: its `unit_stock`
    rows, and its units whose hold has lapsed (looked up only when it has units under a hold)."""
    stock = (
        select(
            func.coalesce(func.sum(UnitStock.units), 0).label("units"),
            func.coalesce(func.sum(UnitStock.free), 0).label("free"),
            func.min(UnitStock.free_from).label("free_from"),
            func.coalesce(func.sum(UnitStock.held), 0).label("held"),
        )
        .where(UnitStock.project_id == project_id)
        .lateral("stock")
    )
    lapsed = (
        select(func.count().label("units"), func.min(Unit.price).label("price_from"))
        .where(stock.c.held > 0, Unit.project_id == project_id, _UNDER_HOLD, Unit.held_until <= now)
        .lateral("lapsed")
    )
    return stock, lapsed


def _progress(project_id: Any) -> Any:
    """The mean of the project's milestones' percents, rounded down; null without milestones."""
    mean = func.floor(func.avg(Milestone.percent_complete))
    return select(cast(mean, Integer)).where(Milestone.project_id == project_id).scalar_subquery()


def with_figures(query: Select[Any], project_id: Any, now: Any) -> Select[Any]:
    """`query` with `units_total`, `units_available`, `price_from` and `progress` of `project_id`."""
    stock, lapsed = _figures(project_id, now)
    return (
        query.join(stock, true())
        .join(lapsed, true())
        .add_columns(
            stock.c.units.label("units_total"),
            (stock.c.free + lapsed.c.units).label("units_available"),
            func.least(stock.c.free_from, lapsed.c.price_from).label("price_from"),
            _progress(project_id).label("progress"),
        )
    )


def stats_of(project_id: Any, now: datetime) -> Select[Any]:
    return with_figures(select(Project.id).where(Project.id == project_id), Project.id, now)


# --- the project search -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchShape:
    """Which filters a search gives (their values are the statement's parameters)."""

    organization: bool = False
    city: bool = False
    status: bool = False
    q: bool = False
    bedrooms: bool = False
    price: bool = False  # min_price or max_price (a missing bound is NULL: unbounded)

    @property
    def units(self) -> bool:
        return self.bedrooms or self.price


_TIMESTAMP = SADateTime(timezone=True)
_NOW = bindparam("now", type_=_TIMESTAMP)


def _unknown(name: str, type_: Any) -> Any:
    """The search's parameter `name` as a subquery, a value the planner does not see in a custom
    plan any more than in the generic one. The statement's estimates then do not depend on its
    values and PostgreSQL keeps its generic plan: with values it could see, a custom plan looked
    cheaper and the search was planned anew on every call (~1 ms, the statement's own run ~0.5)."""
    return select(bindparam(name, type_=type_)).scalar_subquery()


def _price_band() -> Any:
    """The search's price band, inclusive; a bound not given is NULL (unbounded), and a minimum
    above the maximum gives an empty band (a subquery, as `_unknown`)."""
    low, high = bindparam("min_price", type_=Numeric), bindparam("max_price", type_=Numeric)
    band = case(
        (low > high, literal_column("'empty'::numrange")),  # no price is both
        else_=func.numrange(low, high, literal_column("'[]'"), type_=NUMRANGE),
    )
    return select(band).scalar_subquery()


def _stock_filters(shape: SearchShape) -> list[ColumnElement[bool]]:
    """The `unit_stock` rows of the search's size (any: one index range per size) and city."""
    if shape.bedrooms:
        filters = [UnitStock.bedrooms == _unknown("bedrooms", Integer)]
    else:
        filters = [UnitStock.bedrooms.in_([literal(n) for n in BEDROOMS])]
    if shape.city:
        filters.append(UnitStock.city_key == _unknown("city_key", String))
    return filters


def _stock_has_unit(shape: SearchShape) -> ColumnElement[bool]:
    """The `unit_stock` row has an available unit in the price band: a free one, or one whose hold
    has lapsed.

    The free prices come from the index's brief copy. Two kinds of rows need more: those with too
    many prices for it (their own prices answer) and those with units under a hold (running or
    lapsed: the clock decides, so their units are looked up). For a city's rows of one size (a few
    hundred) each such row looks them up itself; for a wider search they are looked up once per
    statement (by partial indexes) into sets the rows are checked against, as per-row lookups were
    costed as if they ran for every row scanned, and a search of all projects went past
    PostgreSQL's JIT threshold (~1 s compiling). The sets cost more to set up (~60 µs a search)."""
    band = _price_band()
    brief = UnitStock.free_prices_brief.op("&&")(band)
    if shape.city and shape.bedrooms:
        whole = aliased(UnitStock, name="whole")
        own_prices = (
            select(whole.free_prices.op("&&")(band))
            .where(whole.project_id == UnitStock.project_id, whole.bedrooms == UnitStock.bedrooms)
            .scalar_subquery()
        )
        # A scalar subquery runs for its row only, where an `EXISTS` could be made a set.
        lapsed_unit = _lapsed_unit(band).where(
            Unit.project_id == UnitStock.project_id, Unit.bedrooms == UnitStock.bedrooms
        )
        return or_(
            brief,
            and_(UnitStock.free_prices_brief.is_(None), own_prices),
            and_(UnitStock.held > 0, lapsed_unit.scalar_subquery().is_not(None)),
        )
    many_prices = (
        select(UnitStock.project_id, UnitStock.bedrooms)
        .where(UnitStock.free_prices_brief.is_(None), UnitStock.free_prices.op("&&")(band), *_stock_filters(shape))
        .cte("many_prices")
    )
    lapsed_unit = _lapsed_unit(band).where(Unit.project_id == UnitStock.project_id, Unit.bedrooms == UnitStock.bedrooms)
    lapsed = (
        select(UnitStock.project_id, UnitStock.bedrooms)
        .join(lapsed_unit.lateral("lapsed_unit"), true())
        .where(UnitStock.held > 0, *_stock_filters(shape))
        .cte("lapsed_holds")
    )
    group = tuple_(UnitStock.project_id, UnitStock.bedrooms)
    return or_(
        brief,
        group.in_(select(many_prices.c.project_id, many_prices.c.bedrooms)),
        group.in_(select(lapsed.c.project_id, lapsed.c.bedrooms)),
    )


def _lapsed_unit(band: Any) -> Select[Any]:
    """A unit under a hold that has lapsed, priced within `band` (the caller says whose)."""
    return (
        select(Unit.id)
        .where(_UNDER_HOLD, Unit.held_until <= _unknown("now", _TIMESTAMP), band.op("@>")(Unit.price))
        .limit(1)
    )


def _matches(shape: SearchShape, login: Any) -> Select[Any]:
    """The projects the search matches (`id`, `created_at`), one row each.

    With a unit filter the scan runs on `unit_stock` (one index range per size and city); without
    one, on `projects`. `login` is the `login` CTE for a signed-in caller (who also sees the drafts
    of their organizations, all of them for an admin), else None."""
    columns: list[Any]
    if shape.units:
        published, organization_id = UnitStock.published, UnitStock.organization_id
        columns = [UnitStock.project_id.label("id"), UnitStock.created_at]
        query = select(*columns).where(_stock_has_unit(shape), *_stock_filters(shape))
        if not shape.bedrooms:
            query = query.group_by(UnitStock.project_id, UnitStock.created_at)
        if shape.status or shape.q:
            query = query.join(Project, Project.id == UnitStock.project_id)
    else:
        published, organization_id = Project.published, Project.organization_id
        columns = [Project.id, Project.created_at]
        query = select(*columns)
        if shape.city:
            query = query.where(func.lower(Project.city) == _unknown("city_key", String))
    if login is None:
        query = query.where(published.is_(True))
    else:
        query = query.where(or_(login.c.is_admin, _published_or_member(published, organization_id, login.c.id)))
    if shape.organization:
        query = query.where(organization_id == _unknown("organization_id", Uuid))
    if shape.status:
        query = query.where(Project.status == _unknown("status", String))
    if shape.q:
        pattern = _unknown("pattern", String)
        query = query.where(
            or_(Project.name.ilike(pattern), Project.city.ilike(pattern), Project.address.ilike(pattern))
        )
    return query


def project_body(project: Any, *, units_total: Any, units_available: Any, price_from: Any, progress: Any) -> Any:
    """A project's `ProjectRead` JSON, from `project` (columns of `projects`) and its figures."""
    values = dict(project.c.items()) | {
        "units_total": units_total,
        "units_available": units_available,
        "price_from": money.sql_text(price_from, project.c.currency),
        "progress_percent": progress,
    }
    return json_object(ProjectRead, values)


def _search_page(shape: SearchShape, login: Any = None) -> Select[Any]:
    """One row: `total` (the projects matched, counted over the scan that finds the page's) and
    `items` (the page's bodies, comma-separated, newest first); both NULL for a page past the last
    (`_search_total` counts then). Parameters: the filters', `now`, `offset`, `limit`."""
    matches = _matches(shape, login)
    page = (
        matches.add_columns(func.count().over().label("total"))
        .order_by(matches.selected_columns.created_at.desc(), matches.selected_columns.id.desc())
        .offset(_unknown("offset", Integer))
        .limit(_unknown("limit", Integer))
        .subquery("page")
    )
    project = Project.__table__.alias("project")
    stock, lapsed = _figures(page.c.id, _unknown("now", _TIMESTAMP))
    body = project_body(
        project,
        units_total=stock.c.units,
        units_available=stock.c.free + lapsed.c.units,
        price_from=func.least(stock.c.free_from, lapsed.c.price_from),
        progress=_progress(page.c.id),
    )
    newest_first: Any = aggregate_order_by(literal_column("','"), page.c.created_at.desc(), page.c.id.desc())
    return (
        select(func.max(page.c.total).label("total"), func.string_agg(body, newest_first).label("items"))
        .select_from(page)
        .join(project, project.c.id == page.c.id)
        .join(stock, true())
        .join(lapsed, true())
    )


def _search_total(shape: SearchShape, login: Any = None) -> Select[Any]:
    """One row: `total`, the projects the search matches. Parameters: the filters', `now`."""
    return select(func.count().label("total")).select_from(_matches(shape, login).subquery("matched"))


@lru_cache(maxsize=256)
def search_statement(shape: SearchShape, *, signed_in: bool, page: bool = True) -> Prepared:
    """The search's page (`_search_page`), or with `page=False` its total alone (`_search_total`);
    for a signed-in caller behind the login check (no row when the login has ended)."""
    build = _search_page if page else _search_total
    if not signed_in:
        return Prepared(build(shape))
    return Prepared(auth_service.for_login(lambda login: build(shape, login)))


# --- a project's units --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitsShape:
    status: bool = False
    type: bool = False
    bedrooms: bool = False
    min_price: bool = False
    max_price: bool = False


def unit_body(unit: Any, currency: Any, now: Any) -> Any:
    """A unit's `UnitRead` JSON at `now`, from `unit` (columns of `units`), its amounts in
    `currency` (the project's)."""
    status = unit_status(now, unit)
    values = dict(unit.items()) | {
        "area_m2": cast(unit.area_m2, Text),
        "price": money.sql_text(unit.price, currency),
        "currency": currency,
        "status": status,
        "held_until": case((and_(unit.sale_status.is_(None), unit.held_until > now), unit.held_until)),
    }
    return json_object(UnitRead, values)


def _unit_conditions(shape: UnitsShape, project_id: Any) -> list[ColumnElement[bool]]:
    conditions = [
        Unit.project_id == project_id,
        *price_filters(
            min_price=bindparam("min_price", type_=Numeric) if shape.min_price else None,
            max_price=bindparam("max_price", type_=Numeric) if shape.max_price else None,
            bedrooms=bindparam("bedrooms", type_=Integer) if shape.bedrooms else None,
        ),
    ]
    if shape.type:
        conditions.append(Unit.type == bindparam("type", type_=String))
    if shape.status:
        conditions.append(unit_status(_NOW) == bindparam("status", type_=String))
    return conditions


def _units_page(shape: UnitsShape, *, published_only: bool) -> Select[Any]:
    """One row for a project (none if it does not exist, or for `published_only` is not
    published): `project_id`, `organization_id`, `published`, `total` (its units the filters
    match) and `items` (the page's bodies by code, comma-separated). Parameters: `project_id`, the
    filters', `now`, `offset`, `limit`."""
    project_id = bindparam("project_id", type_=Uuid)
    conditions = _unit_conditions(shape, project_id)
    total = select(func.count()).select_from(Unit).where(*conditions).scalar_subquery()
    page = (
        select(Unit.__table__)
        .where(*conditions)
        .order_by(Unit.code, Unit.id)
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
        .subquery("page")
    )
    body = unit_body(page.c, Project.currency, _NOW)
    items = (
        select(func.string_agg(body, aggregate_order_by(literal_column("','"), page.c.code, page.c.id)))
        .select_from(page)
        .scalar_subquery()
    )
    query = select(
        Project.id.label("project_id"),
        Project.organization_id,
        Project.published,
        total.label("total"),
        func.coalesce(items, "").label("items"),
    ).where(Project.id == project_id)
    return query.where(Project.published.is_(True)) if published_only else query


@lru_cache(maxsize=64)
def units_statement(shape: UnitsShape, *, signed_in: bool) -> Prepared:
    """The unit list's page (`_units_page`). Anonymous callers see published projects only; for a
    signed-in caller the login check and the organization gate (`organizations_service.standing`,
    whether they are the builder's staff, who see its drafts) run in the same statement."""
    if not signed_in:
        return Prepared(_units_page(shape, published_only=True))
    organization_id = select(Project.organization_id).where(Project.id == bindparam("project_id", type_=Uuid))
    return Prepared(
        auth_service.for_login(
            lambda login: organizations_service.standing(login, organization_id.scalar_subquery()),
            lambda login: _units_page(shape, published_only=False),
        )
    )
