from app.core.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied


class InvalidApiKey(NotAuthenticated):
    code = "invalid_api_key"
    title = "Invalid API key"
    default_detail = "The API key is unknown, revoked or expired."


class AmbiguousCredentials(NotAuthenticated):
    code = "ambiguous_credentials"
    title = "Ambiguous credentials"
    default_detail = "Send either an API key or an access token, not both."


class InsufficientScope(PermissionDenied):
    code = "insufficient_scope"
    title = "Insufficient scope"
    default_detail = "This API key's scopes do not allow this operation."


class TooManyApiKeys(Conflict):
    code = "too_many_api_keys"
    title = "Too many API keys"


class ApiKeyNotFound(NotFound):
    default_detail = "No such API key in this organization."
