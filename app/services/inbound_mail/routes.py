import hashlib
import uuid
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import SessionDep, after_commit
from app.core.dependencies import SettingsDep
from app.core.errors import AppError, PayloadTooLarge
from app.core.schemas import json_response
from app.core.settings import Settings
from app.services.documents import service as documents_service
from app.services.documents.dependencies import Stores, StoresDep
from app.services.documents.errors import UnsupportedDocumentType
from app.services.inbound_mail import service as inbound_mail_service
from app.services.inbound_mail.dependencies import InboundOrganization
from app.services.inbound_mail.schemas import InboundResult
from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole
from app.services.tickets.dependencies import Now
from app.services.users.models import User

router = APIRouter(tags=["helpdesk"])

InboundManager = Annotated[OrgAccess, require_org_role(MemberRole.manager)]

_RAW_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "message/rfc822": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "/organizations/{organization_id}/inbound-secret",
    status_code=201,
    responses={
        403: {"description": "`forbidden`: not an owner or manager"},
        404: {"description": "`not_found`: no such organization"},
        422: {"description": "`validation_error`"},
    },
)
async def create_inbound_secret(access: InboundManager, session: SessionDep) -> Response:
    """Owners and managers: a new secret for `POST /inbound/email` (shown once; it replaces the
    last one at once)."""
    secret = await inbound_mail_service.new_secret(session, organization=access.organization)
    response = json_response(secret, status_code=201)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"An inbound message may be at most {limit} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"An inbound message may be at most {limit} bytes.")
    return bytes(body)


async def _save_attachment(
    session: AsyncSession, stores: Stores, settings: Settings, owner: User, filename: str | None, data: bytes
) -> uuid.UUID | str:
    """An attachment kept as a document of its sender, through the uploads' checks: the type from
    the content, the size limit, the sender's quota."""
    if len(data) > settings.max_upload_bytes:
        return "payload_too_large"
    try:
        content_type = documents_service.detect_type(data[:16])
    except UnsupportedDocumentType:
        return "unsupported_media_type"
    staged, path = await anyio.to_thread.run_sync(stores.staging.new_path)
    await anyio.to_thread.run_sync(path.write_bytes, data)
    after_commit(session, on_rollback=partial(stores.storage.discard, staged))
    await stores.storage.stage(staged, path)
    try:
        document, _ = await documents_service.create(
            session,
            owner=owner,
            filename=filename,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            storage_key=staged.key,
            appointment_id=None,
            requirement_id=None,
            quota_bytes=settings.document_quota_bytes,
        )
    except AppError as exc:
        await stores.storage.discard(staged)
        return exc.code
    after_commit(session, partial(stores.storage.place, staged))
    return document.id


@router.post(
    "/inbound/email",
    status_code=201,
    openapi_extra=_RAW_BODY,
    response_model=InboundResult,
    responses={
        200: {"description": "The same Message-ID again: the first answer", "model": InboundResult},
        401: {
            "description": "`not_authenticated`: neither a valid X-Inbound-Secret nor an API key; "
            "`invalid_api_key`: the key is unknown, revoked or expired; "
            "`ambiguous_credentials`: both X-API-Key and X-Inbound-Secret (or Authorization)"
        },
        403: {"description": "`insufficient_scope`: an API key without `tickets:write`"},
        413: {"description": "`payload_too_large`: larger than `INBOUND_MAX_BYTES`"},
        422: {"description": "`invalid_message`: no From address, or not a message"},
        429: {"description": "`rate_limited`: the API key's requests per minute, with `Retry-After`"},
    },
)
async def receive_inbound_email(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    stores: StoresDep,
    now: Now,
    organization: InboundOrganization,
) -> Response:
    """A mail provider's inbound webhook: the raw RFC 5322 message as the body (`message/rfc822`),
    authenticated by the organization's `X-Inbound-Secret` or by one of its API keys with
    `tickets:write` (`X-API-Key`), not both. It is appended to the ticket its
    subject names (`[#reference]`) or that its `In-Reply-To`/`References` point at, when sent by
    the ticket's requester or a member; otherwise (or if that ticket is closed: `follow_up_of`) it
    opens a ticket (`channel: email`). Attachments of the document types (PDF, PNG, JPEG, WebP,
    decided from the content) become documents of the sender's account; others are listed in
    `rejected_attachments`. The same `Message-ID` again answers 200 with the first answer."""
    raw = await _read_limited(request, settings.inbound_max_bytes)
    result, new = await inbound_mail_service.receive(
        session,
        organization=organization,
        raw=raw,
        now=now,
        reopen_days=settings.ticket_reopen_days,
        save_attachment=partial(_save_attachment, session, stores, settings),
    )
    return json_response(result, status_code=201 if new else 200)
