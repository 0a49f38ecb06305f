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
import uuid
from collections.abc import Callable, Mapping, Sequence
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


def optional_uuid(values: dict[str, str], name: str) -> uuid.UUID | None:
    """The form field `name` as a UUID, None when absent or empty; a 422 when it is not one."""
    value = values.get(name)
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise invalid_form(name, "not a valid UUID", "uuid_parsing") from exc


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


@dataclass
class _FileState:
    """One file part in flight: its sink and what is known of it so far."""

    sink: Sink
    filename: str | None
    size: int = 0
    hash: Any = field(default_factory=hashlib.sha256)
    head: bytearray = field(default_factory=bytearray)
    sniffed: bool = False
    pending: bytearray = field(default_factory=bytearray)  # bytes not yet handed to the sink


class _FormReader:
    def __init__(
        self,
        *,
        file_field: str,
        fields: Sequence[str],
        limits: Sequence[Limit],
        new_sink: Callable[[], Sink],
        sniff: Callable[[bytes], Any] | None,
        max_files: int,
        field_lengths: Mapping[str, int],
    ) -> None:
        self.file_field, self.fields, self.limits, self.new_sink, self.sniff = (
            file_field,
            fields,
            limits,
            new_sink,
            sniff,
        )
        self.max_files, self.field_lengths = max_files, field_lengths
        self.values: dict[str, str] = {}
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.states: list[_FileState] = []
        self.current: _FileState | None = None
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
            if len(self.states) >= self.max_files:
                many = "exactly one file" if self.max_files == 1 else f"at most {self.max_files} files"
                raise invalid_form(self.file_field, f"send {many}")
            self.part.is_file = True
            self.current = _FileState(sink=self.new_sink(), filename=_clean_filename(self.part.filename))
            self.states.append(self.current)
        elif self.part.name not in self.fields:
            raise invalid_form(self.part.name or "?", "unknown form field", "extra_forbidden")
        elif self.part.name in self.values:
            raise invalid_form(self.part.name, "field sent twice")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self.part.is_file:
            self.part.value += chunk
            limit = self.field_lengths.get(self.part.name, MAX_FIELD_LENGTH)
            if len(self.part.value) > limit:
                raise invalid_form(self.part.name, f"at most {limit} characters", "string_too_long")
            return
        state = self.current
        assert state is not None
        state.size += len(chunk)
        for limit_ in self.limits:
            if state.size > limit_.max_bytes:
                raise limit_.error()
        if not state.sniffed:
            state.head += chunk[: SNIFF_SIZE - len(state.head)]
            if len(state.head) >= SNIFF_SIZE:
                self._sniff(state)
        state.pending += chunk

    def on_part_end(self) -> None:
        if self.part.is_file:
            assert self.current is not None
            if not self.current.sniffed:
                self._sniff(self.current)
            self.current = None
        else:
            try:
                self.values[self.part.name] = self.part.value.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                raise invalid_form(self.part.name, "not UTF-8 text") from exc

    def on_end(self) -> None:
        self.ended = True

    @property
    def pending(self) -> int:
        return sum(len(state.pending) for state in self.states)

    def _sniff(self, state: _FileState) -> None:
        state.sniffed = True
        if self.sniff is not None:
            self.sniff(bytes(state.head))

    def drain(self) -> None:
        """Hand the buffered file bytes to the sinks (blocking: runs in a worker thread)."""
        for state in self.states:
            data = bytes(state.pending)
            state.pending.clear()
            if data:
                state.hash.update(data)
                state.sink.write(data)

    def received(self) -> list[ReceivedFile]:
        return [
            ReceivedFile(filename=s.filename, size=s.size, sha256=s.hash.hexdigest(), head=bytes(s.head))
            for s in self.states
        ]


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
    field_lengths: Mapping[str, int] | None = None,
) -> tuple[ReceivedFile, dict[str, str]]:
    """Stream the multipart body (exactly one file) into `sink`; the file's metadata and the other
    fields' values.

    On any failure the sink is discarded (a partial file deleted) and the error raised.
    """
    files, values = await read_form_files(
        request,
        file_field=file_field,
        fields=fields,
        limits=limits,
        new_sink=lambda: sink,
        sniff=sniff,
        min_files=1,
        max_files=1,
        field_lengths=field_lengths,
    )
    return files[0], values


async def read_form_files(
    request: Request,
    *,
    file_field: str = "files",
    fields: Sequence[str] = (),
    limits: Sequence[Limit],
    new_sink: Callable[[], Sink],
    sniff: Callable[[bytes], Any] | None = None,
    min_files: int = 0,
    max_files: int,
    field_lengths: Mapping[str, int] | None = None,
) -> tuple[list[ReceivedFile], dict[str, str]]:
    """Stream a multipart body with `min_files`..`max_files` parts named `file_field`, each into a
    sink of its own (`new_sink()`), every file checked against `limits` and `sniff` as it arrives;
    the files' metadata in order and the other fields' values (at most `field_lengths[name]`,
    else MAX_FIELD_LENGTH characters).

    On any failure every sink is discarded (partial files deleted) and the error raised.
    """
    media_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data":
        raise NotMultipart()
    if not boundary:
        raise invalid_form(file_field, "the multipart boundary is missing")
    lengths = dict(field_lengths or {})
    overhead = FORM_OVERHEAD * max(max_files, 1) + sum(lengths.values())
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        for limit in limits:
            if int(declared) > limit.max_bytes * max(max_files, 1) + overhead:
                raise limit.error()
    reader = _FormReader(
        file_field=file_field,
        fields=fields,
        limits=limits,
        new_sink=new_sink,
        sniff=sniff,
        max_files=max_files,
        field_lengths=lengths,
    )
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
    body_limit = max(limit.max_bytes for limit in limits) * max(max_files, 1) + overhead
    received = 0

    def discard_all() -> None:
        for state in reader.states:
            state.sink.discard()

    try:
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > body_limit:
                    raise max(limits, key=lambda limit: limit.max_bytes).error()
                parser.write(chunk)
                if reader.pending >= FLUSH_SIZE:
                    await anyio.to_thread.run_sync(reader.drain)
        except ClientDisconnect as exc:
            raise UploadIncomplete() from exc
        except ValueError as exc:  # python-multipart's malformed-body errors derive from ValueError
            raise invalid_form(file_field, f"malformed multipart body: {exc}") from exc
        if not reader.ended:
            raise invalid_form(file_field, "the multipart body ends before its closing boundary")
        if len(reader.states) < min_files:
            raise invalid_form(file_field, "a file is required", "missing")

        def finish() -> None:
            reader.drain()
            for state in reader.states:
                state.sink.close()

        await anyio.to_thread.run_sync(finish)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(discard_all)
        raise
    return reader.received(), reader.values
