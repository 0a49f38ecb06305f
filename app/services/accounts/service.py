"""Account self-service: password reset, e-mail verification and the MFA operations around the
`mfa` feature (checking the password and code, ending other logins, mailing the change).

Links are mailed through the notifications outbox; their tokens are 32 random bytes stored by
SHA-256 digest, single use (a conditional UPDATE spends them), expiring, and void once a newer
one of the same kind is requested.
"""

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.core.errors import RateLimited
from app.core.settings import Settings
from app.services.accounts.errors import AlreadyVerified, InvalidAccountToken
from app.services.accounts.models import AccountToken
from app.services.audit import service as audit_service
from app.services.auth import service as auth_service
from app.services.auth import throttle
from app.services.mfa import service as mfa_service
from app.services.mfa.errors import InvalidOtp, MfaAlreadyEnabled
from app.services.notifications import service as notifications_service
from app.services.qr import service as qr_service
from app.services.qr.images import ImageKind
from app.services.users import service as users_service
from app.services.users.models import User

PASSWORD_RESET = "password_reset"
VERIFY_EMAIL = "verify_email"
LIFETIMES = {PASSWORD_RESET: timedelta(minutes=30), VERIFY_EMAIL: timedelta(hours=48)}
_PAGES = {PASSWORD_RESET: "reset-password", VERIFY_EMAIL: "verify-email"}
_HOUR = timedelta(hours=1)
TEMPLATES = Path(__file__).parent / "templates"


# --- one-time link tokens -----------------------------------------------------------------------


async def _throttle_mail(session: AsyncSession, *, settings: Settings, email: str, address: str | None) -> None:
    """3 an hour per e-mail (with or without an account), 20 per client address; 429 beyond."""
    keys = [(f"account-mail:email:{users_service.normalise_email(email)}", settings.account_mails_per_email_per_hour)]
    if address:
        keys.append((f"account-mail:addr:{address}", settings.account_mails_per_address_per_hour))
    for key, limit in keys:
        if wait := await throttle.retry_after(session, key=key, limit=limit, window=_HOUR):
            raise RateLimited(wait, "Too many e-mails asked for; try again later.")
    for key, _ in keys:
        await throttle.hit(session, key=key, window=_HOUR)


async def _issue_token(session: AsyncSession, *, user: User, purpose: str) -> str:
    """A new token of `purpose` for `user`; the older ones die."""
    await session.execute(
        update(AccountToken)
        .where(AccountToken.user_id == user.id, AccountToken.purpose == purpose, AccountToken.spent_at.is_(None))
        .values(spent_at=datetime.now(UTC))
    )
    token = secrets.token_urlsafe(32)
    session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_digest=security.token_digest(token),
            expires_at=datetime.now(UTC) + LIFETIMES[purpose],
        )
    )
    await session.flush()
    return token


def _link(settings: Settings, purpose: str, token: str) -> str:
    return f"{settings.frontend_url.rstrip('/')}/{_PAGES[purpose]}?{urlencode({'token': token})}"


async def _live_token_user(session: AsyncSession, *, token: str, purpose: str) -> User:
    user = await session.scalar(
        select(User)
        .join(AccountToken, AccountToken.user_id == User.id)
        .where(
            AccountToken.token_digest == security.token_digest(token),
            AccountToken.purpose == purpose,
            AccountToken.spent_at.is_(None),
            AccountToken.expires_at > datetime.now(UTC),
            User.is_active.is_(True),
        )
    )
    if user is None:
        raise InvalidAccountToken()
    return user


async def _spend(session: AsyncSession, *, token: str, purpose: str) -> None:
    """Spend the token; of two requests racing with it, exactly one gets past this."""
    spent = await session.scalar(
        update(AccountToken)
        .where(
            AccountToken.token_digest == security.token_digest(token),
            AccountToken.purpose == purpose,
            AccountToken.spent_at.is_(None),
            AccountToken.expires_at > datetime.now(UTC),
        )
        .values(spent_at=datetime.now(UTC))
        .returning(AccountToken.id)
    )
    if spent is None:
        raise InvalidAccountToken()


async def _mail(session: AsyncSession, *, user: User, kind: str, title: str, body: str, link: str = "") -> None:
    await notifications_service.queue_email(
        session,
        to_address=user.email,
        full_name=user.full_name,
        kind=kind,
        title=title,
        body=body,
        data={"link": link},
        templates=TEMPLATES,
    )


async def request_password_reset(session: AsyncSession, *, settings: Settings, email: str, address: str | None) -> None:
    """Mail a reset link if an active account has `email`; the caller answers the same either way."""
    await _throttle_mail(session, settings=settings, email=email, address=address)
    user = await users_service.get_by_email(session, email)
    active = user is not None and user.is_active
    await audit_service.record(
        session,
        action="auth.password_reset_requested",
        actor=audit_service.ANONYMOUS,
        target_type="user" if active else None,
        target_id=user.id if user is not None and active else None,
        data={} if active else {"email": users_service.normalise_email(email)},
    )
    if user is None or not active:
        return
    token = await _issue_token(session, user=user, purpose=PASSWORD_RESET)
    link = _link(settings, PASSWORD_RESET, token)
    await _mail(session, user=user, kind="password_reset", title="Reset your password", body="", link=link)


