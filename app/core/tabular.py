"""Reports: their query parameters (a range of local days, the output format) and their answers as
CSV, one header row of the JSON field names, one row per item."""

import csv
import io
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel
from starlette.responses import Response


class OutputFormat(StrEnum):
    json = "json"
    csv = "csv"


ReportFrom = Annotated[
    date | None, Query(alias="from", description="First local day (inclusive); default: 29 days before `to`")
]
ReportTo = Annotated[date | None, Query(alias="to", description="Last local day (inclusive); default: today")]
ReportFormat = Annotated[
    OutputFormat, Query(alias="format", description="`csv`: one header row of the JSON field names")
]
# What every report route answers besides its gate's problems.
REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    422: {"description": "`range_too_long` (more than 366 days), `invalid_range` (`from` after `to`)"},
}


def cell(value: object) -> object:
    """A cell as text a spreadsheet will not run: names starting with = + - @ get a quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def csv_response(filename: str, rows: Sequence[BaseModel], model: type[BaseModel]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([field.alias or key for key, field in model.model_fields.items()])
    for row in rows:
        values = row.model_dump(mode="json", by_alias=True).values()
        writer.writerow([cell(value) for value in values])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
