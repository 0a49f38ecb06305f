import uuid
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel

from app.core.database import EngineDep, SessionDep
from app.core.dependencies import PageDep, SettingsDep
from app.core.errors import InvalidInput
from app.core.schemas import Page, json_response, page_response
from app.core.tabular import REPORT_RESPONSES, OutputFormat, ReportFormat, ReportFrom, ReportTo, csv_response
from app.services.apikeys.service import ApiKeyPrincipal
from app.services.auth.dependencies import Login
from app.services.chat.schemas import MessagePage, MessageRead
from app.services.organizations.dependencies import GATE_RESPONSES, OrgAccess
from app.services.tickets import reports as tickets_reports
from app.services.tickets import service as tickets_service
from app.services.tickets.dependencies import (
    HelpdeskManager,
    Now,
    TicketHotReader,
    TicketReader,
    TicketSender,
    TicketUser,
    TicketViewer,
    TicketWorker,
)
from app.services.tickets.models import TicketPriority, TicketStatus
from app.services.tickets.schemas import (
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    SlaExplanation,
    SlaIn,
    SlaRead,
    TicketAssign,
    TicketAssigneeReportRead,
    TicketCategoryReportRead,
    TicketCreate,
    TicketDailyRead,
    TicketEventRead,
    TicketMessageCreate,
    TicketRead,
    TicketRequesterRead,
    TicketStatusChange,
    TicketSummaryRead,
    TicketUpdate,
)

router = APIRouter(tags=["helpdesk"])

_TICKET: dict[int | str, dict[str, Any]] = {
    403: {"description": "`insufficient_scope`: an API key without `tickets:read` (`tickets:write` to change)"},
    404: {"description": "`not_found`: no such ticket, or not yours to see (another organization's, for a key)"},
}
_MEMBERS: dict[int | str, dict[str, Any]] = {
    **_TICKET,
    403: {
        "description": "`forbidden`: the requester may not do this; `insufficient_scope`: an API key without "
        "`tickets:read` (`tickets:write` to change)"
    },
}
_CHANGE: dict[int | str, dict[str, Any]] = {
    **_MEMBERS,
    409: {"description": "`ticket_closed`"},
    422: {"description": "`invalid_category`, `invalid_department`, `invalid_assignee`, `validation_error`"},
}


def _actor(caller: Login | ApiKeyPrincipal) -> tuple[tickets_service.Caller, uuid.UUID | None]:
    """Who acts and, for a user, their login (a key has none)."""
    if isinstance(caller, Login):
        return caller.user, caller.session_id
    return caller, None


@router.post(
    "/tickets",
    status_code=status.HTTP_201_CREATED,
    response_model=TicketRead | TicketRequesterRead,
    responses={
        403: {
            "description": "`forbidden`: a field only members may set; `insufficient_scope`: an API key "
            "without `tickets:write`"
        },
        404: {"description": "`not_found`: no such organization (or another organization's, for a key)"},
        409: {"description": "`no_members`: filed by a key for someone without an account, and nobody to stand in"},
        422: {
            "description": "`invalid_category`, `invalid_department`, `invalid_assignee`, `invalid_document`, "
            "`validation_error` (with a key, requester_email is required)"
        },
    },
)
async def create_ticket(data: TicketCreate, caller: TicketSender, session: SessionDep, now: Now) -> Response:
    """Open a ticket with an organization; the caller is the requester and `description` the
    thread's first message. Members may also set priority, department, assignee, tags, or open it
    for someone else by `requester_email`. Starts `new` (`open` when given an assignee).

    `document_ids`: your documents not yet attached to anything (`POST /documents` without
    `ticket_id`); they go on the first message and become the ticket's.

    With an organization's API key (`X-API-Key`, `tickets:write`, for its own organization): filed
    for `requester_email` (required; linked to that e-mail's account if there is one), `channel`
    `api`, the first message `via: api` with `author_email`."""
    actor, login_session_id = _actor(caller)
    access = await tickets_service.create(session, actor=actor, login_session_id=login_session_id, data=data, now=now)
    return json_response(access.view(), status_code=201)


