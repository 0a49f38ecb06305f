from app.core.errors import InvalidInput, NotFound


class ServiceNotFound(NotFound):
    default_detail = "No such service."


class OverlappingOpeningHours(InvalidInput):
    code = "overlapping_hours"
    default_detail = "Two opening ranges of the same weekday overlap."


class SlotShorterThanDuration(InvalidInput):
    code = "slot_too_short"
    default_detail = "Slots may not be shorter than the service's duration (slots of one service never overlap)."


class UnknownRequirement(InvalidInput):
    code = "unknown_requirement"
    default_detail = "A requirement id does not belong to this service."
