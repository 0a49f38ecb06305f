from fastapi import APIRouter

from app.core.database import SessionDep
from app.services.properties.dependencies import Now, ProjectStaff
from app.services.property_dashboard import service as dashboard_service
from app.services.property_dashboard.schemas import DashboardRead

router = APIRouter(tags=["property"])


@router.get(
    "/projects/{project_id}/dashboard",
    responses={404: {"description": "`not_found`"}, 403: {"description": "`forbidden`"}},
)
async def get_project_dashboard(access: ProjectStaff, session: SessionDep, now: Now) -> DashboardRead:
    """Members: units by status now, and over the active bookings the sales value, what was
    collected, what is due by today, what is overdue and what is outstanding (the organization's days)."""
    return await dashboard_service.dashboard(session, project=access.project, now=now)
