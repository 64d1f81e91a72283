"""Turn an enriched report into what is sent: raw XML (here) or a ``.jxz`` package.

A raw payload is the spliced head plus the untouched rest of the file; small ones are held
in memory, large ones are streamed from disk by ``BodyReader`` (never two copies in memory).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path

from jux_submit.enrich import Splice
from jux_submit.models import Payload, PayloadMode

RAW_ENDPOINT = "/api/v1/junit/submit"
RAW_CONTENT_TYPE = "application/xml"
PACKAGE_ENDPOINT = "/api/v1/reports/package"
PACKAGE_CONTENT_TYPE = "application/vnd.jux.report+zip"
#: Reports up to this size are kept in memory; larger ones are streamed from disk.
IN_MEMORY_LIMIT = 8 * 1024 * 1024
_CHUNK = 1024 * 1024


def build_raw_payload(
    path: Path,
    size: int,
    splice: Splice,
    *,
    reason: str,
    properties_added: tuple[tuple[str, str], ...] = (),
    warnings: tuple[str, ...] = (),
) -> Payload:
    """The raw-XML payload for one report (``splice`` empty for an unmodified report)."""
    body_size = len(splice.head) + path.stat().st_size - splice.resume_at
    base = Payload(
        mode=PayloadMode.RAW,
        mode_reason=reason,
        content_type=RAW_CONTENT_TYPE,
        endpoint=RAW_ENDPOINT,
        size=body_size,
        properties_added=properties_added,
        warnings=warnings,
    )
    if body_size <= IN_MEMORY_LIMIT:
        with path.open("rb") as handle:
            handle.seek(splice.resume_at)
            body = splice.head + handle.read()
        return replace(base, body=body, size=len(body), sha256=hashlib.sha256(body).hexdigest())
    digest = hashlib.sha256(splice.head)
    with path.open("rb") as handle:
        handle.seek(splice.resume_at)
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return replace(
        base,
        body_path=path,
        body_offset=splice.resume_at,
        body_prefix=splice.head,
        sha256=digest.hexdigest(),
    )


class BodyReader(io.RawIOBase):
    """A seekable, sized, read-only stream of ``prefix`` + ``path[offset:]``.

    ``requests`` sends it with a Content-Length, and urllib3 rewinds it before a retry.
    """

    def __init__(self, prefix: bytes, path: Path, offset: int) -> None:
        super().__init__()
        self._prefix = prefix
        self._file = path.open("rb")
        self._offset = offset
        self._size = len(prefix) + self._file.seek(0, io.SEEK_END) - offset
        self._pos = 0

    def __len__(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, min(self._size, base + pos))
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = len(buffer)
        if want == 0 or self._pos >= self._size:
            return 0
        view = memoryview(buffer)
        written = 0
        if self._pos < len(self._prefix):
            part = self._prefix[self._pos : self._pos + want]
            view[: len(part)] = part
            written = len(part)
        if written < want:
            file_pos = self._offset + self._pos + written - len(self._prefix)
            self._file.seek(file_pos)
            n = self._file.readinto(view[written:want])
            written += n or 0
        self._pos += written
        return written

    def close(self) -> None:
        self._file.close()
        super().close()


def open_body(payload: Payload) -> bytes | BodyReader:
    """The body to hand to the transport: bytes, or a fresh stream for large payloads."""
    if payload.body is not None:
        return payload.body
    if payload.body_path is None:
        raise ValueError("payload has neither body nor body_path")
    return BodyReader(payload.body_prefix, payload.body_path, payload.body_offset)


def read_body(payload: Payload) -> bytes:
    """The whole body in memory (for the outbox and packages)."""
    body = open_body(payload)
    if isinstance(body, bytes):
        return body
    with body:
        return body.read()
