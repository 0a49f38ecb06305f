"""JSON written by PostgreSQL exactly as the API's schemas write it, for statements that build a
body or a live frame around values only the database knows (a new id, `now()`)."""

from collections.abc import Mapping
from itertools import chain
from typing import Any

from pydantic import BaseModel
from sqlalchemy import DateTime, case, func
from sqlalchemy.sql.elements import ColumnElement


def iso_timestamp(moment: Any) -> ColumnElement[str]:
    """A timestamp written as pydantic writes the `datetime` asyncpg returns (UTC): `Z`, and six
    digits of fraction only when there is one. NULL stays NULL."""
    whole = func.date_trunc("second", moment) == moment
    form = case((whole, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), else_='YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    return func.to_char(func.timezone("UTC", moment), form)


def json_value(value: Any) -> Any:
    """`value` as its schema field serialises: timestamps in the API's form, the rest as they are."""
    return iso_timestamp(value) if isinstance(getattr(value, "type", None), DateTime) else value


def json_object(schema: type[BaseModel], values: Mapping[str, Any]) -> ColumnElement[Any]:
    """`json_build_object` of `schema`'s fields in their order (what `model_dump_json` writes, up
    to spacing), each from `values[field]`."""
    return func.json_build_object(
        *chain.from_iterable((name, json_value(values[name])) for name in schema.model_fields)
    )
