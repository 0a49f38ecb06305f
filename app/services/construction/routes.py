import uuid
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import StreamingResponse

from app.core.database import SessionDep, after_commit, release_connection
from app.core.dependencies import PageDep, SettingsDep
from app.core.errors import PayloadTooLarge
from app.core.schemas import Page
from app.core.uploads import FileSink, Limit, invalid_form, read_form_files
from app.services.auth.dependencies import CurrentUser
from app.services.construction import service as construction_service
from app.services.construction.schemas import ProgressUpdateRead
from app.services.documents.storage import Staged
from app.services.properties.dependencies import Now, ProjectStaff
from app.services.property_media import service as media_service
from app.services.property_media.content import file_response
from app.services.property_media.dependencies import MediaStoresDep

router = APIRouter(tags=["property"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "`not_found`"}}
_STAFF: dict[int | str, dict[str, Any]] = {**_NOT_FOUND, 403: {"description": "`forbidden`"}}
_MOVE: dict[int | str, dict[str, Any]] = {**_STAFF, 409: {"description": "`invalid_transition`"}}
MAX_PHOTOS = 10
BODY_LENGTH = 5000
PROGRESS_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["body"],
                    "properties": {
                        "body": {"type": "string", "maxLength": BODY_LENGTH},
                        "milestone_id": {"type": "string", "format": "uuid"},
                        "percent_complete": {"type": "integer", "minimum": 0, "maximum": 100},
                        "files": {
                            "type": "array",
                            "maxItems": MAX_PHOTOS,
                            "items": {"type": "string", "format": "binary"},
                            "description": "0-10 photos: PNG, JPEG or WebP",
                        },
                    },
                }
            }
        },
    }
}


# --- progress updates -----------------------------------------------------------------------------


def _form_uuid(values: dict[str, str], name: str) -> uuid.UUID | None:
    value = values.get(name)
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise invalid_form(name, "not a valid UUID", "uuid_parsing") from exc


def _form_percent(values: dict[str, str]) -> int | None:
    value = values.get("percent_complete")
    if not value:
        return None
    if not value.isdigit() or int(value) > 100:
        raise invalid_form("percent_complete", "an integer from 0 to 100", "int_parsing")
    return int(value)


@router.post(
    "/projects/{project_id}/progress-updates",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=PROGRESS_FORM,
    responses={
        **_STAFF,
        413: {"description": "`payload_too_large` (each photo at most `MAX_UPLOAD_BYTES`)"},
        415: {"description": "`unsupported_media_type`: a photo is not PNG, JPEG or WebP (decided from the content)"},
        422: {"description": "`validation_error`"},
    },
)
async def create_progress_update(
    request: Request,
    access: ProjectStaff,
    session: SessionDep,
    stores: MediaStoresDep,
    settings: SettingsDep,
    now: Now,
) -> ProgressUpdateRead:
    """Members: news of the works (multipart `body`, `milestone_id?`, `percent_complete?` which sets
    that milestone's percent, and 0-10 photos as `files`).

    Each photo is checked while it arrives, like documents: past `MAX_UPLOAD_BYTES` the request ends
    with 413, a file that is not PNG, JPEG or WebP with 415, and nothing is kept of a refused upload.
    Every customer with an active booking in the project gets one `progress_update` notification.
    """
    await release_connection(session)
    limit = Limit(
        settings.max_upload_bytes, lambda: PayloadTooLarge(f"A photo may be at most {settings.max_upload_bytes} bytes.")
    )
    staged: list[tuple[Staged, Path]] = []

    def new_sink() -> FileSink:
        item, path = stores.staging.new_path()
        staged.append((item, path))
        return FileSink(path)

    received, values = await read_form_files(
        request,
        file_field="files",
        fields=("body", "milestone_id", "percent_complete"),
        limits=[limit],
        new_sink=new_sink,
        sniff=media_service.detect_image,
        max_files=MAX_PHOTOS,
        field_lengths={"body": BODY_LENGTH * 4},  # bytes of UTF-8; the characters are counted below
    )
    for item, path in staged:
        after_commit(session, on_rollback=partial(stores.storage.discard, item))
        await stores.storage.stage(item, path)
    body = values.get("body", "")
    if not body:
        raise invalid_form("body", "a text is required", "missing")
    if len(body) > BODY_LENGTH:
        raise invalid_form("body", f"at most {BODY_LENGTH} characters", "string_too_long")
    photos = []
    for (item, _), file in zip(staged, received, strict=True):
        content_type = media_service.detect_image(file.head)
        photos.append(
            construction_service.PhotoIn(
                filename=media_service.image_filename(file.filename, content_type),
                content_type=content_type,
                size=file.size,
                sha256=file.sha256,
                storage_key=item.key,
            )
        )
    update = await construction_service.create_update(
        session,
        project=access.project,
        author=access.user,
        body=body,
        milestone_id=_form_uuid(values, "milestone_id"),
        percent_complete=_form_percent(values),
        photos=photos,
        now=now,
    )
    for item, _ in staged:
        after_commit(session, partial(stores.storage.place, item))
    return (await construction_service.to_reads(session, [update]))[0]


@router.get("/projects/{project_id}/progress-updates", responses=_STAFF)
async def list_progress_updates(
    project_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ProgressUpdateRead]:
    """The builder's staff and the project's buyers (an active booking): its updates, newest first."""
    project = await construction_service.require_progress_reader(session, project_id=project_id, user=user)
    rows, total = await construction_service.get_updates(session, project=project, offset=page.offset, limit=page.size)
    items = await construction_service.to_reads(session, rows)
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.get(
    "/progress-updates/{progress_update_id}/photos/{photo_id}",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
        403: {"description": "`forbidden`"},
        404: {"description": "`not_found`, `content_missing`"},
    },
)
async def download_progress_photo(
    progress_update_id: uuid.UUID, photo_id: uuid.UUID, user: CurrentUser, session: SessionDep, stores: MediaStoresDep
) -> StreamingResponse:
    """The builder's staff and the project's buyers: the photo, with its type."""
    photo = await construction_service.get_photo(
        session, progress_update_id=progress_update_id, photo_id=photo_id, user=user
    )
    return await file_response(
        stores.storage,
        photo.storage_key,
        content_type=photo.content_type,
        size=photo.size,
        sha256=photo.sha256,
        filename=photo.filename,
        cache="private, max-age=300",
    )
