"""The Queueless ASGI app: `uvicorn app.main:app`, or `queueless serve`."""

from fastapi import FastAPI

from app import models  # noqa: F401  (every table in the metadata)
from app.core.api import BackgroundService, create_app
from app.core.settings import get_settings
from app.services.appointments.routes import router as appointments_router
from app.services.auth.routes import router as auth_router
from app.services.catalog.routes import router as catalog_router
from app.services.organizations.routes import router as organizations_router
from app.services.users.routes import router as users_router

# Long-running parts of features, started with the app (see create_app).
BACKGROUND: list[BackgroundService] = []

ROUTERS = [
    auth_router,
    users_router,
    organizations_router,
    catalog_router,
    appointments_router,
]


def build_app() -> FastAPI:
    return create_app(get_settings(), ROUTERS, BACKGROUND)


app = build_app()
