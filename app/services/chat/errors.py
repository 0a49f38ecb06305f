from app.core.errors import Conflict, InvalidInput, NotFound


class ConversationNotFound(NotFound):
    default_detail = "No such conversation."


class ConversationClosed(Conflict):
    code = "conversation_closed"
    default_detail = "This conversation is closed; start a new one."


class ConversationAppointmentNotFound(InvalidInput):
    code = "appointment_not_found"
    default_detail = "The appointment is not one of yours with this organization."
