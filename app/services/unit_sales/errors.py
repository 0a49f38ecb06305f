"""Errors of holds, payment plans and unit bookings."""

from app.core.errors import Conflict, InvalidInput, NotFound


class UnitUnavailable(Conflict):
    code = "unit_unavailable"
    default_detail = "The unit is held or booked."


class HoldLimit(Conflict):
    code = "hold_limit"
    default_detail = "You already hold as many units as this builder allows at once."


class HoldNotFound(NotFound):
    default_detail = "No such hold."


class HoldNotActive(Conflict):
    code = "hold_not_active"
    default_detail = "The hold is not active."


class HoldExpired(Conflict):
    code = "hold_expired"
    default_detail = "The hold has expired."


class PercentTotal(InvalidInput):
    code = "percent_total"
    default_detail = "The instalments' percents must sum to exactly 100."


class InvalidPlan(InvalidInput):
    code = "invalid_payment_plan"
    default_detail = "The payment plan is inactive or belongs to another project."


class PlanNotFound(NotFound):
    default_detail = "No such payment plan."


class MilestoneUnknown(InvalidInput):
    code = "validation_error"
    default_detail = "`milestone_id` is not a milestone of this project."


class BookingNotFound(NotFound):
    default_detail = "No such booking."


class InstalmentNotFound(NotFound):
    default_detail = "No such instalment."


class BookingTransition(Conflict):
    code = "invalid_transition"
    default_detail = "The booking's status does not allow this."


class DownPaymentMissing(Conflict):
    code = "down_payment_missing"
    default_detail = "The first instalment must be paid before the sale is confirmed."


class PaymentsRecorded(Conflict):
    code = "payments_recorded"
    default_detail = "Payments are recorded on this booking; ask the builder to cancel it."
