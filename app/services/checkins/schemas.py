from typing import Annotated

from pydantic import ConfigDict, Field

from app.core.schemas import InputSchema


class CheckinCode(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"code": "QL1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}
    )

    code: Annotated[str, Field(min_length=1, max_length=200, description="The text a scanner read from the QR code")]
