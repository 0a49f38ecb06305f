import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from functools import partial
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Request, Response, status
from fastapi.responses import StreamingResponse

from app.core.database import SessionDep, after_commit, release_connection
from app.core.dependencies import PageDep, SettingsDep
from app.core.errors import PayloadTooLarge
from app.core.schemas import Page
from app.core.uploads import FileSink, Limit, openapi_form, optional_uuid, read_form
from app.services.auth.dependencies import CurrentUser
from app.services.documents import service as documents_service
from app.services.documents.dependencies import DocumentReader, DocumentReviewer, OrgDocumentReader, StoresDep
from app.services.documents.errors import ContentMissing, QuotaExceeded
from app.services.documents.models import DocumentStatus
from app.services.documents.schemas import DocumentRead, DocumentReview
from app.services.organizations.dependencies import GATE_RESPONSES

router = APIRouter(tags=["documents"])

UPLOAD_BODY = openapi_form(
    "PDF, PNG, JPEG or WebP",
    appointment_id={"type": "string", "format": "uuid"},
    requirement_id={"type": "string", "format": "uuid"},
    ticket_id={
        "type": "string",
        "format": "uuid",
        "description": "A helpdesk ticket you opened or of your organization: the document is for its thread",
    },
)


@router.post(
    "/documents",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=UPLOAD_BODY,
    responses={
        409: {"description": "`requirement_approved`: the requirement already has an approved document"},
        413: {"description": "`payload_too_large` (limit `MAX_UPLOAD_BYTES`), `quota_exceeded`"},
        415: {"description": "`unsupported_media_type`: not PDF, PNG, JPEG or WebP (decided from the content)"},
        422: {
            "description": "`invalid_appointment`, `invalid_requirement`, `requirement_needs_appointment`, "
            "`invalid_ticket`"
        },
    },
)
async def upload_document(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    stores: StoresDep,
    settings: SettingsDep,
) -> DocumentRead:
    """Upload a document (multipart `file`), optionally for one of your appointments and one of its
    service's requirements. A new upload for a requirement replaces its pending or rejected document.

    Or for a helpdesk ticket (`ticket_id`: one you opened, or one of your organization's), to attach
    to a message of its thread (`document_ids`). The ticket's members may read it; its requester
    may once it is on a message that is not an internal note.

    The body is checked while it arrives: past the size limit the request ends at once with 413,
    and nothing is kept of a failed upload.
    """
    remaining = await documents_service.upload_allowance(
        session, owner_id=user.id, quota_bytes=settings.document_quota_bytes
    )
    await release_connection(session)
    limits = [
        Limit(
            settings.max_upload_bytes,
            lambda: PayloadTooLarge(f"A document may be at most {settings.max_upload_bytes} bytes."),
        ),
        Limit(remaining, QuotaExceeded),
    ]
    staged, path = await anyio.to_thread.run_sync(stores.staging.new_path)
    received, values = await read_form(
        request,
        fields=("appointment_id", "requirement_id", "ticket_id"),
        limits=limits,
        sink=FileSink(path),
        sniff=documents_service.detect_type,
    )

    after_commit(session, on_rollback=partial(stores.storage.discard, staged))
    # Staged before the row is written (an upload to the bucket, for an object store): once the
    # row commits, its bytes are where any process can place them. Before `create`, too, so that
    # no database connection or lock is held while the bytes travel.
    await stores.storage.stage(staged, path)
    document, replaced_key = await documents_service.create(
        session,
        owner=user,
        filename=received.filename,
        content_type=documents_service.detect_type(received.head),
        size=received.size,
        sha256=received.sha256,
        storage_key=staged.key,
        appointment_id=optional_uuid(values, "appointment_id"),
        requirement_id=optional_uuid(values, "requirement_id"),
        quota_bytes=settings.document_quota_bytes,
        ticket_id=optional_uuid(values, "ticket_id"),
    )
    after_commit(session, partial(stores.storage.place, staged))
    if replaced_key is not None:
        after_commit(session, partial(stores.storage.delete, replaced_key))
    return DocumentRead.model_validate(document)


