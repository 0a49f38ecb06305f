from app.core.errors import Conflict, NotFound


class UserNotFound(NotFound):
    default_detail = "No such user."


class CannotChangeSelf(Conflict):
    code = "cannot_change_self"
    default_detail = "An administrator cannot change their own role or deactivate themselves."
