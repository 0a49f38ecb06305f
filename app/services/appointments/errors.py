from app.core.errors import Conflict, InvalidInput, NotFound


class AppointmentNotFound(NotFound):
    default_detail = "No such appointment."


class SlotFull(Conflict):
    code = "slot_full"
    title = "Slot full"
    default_detail = "This slot has no seat left; choose another time."


class OverlappingAppointment(Conflict):
    code = "overlapping_appointment"
    title = "Overlapping appointment"
    default_detail = "You already hold an appointment at that time."


class SlotUnavailable(InvalidInput):
    code = "slot_unavailable"
    title = "Slot unavailable"
    default_detail = "That time is not a bookable slot (off the grid, closed, past or outside the booking window)."


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "Invalid transition"


class CheckinWindow(Conflict):
    code = "checkin_window"
    title = "Outside the check-in window"
    default_detail = "Check-in opens shortly before the appointment and closes at its end."


class TooLate(Conflict):
    code = "too_late"
    title = "Too late"
    default_detail = "The appointment has started; ask the staff to change it."


class RangeTooLong(InvalidInput):
    code = "range_too_long"
    default_detail = "Ask for at most 31 days at a time."


class NotAMember(InvalidInput):
    code = "not_a_member"
    default_detail = "Appointments can only be assigned to members of their organization."


class InvalidStaff(InvalidInput):
    code = "invalid_staff"
    default_detail = "`staff_id` must be a member of the service's organization."
