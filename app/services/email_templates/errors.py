from app.core.errors import InvalidInput, NotFound


class EmailTemplateNotFound(NotFound):
    default_detail = "No such e-mail template."


class UnknownPlaceholder(InvalidInput):
    code = "unknown_placeholder"
    title = "Unknown placeholder"
    default_detail = "The template uses a placeholder this e-mail does not have."


class InvalidTemplateKey(InvalidInput):
    code = "invalid_template_key"
    default_detail = "A template key is 3 to 64 characters: a lower-case letter, then letters, digits or _."


class InvalidPreviewTicket(InvalidInput):
    code = "invalid_ticket"
    default_detail = "The ticket is not one of this organization's."
