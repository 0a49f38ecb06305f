from typing import Annotated

from pydantic import Field

from app.core.schemas import InputSchema


class CheckinCode(InputSchema):
    code: Annotated[str, Field(min_length=1, max_length=200, description="The text a scanner read from the QR code")]
