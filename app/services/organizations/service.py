"""Organizations, their departments and their members (owner, manager, staff)."""

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import CTE, ColumnElement, Select, and_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.core.errors import AppError, Conflict, NotFound, PermissionDenied
from app.services.apikeys.service import ApiKeyPrincipal
from app.services.audit import service as audit_service
from app.services.audit.models import ActorType
from app.services.mfa.errors import MfaRequired
from app.services.organizations.errors import (
    DepartmentExists,
    DepartmentNotFound,
    InviteeNotFound,
    LastOwner,
    NotAClinic,
    OrganizationNotFound,
    OwnClinicalRole,
    RoleTooHigh,
)
from app.services.organizations.models import Department, MemberRole, Membership, Organization, OrganizationKind
from app.services.organizations.schemas import MemberCreate, OrganizationCreate, OrganizationUpdate
from app.services.users import service as users_service
from app.services.users.models import Role, User


async def create(session: AsyncSession, *, data: OrganizationCreate) -> Organization:
    organization = Organization(**data.model_dump())
    session.add(organization)
    await session.flush()
    return organization


async def get_or_raise(session: AsyncSession, organization_id: uuid.UUID) -> Organization:
    organization = await session.get(Organization, organization_id)
    if organization is None:
        raise OrganizationNotFound()
    return organization


async def get_all(
    session: AsyncSession, *, q: str | None, kind: str | None, offset: int, limit: int
) -> tuple[Sequence[Organization], int]:
    query = select(Organization)
    if q:
        query = query.where(Organization.name.ilike(paging.contains(q)))
    if kind:
        query = query.where(Organization.kind == kind)
    order = [Organization.name, Organization.id]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def update(session: AsyncSession, *, organization: Organization, data: OrganizationUpdate) -> Organization:
    for field, value in data.model_dump(exclude_unset=True).items():
        if field in {"name", "kind", "timezone"} and value is None:
            continue
        setattr(organization, field, value)
    await session.flush()
    return organization


async def get_role(session: AsyncSession, *, organization_id: uuid.UUID, user_id: uuid.UUID) -> MemberRole | None:
    role = await session.scalar(
        select(Membership.role).where(Membership.organization_id == organization_id, Membership.user_id == user_id)
    )
    return MemberRole(role) if role else None


async def _membership(
    session: AsyncSession, *, organization_id: uuid.UUID, user: User
) -> tuple[MemberRole, bool] | None:
    """The user's role in the organization and whether its MFA policy holds them back."""
    row = (
        await session.execute(
            select(Membership.role, Organization.require_mfa)
            .join(Organization, Organization.id == Membership.organization_id)
            .where(Membership.organization_id == organization_id, Membership.user_id == user.id)
        )
    ).first()
    if row is None:
        return None
    return MemberRole(row.role), bool(row.require_mfa) and not user.mfa_enabled


def check_mfa_policy(organization: Organization, user: User) -> None:
    """403 `mfa_required` for a member acting through the membership of an organization that
    requires MFA while theirs is off (platform admins act as admins, not as members)."""
    if organization.require_mfa and not user.mfa_enabled and user.role != Role.admin:
        raise MfaRequired()


async def is_staff(
    session: AsyncSession,
    *,
    user: User | ApiKeyPrincipal,
    organization_id: uuid.UUID | None,
    refuse_without_mfa: bool = False,
) -> bool:
    """Whether `user` works for the organization (any role), is a platform admin, or is one of
    the organization's API keys (whose scope the route's gate has checked).

    A member held back by the organization's MFA policy is not staff here (they may still act
    as a citizen); with `refuse_without_mfa`, for staff-only operations, they get 403
    `mfa_required` instead."""
    if isinstance(user, ApiKeyPrincipal):
        return user.organization_id == organization_id
    if user.role == Role.admin:
        return True
    if organization_id is None:
        return False
    membership = await _membership(session, organization_id=organization_id, user=user)
    if membership is None:
        return False
    if membership[1]:
        if refuse_without_mfa:
            raise MfaRequired()
        return False
    return True


