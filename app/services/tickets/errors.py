from app.core.errors import Conflict, InvalidInput, NotFound


class TicketNotFound(NotFound):
    default_detail = "No such ticket."


class TicketCategoryNotFound(NotFound):
    default_detail = "No such ticket category."


class TicketTransitionInvalid(Conflict):
    code = "invalid_transition"
    default_detail = "The ticket cannot move to that status from its current one."


class TicketClosed(Conflict):
    code = "ticket_closed"
    default_detail = "The ticket is closed; it can no longer change."


class TicketConversationClosed(Conflict):
    code = "conversation_closed"
    default_detail = "The ticket is closed; open a new one."


class InvalidAssignee(InvalidInput):
    code = "invalid_assignee"
    default_detail = "The assignee is not a member of the ticket's organization."


class InvalidCategory(InvalidInput):
    code = "invalid_category"
    default_detail = "The category is not one of this organization's."


class InvalidTicketDepartment(InvalidInput):
    code = "invalid_department"
    default_detail = "The department is not one of this organization's."


class InvalidTicketDocument(InvalidInput):
    code = "invalid_document"
    default_detail = "A document is not one you may attach to this ticket."


class TicketCategoryExists(Conflict):
    code = "category_exists"
    default_detail = "The organization already has a category of that name."


class TicketCategoryInUse(Conflict):
    code = "category_in_use"
    default_detail = "Tickets use this category; move them first."


class NoMemberToStandIn(Conflict):
    code = "no_members"
    default_detail = (
        "The organization has no members: a message by an API key, or from a requester without an account, "
        "is kept in a member's name."
    )
