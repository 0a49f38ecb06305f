"""Imports every feature's models so that `Base.metadata` is whole (for Alembic and the app)."""

from app.services.auth import models as auth_models
from app.services.users import models as users_models

__all__ = ["auth_models", "users_models"]
