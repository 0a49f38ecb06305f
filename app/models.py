"""Imports every feature's models so that `Base.metadata` is whole (for Alembic and the app)."""

from app.core import realtime as realtime_models
from app.services.accounts import models as accounts_models
from app.services.apikeys import models as apikeys_models
from app.services.appointments import models as appointments_models
from app.services.audit import models as audit_models
from app.services.auth import models as auth_models
from app.services.automations import models as automations_models
from app.services.catalog import models as catalog_models
from app.services.change_requests import models as change_requests_models
from app.services.chat import models as chat_models
from app.services.construction import models as construction_models
from app.services.documents import models as documents_models
from app.services.inbound_mail import models as inbound_mail_models
from app.services.insights import models as insights_models
from app.services.knowledge import models as knowledge_models
from app.services.medical_records import models as medical_records_models
from app.services.mfa import models as mfa_models
from app.services.notifications import models as notifications_models
from app.services.organizations import models as organizations_models
from app.services.patients import models as patients_models
from app.services.payments import models as payments_models
from app.services.properties import models as properties_models
from app.services.property_media import models as property_media_models
from app.services.ratings import models as ratings_models
from app.services.tickets import models as tickets_models
from app.services.unit_sales import models as unit_sales_models
from app.services.users import models as users_models
from app.services.webhooks import models as webhooks_models

__all__ = [
    "accounts_models",
    "apikeys_models",
    "appointments_models",
    "audit_models",
    "auth_models",
    "automations_models",
    "catalog_models",
    "change_requests_models",
    "chat_models",
    "construction_models",
    "documents_models",
    "inbound_mail_models",
    "insights_models",
    "knowledge_models",
    "medical_records_models",
    "mfa_models",
    "notifications_models",
    "organizations_models",
    "patients_models",
    "payments_models",
    "properties_models",
    "property_media_models",
    "ratings_models",
    "realtime_models",
    "tickets_models",
    "unit_sales_models",
    "users_models",
    "webhooks_models",
]
