"""The Queueless ASGI app: `uvicorn app.main:app`, or `queueless serve`."""

from fastapi import FastAPI

from app import models  # noqa: F401  (every table in the metadata)
from app.core import metrics, realtime
from app.core.api import BackgroundService, create_app
from app.core.settings import get_settings
from app.services.accounts.routes import router as accounts_router
from app.services.appointments import events as appointment_events
from app.services.appointments.reminders import reminder_worker
from app.services.appointments.routes import router as appointments_router
from app.services.auth.routes import router as auth_router
from app.services.auth.users_routes import router as users_router
from app.services.automations import service as automations_service
from app.services.automations.routes import router as automations_router
from app.services.catalog.routes import router as catalog_router
from app.services.change_requests.routes import router as change_requests_router
from app.services.chat.routes import router as chat_router
from app.services.checkins.routes import router as checkins_router
from app.services.construction.routes import router as construction_router
from app.services.construction.storage import property_storage
from app.services.documents.dependencies import document_storage
from app.services.documents.routes import router as documents_router
from app.services.email_templates.routes import router as email_templates_router
from app.services.inbound_mail.routes import router as inbound_mail_router
from app.services.insights.routes import router as insights_router
from app.services.knowledge.routes import router as knowledge_router
from app.services.medical_records.routes import router as medical_records_router
from app.services.notifications import service as notifications_service
from app.services.notifications.routes import router as notifications_router
from app.services.notifications.workers import notification_workers
from app.services.organizations.routes import router as organizations_router
from app.services.patients.routes import router as patients_router
from app.services.payments.routes import router as payments_router
from app.services.properties.routes import router as properties_router
from app.services.property_media.routes import router as property_media_router
from app.services.qr.routes import router as qr_router
from app.services.ratings.routes import router as ratings_router
from app.services.tickets import events as ticket_events
from app.services.tickets.routes import router as tickets_router
from app.services.tickets.workers import sla_workers
from app.services.unit_sales.routes import router as unit_sales_router
from app.services.webhooks import service as webhooks_service
from app.services.webhooks.routes import router as webhooks_router
from app.services.webhooks.workers import webhook_workers

# Long-running parts of features, started with the app (see create_app).
BACKGROUND: list[BackgroundService] = [
    realtime.live_service,
    notification_workers,
    reminder_worker,
    document_storage,
    sla_workers,
    property_storage,
    webhook_workers,
]

# What only features can count, refreshed at each scrape of GET /metrics.
metrics.REFRESHERS.append(notifications_service.refresh_outbox_metric)

# Starlette tries routers in this order on every request (after `core.route_index` has set aside
# those a path cannot fit): the busiest come first.
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
    properties_router,
    unit_sales_router,
    payments_router,
    change_requests_router,
    tickets_router,
    construction_router,
    property_media_router,
    knowledge_router,
    email_templates_router,
    automations_router,
    webhooks_router,
    inbound_mail_router,
]

# What reacts to ticket events, in the event's transaction (app/services/tickets/events.py).
ticket_events.subscribe(automations_service.on_ticket_event)
ticket_events.subscribe(webhooks_service.on_ticket_event)
# What publishes bookings and cancellations, in their statement (app/services/appointments/events.py).
appointment_events.subscribe(webhooks_service.APPOINTMENT_PUBLISHER)


def build_app() -> FastAPI:
    return create_app(get_settings(), ROUTERS, BACKGROUND)


app = build_app()
