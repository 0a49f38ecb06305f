from app.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType


class TextTooLong(InvalidInput):
    code = "text_too_long"
    title = "Text too long"
    default_detail = "The text does not fit in a QR code; shorten it."


class NotAnImage(UnsupportedMediaType):
    default_detail = "Send a PNG, JPEG, WebP, GIF, BMP or TIFF image."


class ImageTooLarge(PayloadTooLarge):
    default_detail = "The image has too many pixels."


class InvalidCodeSignature(Exception):
    pass
