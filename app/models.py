"""Imports every feature's models so that `Base.metadata` is whole (for Alembic and the app)."""

from app.services.appointments import models as appointments_models
from app.services.auth import models as auth_models
from app.services.catalog import models as catalog_models
from app.services.organizations import models as organizations_models
from app.services.users import models as users_models

__all__ = ["appointments_models", "auth_models", "catalog_models", "organizations_models", "users_models"]
