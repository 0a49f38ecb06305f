from app.core.errors import InvalidInput


class InvalidCode(InvalidInput):
    code = "invalid_code"
    title = "Invalid code"
    default_detail = "This is not a genuine Queueless appointment code."


class NoCodeFound(InvalidInput):
    code = "no_code_found"
    title = "No code found"
    default_detail = "No QR code could be read in the image; take the photo again, closer and steadier."
