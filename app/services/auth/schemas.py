from typing import Annotated, Literal

from pydantic import Field

from app.core.schemas import InputSchema, Schema
from app.services.users.schemas import Email, FullName, Password, Phone, UserRead

RefreshTokenText = Annotated[str, Field(min_length=1, max_length=200)]


class RegisterRequest(InputSchema):
    email: Email
    password: Password
    full_name: FullName
    phone: Phone | None = None


class LoginRequest(InputSchema):
    email: Email
    password: Password
    otp: Annotated[
        str | None,
        Field(
            max_length=32,
            description="With two-factor sign-in on: a code from the authenticator app or an unused recovery code.",
        ),
    ] = None


class RefreshRequest(InputSchema):
    refresh_token: RefreshTokenText


class TokenPair(Schema):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Lifetime of the access token in seconds.")


class AuthResponse(TokenPair):
    user: UserRead
