"""The schema base classes and the page envelope shared by every feature."""

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from starlette.responses import Response


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


def json_response(model: BaseModel, *, status_code: int = 200) -> Response:
    """`model` serialized once, by pydantic-core.

    A route that returns its model lets FastAPI dump it to Python objects, validate those against
    the response model and serialize them: three passes where one will do. Hot paths declare
    `response_model=` (for the docs) and return this instead.
    """
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def page_count(total: int, size: int) -> int:
    return math.ceil(total / size)


def page_response(items: str, *, total: int, page: int, size: int) -> Response:
    """A `Page` whose items are already JSON text, comma-separated (written by PostgreSQL on a hot path)."""
    envelope = f'"total":{total},"page":{page},"size":{size},"pages":{page_count(total, size)}'
    return Response(f'{{"items":[{items}],{envelope}}}', media_type="application/json")


class Page[T](BaseModel):
    items: list[T]
    total: int
    page: int
    size: int
    pages: int

    @classmethod
    def build(cls, items: Sequence[T], *, total: int, page: int, size: int) -> "Page[T]":
        return cls(items=list(items), total=total, page=page, size=size, pages=page_count(total, size))
