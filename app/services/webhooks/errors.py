from app.core.errors import InvalidInput, NotFound


class WebhookNotFound(NotFound):
    default_detail = "No such webhook."


class WebhookDeliveryNotFound(NotFound):
    default_detail = "No such delivery."


class UrlNotAllowed(InvalidInput):
    code = "url_not_allowed"
    title = "URL not allowed"
    default_detail = "Webhooks may only call public http(s) addresses."
