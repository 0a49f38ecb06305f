from app.core.errors import InvalidInput

MAX_DAYS = 366


class InsightsRangeTooLong(InvalidInput):
    code = "range_too_long"
    default_detail = f"A date range covers at most {MAX_DAYS} days."