@router.get("/documents")
async def list_documents(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    status: DocumentStatus | None = None,
    appointment_id: uuid.UUID | None = None,
) -> Page[DocumentRead]:
    """Your own documents, newest first."""
    rows, total = await documents_service.get_own(
        session, owner=user, status=status, appointment_id=appointment_id, offset=page.offset, limit=page.size
    )
    return Page.build([DocumentRead.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)


@router.get("/organizations/{organization_id}/documents", responses=GATE_RESPONSES)
async def list_organization_documents(
    access: OrgDocumentReader,
    session: SessionDep,
    page: PageDep,
    status: DocumentStatus | None = None,
    appointment_id: uuid.UUID | None = None,
) -> Page[DocumentRead]:
    """Staff: the organization's documents, oldest first (`?status=pending` is the review queue).
    Replaced documents are listed only with `?status=replaced`."""
    rows, total = await documents_service.get_for_organization(
        session,
        organization=access.organization,
        status=status,
        appointment_id=appointment_id,
        offset=page.offset,
        limit=page.size,
    )
    return Page.build([DocumentRead.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)


@router.get("/documents/{document_id}", responses={404: {"description": "`not_found`"}})
async def get_document(document_id: uuid.UUID, user: DocumentReader, session: SessionDep) -> DocumentRead:
    """A document's metadata: its owner, staff of the linked organization, or an admin. A ticket's
    attachment: also the ticket's members and, once it is on a public message, its requester."""
    return DocumentRead.model_validate(await documents_service.get_visible(session, document_id=document_id, user=user))


@router.get(
    "/documents/{document_id}/content",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        404: {"description": "`not_found`, `content_missing`"},
        410: {"description": "`document_replaced`: a later upload replaced it and its file was removed"},
    },
)
async def download_document(
    document_id: uuid.UUID, user: DocumentReader, session: SessionDep, stores: StoresDep
) -> StreamingResponse:
    """Download the file (as an attachment, with its sniffed type): its owner, staff of the linked
    organization, or an admin; a ticket's attachment as `GET /documents/{id}` says."""
    document = await documents_service.get_visible(session, document_id=document_id, user=user)
    # The file is opened before the response starts: a replacement committed meanwhile makes this
    # a 404, not a body cut short after its headers (an open file stays readable once unlinked).
    chunks = stores.storage.open(documents_service.content_key(document))
    try:
        first = await anext(chunks, b"")
    except FileNotFoundError as exc:
        raise ContentMissing() from exc
    ascii_name = document.filename.encode("ascii", "replace").decode().replace("?", "_").replace("\\", "_")
    headers = {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(document.filename)}",
        "Content-Length": str(document.size),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "ETag": f'"{document.sha256}"',
    }
    return StreamingResponse(_prepended(first, chunks), media_type=document.content_type, headers=headers)


async def _prepended(first: bytes, rest: AsyncGenerator[bytes]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()  # a client gone mid-download must not leave the file open


@router.delete(
    "/documents/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        403: {"description": "`forbidden`: not the owner"},
        404: {"description": "`not_found`"},
        409: {"description": "`document_not_pending`"},
    },
)
async def delete_document(
    document_id: uuid.UUID, user: CurrentUser, session: SessionDep, stores: StoresDep
) -> Response:
    """The owner deletes a document while it is pending; the file goes once the deletion commits."""
    document = await documents_service.get_visible(session, document_id=document_id, user=user, for_update=True)
    key = await documents_service.delete(session, document=document, actor=user)
    after_commit(session, partial(stores.storage.delete, key))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/documents/{document_id}/review",
    responses={
        404: {"description": "`not_found`"},
        409: {"description": "`already_reviewed`"},
        422: {"description": "`note_required`"},
    },
)
async def review_document(
    document_id: uuid.UUID, data: DocumentReview, user: DocumentReviewer, session: SessionDep
) -> DocumentRead:
    """Staff of the linked organization (or an admin): approve, or reject with a note."""
    document = await documents_service.get_for_review(session, document_id=document_id, user=user)
    document = await documents_service.review(
        session, document=document, actor=user, decision=data.decision, note=data.note
    )
    return DocumentRead.model_validate(document)
