from app.core.errors import Conflict, NotFound


class RatedAppointmentNotFound(NotFound):
    default_detail = "No such appointment of yours."


class RatingNotFound(NotFound):
    default_detail = "No such rating."


class NotCompleted(Conflict):
    code = "not_completed"
    default_detail = "Only a completed appointment can be rated."


class AlreadyRated(Conflict):
    code = "already_rated"
    default_detail = "This appointment has already been rated."


class AlreadyReplied(Conflict):
    code = "already_replied"
    default_detail = "This rating already has a reply."
