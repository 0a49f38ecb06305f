from app.core.errors import Conflict, NotFound


class ChangeRequestNotFound(NotFound):
    default_detail = "No such change request."


class ChangeTransition(Conflict):
    code = "invalid_transition"
    default_detail = "The change request's status does not allow this."


class ChangeBookingNotActive(Conflict):
    code = "booking_not_active"
    default_detail = "Changes are requested on reserved or sold bookings only."
