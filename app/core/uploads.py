"""Reading a multipart upload as it arrives, with limits enforced while the body streams in.

Starlette's `request.form()` spools the whole body before a handler can look at it, so a 2 GiB
upload would reach the disk before a size check ran. Here the body is fed chunk by chunk to
python-multipart's streaming parser: `Content-Length` is checked before anything is read, every
byte is counted as it arrives, the file's first bytes are sniffed as soon as they are in, and the
first limit passed ends the request at once. The file part goes to a sink (a staged file on disk
for documents, memory for images to decode); whatever fails, a partial file is removed.

This module parses HTTP, so it is used by routes, not by service modules.
"""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import anyio.to_thread
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from app.core.errors import AppError, UnsupportedMediaType

# Room for the multipart framing and the small form fields around the file.
FORM_OVERHEAD = 64 * 1024
FLUSH_SIZE = 1024 * 1024
SNIFF_SIZE = 16
MAX_FIELD_LENGTH = 100
MAX_FILENAME_LENGTH = 255


class UploadIncomplete(AppError):
    status_code = 400
    code = "upload_incomplete"
    title = "Upload incomplete"
    default_detail = "The connection ended before the whole upload arrived."


class NotMultipart(UnsupportedMediaType):
    default_detail = "Send the file as multipart/form-data."


def openapi_form(file_description: str, **fields: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of a form read with `read_form` (FastAPI cannot infer it)."""
    properties = {"file": {"type": "string", "format": "binary", "description": file_description}, **fields}
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def invalid_form(loc: str, msg: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", loc), "msg": msg, "type": kind}])


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `max_bytes` in the file, else `error()` (413 `payload_too_large`, `quota_exceeded`)."""

    max_bytes: int
    error: Callable[[], AppError]


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def discard(self) -> None: ...


class MemorySink:
    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> None:
        self.buffer += data

    def close(self) -> None:
        pass

    def discard(self) -> None:
        self.buffer.clear()


class FileSink:
    """Writes into `path` (opened lazily, in a worker thread, by the caller of `write`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: BinaryIO | None = None

    def write(self, data: bytes) -> None:
        if self.handle is None:
            self.handle = self.path.open("xb")
        self.handle.write(data)

    def close(self) -> None:
        if self.handle is None:
            self.handle = self.path.open("xb")
        self.handle.close()

    def discard(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.path.unlink(missing_ok=True)


@dataclass
class ReceivedFile:
    filename: str | None
    size: int
    sha256: str
    head: bytes


@dataclass
class _Part:
    headers: dict[str, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    is_file: bool = False
    value: bytearray = field(default_factory=bytearray)


class _FormReader:
    def __init__(
        self,
        *,
        file_field: str,
        fields: Sequence[str],
        limits: Sequence[Limit],
        sink: Sink,
        sniff: Callable[[bytes], Any] | None,
    ) -> None:
        self.file_field, self.fields, self.limits, self.sink, self.sniff = file_field, fields, limits, sink, sniff
        self.values: dict[str, str] = {}
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.file: ReceivedFile | None = None
        self.size = 0
        self.hash = hashlib.sha256()
        self.head = bytearray()
        self.sniffed = False
        self.pending = bytearray()  # file bytes not yet handed to the sink
        self.ended = False

    # python-multipart callbacks (synchronous, called from parser.write)
    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        name = bytes(self.header_field).decode("latin-1").strip().lower()
        self.part.headers[name] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get("content-disposition", b""))
        self.part.name = _text(options.get(b"name", b""))
        filename = options.get(b"filename")
        self.part.filename = _text(filename) if filename is not None else None
        if self.part.name == self.file_field:
            if self.file is not None or self.sniffed or self.size:
                raise invalid_form(self.file_field, "send exactly one file")
            self.part.is_file = True
        elif self.part.name not in self.fields:
            raise invalid_form(self.part.name or "?", "unknown form field", "extra_forbidden")
        elif self.part.name in self.values:
            raise invalid_form(self.part.name, "field sent twice")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self.part.is_file:
            self.part.value += chunk
            if len(self.part.value) > MAX_FIELD_LENGTH:
                raise invalid_form(self.part.name, f"at most {MAX_FIELD_LENGTH} characters", "string_too_long")
            return
        self.size += len(chunk)
        for limit in self.limits:
            if self.size > limit.max_bytes:
                raise limit.error()
        if not self.sniffed:
            self.head += chunk[: SNIFF_SIZE - len(self.head)]
            if len(self.head) >= SNIFF_SIZE:
                self._sniff()
        self.pending += chunk

    def on_part_end(self) -> None:
        if self.part.is_file:
            if not self.sniffed:
                self._sniff()
            self.file = ReceivedFile(filename=_clean_filename(self.part.filename), size=self.size, sha256="", head=b"")
        else:
            try:
                self.values[self.part.name] = self.part.value.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                raise invalid_form(self.part.name, "not UTF-8 text") from exc

    def on_end(self) -> None:
        self.ended = True

    def _sniff(self) -> None:
        self.sniffed = True
        if self.sniff is not None:
            self.sniff(bytes(self.head))

    def drain(self) -> None:
        """Hand the buffered file bytes to the sink (blocking: runs in a worker thread)."""
        data = bytes(self.pending)
        self.pending.clear()
        if data:
            self.hash.update(data)
            self.sink.write(data)


def _text(raw: bytes) -> str:
    """Browsers send UTF-8 in multipart headers; anything else is read as Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _clean_filename(name: str | None) -> str | None:
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable() and c not in '"<>|*?:').strip(" .")
    return cleaned[:MAX_FILENAME_LENGTH] or None


