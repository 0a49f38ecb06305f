"""Errors of a project's media."""

from app.core.errors import InvalidInput, NotFound, UnsupportedMediaType


class MediaNotFound(NotFound):
    default_detail = "No such media."


class UnsupportedMedia(UnsupportedMediaType):
    default_detail = (
        "Send a glTF binary model (.glb: magic `glTF`, version 2, declared length equal to the file's size)"
        " or a PNG, JPEG or WebP image (decided from the content)."
    )


class UnsupportedImage(UnsupportedMediaType):
    default_detail = "Only PNG, JPEG and WebP images are accepted (decided from the content)."


class MediaUnitUnknown(InvalidInput):
    code = "validation_error"
    default_detail = "`unit_id` is not a unit of this project."
