from datetime import datetime
from typing import Annotated

from pydantic import Field

from app.core.schemas import InputSchema, Schema
from app.services.users.schemas import Email, Password

TokenText = Annotated[str, Field(min_length=1, max_length=200)]
CodeText = Annotated[str, Field(min_length=1, max_length=32, description="A TOTP code or a recovery code")]


class PasswordResetRequest(InputSchema):
    email: Email


class PasswordResetConfirm(InputSchema):
    token: TokenText
    new_password: Password


class EmailVerification(InputSchema):
    token: TokenText


class Accepted(Schema):
    detail: str


class TotpEnrolRequest(InputSchema):
    password: Password


class TotpEnrolment(Schema):
    secret: str = Field(description="Base32, 160 bits: type it into the authenticator app if you cannot scan.")
    otpauth_uri: str
    qr_png: str = Field(description="`data:image/png;base64,...` of the QR code of `otpauth_uri`")


class TotpConfirm(InputSchema):
    code: CodeText


class RecoveryCodes(Schema):
    recovery_codes: list[str]


class MfaStatus(Schema):
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int


class MfaChange(InputSchema):
    password: Password
    code: CodeText