@router.get("/tickets", response_model=Page[TicketRequesterRead])
async def list_my_tickets(
    user: TicketUser,
    session: SessionDep,
    page: PageDep,
    status_: Annotated[TicketStatus | None, Query(alias="status")] = None,
) -> Any:
    """The caller's own tickets (as requester), newest first."""
    rows, total = await tickets_service.get_own(session, user=user, status=status_, offset=page.offset, limit=page.size)
    items = [TicketRequesterRead.model_validate(row) for row in rows]
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.get(
    "/organizations/{organization_id}/tickets",
    response_model=Page[TicketRead],
    responses={**GATE_RESPONSES, 403: {"description": "`forbidden`: not a member"}},
)
async def list_organization_tickets(
    organization_id: uuid.UUID,
    caller: TicketHotReader,
    engine: EngineDep,
    page: PageDep,
    now: Now,
    status_: Annotated[TicketStatus | None, Query(alias="status")] = None,
    priority: TicketPriority | None = None,
    assignee_id: Annotated[str | None, Query(description="A member's id, or `none` for unassigned")] = None,
    category_id: uuid.UUID | None = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    breached: Annotated[bool | None, Query(description="Either target breached (true) or neither (false)")] = None,
    due_within_minutes: Annotated[
        int | None, Query(ge=0, le=525_600, description="A target not yet breached falls due within this many minutes")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Reference, words of the subject, requester e-mail")
    ] = None,
) -> Any:
    """Members: the organization's queue, newest first."""
    assignee: uuid.UUID | None = None
    if assignee_id is not None and assignee_id != "none":
        try:
            assignee = uuid.UUID(assignee_id)
        except ValueError:
            raise InvalidInput("`assignee_id` is a member's id or `none`.") from None
    filters = tickets_service.TicketFilters(
        status=status_,
        priority=priority,
        assignee_id=assignee,
        unassigned=assignee_id == "none",
        category_id=category_id,
        tag=tag,
        breached=breached,
        due_within_minutes=due_within_minutes,
        q=q,
    )
    items, total = await tickets_service.get_all(
        engine,
        caller=caller,
        organization_id=organization_id,
        filters=filters,
        now=now,
        offset=page.offset,
        limit=page.size,
    )
    return page_response(items, total=total, page=page.page, size=page.size)


@router.get("/tickets/{ticket_id}", response_model=TicketRead | TicketRequesterRead, responses=_TICKET)
async def get_ticket(ticket_id: uuid.UUID, caller: TicketHotReader, engine: EngineDep) -> Response:
    """The requester (their view: no tags, due times or breach flags), members, admins and the
    organization's API keys with `tickets:read`."""
    body = await tickets_service.read_json(engine, caller=caller, ticket_id=ticket_id)
    return Response(body, media_type="application/json")


@router.patch("/tickets/{ticket_id}", responses=_CHANGE)
async def update_ticket(
    ticket_id: uuid.UUID, data: TicketUpdate, caller: TicketWorker, session: SessionDep, now: Now
) -> TicketRead:
    """Members (and the organization's API keys, `tickets:write`): change subject, priority,
    category, department or tags (each change is in the history; a priority change keeps the
    business time counted and moves the due times)."""
    ticket = await tickets_service.load_for_member(session, caller=caller, ticket_id=ticket_id, lock=True)
    ticket = await tickets_service.update(session, actor=caller, ticket=ticket, data=data, now=now)
    return TicketRead.model_validate(ticket)


@router.post("/tickets/{ticket_id}/assign", responses=_CHANGE)
async def assign_ticket(
    ticket_id: uuid.UUID, data: TicketAssign, caller: TicketWorker, session: SessionDep, now: Now
) -> TicketRead:
    """Members (and the organization's API keys, `tickets:write`): give the ticket to a member of
    its organization (null unassigns); a new ticket becomes open. The assignee is notified."""
    ticket = await tickets_service.load_for_member(session, caller=caller, ticket_id=ticket_id, lock=True)
    ticket = await tickets_service.assign(session, actor=caller, ticket=ticket, assignee_id=data.assignee_id, now=now)
    return TicketRead.model_validate(ticket)


