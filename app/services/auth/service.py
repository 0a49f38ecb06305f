"""Registration, login sessions, refresh-token rotation with reuse detection, and logout."""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import CTE, ColumnElement, Select, and_, bindparam, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core import security
from app.core.errors import RateLimited
from app.core.security import AccessClaims, TokenSigner
from app.core.settings import Settings
from app.services.audit import service as audit_service
from app.services.auth import throttle
from app.services.auth.errors import (
    AccountDisabled,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    WeakPassword,
    WrongPassword,
)
from app.services.auth.models import LoginSession, RefreshToken
from app.services.auth.schemas import RegisterRequest
from app.services.mfa import service as mfa_service
from app.services.mfa.errors import InvalidOtpLogin, OtpRequired
from app.services.users import service as users_service
from app.services.users.models import Role, User

MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class ClientInfo:
    address: str | None
    user_agent: str | None


@cache
def _common_passwords() -> frozenset[str]:
    text = (Path(__file__).parent / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def check_password_strength(password: str, *, email: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if password.strip().lower() == users_service.normalise_email(email):
        raise WeakPassword("The password may not be the e-mail address.")
    if password.lower() in _common_passwords():
        raise WeakPassword("This password is too common; choose another.")


async def create_user(
    session: AsyncSession,
    *,
    settings: Settings,
    email: str,
    password: str,
    full_name: str,
    phone: str | None = None,
    role: Role = Role.citizen,
) -> User:
    check_password_strength(password, email=email)
    if await users_service.get_by_email(session, email) is not None:
        raise EmailTaken()  # before spending a bcrypt hash on it
    password_hash = await security.hash_password(password, rounds=settings.bcrypt_rounds)
    # ON CONFLICT instead of catching IntegrityError: the transaction stays usable and the
    # case-insensitive uniqueness holds under concurrent registrations.
    user_id = await session.scalar(
        insert(User)
        .values(
            id=uuid.uuid4(),
            email=users_service.normalise_email(email),
            password_hash=password_hash,
            full_name=full_name,
            phone=phone,
            role=role,
        )
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(User.id)
    )
    if user_id is None:
        raise EmailTaken()
    return await users_service.get_or_raise(session, user_id)


async def register(
    session: AsyncSession, *, settings: Settings, signer: TokenSigner, data: RegisterRequest, client: ClientInfo
) -> tuple[User, IssuedTokens]:
    if client.address:
        count = await throttle.hit(session, key=f"register:addr:{client.address}", window=timedelta(hours=1))
        if count > settings.registrations_per_address_per_hour:
            raise RateLimited(3600, "Too many registrations from this address; try again later.")
    user = await create_user(
        session,
        settings=settings,
        email=data.email,
        password=data.password,
        full_name=data.full_name,
        phone=data.phone,
    )
    tokens = await start_session(session, settings=settings, signer=signer, user=user, client=client)
    return user, tokens


async def login(
    session: AsyncSession,
    *,
    settings: Settings,
    signer: TokenSigner,
    email: str,
    password: str,
    client: ClientInfo,
    otp: str | None = None,
) -> tuple[User, IssuedTokens]:
    """Sign in. With MFA on, `otp` (a TOTP or recovery code) is needed once the password is
    right; a missing or wrong one counts as a failed sign-in, and the failure count is cleared
    only by a complete sign-in."""
    window = timedelta(seconds=settings.login_failure_window_seconds)
    account_key = _account_key(email)
    address_key = f"login:addr:{client.address}" if client.address else None
    for key, limit in (
        (account_key, settings.login_failures_per_account),
        (address_key, settings.login_failures_per_address),
    ):
        if key and (wait := await throttle.retry_after(session, key=key, limit=limit, window=window)):
            raise RateLimited(wait, "Too many failed sign-ins; try again later.")

    user = await users_service.get_by_email(session, email)
    valid = await security.verify_password(
        password, user.password_hash if user else None, rounds=settings.bcrypt_rounds
    )
    if user is None or not valid:
        for key in (account_key, address_key):
            if key:
                await throttle.hit(session, key=key, window=window)
        await _record_failed_login(session, user=user, email=email, reason=InvalidCredentials.code, client=client)
        raise InvalidCredentials()
    if not user.is_active:
        await _record_failed_login(session, user=user, email=email, reason=AccountDisabled.code, client=client)
        raise AccountDisabled()
    if user.mfa_enabled:
        refusal: type[OtpRequired | InvalidOtpLogin] | None = None
        if not otp:
            refusal = OtpRequired
        elif await mfa_service.check_code(session, user=user, code=otp, secret_key=signer.secret_key) is None:
            refusal = InvalidOtpLogin
        if refusal is not None:
            for key in (account_key, address_key):
                if key:
                    await throttle.hit(session, key=key, window=window)
            await _record_failed_login(session, user=user, email=email, reason=refusal.code, client=client)
            raise refusal()
    await throttle.clear(session, key=account_key)
    tokens = await start_session(session, settings=settings, signer=signer, user=user, client=client)
    await audit_service.record_about_user(session, action="auth.login", user_id=user.id, client_address=client.address)
    return user, tokens


async def _record_failed_login(
    session: AsyncSession, *, user: User | None, email: str, reason: str, client: ClientInfo
) -> None:
    """The refused sign-in's audit entry; the error raised next commits it (`commit_changes`)."""
    data = {"reason": reason} if user else {"reason": reason, "email": users_service.normalise_email(email)}
    await audit_service.record(
        session,
        action="auth.login_failed",
        actor=audit_service.ANONYMOUS,
        target_type="user" if user else None,
        target_id=user.id if user else None,
        data=data,
        client_address=client.address,
    )


async def start_session(
    session: AsyncSession, *, settings: Settings, signer: TokenSigner, user: User, client: ClientInfo
) -> IssuedTokens:
    login_session = LoginSession(
        user_id=user.id,
        client_address=(client.address or "")[:64] or None,
        user_agent=(client.user_agent or "")[:256] or None,
    )
    session.add(login_session)
    await session.flush()
    refresh_token = await _add_refresh_token(session, settings=settings, session_id=login_session.id)
    return _issue(signer, user_id=user.id, session_id=login_session.id, refresh_token=refresh_token)


async def _add_refresh_token(session: AsyncSession, *, settings: Settings, session_id: uuid.UUID) -> str:
    token = security.new_refresh_token()
    session.add(
        RefreshToken(
            session_id=session_id,
            token_digest=security.token_digest(token),
            expires_at=datetime.now(UTC) + timedelta(days=settings.refresh_token_days),
        )
    )
    await session.flush()
    return token


def _issue(signer: TokenSigner, *, user_id: uuid.UUID, session_id: uuid.UUID, refresh_token: str) -> IssuedTokens:
    return IssuedTokens(
        access_token=signer.issue_access(user_id=user_id, session_id=session_id),
        refresh_token=refresh_token,
        expires_in=int(signer.access_ttl.total_seconds()),
    )


async def refresh(
    session: AsyncSession, *, settings: Settings, signer: TokenSigner, refresh_token: str
) -> tuple[User, IssuedTokens]:
    """Rotate a refresh token. A token that was already rotated away revokes its whole login.

    The conditional UPDATE is the guarantee: of two requests racing with one token, exactly one
    sees `used_at IS NULL`; the other finds the token used and ends the login.
    """
    digest = security.token_digest(refresh_token)
    now = datetime.now(UTC)
    session_id = await session.scalar(
        update(RefreshToken)
        .where(RefreshToken.token_digest == digest, RefreshToken.used_at.is_(None), RefreshToken.expires_at > now)
        .values(used_at=now)
        .returning(RefreshToken.session_id)
    )
    if session_id is None:
        used = await session.scalar(
            select(RefreshToken.session_id).where(
                RefreshToken.token_digest == digest, RefreshToken.used_at.is_not(None)
            )
        )
        if used is not None:
            await revoke_sessions(session, session_ids=[used], reason="refresh_reuse")
            user_id = (await session.execute(select(LoginSession.user_id).where(LoginSession.id == used))).scalar_one()
            await audit_service.record_about_user(
                session,
                action="auth.refresh_reuse",
                user_id=user_id,
                actor=audit_service.ANONYMOUS,
                data={"session_id": str(used)},
            )
        raise InvalidRefreshToken()

    user = await session.scalar(
        select(User)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(login_is_open(LoginSession.user_id, session_id))
    )
    if user is None:
        raise InvalidRefreshToken()
    new_token = await _add_refresh_token(session, settings=settings, session_id=session_id)
    return user, _issue(signer, user_id=user.id, session_id=session_id, refresh_token=new_token)


async def logout(session: AsyncSession, *, refresh_token: str) -> None:
    """End the login that `refresh_token` belongs to. Unknown tokens are ignored (idempotent)."""
    session_id = await session.scalar(
        select(RefreshToken.session_id).where(RefreshToken.token_digest == security.token_digest(refresh_token))
    )
    if session_id is not None:
        await revoke_sessions(session, session_ids=[session_id], reason="logout")


async def revoke_sessions(session: AsyncSession, *, session_ids: list[uuid.UUID], reason: str) -> None:
    await session.execute(
        update(LoginSession)
        .where(LoginSession.id.in_(session_ids), LoginSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
    )


async def revoke_user_sessions(
    session: AsyncSession, *, user_id: uuid.UUID, reason: str, keep: uuid.UUID | None = None
) -> None:
    statement = (
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
    )
    if keep is not None:
        statement = statement.where(LoginSession.id != keep)
    await session.execute(statement)


def _account_key(email: str) -> str:
    """The throttle key of an account's wrong passwords, at sign-in and at a password change."""
    return f"login:account:{users_service.normalise_email(email)}"


async def change_password(
    session: AsyncSession, *, settings: Settings, user: User, current_session_id: uuid.UUID, current: str, new: str
) -> None:
    """Wrong current passwords count against the account's sign-in failures: a stolen access
    token cannot be used to guess the password faster than the sign-in form allows."""
    await verify_current_password(session, settings=settings, user=user, password=current)
    await throttle.clear(session, key=_account_key(user.email))
    check_password_strength(new, email=user.email)
    user.password_hash = await security.hash_password(new, rounds=settings.bcrypt_rounds)
    await revoke_user_sessions(session, user_id=user.id, reason="password_change", keep=current_session_id)
    await audit_service.record_about_user(session, action="auth.password_changed", user_id=user.id)
    await session.flush()


async def verify_current_password(session: AsyncSession, *, settings: Settings, user: User, password: str) -> None:
    """422 `wrong_password` for a wrong one, counted against the account's sign-in failures (429
    once over the limit), so a stolen access token cannot guess faster than the sign-in form."""
    window = timedelta(seconds=settings.login_failure_window_seconds)
    key = _account_key(user.email)
    if wait := await throttle.retry_after(session, key=key, limit=settings.login_failures_per_account, window=window):
        raise RateLimited(wait, "Too many wrong passwords or codes; try again later.")
    if not await security.verify_password(password, user.password_hash, rounds=settings.bcrypt_rounds):
        await throttle.hit(session, key=key, window=window)
        raise WrongPassword()


async def count_failure(session: AsyncSession, *, settings: Settings, user: User) -> None:
    """Count a wrong second factor (an MFA code) like a wrong password."""
    window = timedelta(seconds=settings.login_failure_window_seconds)
    await throttle.hit(session, key=_account_key(user.email), window=window)


def login_is_open(user_id: Any, session_id: Any) -> ColumnElement[bool]:
    """ "This login session is still open": the one rule, over `users` joined with `login_sessions`.

    `user_id` and `session_id` are an access token's claims (values or columns). Every check of a
    login uses it: the token gates, the hot paths' statements, chat's send and the socket audit.
    """
    return and_(
        LoginSession.id == session_id,
        User.id == user_id,
        LoginSession.user_id == User.id,
        LoginSession.revoked_at.is_(None),
        User.is_active.is_(True),
    )


async def get_user_for_access(session: AsyncSession, *, claims: AccessClaims) -> User | None:
    """The user behind an access token, if its login is still open: one read by primary keys."""
    return await session.scalar(
        select(User)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(login_is_open(claims.user_id, claims.session_id))
    )


def open_login() -> CTE:
    """`get_user_for_access` as a CTE named `login` (`id`, `is_admin`, `email`, `full_name`; no row
    when the login has ended), for hot-path statements that check the token and do their work in
    one round trip. Parameters: `user_id` and `session_id` (see `login_parameters`)."""
    return (
        select(
            User.id,
            (User.role == Role.admin).label("is_admin"),
            User.email,
            User.full_name,
            User.mfa_enabled_at.is_not(None).label("mfa_enabled"),
        )
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(login_is_open(bindparam("user_id"), bindparam("session_id")))
        .cte("login")
    )


def for_login(*parts: Callable[[CTE], Select[Any]]) -> Select[Any]:
    """`parts(login)` behind the access-token check, in one statement (see `open_login`).

    Each part gives at most one row (a row by id, an aggregate), so the statement gives none when
    the login has ended, else one row: `login_id` and the parts' columns, NULL for a part that
    found nothing.
    """
    login = open_login()
    source: Any = login
    columns: list[Any] = [login.c.id.label("login_id")]
    for number, part in enumerate(parts):
        lateral = part(login).lateral(f"part_{number}")
        source = source.outerjoin(lateral, true())
        columns.append(lateral)
    return select(*columns).select_from(source)


def role_while_logged_in(user_id: Any, session_id: Any) -> ColumnElement[Any]:
    """The role of `user_id` while the login `session_id` is open, NULL once it has ended or the
    account is inactive: a scalar subquery for statements that check the login as they work."""
    return (
        select(User.role)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(login_is_open(user_id, session_id))
        .scalar_subquery()
    )


class LoginState(StrEnum):
    open = "open"
    ended = "ended"  # logged out, revoked, or not this user's
    disabled = "disabled"  # the account was deactivated while the login was open


async def login_states(connection: AsyncConnection, claims: Iterable[AccessClaims]) -> dict[AccessClaims, LoginState]:
    """Whether each token's login is still open, and if not why, in one query (the socket audit)."""
    wanted = set(claims)
    if not wanted:
        return {}
    rows = await connection.execute(
        select(
            LoginSession.id,
            LoginSession.user_id,
            login_is_open(LoginSession.user_id, LoginSession.id).label("open"),
            LoginSession.revoked_at.is_(None).label("unrevoked"),
        )
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.id.in_({c.session_id for c in wanted}))
    )
    found = {row.id: row for row in rows}
    states = {}
    for claim in wanted:
        row = found.get(claim.session_id)
        if row is None or row.user_id != claim.user_id:
            states[claim] = LoginState.ended
        elif row.open:
            states[claim] = LoginState.open
        else:
            states[claim] = LoginState.disabled if row.unrevoked else LoginState.ended
    return states


def login_parameters(claims: AccessClaims) -> dict[str, uuid.UUID]:
    return {"user_id": claims.user_id, "session_id": claims.session_id}
