"""The statements of the public browse: which units are available now, and a project's figures.

Availability is read from the unit's own row (no join): not booked, and no hold running at `now`.
A lapsed hold therefore frees its unit the moment it lapses, with no job.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, cast, exists, func, literal, or_, select, true
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select

from app.services.organizations.models import Membership
from app.services.properties.models import Milestone, Project, Unit
from app.services.users.models import Role, User


def available(now: datetime) -> ColumnElement[bool]:
    return and_(Unit.sale_status.is_(None), or_(Unit.held_until.is_(None), Unit.held_until <= now))


def unit_status(now: datetime) -> ColumnElement[str]:
    """The derived status: the booking's, else held while the hold runs, else available."""
    return case(
        (Unit.sale_status.is_not(None), Unit.sale_status),
        (Unit.held_until > now, literal("held")),
        else_=literal("available"),
    )


def price_filters(
    *, min_price: Decimal | None, max_price: Decimal | None, bedrooms: int | None
) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if min_price is not None:
        filters.append(Unit.price >= min_price)
    if max_price is not None:
        filters.append(Unit.price <= max_price)
    if bedrooms is not None:
        filters.append(Unit.bedrooms == bedrooms)
    return filters


def visible_projects(viewer: User | None) -> ColumnElement[bool]:
    """Published projects, and a member's (or an admin's) drafts too."""
    if viewer is None:
        return Project.published.is_(True)
    if viewer.role == Role.admin:
        return true()
    member_of = select(Membership.organization_id).where(Membership.user_id == viewer.id)
    return or_(Project.published, Project.organization_id.in_(member_of))


def _stats(project_id: Any, now: datetime) -> Any:
    is_available = available(now)
    return (
        select(
            func.count().label("units_total"),
            func.count().filter(is_available).label("units_available"),
            func.min(Unit.price).filter(is_available).label("price_from"),
        )
        .where(Unit.project_id == project_id)
        .lateral("stats")
    )


def _progress(project_id: Any) -> Any:
    """The mean of the project's milestones' percents, rounded down; null without milestones."""
    mean = func.floor(func.avg(Milestone.percent_complete))
    return select(cast(mean, Integer)).where(Milestone.project_id == project_id).scalar_subquery().label("progress")


def with_stats(query: Select[Any], now: datetime) -> Select[Any]:
    """`query` (of `Project`) with `units_total`, `units_available`, `price_from` and `progress` per project."""
    stats = _stats(Project.id, now)
    figures = (stats.c.units_total, stats.c.units_available, stats.c.price_from, _progress(Project.id))
    return query.join(stats, true()).add_columns(*figures)


def page_with_stats(query: Select[Any], *, now: datetime, offset: int, limit: int) -> Select[Any]:
    """One page of `query` (of `Project`), newest first, in one statement: each project with its
    figures and the total that `query` matches (a window count over the projects, before the
    page's figures are computed, so the figures are computed for the page's projects only)."""
    newest_first: list[ColumnElement[Any]] = [Project.created_at.desc(), Project.id.desc()]
    page = (
        query.add_columns(func.count().over().label("total"))
        .order_by(*newest_first)
        .offset(offset)
        .limit(limit)
        .subquery("page")
    )
    project = aliased(Project, page)
    stats = _stats(page.c.id, now)
    return (
        select(
            project,
            page.c.total,
            stats.c.units_total,
            stats.c.units_available,
            stats.c.price_from,
            _progress(page.c.id),
        )
        .join(stats, true())
        .order_by(page.c.created_at.desc(), page.c.id.desc())
    )


def has_available_unit(now: datetime, filters: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return exists().where(Unit.project_id == Project.id, available(now), *filters)


def stats_of(project_id: uuid.UUID, now: datetime) -> Select[Any]:
    return with_stats(select(Project.id).where(Project.id == project_id), now)
