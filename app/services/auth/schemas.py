from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from app.core.schemas import InputSchema, Schema
from app.services.users.schemas import Email, FullName, Password, Phone, UserRead

RefreshTokenText = Annotated[str, Field(min_length=1, max_length=200)]


class RegisterRequest(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "ana@example.org",
                    "password": "a long passphrase",
                    "full_name": "Ana Silva",
                    "phone": "+49 30 1234567",
                }
            ]
        }
    )

    email: Email
    password: Password
    full_name: FullName
    phone: Phone | None = None


class LoginRequest(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "ana@example.org", "password": "a long passphrase"}]}
    )

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
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": "kq1nU8v0T3JxYz_refresh-token-from-login"}]}
    )

    refresh_token: RefreshTokenText


class TokenPair(Schema):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Lifetime of the access token in seconds.")


class AuthResponse(TokenPair):
    user: UserRead
