"""A project's media: glTF binary models and images, for the project or one of its units.

The type is decided from the content, never from the client's name or header: a model is a glTF
binary (magic `glTF`, version 2, and the header's declared length equal to the file's size, so a
truncated or padded file is refused); an image is PNG, JPEG or WebP. The bytes are handled by
the routes (streamed into staging, moved into the storage after the commit); this module never
touches files.
"""

import struct
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.services.documents import service as documents_service
from app.services.documents.errors import UnsupportedDocumentType
from app.services.properties import service as properties_service
from app.services.properties.errors import ProjectNotFound
from app.services.properties.models import Project, Unit
from app.services.property_media.errors import MediaNotFound, MediaUnitUnknown, UnsupportedImage, UnsupportedMedia
from app.services.property_media.models import MediaKind, ProjectMedia
from app.services.users.models import User

GLB = "model/gltf-binary"
GLB_HEADER = struct.Struct("<4sII")  # magic, version, total length (little-endian)
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
EXTENSIONS = {GLB: ".glb"}


def detect_image(head: bytes) -> str:
    """PNG, JPEG or WebP from the first bytes (the documents' sniffing, without PDF); else 415."""
    try:
        content_type = documents_service.detect_type(head)
    except UnsupportedDocumentType as exc:
        raise UnsupportedImage() from exc
    if content_type not in IMAGE_TYPES:
        raise UnsupportedImage()
    return content_type


def image_filename(filename: str | None, content_type: str) -> str:
    return documents_service.display_name(filename, content_type)


def _glb_header(head: bytes) -> tuple[int, int] | None:
    """(version, declared length) of a glTF binary header, or None if `head` is not one."""
    if len(head) < GLB_HEADER.size or head[:4] != b"glTF":
        return None
    _, version, length = GLB_HEADER.unpack_from(head)
    return version, length


def sniff_media(head: bytes) -> None:
    """Checked on the first bytes, while the upload streams: a glTF 2 header or an image."""
    header = _glb_header(head)
    if header is not None:
        if header[0] != 2:
            raise UnsupportedMedia("Only glTF version 2 binaries are accepted.")
        return
    try:
        detect_image(head)
    except UnsupportedImage as exc:
        raise UnsupportedMedia() from exc


def detect_media(head: bytes, size: int) -> tuple[MediaKind, str]:
    """The kind and content type of a whole upload of `size` bytes; 415 for anything else."""
    header = _glb_header(head)
    if header is not None:
        version, length = header
        if version != 2:
            raise UnsupportedMedia("Only glTF version 2 binaries are accepted.")
        if length != size:
            raise UnsupportedMedia(f"The glTF header declares {length} bytes but the file has {size}.")
        return MediaKind.model, GLB
    try:
        return MediaKind.image, detect_image(head)
    except UnsupportedImage as exc:
        raise UnsupportedMedia() from exc


def _filename(filename: str | None, content_type: str) -> str:
    if content_type != GLB:
        return image_filename(filename, content_type)
    name = filename or "model"
    return name if name.lower().endswith(".glb") else name[:251] + ".glb"


async def create(
    session: AsyncSession,
    *,
    project: Project,
    unit_id: uuid.UUID | None,
    title: str | None,
    filename: str | None,
    head: bytes,
    size: int,
    sha256: str,
    storage_key: str,
) -> ProjectMedia:
    kind, content_type = detect_media(head, size)
    if unit_id is not None:
        unit = await session.get(Unit, unit_id)
        if unit is None or unit.project_id != project.id:
            raise MediaUnitUnknown()
    media = ProjectMedia(
        project_id=project.id,
        unit_id=unit_id,
        organization_id=project.organization_id,
        kind=kind,
        title=title or None,
        filename=_filename(filename, content_type),
        content_type=content_type,
        size=size,
        sha256=sha256,
        storage_key=storage_key,
    )
    session.add(media)
    await session.flush()
    await session.refresh(media)
    return media


async def get_all(
    session: AsyncSession,
    *,
    project: Project,
    unit_id: uuid.UUID | None,
    kind: MediaKind | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[ProjectMedia], int]:
    query = select(ProjectMedia).where(ProjectMedia.project_id == project.id)
    if unit_id is not None:
        query = query.where(ProjectMedia.unit_id == unit_id)
    if kind is not None:
        query = query.where(ProjectMedia.kind == kind)
    order = [ProjectMedia.created_at.desc(), ProjectMedia.id.desc()]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def get_visible(
    session: AsyncSession, *, media_id: uuid.UUID, viewer: User | None, for_update: bool = False
) -> tuple[ProjectMedia, Project]:
    """The media of a published project (or any, for its staff); else 404."""
    media = await session.get(ProjectMedia, media_id, with_for_update=for_update or None)
    if media is None:
        raise MediaNotFound()
    try:
        project = await properties_service.get_visible_project(session, project_id=media.project_id, viewer=viewer)
    except ProjectNotFound as exc:
        raise MediaNotFound() from exc
    return media, project


async def delete(session: AsyncSession, *, media: ProjectMedia) -> str:
    """Remove the row; its storage key comes back, to delete once this commits."""
    key = media.storage_key
    await session.delete(media)
    await session.flush()
    return key


async def kept_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """Which of these storage keys belong to a media row (for the start-up sweep)."""
    if not keys:
        return set()
    return set(await session.scalars(select(ProjectMedia.storage_key).where(ProjectMedia.storage_key.in_(keys))))
