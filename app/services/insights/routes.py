from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from app.core.database import SessionDep
from app.core.tabular import REPORT_RESPONSES, OutputFormat, ReportFormat, ReportFrom, ReportTo, csv_response
from app.services.apikeys.scopes import Scope
from app.services.auth.dependencies import AdminUser
from app.services.insights import service as insights_service
from app.services.insights.schemas import (
    DailyRead,
    PeakHourRead,
    PlatformSummaryRead,
    ServiceInsightRead,
    SummaryRead,
)
from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole

InsightsReader = Annotated[OrgAccess, require_org_role(MemberRole.staff, scope=Scope.insights_read)]

router = APIRouter(tags=["insights"])


_RESPONSES: dict[int | str, dict[str, Any]] = {
    **REPORT_RESPONSES,
    403: {"description": "`forbidden`: not a member of this organization"},
    404: {"description": "`not_found`: no such organization"},
}


def _csv(name: str, period: insights_service.Period, rows: Sequence[BaseModel], model: type[BaseModel]) -> Response:
    return csv_response(f"insights-{name}-{period.from_}-{period.to}.csv", rows, model)


def _period(access_timezone: str, organization_id: Any, from_: date | None, to: date | None) -> insights_service.Period:
    return insights_service.resolve_period(
        timezone=access_timezone, organization_id=organization_id, from_=from_, to=to
    )


@router.get("/organizations/{organization_id}/insights/summary", response_model=SummaryRead, responses=_RESPONSES)
async def get_organization_summary(
    access: InsightsReader,
    session: SessionDep,
    from_: ReportFrom = None,
    to: ReportTo = None,
    output: ReportFormat = OutputFormat.json,
) -> Any:
    """Staff, owners, managers and administrators: the organization's figures over a range of local
    days (appointments matched on their start): totals by status, no-show and cancellation rates,
    lead times, average wait and service time from the status history, average rating."""
    organization = access.organization
    period = _period(organization.timezone, organization.id, from_, to)
    result = SummaryRead.model_validate(await insights_service.summary(session, period=period))
    return _csv("summary", period, [result], SummaryRead) if output is OutputFormat.csv else result


@router.get("/organizations/{organization_id}/insights/daily", response_model=list[DailyRead], responses=_RESPONSES)
async def get_organization_daily(
    access: InsightsReader,
    session: SessionDep,
    from_: ReportFrom = None,
    to: ReportTo = None,
    output: ReportFormat = OutputFormat.json,
) -> Any:
    """One entry per local day of the range, days without appointments included (zeros)."""
    organization = access.organization
    period = _period(organization.timezone, organization.id, from_, to)
    rows = [DailyRead.model_validate(r) for r in await insights_service.daily(session, period=period)]
    return _csv("daily", period, rows, DailyRead) if output is OutputFormat.csv else rows


@router.get(
    "/organizations/{organization_id}/insights/services",
    response_model=list[ServiceInsightRead],
    responses=_RESPONSES,
)
async def get_organization_services(
    access: InsightsReader,
    session: SessionDep,
    from_: ReportFrom = None,
    to: ReportTo = None,
    output: ReportFormat = OutputFormat.json,
) -> Any:
    """The summary's figures per service of the organization (every service, busiest first)."""
    organization = access.organization
    period = _period(organization.timezone, organization.id, from_, to)
    rows = [ServiceInsightRead.model_validate(r) for r in await insights_service.services(session, period=period)]
    return _csv("services", period, rows, ServiceInsightRead) if output is OutputFormat.csv else rows


@router.get(
    "/organizations/{organization_id}/insights/peak-hours", response_model=list[PeakHourRead], responses=_RESPONSES
)
async def get_organization_peak_hours(
    access: InsightsReader,
    session: SessionDep,
    from_: ReportFrom = None,
    to: ReportTo = None,
    output: ReportFormat = OutputFormat.json,
) -> Any:
    """Heat map of bookings: the 168 cells of local weekday (0 = Monday) x hour, with the number of
    appointments (cancelled ones left out) starting in each."""
    organization = access.organization
    period = _period(organization.timezone, organization.id, from_, to)
    rows = [PeakHourRead.model_validate(r) for r in await insights_service.peak_hours(session, period=period)]
    return _csv("peak-hours", period, rows, PeakHourRead) if output is OutputFormat.csv else rows


@router.get(
    "/admin/insights/summary",
    response_model=PlatformSummaryRead,
    responses={200: _RESPONSES[200], 403: {"description": "`forbidden`: administrators only"}, 422: _RESPONSES[422]},
)
async def get_platform_summary(
    _: AdminUser,
    session: SessionDep,
    from_: ReportFrom = None,
    to: ReportTo = None,
    output: ReportFormat = OutputFormat.json,
) -> Any:
    """Administrators: the summary over every organization, for UTC days, with the number of
    active organizations and citizens."""
    period = _period("UTC", None, from_, to)
    result = PlatformSummaryRead.model_validate(await insights_service.platform_summary(session, period=period))
    return _csv("platform-summary", period, [result], PlatformSummaryRead) if output is OutputFormat.csv else result