async def reset_password(session: AsyncSession, *, settings: Settings, token: str, new_password: str) -> None:
    """Set the password, mark the e-mail verified, end every login; MFA stays as it is."""
    user = await _live_token_user(session, token=token, purpose=PASSWORD_RESET)
    auth_service.check_password_strength(new_password, email=user.email)  # before the token is spent
    await _spend(session, token=token, purpose=PASSWORD_RESET)
    user.password_hash = await security.hash_password(new_password, rounds=settings.bcrypt_rounds)
    if user.email_verified_at is None:
        user.email_verified_at = datetime.now(UTC)
    await session.flush()
    await auth_service.revoke_user_sessions(session, user_id=user.id, reason="password_reset")
    await audit_service.record_about_user(
        session, action="auth.password_reset", user_id=user.id, actor=audit_service.ANONYMOUS
    )
    await _mail(
        session,
        user=user,
        kind="account_security",
        title="Your password was changed",
        body="The password of your account was reset with an e-mailed link; every sign-in was ended.",
    )


async def mail_password_changed(session: AsyncSession, *, user: User) -> None:
    await _mail(
        session,
        user=user,
        kind="account_security",
        title="Your password was changed",
        body="The password of your account was changed; your other sign-ins were ended.",
    )


async def send_verification(session: AsyncSession, *, settings: Settings, user: User) -> None:
    """Mail a verification link (at registration, and on request)."""
    token = await _issue_token(session, user=user, purpose=VERIFY_EMAIL)
    link = _link(settings, VERIFY_EMAIL, token)
    await _mail(session, user=user, kind="verify_email", title="Confirm your e-mail address", body="", link=link)


async def resend_verification(session: AsyncSession, *, settings: Settings, user: User, address: str | None) -> None:
    if user.email_verified_at is not None:
        raise AlreadyVerified()
    await _throttle_mail(session, settings=settings, email=user.email, address=address)
    await send_verification(session, settings=settings, user=user)


async def verify_email(session: AsyncSession, *, token: str) -> User:
    user = await _live_token_user(session, token=token, purpose=VERIFY_EMAIL)
    await _spend(session, token=token, purpose=VERIFY_EMAIL)
    if user.email_verified_at is None:
        user.email_verified_at = datetime.now(UTC)
        await session.flush()
    await audit_service.record_about_user(session, action="auth.email_verified", user_id=user.id)
    return user


# --- MFA ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_png: str


async def enrol_totp(
    session: AsyncSession, *, settings: Settings, user: User, password: str, secret_key: str
) -> Enrolment:
    if user.mfa_enabled:
        raise MfaAlreadyEnabled()
    await auth_service.verify_current_password(session, settings=settings, user=user, password=password)
    secret = await mfa_service.enrol(session, user=user, secret_key=secret_key)
    uri = mfa_service.provisioning_uri(secret, email=user.email)
    png = await qr_service.image(uri, kind=ImageKind.png, scale=6, cache=None)
    return Enrolment(
        secret=secret, otpauth_uri=uri, qr_png="data:image/png;base64," + base64.b64encode(png).decode("ascii")
    )


async def confirm_totp(
    session: AsyncSession, *, settings: Settings, user: User, code: str, secret_key: str, session_id: uuid.UUID
) -> list[str]:
    codes = await mfa_service.confirm(session, user=user, code=code, secret_key=secret_key)
    if codes is None:
        await auth_service.count_failure(session, settings=settings, user=user)
        raise InvalidOtp()
    await auth_service.revoke_user_sessions(session, user_id=user.id, reason="mfa_enabled", keep=session_id)
    await _mail(
        session,
        user=user,
        kind="account_security",
        title="Two-factor sign-in is on",
        body="Two-factor sign-in was turned on for your account; your other sign-ins were ended.",
    )
    return codes


async def _check_password_and_code(
    session: AsyncSession, *, settings: Settings, user: User, password: str, code: str, secret_key: str
) -> None:
    mfa_service.require_enabled(user)
    await auth_service.verify_current_password(session, settings=settings, user=user, password=password)
    if await mfa_service.check_code(session, user=user, code=code, secret_key=secret_key) is None:
        await auth_service.count_failure(session, settings=settings, user=user)
        raise InvalidOtp()


async def regenerate_recovery_codes(
    session: AsyncSession, *, settings: Settings, user: User, password: str, code: str, secret_key: str
) -> list[str]:
    await _check_password_and_code(
        session, settings=settings, user=user, password=password, code=code, secret_key=secret_key
    )
    return await mfa_service.regenerate_recovery_codes(session, user=user)


async def disable_mfa(
    session: AsyncSession,
    *,
    settings: Settings,
    user: User,
    password: str,
    code: str,
    secret_key: str,
    session_id: uuid.UUID,
) -> None:
    await _check_password_and_code(
        session, settings=settings, user=user, password=password, code=code, secret_key=secret_key
    )
    await mfa_service.remove(session, user=user, actor=audit_service.Actor.user(user.id), action="mfa.disabled")
    await auth_service.revoke_user_sessions(session, user_id=user.id, reason="mfa_disabled", keep=session_id)
    await _mail(
        session,
        user=user,
        kind="account_security",
        title="Two-factor sign-in is off",
        body="Two-factor sign-in was turned off for your account; your other sign-ins were ended.",
    )


async def reset_mfa(session: AsyncSession, *, admin: User, user: User) -> None:
    """An administrator turns a user's MFA off (a lost phone and lost codes); every login ends."""
    await mfa_service.remove(session, user=user, actor=audit_service.Actor.user(admin.id), action="mfa.reset")
    await auth_service.revoke_user_sessions(session, user_id=user.id, reason="mfa_reset")
    await _mail(
        session,
        user=user,
        kind="account_security",
        title="Two-factor sign-in was reset",
        body="An administrator turned two-factor sign-in off for your account; every sign-in was ended.",
    )
