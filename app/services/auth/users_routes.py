"""The account routes under `/users` (profile, administration of users).

They live in `auth`, not in `users`: each needs the login gates and ends logins (a
deactivation), and `auth` sits above `users` (it reads the `User` model), so `users` keeps the
model and its service. The password change (`POST /users/me/password`) mails the account, so it
lives in `accounts`, above `notifications`.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.core.database import SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page
from app.services.auth import service as auth_service
from app.services.auth.dependencies import AdminUser, CurrentUser
from app.services.users import service as users_service
from app.services.users.models import Role
from app.services.users.schemas import UserAdminUpdate, UserRead, UserUpdateMe

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me")
async def get_me(user: CurrentUser) -> UserRead:
    """The signed-in user."""
    return UserRead.model_validate(user)


@router.patch("/me")
async def update_me(data: UserUpdateMe, user: CurrentUser, session: SessionDep) -> UserRead:
    """Change your name or phone. Role, activity and memberships are not yours to set."""
    return UserRead.model_validate(await users_service.update_me(session, user=user, data=data))


@router.get("", responses={403: {"description": "`forbidden`: administrators only"}})
async def list_users(
    _: AdminUser,
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    role: Role | None = None,
) -> Page[UserRead]:
    """Administrators: search users by e-mail or name."""
    users, total = await users_service.get_all(session, q=q, role=role, offset=page.offset, limit=page.size)
    return Page.build([UserRead.model_validate(u) for u in users], total=total, page=page.page, size=page.size)


@router.patch(
    "/{user_id}",
    responses={
        403: {"description": "`forbidden`: administrators only"},
        404: {"description": "`not_found`"},
        409: {"description": "`cannot_change_self`"},
    },
)
async def update_user(user_id: uuid.UUID, data: UserAdminUpdate, admin: AdminUser, session: SessionDep) -> UserRead:
    """Administrators: change a user's role or deactivate them. Either ends all their logins at once."""
    user = await users_service.get_or_raise(session, user_id)
    if await users_service.admin_update(session, actor=admin, user=user, data=data):
        await auth_service.revoke_user_sessions(session, user_id=user.id, reason="account_change")
    return UserRead.model_validate(user)