@router.post(
    "/tickets/{ticket_id}/status",
    response_model=TicketRead | TicketRequesterRead,
    responses={**_MEMBERS, 409: {"description": "`invalid_transition`"}},
)
async def change_ticket_status(
    ticket_id: uuid.UUID, data: TicketStatusChange, caller: TicketWorker, session: SessionDep, now: Now
) -> Response:
    """Members (and the organization's API keys, `tickets:write`) move the ticket: new, open,
    pending, on_hold → another of open, pending, on_hold, solved; solved → open or closed; closed
    is final. The requester may only solve."""
    access = await tickets_service.load(session, caller=caller, ticket_id=ticket_id, lock=True)
    await tickets_service.change_status(
        session, actor=caller, access=access, status=data.status, note=data.note, now=now
    )
    return json_response(access.view())


@router.get("/tickets/{ticket_id}/history", responses=_MEMBERS)
async def get_ticket_history(
    ticket_id: uuid.UUID, caller: TicketViewer, session: SessionDep, page: PageDep
) -> Page[TicketEventRead]:
    """Members and the organization's API keys (`tickets:read`): every change of the ticket,
    oldest first. A change made with a key has `actor_id` null and the key's `api_key_id`."""
    ticket = await tickets_service.load_for_member(session, caller=caller, ticket_id=ticket_id)
    rows, total = await tickets_service.get_history(session, ticket=ticket, offset=page.offset, limit=page.size)
    items = [TicketEventRead.model_validate(row) for row in rows]
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.get("/tickets/{ticket_id}/sla", responses=_MEMBERS)
async def get_ticket_sla(ticket_id: uuid.UUID, caller: TicketViewer, session: SessionDep, now: Now) -> SlaExplanation:
    """Members and the organization's API keys (`tickets:read`): the SLA clock explained, from
    creation to now: contiguous intervals cut at status changes and at the edges of business
    hours, each with its status, whether the clock ran, the kind of hours and the business minutes
    it counted; and each target's due time, met time and breach."""
    ticket = await tickets_service.load_for_member(session, caller=caller, ticket_id=ticket_id)
    return await tickets_service.explain_sla(session, ticket=ticket, now=now)


# --- the thread ---------------------------------------------------------------------------------

MessageId = Annotated[int, Query(ge=0, le=2**63 - 1)]


