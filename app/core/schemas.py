"""The schema base classes and the page envelope shared by every feature."""

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


class Schema(BaseModel):
    """Output schema: built from ORM objects or rows."""

    model_config = ConfigDict(from_attributes=True)


class InputSchema(BaseModel):
    """Input schema: unknown fields are a 422, so nobody can smuggle `role` or `status` in."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _require_offset(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a time needs an offset, e.g. 2026-12-01T09:30:00+01:00")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_require_offset)]


class Page[T](BaseModel):
    items: list[T]
    total: int
    page: int
    size: int
    pages: int

    @classmethod
    def build(cls, items: Sequence[T], *, total: int, page: int, size: int) -> "Page[T]":
        return cls(items=list(items), total=total, page=page, size=size, pages=math.ceil(total / size))
