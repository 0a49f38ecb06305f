from typing import ClassVar

from app.core.errors import Conflict, InvalidInput, NotAuthenticated, PermissionDenied


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    title = "Invalid credentials"
    default_detail = "The e-mail or the password is wrong."
    # The failure counters written before raising must survive the rollback of the request.
    commit_changes: ClassVar[bool] = True


class InvalidRefreshToken(NotAuthenticated):
    code = "invalid_refresh_token"
    title = "Invalid refresh token"
    default_detail = "The refresh token is invalid, expired or already used; sign in again."
    commit_changes: ClassVar[bool] = True  # a reuse revokes the whole login, error or not


class AccountDisabled(PermissionDenied):
    code = "account_disabled"
    title = "Account disabled"
    default_detail = "This account has been deactivated."
    commit_changes: ClassVar[bool] = True  # the refused sign-in's audit entry


class EmailTaken(Conflict):
    code = "email_taken"
    title = "E-mail taken"
    default_detail = "An account with this e-mail already exists."
    commit_changes: ClassVar[bool] = True  # the registration still counts against the address


class WeakPassword(InvalidInput):
    code = "weak_password"
    title = "Weak password"
    commit_changes: ClassVar[bool] = True  # raised before any write but the throttle counter


class WrongPassword(InvalidInput):
    code = "wrong_password"
    title = "Wrong password"
    default_detail = "The current password is wrong."
    commit_changes: ClassVar[bool] = True  # the failure counter must survive the rollback


class LoginEnded(NotAuthenticated):
    default_detail = "This login has ended; sign in again."
