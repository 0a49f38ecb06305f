"""Errors of progress updates and change requests."""

from app.core.errors import Conflict, InvalidInput, NotFound, UnsupportedMediaType


class ProgressUpdateNotFound(NotFound):
    default_detail = "No such progress update or photo."


class ProgressMilestoneUnknown(InvalidInput):
    code = "validation_error"
    default_detail = "`milestone_id` is not a milestone of this project, or `percent_complete` came without one."


class UnsupportedPhoto(UnsupportedMediaType):
    default_detail = "Photos must be PNG, JPEG or WebP (decided from the content)."


class ChangeRequestNotFound(NotFound):
    default_detail = "No such change request."


class ChangeRequestTransition(Conflict):
    code = "invalid_transition"
    default_detail = "The change request's status does not allow this."


class ChangeRequestBookingNotActive(Conflict):
    code = "booking_not_active"
    default_detail = "The booking is cancelled."
