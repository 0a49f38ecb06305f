from app.core.errors import InvalidInput, NotFound


class AutomationNotFound(NotFound):
    default_detail = "No such automation rule."


class UnknownTemplate(InvalidInput):
    code = "unknown_template"
    default_detail = "The e-mail template is not one of this organization's."


class RecipientMissing(InvalidInput):
    code = "recipient_missing"
    default_detail = "The ticket has no such recipient (no assignee, or a requester without an address)."