def _judge(
    *, is_admin: bool, membership: tuple[MemberRole, bool] | None, minimum: MemberRole, refusal: type[AppError]
) -> MemberRole | None:
    """The organization gates' one rule: a platform admin passes (None); a member of at least
    `minimum` gets their role unless the MFA policy holds them back (403 `mfa_required`); anyone
    else gets `refusal`."""
    if is_admin:
        return None
    if membership is None or membership[0].rank < minimum.rank:
        raise refusal()
    if membership[1]:
        raise MfaRequired()
    return membership[0]


async def _role_at_least(
    session: AsyncSession,
    *,
    user: User | ApiKeyPrincipal,
    organization_id: uuid.UUID,
    minimum: MemberRole,
    refusal: type[AppError],
) -> MemberRole | None:
    """The user's role in the organization (None for a platform admin or the organization's API
    key), or `refusal` raised. Another organization's key always gets 404."""
    if isinstance(user, ApiKeyPrincipal):
        if user.organization_id != organization_id:
            raise NotFound()
        return None
    if user.role == Role.admin:
        return None
    membership = await _membership(session, organization_id=organization_id, user=user)
    return _judge(is_admin=False, membership=membership, minimum=minimum, refusal=refusal)


def standing(login: CTE, organization_id: Any) -> Select[Any]:
    """The organization gate of a hot path, as a part of `auth_service.for_login`: one row when the
    organization exists (`standing_organization_id`), with the login's role there (`standing_role`,
    NULL for none) and clinical role (`standing_clinical_role`), whether its MFA policy holds the
    login back (`standing_held_back`) and whether the login is a platform admin
    (`standing_is_admin`). `check_standing` and `standing_is_staff` read the row."""
    return (
        select(
            Organization.id.label("standing_organization_id"),
            Membership.role.label("standing_role"),
            Membership.clinical_role.label("standing_clinical_role"),
            (Organization.require_mfa & ~login.c.mfa_enabled).label("standing_held_back"),
            login.c.is_admin.label("standing_is_admin"),
        )
        .select_from(Organization)
        .outerjoin(Membership, and_(Membership.organization_id == Organization.id, Membership.user_id == login.c.id))
        .where(Organization.id == organization_id)
    )


def check_standing(
    row: Mapping[str, Any], *, minimum: MemberRole, refusal: type[AppError] = PermissionDenied
) -> MemberRole | None:
    """`require_org_role`'s answer from a `standing` row: 404 for no such organization, then the
    gates' one rule (`_judge`)."""
    if row["standing_organization_id"] is None:
        raise OrganizationNotFound()
    role = row["standing_role"]
    membership = (MemberRole(role), bool(row["standing_held_back"])) if role is not None else None
    return _judge(is_admin=bool(row["standing_is_admin"]), membership=membership, minimum=minimum, refusal=refusal)


def staff_in_standing(standing: Any) -> ColumnElement[bool]:
    """`standing_is_staff` in SQL, over the columns of a `standing` subquery."""
    return or_(standing.c.standing_is_admin, standing.c.standing_role.is_not(None) & ~standing.c.standing_held_back)


def standing_is_staff(row: Mapping[str, Any]) -> bool:
    """`is_staff`'s answer from a `standing` row: a platform admin, or a member whom the
    organization's MFA policy does not hold back."""
    if row["standing_is_admin"]:
        return True
    return row["standing_role"] is not None and not row["standing_held_back"]


async def require_staff(
    session: AsyncSession,
    *,
    user: User | ApiKeyPrincipal,
    organization_id: uuid.UUID,
    minimum: MemberRole = MemberRole.staff,
) -> MemberRole | None:
    """For resources reached by their own id (an appointment, a document): someone outside the
    organization gets 404 and learns nothing, not even that the resource exists."""
    return await _role_at_least(session, user=user, organization_id=organization_id, minimum=minimum, refusal=NotFound)


