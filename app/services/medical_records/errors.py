from app.core.errors import Conflict, InvalidInput, NotFound


class EntryNotFound(NotFound):
    default_detail = "No such entry."


class EntrySuperseded(Conflict):
    code = "entry_superseded"
    title = "Entry superseded"
    default_detail = "Only the current version of an entry can be amended; read it again."


class FutureEffectiveAt(InvalidInput):
    default_detail = "`effective_at` may not lie in the future."