async def read_form(
    request: Request,
    *,
    file_field: str = "file",
    fields: Sequence[str] = (),
    limits: Sequence[Limit],
    sink: Sink,
    sniff: Callable[[bytes], Any] | None = None,
) -> tuple[ReceivedFile, dict[str, str]]:
    """Stream the multipart body into `sink`; the file's metadata and the other fields' values.

    On any failure the sink is discarded (a partial file deleted) and the error raised.
    """
    media_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data":
        raise NotMultipart()
    if not boundary:
        raise invalid_form(file_field, "the multipart boundary is missing")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        for limit in limits:
            if int(declared) > limit.max_bytes + FORM_OVERHEAD:
                raise limit.error()
    reader = _FormReader(file_field=file_field, fields=fields, limits=limits, sink=sink, sniff=sniff)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": reader.on_part_begin,
            "on_part_data": reader.on_part_data,
            "on_part_end": reader.on_part_end,
            "on_header_field": reader.on_header_field,
            "on_header_value": reader.on_header_value,
            "on_header_end": reader.on_header_end,
            "on_headers_finished": reader.on_headers_finished,
            "on_end": reader.on_end,
        },
    )
    body_limit = max(limit.max_bytes for limit in limits) + FORM_OVERHEAD
    received = 0
    try:
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > body_limit:
                    raise max(limits, key=lambda limit: limit.max_bytes).error()
                parser.write(chunk)
                if len(reader.pending) >= FLUSH_SIZE:
                    await anyio.to_thread.run_sync(reader.drain)
        except ClientDisconnect as exc:
            raise UploadIncomplete() from exc
        except ValueError as exc:  # python-multipart's malformed-body errors derive from ValueError
            raise invalid_form(file_field, f"malformed multipart body: {exc}") from exc
        if not reader.ended:
            raise invalid_form(file_field, "the multipart body ends before its closing boundary")
        if reader.file is None:
            raise invalid_form(file_field, "a file is required", "missing")

        def finish() -> None:
            reader.drain()
            sink.close()

        await anyio.to_thread.run_sync(finish)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(sink.discard)
        raise
    reader.file.sha256 = reader.hash.hexdigest()
    reader.file.head = bytes(reader.head)
    return reader.file, reader.values
