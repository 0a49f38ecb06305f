"""The Queueless ASGI app: `uvicorn app.main:app`, or `queueless serve`."""

from fastapi import FastAPI

from app import models  # noqa: F401  (every table in the metadata)
from app.core import metrics, realtime
from app.core.api import BackgroundService, create_app
from app.core.settings import get_settings
from app.services.accounts.routes import router as accounts_router
from app.services.appointments.reminders import reminder_worker
from app.services.appointments.routes import router as appointments_router
from app.services.auth.routes import router as auth_router
from app.services.auth.users_routes import router as users_router
from app.services.catalog.routes import router as catalog_router
from app.services.chat.routes import router as chat_router
from app.services.checkins.routes import router as checkins_router
from app.services.documents.dependencies import document_storage
from app.services.documents.routes import router as documents_router
from app.services.insights.routes import router as insights_router
from app.services.medical_records.routes import router as medical_records_router
from app.services.notifications import service as notifications_service
from app.services.notifications.routes import router as notifications_router
from app.services.notifications.workers import notification_workers
from app.services.organizations.routes import router as organizations_router
from app.services.patients.routes import router as patients_router
from app.services.qr.routes import router as qr_router
from app.services.ratings.routes import router as ratings_router

# Long-running parts of features, started with the app (see create_app).
BACKGROUND: list[BackgroundService] = [
    realtime.live_service,
    notification_workers,
    reminder_worker,
    document_storage,
]

# What only features can count, refreshed at each scrape of GET /metrics.
metrics.REFRESHERS.append(notifications_service.refresh_outbox_metric)

# Starlette tries routers in this order on every request: the busiest come first.
ROUTERS = [
    appointments_router,
    catalog_router,
    auth_router,
    users_router,
    notifications_router,
    chat_router,
    documents_router,
    qr_router,
    checkins_router,
    organizations_router,
    ratings_router,
    insights_router,
    accounts_router,
    patients_router,
    medical_records_router,
]


def build_app() -> FastAPI:
    return create_app(get_settings(), ROUTERS, BACKGROUND)


app = build_app()