async def require_member_role(
    session: AsyncSession, *, user: User | ApiKeyPrincipal, organization_id: uuid.UUID, minimum: MemberRole
) -> MemberRole | None:
    """For public resources (the organization itself, a service): an outsider gets 403, not 404."""
    return await _role_at_least(
        session, user=user, organization_id=organization_id, minimum=minimum, refusal=PermissionDenied
    )


async def create_department(session: AsyncSession, *, organization: Organization, name: str) -> Department:
    department_id = await session.scalar(
        insert(Department)
        .values(id=uuid.uuid4(), organization_id=organization.id, name=name)
        .on_conflict_do_nothing(index_elements=[Department.organization_id, Department.name])
        .returning(Department.id)
    )
    if department_id is None:
        raise DepartmentExists()
    department = await session.get(Department, department_id)
    assert department is not None
    return department


async def get_departments(
    session: AsyncSession, *, organization: Organization, offset: int, limit: int
) -> tuple[Sequence[Department], int]:
    query = select(Department).where(Department.organization_id == organization.id)
    order = [Department.name, Department.id]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def check_department(session: AsyncSession, *, organization_id: uuid.UUID, department_id: uuid.UUID) -> None:
    found = await session.scalar(
        select(Department.id).where(Department.id == department_id, Department.organization_id == organization_id)
    )
    if found is None:
        raise DepartmentNotFound()


def _check_rank(actor_role: MemberRole | None, role: MemberRole) -> None:
    """`actor_role` None means a platform admin, who may give any role."""
    if actor_role is not None and role.rank > actor_role.rank:
        raise RoleTooHigh()


async def add_member(
    session: AsyncSession,
    *,
    organization: Organization,
    actor: audit_service.Actor,
    actor_role: MemberRole | None,
    data: MemberCreate,
) -> tuple[dict[str, Any], bool]:
    """Add a member, or change an existing member's role, title, department and clinical role.

    Returns the member row and whether it was created.
    """
    _check_rank(actor_role, data.role)
    if data.clinical_role is not None and organization.kind != OrganizationKind.clinic:
        raise NotAClinic()
    user = await users_service.get_by_email(session, data.email)
    if user is None:
        raise InviteeNotFound()
    if data.department_id is not None:
        await check_department(session, organization_id=organization.id, department_id=data.department_id)
    # Insert unless the membership exists; a concurrent insert of the same one is waited for, and
    # this request then updates the row the other created (200), where a plain INSERT would 409.
    inserted = await session.scalar(
        insert(Membership)
        .values(
            organization_id=organization.id,
            user_id=user.id,
            role=data.role,
            title=data.title,
            department_id=data.department_id,
            clinical_role=data.clinical_role,
        )
        .on_conflict_do_nothing(index_elements=[Membership.organization_id, Membership.user_id])
        .returning(Membership.user_id)
    )
    created = inserted is not None
    changes: dict[str, Any] = {
        "role": data.role,
        "title": data.title,
        "department_id": data.department_id,
    }
    if data.clinical_role is not None or not created:  # a clinic's clinical role, recorded where it applies
        changes["clinical_role"] = data.clinical_role
    if not created:
        existing = await session.get(
            Membership, (organization.id, user.id), with_for_update=True, populate_existing=True
        )
        if existing is None:  # removed between the two statements
            raise Conflict("The membership changed meanwhile; try again.")
        _check_rank(actor_role, MemberRole(existing.role))
        acting_on_self = actor.type == ActorType.user and actor.id == user.id
        if acting_on_self and existing.clinical_role != data.clinical_role:
            raise OwnClinicalRole()
        if existing.role == MemberRole.owner and data.role != MemberRole.owner:
            await _keep_an_owner(session, organization_id=organization.id, leaving=user.id)
        before = {
            "role": existing.role,
            "title": existing.title,
            "department_id": existing.department_id,
            "clinical_role": existing.clinical_role,
        }
        changes = {field: value for field, value in changes.items() if before[field] != value}
        existing.role, existing.title, existing.department_id = data.role, data.title, data.department_id
        existing.clinical_role = data.clinical_role
        await session.flush()
    if created or changes:
        await audit_service.record(
            session,
            action="member.added" if created else "member.changed",
            actor=actor,
            organization_id=organization.id,
            target_type="user",
            target_id=user.id,
            data={field: None if value is None else str(value) for field, value in changes.items()},
        )
    member = await get_member(session, organization_id=organization.id, user_id=user.id)
    assert member is not None
    return member, created