@router.post(
    "/tickets/{ticket_id}/messages",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "A message with this `client_id` was already stored: it is returned, nothing new"},
        **_MEMBERS,
        409: {
            "description": "`conversation_closed`: the ticket is closed (or solved past its reopen window); "
            "`no_members`: written by a key, and nobody to stand in"
        },
        422: {"description": "`invalid_document`: not one of your documents uploaded for this ticket"},
    },
)
async def create_ticket_message(
    ticket_id: uuid.UUID,
    data: TicketMessageCreate,
    caller: TicketSender,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    response: Response,
) -> MessageRead:
    """Reply in the ticket's thread (a chat conversation: its sockets get the message live).
    `internal` (members only) makes a note the requester never sees on any channel. A member's
    public reply is the first response and opens a new ticket; the requester's reply reopens a
    pending, on-hold or recently solved ticket.

    `document_ids`: documents you uploaded for this ticket (`POST /documents` with `ticket_id`);
    the requester may read them once they are on a message that is not a note. An organization's
    API key (`tickets:write`) replies as a member, `via: api`, in the name of the organization's
    first owner (messages need an account); it has no documents to attach."""
    actor, login_session_id = _actor(caller)
    access = await tickets_service.load(session, caller=actor, ticket_id=ticket_id, lock=True)
    message, created = await tickets_service.post_message(
        session,
        actor=actor,
        login_session_id=login_session_id,
        access=access,
        data=data,
        now=now,
        reopen_days=settings.ticket_reopen_days,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return message


@router.get("/tickets/{ticket_id}/messages", responses=_TICKET)
async def list_ticket_messages(
    ticket_id: uuid.UUID,
    caller: TicketViewer,
    session: SessionDep,
    before_id: MessageId | None = None,
    after_id: MessageId | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> MessagePage:
    """The thread, as chat history (ascending ids, cursors); the requester's has no internal notes.
    Also the organization's API keys (`tickets:read`)."""
    access = await tickets_service.load(session, caller=caller, ticket_id=ticket_id)
    rows, has_more = await tickets_service.get_messages(
        session, caller=caller, ticket=access.ticket, before_id=before_id, after_id=after_id, limit=limit
    )
    return MessagePage(items=[MessageRead.model_validate(row) for row in rows], has_more=has_more)


# --- categories ---------------------------------------------------------------------------------

_CATEGORY_ACCESS: dict[int | str, dict[str, Any]] = {
    403: {"description": "`forbidden`: not an owner or manager; `insufficient_scope`: a key without `tickets:write`"},
    404: {"description": "`not_found`"},
}
_CATEGORY: dict[int | str, dict[str, Any]] = {
    **_CATEGORY_ACCESS,
    409: {"description": "`category_exists` (names are unique in any case)"},
    422: {"description": "`invalid_department`"},
}


@router.post("/organizations/{organization_id}/ticket-categories", status_code=201, responses=_CATEGORY)
async def create_ticket_category(data: CategoryCreate, access: HelpdeskManager, session: SessionDep) -> CategoryRead:
    """Owners and managers: a category tickets can be filed under."""
    category = await tickets_service.create_category(session, organization=access.organization, data=data)
    return CategoryRead.model_validate(category)


@router.get(
    "/organizations/{organization_id}/ticket-categories",
    responses={404: {"description": "`not_found`: no such organization"}},
)
async def list_ticket_categories(organization_id: uuid.UUID, session: SessionDep) -> list[CategoryRead]:
    """Public: the organization's ticket categories, by name."""
    rows = await tickets_service.get_categories(session, organization_id=organization_id)
    return [CategoryRead.model_validate(row) for row in rows]


@router.patch("/ticket-categories/{category_id}", responses=_CATEGORY)
async def update_ticket_category(
    category_id: uuid.UUID, data: CategoryUpdate, caller: TicketWorker, session: SessionDep
) -> CategoryRead:
    """Owners, managers and the organization's keys with `tickets:write`: rename a category or
    move it to another department."""
    category = await tickets_service.get_managed_category(session, caller=caller, category_id=category_id)
    category = await tickets_service.update_category(session, category=category, data=data)
    return CategoryRead.model_validate(category)


@router.delete(
    "/ticket-categories/{category_id}",
    status_code=204,
    responses={**_CATEGORY_ACCESS, 409: {"description": "`category_in_use`"}},
)
async def delete_ticket_category(category_id: uuid.UUID, caller: TicketWorker, session: SessionDep) -> None:
    """Owners, managers and the organization's keys with `tickets:write`: delete a category no
    ticket uses."""
    category = await tickets_service.get_managed_category(session, caller=caller, category_id=category_id)
    await tickets_service.delete_category(session, category=category)


# --- SLA settings -------------------------------------------------------------------------------


@router.put(
    "/organizations/{organization_id}/sla",
    responses={
        **GATE_RESPONSES,
        403: {"description": "`forbidden`: not an owner or manager"},
        422: {"description": "overlapping ranges or a repeated priority are a `validation_error`"},
    },
)
async def put_sla(data: SlaIn, access: HelpdeskManager, session: SessionDep, now: Now) -> SlaRead:
    """Owners and managers: the business hours (weekly ranges in the organization's zone, `closes`
    up to `24:00`; none: round the clock), holidays and the targets per priority. A priority
    without a policy has no targets. The new calendar applies from now: time counted under the
    previous one stays counted."""
    return await tickets_service.put_sla(session, organization=access.organization, data=data, now=now)


@router.get(
    "/organizations/{organization_id}/sla",
    responses={**GATE_RESPONSES, 403: {"description": "`forbidden`: not a member"}},
)
async def get_sla(access: TicketReader, session: SessionDep) -> SlaRead:
    """Members: the SLA calendar in force and the policies."""
    return await tickets_service.get_sla(session, organization=access.organization)


# --- reports ------------------------------------------------------------------------------------

_REPORT: dict[int | str, dict[str, Any]] = {
    **REPORT_RESPONSES,
    **GATE_RESPONSES,
    403: {"description": "`forbidden`: not a member of this organization"},
}


def _report(
    name: str, period: tickets_reports.Period, rows: Sequence[BaseModel], model: type[BaseModel], output: OutputFormat
) -> Any:
    if output is OutputFormat.csv:
        return csv_response(f"tickets-{name}-{period.from_}-{period.to}.csv", rows, model)
    return rows


def _period(access: OrgAccess, from_: date | None, to: date | None) -> tickets_reports.Period:
    organization = access.organization
    return tickets_reports.period_for(
        organization_id=organization.id, timezone=organization.timezone, from_=from_, to=to
    )


@router.get("/organizations/{organization_id}/insights/tickets", response_model=TicketSummaryRead, responses=_REPORT)
async def get_ticket_summary(
    access: TicketReader,
    session: SessionDep,
    from_: ReportFrom = None,
    to: ReportTo = None,
    output: ReportFormat = OutputFormat.json,
) -> Any:
    """Members and admins: tickets created, solved and breached over a range of local days, the
    breach rate and the median business minutes to first response and to resolution."""
    period = _period(access, from_, to)
    row = TicketSummaryRead.model_validate(await tickets_reports.summary(session, period=period))
    return _report("summary", period, [row], TicketSummaryRead, output) if output is OutputFormat.csv else row


@router.get(
    "/organizations/{organization_id}/insights/tickets/daily", response_model=list[TicketDailyRead], responses=_REPORT
)
async def get_ticket_daily(
    access: TicketReader,
    session: SessionDep,
    from_: ReportFrom = None,
    to: ReportTo = None,
    output: ReportFormat = OutputFormat.json,
) -> Any:
    """One entry per local day of the range (zeros included): tickets created and solved."""
    period = _period(access, from_, to)
    rows = [TicketDailyRead.model_validate(r) for r in await tickets_reports.daily(session, period=period)]
    return _report("daily", period, rows, TicketDailyRead, output)


@router.get(
    "/organizations/{organization_id}/insights/tickets/categories",
    response_model=list[TicketCategoryReportRead],
    responses=_REPORT,
)
async def get_ticket_categories_report(
    access: TicketReader,
    session: SessionDep,
    from_: ReportFrom = None,
    to: ReportTo = None,
    output: ReportFormat = OutputFormat.json,
) -> Any:
    """The summary's figures per category (null: uncategorised), busiest first."""
    period = _period(access, from_, to)
    rows = [
        TicketCategoryReportRead.model_validate(r) for r in await tickets_reports.by_category(session, period=period)
    ]
    return _report("categories", period, rows, TicketCategoryReportRead, output)


@router.get(
    "/organizations/{organization_id}/insights/tickets/assignees",
    response_model=list[TicketAssigneeReportRead],
    responses=_REPORT,
)
async def get_ticket_assignees_report(
    access: TicketReader,
    session: SessionDep,
    from_: ReportFrom = None,
    to: ReportTo = None,
    output: ReportFormat = OutputFormat.json,
) -> Any:
    """The summary's figures per assignee (null: unassigned), busiest first."""
    period = _period(access, from_, to)
    rows = [
        TicketAssigneeReportRead.model_validate(r) for r in await tickets_reports.by_assignee(session, period=period)
    ]
    return _report("assignees", period, rows, TicketAssigneeReportRead, output)
