from app.core.errors import InvalidInput, NotAuthenticated


class InboundNotAuthenticated(NotAuthenticated):
    default_detail = (
        "Send the organization's inbound secret in X-Inbound-Secret, or its API key with tickets:write in X-API-Key."
    )


class InvalidMessage(InvalidInput):
    code = "invalid_message"
    title = "Invalid message"
    default_detail = "The body is not an RFC 5322 message with a From address."
