"""Account self-service: registration and password change (both mail the account), password
reset, e-mail verification, MFA, and the audit entries an admin or the user may read.

`accounts` sits above `auth` and `notifications`: routes that sign in *and* mail live here, so
that `auth` never imports a feature that mails.
"""

import uuid
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from app.core.database import SessionDep
from app.core.dependencies import PageDep, SettingsDep, SignerDep
from app.core.schemas import Page
from app.services.accounts import service as accounts_service
from app.services.accounts.schemas import (
    Accepted,
    EmailVerification,
    MfaChange,
    MfaStatus,
    PasswordResetConfirm,
    PasswordResetRequest,
    RecoveryCodes,
    TotpConfirm,
    TotpEnrolment,
    TotpEnrolRequest,
)
from app.services.audit import service as audit_service
from app.services.audit.dependencies import AuditFiltersDep, audit_page
from app.services.audit.schemas import AuditEntryRead
from app.services.auth import service as auth_service
from app.services.auth.dependencies import AdminUser, CurrentLogin, CurrentUser, auth_response, client_info
from app.services.auth.schemas import AuthResponse, RegisterRequest
from app.services.mfa import service as mfa_service
from app.services.users import service as users_service
from app.services.users.schemas import PasswordChange, UserRead

router = APIRouter(tags=["accounts"])

NO_STORE = {"Cache-Control": "no-store"}
_RESET_ACCEPTED = "If an active account has this address, a link to reset its password is on its way."
_MAIL_LIMITS: dict[int | str, dict[str, Any]] = {429: {"description": "`rate_limited`, with `Retry-After`"}}
_PASSWORD_AND_CODE: dict[int | str, dict[str, Any]] = {
    409: {"description": "`mfa_not_enabled`"},
    422: {"description": "`wrong_password`, `invalid_otp`"},
    429: {"description": "`rate_limited` (too many wrong passwords or codes), with `Retry-After`"},
}


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _secret(model: TotpEnrolment | RecoveryCodes, status_code: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status_code, headers=NO_STORE)


# --- registration and password change (they mail the account) -----------------------------------


@router.post(
    "/auth/register",
    tags=["auth"],
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {"description": "`email_taken`"},
        422: {"description": "`weak_password`, `validation_error`"},
        429: {"description": "`rate_limited`: too many registrations from this address, with `Retry-After`"},
    },
)
async def register(
    data: RegisterRequest, request: Request, session: SessionDep, settings: SettingsDep, signer: SignerDep
) -> AuthResponse:
    """Create a citizen account and sign it in. A link to verify the e-mail address is mailed
    (`FRONTEND_URL/verify-email?token=...`); nothing waits for it."""
    user, tokens = await auth_service.register(
        session, settings=settings, signer=signer, data=data, client=client_info(request)
    )
    await accounts_service.send_verification(session, settings=settings, user=user)
    return auth_response(user, tokens)


@router.post(
    "/users/me/password",
    tags=["users"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        422: {"description": "`wrong_password`, `weak_password`"},
        429: {"description": "`rate_limited` (too many wrong passwords), with `Retry-After`"},
    },
)
async def change_password(
    data: PasswordChange, login: CurrentLogin, session: SessionDep, settings: SettingsDep
) -> None:
    """Change your password. Every other login of yours ends; this one stays. The change is mailed."""
    await auth_service.change_password(
        session,
        settings=settings,
        user=login.user,
        current_session_id=login.session_id,
        current=data.current_password,
        new=data.new_password,
    )
    await accounts_service.mail_password_changed(session, user=login.user)


# --- password reset and e-mail verification ---------------------------------------------------


@router.post("/auth/password-reset", status_code=status.HTTP_202_ACCEPTED, responses=_MAIL_LIMITS)
async def request_password_reset(
    data: PasswordResetRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> Accepted:
    """Public: mail a link to reset the password (`FRONTEND_URL/reset-password?token=...`, valid
    30 minutes). The answer is the same whether or not an account has this address."""
    await accounts_service.request_password_reset(
        session, settings=settings, email=data.email, address=_address(request)
    )
    return Accepted(detail=_RESET_ACCEPTED)


@router.post(
    "/auth/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={422: {"description": "`invalid_token`, `weak_password`"}},
)
async def confirm_password_reset(data: PasswordResetConfirm, session: SessionDep, settings: SettingsDep) -> None:
    """Public: set a new password with the mailed token. The e-mail counts as verified, every
    login ends, two-factor sign-in stays as it was."""
    await accounts_service.reset_password(session, settings=settings, token=data.token, new_password=data.new_password)


@router.post("/auth/verify-email", responses={422: {"description": "`invalid_token`"}})
async def verify_email(data: EmailVerification, session: SessionDep) -> UserRead:
    """Public: confirm the e-mail address with the mailed token (valid 48 hours, once)."""
    return UserRead.model_validate(await accounts_service.verify_email(session, token=data.token))


@router.post(
    "/users/me/verify-email",
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "`already_verified`"}, **_MAIL_LIMITS},
)
async def resend_verification(
    user: CurrentUser, request: Request, session: SessionDep, settings: SettingsDep
) -> Accepted:
    """Mail a new verification link; the earlier ones stop working."""
    await accounts_service.resend_verification(session, settings=settings, user=user, address=_address(request))
    return Accepted(detail="A new verification link is on its way.")


