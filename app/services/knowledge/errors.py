from app.core.errors import NotFound


class ArticleNotFound(NotFound):
    default_detail = "No such article."
