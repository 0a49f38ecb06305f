from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.core.database import SessionDep
from app.core.dependencies import SettingsDep, SignerDep
from app.core.errors import InvalidInput
from app.services.auth import service as auth_service
from app.services.auth.dependencies import auth_response, client_info
from app.services.auth.schemas import AuthResponse, LoginRequest, RefreshRequest

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/login",
    responses={
        401: {"description": "`invalid_credentials`, `otp_required`, `invalid_otp`"},
        403: {"description": "`account_disabled`"},
        429: {"description": "`rate_limited`, with `Retry-After`"},
    },
)
async def login(
    data: LoginRequest, request: Request, session: SessionDep, settings: SettingsDep, signer: SignerDep
) -> AuthResponse:
    """Sign in with e-mail and password (and `otp` when the account has two-factor sign-in on).
    Each sign-in is a login session of its own."""
    user, tokens = await auth_service.login(
        session,
        settings=settings,
        signer=signer,
        email=data.email,
        password=data.password,
        otp=data.otp,
        client=client_info(request),
    )
    return auth_response(user, tokens)


@router.post(
    "/token",
    responses={
        401: {"description": "`invalid_credentials`, `otp_required`"},
        403: {"description": "`account_disabled`"},
        429: {"description": "`rate_limited`, with `Retry-After`"},
    },
)
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signer: SignerDep,
) -> AuthResponse:
    """The OAuth2 password flow (form fields `username` and `password`), for the Authorize button of /docs."""
    if len(form.username) > 254 or len(form.password) > 256:
        raise InvalidInput("The username or the password is too long.")
    user, tokens = await auth_service.login(
        session,
        settings=settings,
        signer=signer,
        email=form.username,
        password=form.password,
        client=client_info(request),
    )
    return auth_response(user, tokens)


@router.post("/refresh", responses={401: {"description": "`invalid_refresh_token`"}})
async def refresh_tokens(
    data: RefreshRequest, session: SessionDep, settings: SettingsDep, signer: SignerDep
) -> AuthResponse:
    """Trade a refresh token for a new pair. The old one dies; presenting it again ends the login."""
    user, tokens = await auth_service.refresh(
        session, settings=settings, signer=signer, refresh_token=data.refresh_token
    )
    return auth_response(user, tokens)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(data: RefreshRequest, session: SessionDep) -> None:
    """End the login that the refresh token belongs to; its access tokens stop working at once."""
    await auth_service.logout(session, refresh_token=data.refresh_token)
