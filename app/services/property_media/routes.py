import uuid
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app.core.database import SessionDep, after_commit, release_connection
from app.core.dependencies import PageDep, SettingsDep
from app.core.errors import PayloadTooLarge, PermissionDenied
from app.core.schemas import Page
from app.core.uploads import FileSink, Limit, openapi_form, optional_uuid, read_form
from app.services.auth.dependencies import CurrentUser
from app.services.properties import service as properties_service
from app.services.properties.dependencies import ProjectStaff, Viewer
from app.services.property_media import service as media_service
from app.services.property_media.content import file_response
from app.services.property_media.dependencies import MediaStoresDep
from app.services.property_media.models import MediaKind
from app.services.property_media.schemas import MediaRead

router = APIRouter(tags=["property"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "`not_found`"}}
UPLOAD_BODY = openapi_form(
    "A glTF binary model (.glb, version 2) or a PNG, JPEG or WebP image",
    unit_id={"type": "string", "format": "uuid", "description": "One of the project's units"},
    title={"type": "string", "maxLength": 200},
)
TITLE_LENGTH = 200


@router.post(
    "/projects/{project_id}/media",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=UPLOAD_BODY,
    responses={
        **_NOT_FOUND,
        403: {"description": "`forbidden`"},
        413: {"description": "`payload_too_large` (limit `MAX_UPLOAD_BYTES`)"},
        415: {"description": "`unsupported_media_type`: neither a glTF 2 binary nor a PNG, JPEG or WebP image"},
        422: {"description": "`validation_error`: e.g. a unit_id that is not a unit of the project"},
    },
)
async def upload_media(
    request: Request,
    access: ProjectStaff,
    session: SessionDep,
    stores: MediaStoresDep,
    settings: SettingsDep,
) -> MediaRead:
    """Members: a 3D model or an image of the project, or of one of its units (multipart `file`,
    `unit_id?`, `title?`).

    The type is decided from the content: a glTF binary (magic `glTF`, version 2, header length equal
    to the size) is a `model` served as `model/gltf-binary`; PNG, JPEG and WebP are images. Anything
    else, a truncated model included, is a 415; past `MAX_UPLOAD_BYTES` the upload ends at once with
    413. Nothing is kept of a refused upload.
    """
    await release_connection(session)
    limit = Limit(
        settings.max_upload_bytes, lambda: PayloadTooLarge(f"A file may be at most {settings.max_upload_bytes} bytes.")
    )
    staged, path = await anyio.to_thread.run_sync(stores.staging.new_path)
    received, values = await read_form(
        request,
        fields=("unit_id", "title"),
        limits=[limit],
        sink=FileSink(path),
        sniff=media_service.sniff_media,
        field_lengths={"title": TITLE_LENGTH},
    )
    after_commit(session, on_rollback=partial(stores.storage.discard, staged))
    await stores.storage.stage(staged, path)  # before the row, as documents do
    media = await media_service.create(
        session,
        project=access.project,
        unit_id=optional_uuid(values, "unit_id"),
        title=values.get("title"),
        filename=received.filename,
        head=received.head,
        size=received.size,
        sha256=received.sha256,
        storage_key=staged.key,
    )
    after_commit(session, partial(stores.storage.place, staged))
    return MediaRead.model_validate(media)


@router.get("/projects/{project_id}/media", responses=_NOT_FOUND)
async def list_media(
    project_id: uuid.UUID,
    session: SessionDep,
    page: PageDep,
    viewer: Viewer,
    unit_id: uuid.UUID | None = None,
    kind: Annotated[MediaKind | None, Query()] = None,
) -> Page[MediaRead]:
    """Public once the project is published: its models and images, newest first."""
    project = await properties_service.get_visible_project(session, project_id=project_id, viewer=viewer)
    rows, total = await media_service.get_all(
        session, project=project, unit_id=unit_id, kind=kind, offset=page.offset, limit=page.size
    )
    return Page.build([MediaRead.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)


@router.get(
    "/media/{media_id}/content",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"model/gltf-binary": {}, "image/png": {}, "image/jpeg": {}, "image/webp": {}}},
        404: {"description": "`not_found`, `content_missing`"},
    },
)
async def download_media(
    media_id: uuid.UUID, session: SessionDep, viewer: Viewer, stores: MediaStoresDep
) -> StreamingResponse:
    """Public once the project is published: the file, with its type (`model/gltf-binary` for a model)."""
    media, project = await media_service.get_visible(session, media_id=media_id, viewer=viewer)
    return await file_response(
        stores.storage,
        media.storage_key,
        content_type=media.content_type,
        size=media.size,
        sha256=media.sha256,
        filename=media.filename,
        cache="public, max-age=300" if project.published else "private, no-store",
    )


@router.delete(
    "/media/{media_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_NOT_FOUND, 403: {"description": "`forbidden`"}},
)
async def delete_media(media_id: uuid.UUID, user: CurrentUser, session: SessionDep, stores: MediaStoresDep) -> Response:
    """Members: remove a model or image; its file goes once the removal commits."""
    media, project = await media_service.get_visible(session, media_id=media_id, viewer=user, for_update=True)
    if not await properties_service.is_staff(session, user=user, organization_id=project.organization_id):
        raise PermissionDenied()
    key = await media_service.delete(session, media=media)
    after_commit(session, partial(stores.storage.delete, key))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
