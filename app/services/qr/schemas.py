from typing import Annotated

from pydantic import ConfigDict, Field

from app.core.schemas import InputSchema, Schema
from app.services.qr.images import ImageKind

MAX_SCALE = 20


class QrCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"text": "https://riverton.example/queue", "format": "svg", "scale": 6}]}
    )

    text: Annotated[str, Field(min_length=1, max_length=1000)]
    format: ImageKind = ImageKind.png
    scale: Annotated[int, Field(ge=1, le=MAX_SCALE, description="Pixels per module")] = 8


class DecodedCode(Schema):
    text: str
    format: str = Field(description="zxing-cpp's name of the symbology: QRCode, EAN13, Code128, DataMatrix, ...")


class DecodeResult(Schema):
    codes: list[DecodedCode]