# --- MFA ----------------------------------------------------------------------------------------


@router.get("/users/me/mfa")
async def get_mfa(user: CurrentUser, session: SessionDep) -> MfaStatus:
    """Whether two-factor sign-in is on, since when, and how many recovery codes are left."""
    enabled, enabled_at, left = await mfa_service.status(session, user=user)
    return MfaStatus(enabled=enabled, enabled_at=enabled_at, recovery_codes_left=left)


@router.post(
    "/users/me/mfa/totp",
    status_code=status.HTTP_201_CREATED,
    response_model=TotpEnrolment,
    responses={409: {"description": "`mfa_already_enabled`"}, 422: {"description": "`wrong_password`"}},
)
async def enrol_totp(
    data: TotpEnrolRequest, user: CurrentUser, session: SessionDep, settings: SettingsDep, signer: SignerDep
) -> JSONResponse:
    """Start two-factor sign-in: a new secret, its `otpauth://` URI and QR code (shown once,
    pending 15 minutes; a new call replaces it). Confirm with a code from the app."""
    enrolment = await accounts_service.enrol_totp(
        session, settings=settings, user=user, password=data.password, secret_key=signer.secret_key
    )
    body = TotpEnrolment(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_png=enrolment.qr_png)
    return _secret(body, status.HTTP_201_CREATED)


@router.post(
    "/users/me/mfa/totp/confirm",
    response_model=RecoveryCodes,
    responses={
        409: {"description": "`mfa_not_enrolled`, `mfa_already_enabled`"},
        422: {"description": "`invalid_otp`"},
    },
)
async def confirm_totp(
    data: TotpConfirm, login: CurrentLogin, session: SessionDep, settings: SettingsDep, signer: SignerDep
) -> JSONResponse:
    """Turn two-factor sign-in on with a code from the app. Answers ten single-use recovery codes
    (shown once); your other logins end."""
    codes = await accounts_service.confirm_totp(
        session,
        settings=settings,
        user=login.user,
        code=data.code,
        secret_key=signer.secret_key,
        session_id=login.session_id,
    )
    return _secret(RecoveryCodes(recovery_codes=codes))


@router.post("/users/me/mfa/recovery-codes", response_model=RecoveryCodes, responses=_PASSWORD_AND_CODE)
async def regenerate_recovery_codes(
    data: MfaChange, user: CurrentUser, session: SessionDep, settings: SettingsDep, signer: SignerDep
) -> JSONResponse:
    """Ten new recovery codes (shown once); the old ones stop working."""
    codes = await accounts_service.regenerate_recovery_codes(
        session, settings=settings, user=user, password=data.password, code=data.code, secret_key=signer.secret_key
    )
    return _secret(RecoveryCodes(recovery_codes=codes))


@router.post("/users/me/mfa/disable", status_code=status.HTTP_204_NO_CONTENT, responses=_PASSWORD_AND_CODE)
async def disable_mfa(
    data: MfaChange, login: CurrentLogin, session: SessionDep, settings: SettingsDep, signer: SignerDep
) -> None:
    """Turn two-factor sign-in off (password and a code or recovery code); your other logins end."""
    await accounts_service.disable_mfa(
        session,
        settings=settings,
        user=login.user,
        password=data.password,
        code=data.code,
        secret_key=signer.secret_key,
        session_id=login.session_id,
    )


@router.delete(
    "/users/{user_id}/mfa",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "`not_found`"}, 409: {"description": "`mfa_not_enabled`"}},
)
async def reset_mfa(user_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> None:
    """Administrators: turn a user's two-factor sign-in off (lost phone and codes); all their logins end."""
    user = await users_service.get_or_raise(session, user_id)
    await accounts_service.reset_mfa(session, admin=admin, user=user)


# --- the audit log (the organization's own: organizations/routes.py) ---------------------------


@router.get("/admin/audit", tags=["audit"], responses={403: {"description": "`forbidden`: administrators only"}})
async def list_audit_entries(
    _: AdminUser,
    session: SessionDep,
    page: PageDep,
    filters: AuditFiltersDep,
    organization_id: uuid.UUID | None = None,
) -> Page[AuditEntryRead]:
    """Administrators: every audit entry, newest first."""
    rows, total = await audit_service.get_all(
        session, filters=filters, organization_id=organization_id, offset=page.offset, limit=page.size
    )
    return audit_page(rows, total, page)


@router.get("/users/me/audit", tags=["audit"])
async def list_my_audit_entries(
    user: CurrentUser, session: SessionDep, page: PageDep, filters: AuditFiltersDep
) -> Page[AuditEntryRead]:
    """The audit entries about you (sign-ins, password and MFA changes, your memberships), newest first."""
    rows, total = await audit_service.get_all(
        session, filters=filters, target_id=user.id, offset=page.offset, limit=page.size
    )
    return audit_page(rows, total, page)
