import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.services.audit import service as audit_service
from app.services.users.errors import CannotChangeSelf, UserNotFound
from app.services.users.models import Role, User
from app.services.users.schemas import UserAdminUpdate, UserUpdateMe


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalise_email(email)))


async def get_or_raise(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def get_all(
    session: AsyncSession, *, q: str | None, role: Role | None, offset: int, limit: int
) -> tuple[Sequence[User], int]:
    query = select(User)
    if q:
        pattern = paging.contains(q)
        query = query.where(or_(User.email.ilike(pattern), User.full_name.ilike(pattern)))
    if role is not None:
        query = query.where(User.role == role)
    order = [User.created_at.desc(), User.id]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def update_me(session: AsyncSession, *, user: User, data: UserUpdateMe) -> User:
    for field, value in data.model_dump(exclude_unset=True).items():
        if field == "full_name" and value is None:
            continue  # a name is required; null means "leave it"
        setattr(user, field, value)
    await session.flush()
    return user


async def admin_update(session: AsyncSession, *, actor: User, user: User, data: UserAdminUpdate) -> bool:
    """Apply an administrator's change. Returns True when the user's logins must end."""
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if user.id == actor.id and changes:
        raise CannotChangeSelf()
    role_changed = "role" in changes and changes["role"] != user.role
    deactivated = changes.get("is_active") is False and user.is_active
    reactivated = changes.get("is_active") is True and not user.is_active
    entries: list[tuple[str, dict[str, str]]] = []
    if role_changed:
        entries.append(("user.role_changed", {"from": str(user.role), "to": str(changes["role"])}))
    if deactivated:
        entries.append(("user.deactivated", {}))
    if reactivated:
        entries.append(("user.reactivated", {}))
    for field, value in changes.items():
        setattr(user, field, value)
    await session.flush()
    for action, details in entries:
        await audit_service.record_about_user(
            session, action=action, user_id=user.id, actor=audit_service.Actor.user(actor.id), data=details
        )
    return role_changed or deactivated