async def _keep_an_owner(session: AsyncSession, *, organization_id: uuid.UUID, leaving: uuid.UUID) -> None:
    # Lock the owners so that two owners demoting each other at once cannot leave none.
    owners = await session.scalars(
        select(Membership.user_id)
        .where(Membership.organization_id == organization_id, Membership.role == MemberRole.owner)
        .with_for_update()
    )
    if [owner for owner in owners if owner != leaving] == []:
        raise LastOwner()


def _member_columns() -> tuple[Any, ...]:
    return (
        Membership.organization_id,
        Membership.user_id,
        User.email,
        User.full_name,
        Membership.role,
        Membership.title,
        Membership.department_id,
        Membership.clinical_role,
        Membership.created_at,
        User.mfa_enabled_at.is_not(None).label("mfa_enabled"),
    )


async def get_member(session: AsyncSession, *, organization_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(*_member_columns())
            .join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == organization_id, Membership.user_id == user_id)
        )
    ).first()
    return dict(row._mapping) if row else None


async def get_members(
    session: AsyncSession, *, organization: Organization, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    query = (
        select(*_member_columns())
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization.id)
    )
    total = await paging.count(session, query)
    rows = await session.execute(query.order_by(User.full_name, User.id).offset(offset).limit(limit))
    return [dict(row._mapping) for row in rows], total


async def remove_member(
    session: AsyncSession,
    *,
    organization: Organization,
    actor: audit_service.Actor,
    actor_role: MemberRole | None,
    user_id: uuid.UUID,
) -> None:
    membership = await session.get(Membership, (organization.id, user_id), with_for_update=True)
    if membership is None:
        raise NotFound("This user is not a member of the organization.")
    _check_rank(actor_role, MemberRole(membership.role))
    if membership.role == MemberRole.owner:
        await _keep_an_owner(session, organization_id=organization.id, leaving=user_id)
    role = membership.role
    await session.delete(membership)
    await session.flush()
    await audit_service.record(
        session,
        action="member.removed",
        actor=actor,
        organization_id=organization.id,
        target_type="user",
        target_id=user_id,
        data={"role": str(role)},
    )


async def set_security(
    session: AsyncSession, *, organization: Organization, actor: User, require_mfa: bool
) -> Organization:
    """Turn the MFA policy on or off. An owner must have MFA on to require it (admins may)."""
    if require_mfa and actor.role != Role.admin and not actor.mfa_enabled:
        raise MfaRequired("Turn on two-factor sign-in for your own account before requiring it of the members.")
    if organization.require_mfa != require_mfa:
        before = organization.require_mfa
        organization.require_mfa = require_mfa
        await session.flush()
        await audit_service.record(
            session,
            action="organization.security_changed",
            actor=audit_service.Actor.user(actor.id),
            organization_id=organization.id,
            target_type="organization",
            target_id=organization.id,
            data={"require_mfa": {"from": before, "to": require_mfa}},
        )
    return organization


async def withheld_organizations(session: AsyncSession, *, user: User) -> frozenset[uuid.UUID]:
    """The organizations whose MFA policy holds `user` back from acting as their member."""
    if user.mfa_enabled or user.role == Role.admin:
        return frozenset()
    rows = await session.scalars(
        select(Membership.organization_id)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(Membership.user_id == user.id, Organization.require_mfa.is_(True))
    )
    return frozenset(rows)


async def get_membership(session: AsyncSession, *, organization_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
    """The user's membership (role and, in a clinic, clinical role), read fresh on every request so
    that a change acts at once on tokens already issued."""
    return await session.scalar(
        select(Membership).where(Membership.organization_id == organization_id, Membership.user_id == user_id)
    )
