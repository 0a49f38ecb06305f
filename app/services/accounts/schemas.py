from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field

from app.core.schemas import InputSchema, Schema
from app.services.users.schemas import Email, Password

TokenText = Annotated[str, Field(min_length=1, max_length=200)]
CodeText = Annotated[str, Field(min_length=1, max_length=32, description="A TOTP code or a recovery code")]


class PasswordResetRequest(InputSchema):
    email: Email

    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ana@example.org"}]})


class PasswordResetConfirm(InputSchema):
    token: TokenText
    new_password: Password

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"token": "kN3v0Jx8wQ2mT5rZ7yB1cD4fG6hJ9kL0pS3uV5xA8zE", "new_password": "a long, new passphrase"}
            ]
        }
    )


class EmailVerification(InputSchema):
    token: TokenText

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"token": "kN3v0Jx8wQ2mT5rZ7yB1cD4fG6hJ9kL0pS3uV5xA8zE"}]}
    )


class Accepted(Schema):
    detail: str


class TotpEnrolRequest(InputSchema):
    password: Password

    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "my current password"}]})


class TotpEnrolment(Schema):
    secret: str = Field(description="Base32, 160 bits: type it into the authenticator app if you cannot scan.")
    otpauth_uri: str
    qr_png: str = Field(description="`data:image/png;base64,...` of the QR code of `otpauth_uri`")


class TotpConfirm(InputSchema):
    code: CodeText

    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "492039"}]})


class RecoveryCodes(Schema):
    recovery_codes: list[str]


class MfaStatus(Schema):
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int


class MfaChange(InputSchema):
    password: Password
    code: CodeText

    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "my current password", "code": "492039"}]})
