"""Errors of progress updates."""

from app.core.errors import InvalidInput, NotFound


class ProgressUpdateNotFound(NotFound):
    default_detail = "No such progress update or photo."


class ProgressMilestoneUnknown(InvalidInput):
    code = "validation_error"
    default_detail = "`milestone_id` is not a milestone of this project, or `percent_complete` came without one."
