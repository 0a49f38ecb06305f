from app.core.errors import NotFound


class NotificationNotFound(NotFound):
    default_detail = "No such notification."
