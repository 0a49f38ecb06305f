from app.core.errors import Conflict, InvalidInput


class InvalidAccountToken(InvalidInput):
    code = "invalid_token"
    title = "Invalid token"
    default_detail = "The link is invalid, expired, replaced by a newer one or already used."


class AlreadyVerified(Conflict):
    code = "already_verified"
    title = "Already verified"
    default_detail = "This e-mail address is already verified."
