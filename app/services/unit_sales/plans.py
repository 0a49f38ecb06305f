"""Payment plans: a project's ways to pay, as instalments in percent of the price."""

import uuid
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.services.properties import service as properties_service
from app.services.properties.models import Milestone, Project
from app.services.unit_sales.errors import MilestoneUnknown, PercentTotal, PlanNotFound
from app.services.unit_sales.models import PaymentPlan, PlanInstalment, Trigger
from app.services.unit_sales.schemas import (
    PaymentPlanCreate,
    PaymentPlanRead,
    PaymentPlanUpdate,
    PlanInstalmentRead,
)
from app.services.users.models import User


async def create(session: AsyncSession, *, project: Project, data: PaymentPlanCreate) -> PaymentPlan:
    if sum((line.percent for line in data.instalments), Decimal(0)) != 100:
        raise PercentTotal()
    wanted = {line.milestone_id for line in data.instalments if line.milestone_id is not None}
    if wanted:
        found = await session.scalars(
            select(Milestone.id).where(Milestone.project_id == project.id, Milestone.id.in_(wanted))
        )
        if set(found) != wanted:
            raise MilestoneUnknown()
    plan = PaymentPlan(project_id=project.id, organization_id=project.organization_id, name=data.name)
    session.add(plan)
    await session.flush()
    session.add_all(
        PlanInstalment(plan_id=plan.id, position=position, **line.model_dump())
        for position, line in enumerate(data.instalments, start=1)
    )
    await session.flush()
    await session.refresh(plan)
    return plan


async def get_lines(session: AsyncSession, plan_id: uuid.UUID) -> Sequence[PlanInstalment]:
    lines = await session.scalars(
        select(PlanInstalment).where(PlanInstalment.plan_id == plan_id).order_by(PlanInstalment.position)
    )
    return lines.all()


async def get_visible(
    session: AsyncSession, *, plan_id: uuid.UUID, viewer: User | None, for_update: bool = False
) -> tuple[PaymentPlan, Project]:
    plan = await session.get(PaymentPlan, plan_id, with_for_update=for_update)
    if plan is None:
        raise PlanNotFound()
    project = await properties_service.get_visible_project(session, project_id=plan.project_id, viewer=viewer)
    return plan, project


async def update(session: AsyncSession, *, plan: PaymentPlan, data: PaymentPlanUpdate) -> PaymentPlan:
    for field, value in data.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(plan, field, value)
    await session.flush()
    await session.refresh(plan)
    return plan


async def get_all(
    session: AsyncSession, *, project: Project, include_inactive: bool, offset: int, limit: int
) -> tuple[Sequence[PaymentPlan], int]:
    query = select(PaymentPlan).where(PaymentPlan.project_id == project.id)
    if not include_inactive:
        query = query.where(PaymentPlan.active)
    order = [PaymentPlan.created_at.desc(), PaymentPlan.id.desc()]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def to_reads(session: AsyncSession, plans: Sequence[PaymentPlan]) -> list[PaymentPlanRead]:
    rows = await session.scalars(
        select(PlanInstalment)
        .where(PlanInstalment.plan_id.in_([plan.id for plan in plans]))
        .order_by(PlanInstalment.plan_id, PlanInstalment.position)
    )
    lines: dict[uuid.UUID, list[PlanInstalmentRead]] = {plan.id: [] for plan in plans}
    for line in rows:
        lines[line.plan_id].append(
            PlanInstalmentRead(
                position=line.position,
                label=line.label,
                percent=_percent_text(line.percent),
                trigger=Trigger(line.trigger),
                due_on=line.due_on,
                milestone_id=line.milestone_id,
                offset_days=line.offset_days,
            )
        )
    return [
        PaymentPlanRead(
            id=plan.id,
            project_id=plan.project_id,
            name=plan.name,
            active=plan.active,
            instalments=lines[plan.id],
            created_at=plan.created_at,
            updated_at=plan.updated_at,
        )
        for plan in plans
    ]


def _percent_text(percent: Decimal) -> str:
    text = format(percent.normalize(), "f")
    return text
