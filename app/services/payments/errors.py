from app.core.errors import Conflict, InvalidInput, NotFound


class BookingNotActive(Conflict):
    code = "booking_not_active"
    default_detail = "Payments are recorded on reserved or sold bookings only."


class Overpayment(InvalidInput):
    code = "overpayment"
    default_detail = "The amount is more than what is outstanding."


class PaidInFuture(InvalidInput):
    default_detail = "`paid_on` cannot be after today."


class PaymentNotFound(NotFound):
    default_detail = "No such payment."


class PaymentInstalmentUnknown(InvalidInput):
    default_detail = "`instalment_id` is not an instalment of this booking."
