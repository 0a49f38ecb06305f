from typing import ClassVar

from app.core.errors import Conflict, InvalidInput, NotAuthenticated, PermissionDenied


class OtpRequired(NotAuthenticated):
    code = "otp_required"
    title = "One-time code required"
    default_detail = "This account uses two-factor sign-in: send `otp`, a code from the app or a recovery code."
    commit_changes: ClassVar[bool] = True  # counted as a failed sign-in, audited


class InvalidOtpLogin(NotAuthenticated):
    code = "invalid_otp"
    title = "Invalid one-time code"
    default_detail = "The one-time code is wrong, expired or already used."
    commit_changes: ClassVar[bool] = True  # counted as a failed sign-in, audited


class InvalidOtp(InvalidInput):
    code = "invalid_otp"
    title = "Invalid one-time code"
    default_detail = "The code is wrong, expired or already used."
    commit_changes: ClassVar[bool] = True  # the failure counter must survive the rollback


class MfaAlreadyEnabled(Conflict):
    code = "mfa_already_enabled"
    title = "MFA already enabled"
    default_detail = "Two-factor sign-in is already on; disable it first to enrol again."


class MfaNotEnrolled(Conflict):
    code = "mfa_not_enrolled"
    title = "Nothing to confirm"
    default_detail = "No enrolment is pending (or it expired); start again with POST /users/me/mfa/totp."


class MfaNotEnabled(Conflict):
    code = "mfa_not_enabled"
    title = "MFA not enabled"
    default_detail = "Two-factor sign-in is off for this account."


class MfaRequired(PermissionDenied):
    code = "mfa_required"
    title = "Two-factor sign-in required"
    default_detail = "This organization requires two-factor sign-in of its members; turn it on first."
