"""Small real files of each accepted type, built in memory; a commit that fails after the upload."""

import io
import zipfile
from typing import Any

from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def image_bytes(fmt: str, size: tuple[int, int] = (32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("evil.txt", "not an image")
    return out.getvalue()


def failing_second_commit() -> Any:
    """`AsyncSession.commit` for one upload: the first commit (`release_connection`, before the
    body is read) goes through, the second (the request's end, after the row is written) fails."""
    original = AsyncSession.commit
    calls: list[bool] = []

    async def commit(self: AsyncSession) -> None:
        calls.append(True)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        await original(self)

    return commit
