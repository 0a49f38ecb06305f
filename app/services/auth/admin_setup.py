"""`queueless create-admin`: make sure an administrator account exists."""

from pydantic import TypeAdapter

from app.core.database import create_engine, create_sessionmaker, unit_of_work
from app.core.errors import AppError
from app.core.settings import Settings
from app.services.auth import service as auth_service
from app.services.users import service as users_service
from app.services.users.models import Role
from app.services.users.schemas import Email


async def ensure_admin(url: str, settings: Settings, *, email: str, password: str, full_name: str) -> str:
    email = TypeAdapter(Email).validate_python(email)  # a ValidationError is a ValueError
    engine = create_engine(url, settings)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            existing = await users_service.get_by_email(session, email)
            if existing is not None:
                existing.role = Role.admin
                existing.is_active = True
                return f"{existing.email} is now an administrator (password unchanged)"
            try:
                user = await auth_service.create_user(
                    session, settings=settings, email=email, password=password, full_name=full_name, role=Role.admin
                )
            except AppError as exc:
                raise ValueError(exc.detail) from exc
            return f"created administrator {user.email}"
    finally:
        await engine.dispose()
