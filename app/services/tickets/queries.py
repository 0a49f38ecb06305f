"""The staff queue's page as JSON written by PostgreSQL: the ticket bodies (as
`TicketRead.model_dump_json()` writes them) and the total, in one round trip, with no row decoding,
validation or serialisation per ticket in Python."""

from typing import Any

from sqlalchemy import Select, Text, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from app.core.json_sql import json_object
from app.services.tickets.models import Ticket
from app.services.tickets.schemas import TicketRead

BODY_JSON = cast(json_object(TicketRead, dict(Ticket.__table__.c.items())), Text)


def page_json(filtered: Select[Any], *, offset: int, limit: int) -> Select[Any]:
    """One row: `total` (what `filtered` matches) and `items` (the page's bodies, comma-separated,
    newest first)."""
    rows = (
        filtered.with_only_columns(BODY_JSON.label("body"), Ticket.created_at, Ticket.id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .offset(offset)
        .limit(limit)
        .subquery("page")
    )
    total = select(func.count()).select_from(filtered.with_only_columns(Ticket.id).subquery()).scalar_subquery()
    items = func.string_agg(
        rows.c.body, aggregate_order_by(literal_column("','"), rows.c.created_at.desc(), rows.c.id.desc())
    )
    return select(total.label("total"), func.coalesce(items, "").label("items")).select_from(rows)
