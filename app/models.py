"""Imports every feature's models so that `Base.metadata` is whole (for Alembic and the app)."""

from app.core import realtime as realtime_models
from app.services.accounts import models as accounts_models
from app.services.apikeys import models as apikeys_models
from app.services.appointments import models as appointments_models
from app.services.audit import models as audit_models
from app.services.auth import models as auth_models
from app.services.catalog import models as catalog_models
from app.services.chat import models as chat_models
from app.services.documents import models as documents_models
from app.services.insights import models as insights_models
from app.services.medical_records import models as medical_records_models
from app.services.mfa import models as mfa_models
from app.services.notifications import models as notifications_models
from app.services.organizations import models as organizations_models
from app.services.patients import models as patients_models
from app.services.ratings import models as ratings_models
from app.services.users import models as users_models

__all__ = [
    "accounts_models",
    "apikeys_models",
    "appointments_models",
    "audit_models",
    "auth_models",
    "catalog_models",
    "chat_models",
    "documents_models",
    "insights_models",
    "medical_records_models",
    "mfa_models",
    "notifications_models",
    "organizations_models",
    "patients_models",
    "ratings_models",
    "realtime_models",
    "users_models",
]
