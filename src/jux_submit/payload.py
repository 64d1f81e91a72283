"""Turn an enriched report into what is sent: raw XML or a ``.jxz`` package (built by py-jxz).

A raw payload is the spliced head plus the untouched rest of the file; small ones are held
in memory, large ones are streamed from disk by ``BodyReader`` (never two copies in memory).
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from jux_submit.attachments import (
    AttachmentRefusedError,
    read_attachment,
    replace_control_characters,
    unique_names,
)
from jux_submit.enrich import Splice
from jux_submit.errors import PackageTooLargeError
from jux_submit.models import Attachment, Payload, PayloadMode

if TYPE_CHECKING:
    from collections.abc import Iterator

    from jux_submit.signing import SigningMaterial

#: Reports up to this size are kept in memory; larger ones are streamed from disk.
IN_MEMORY_LIMIT = 8 * 1024 * 1024
_CHUNK = 1024 * 1024


def _sha256(data: bytes) -> str:
    import hashlib  # OpenSSL's start-up: only for a payload that may be sent or stored

    return hashlib.sha256(data).hexdigest()


def raw_payload_from_bytes(
    body: bytes,
    *,
    reason: str,
    properties_added: tuple[tuple[str, str], ...] = (),
    warnings: tuple[str, ...] = (),
    digest: bool = True,
) -> Payload:
    """A raw-XML payload whose whole body is in memory (``digest=False``: without its
    ``sha256``, for a payload that is only shown, as a dry run's)."""
    return Payload(
        mode=PayloadMode.RAW,
        mode_reason=reason,
        size=len(body),
        body=body,
        properties_added=properties_added,
        warnings=warnings,
        sha256=_sha256(body) if digest else "",
    )


def build_raw_payload(
    path: Path,
    size: int,
    splice: Splice,
    *,
    reason: str,
    properties_added: tuple[tuple[str, str], ...] = (),
    warnings: tuple[str, ...] = (),
    content: bytes | None = None,
    digest: bool = True,
) -> Payload:
    """The raw-XML payload for one report (``splice`` empty for an unmodified report).

    ``content`` is the whole file when the caller has already read it (a small report): the
    body is then built from it without opening the file again. ``digest=False`` leaves out
    the ``sha256`` (a dry run shows the payload and never sends or stores it)."""
    in_memory = len(splice.head) + len(content or b"") - splice.resume_at <= IN_MEMORY_LIMIT
    if content is not None and in_memory:
        is_unmodified = not splice.head and not splice.resume_at
        body = content if is_unmodified else splice.head + content[splice.resume_at :]
        return raw_payload_from_bytes(
            body,
            reason=reason,
            properties_added=properties_added,
            warnings=warnings,
            digest=digest,
        )
    body_size = len(splice.head) + path.stat().st_size - splice.resume_at
    base = Payload(
        mode=PayloadMode.RAW,
        mode_reason=reason,
        size=body_size,
        properties_added=properties_added,
        warnings=warnings,
    )
    if body_size <= IN_MEMORY_LIMIT:
        with path.open("rb") as handle:
            handle.seek(splice.resume_at)
            body = splice.head + handle.read()
        return raw_payload_from_bytes(
            body,
            reason=reason,
            properties_added=properties_added,
            warnings=warnings,
            digest=digest,
        )
    base = replace(base, body_path=path, body_offset=splice.resume_at, body_prefix=splice.head)
    if not digest:
        return base
    import hashlib

    hasher = hashlib.sha256(splice.head)
    with path.open("rb") as handle:
        handle.seek(splice.resume_at)
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
    return replace(base, sha256=hasher.hexdigest())


class BodyReader(io.RawIOBase):
    """A seekable, sized, read-only stream of ``prefix`` + ``path[offset:]``.

    ``requests`` sends it with a Content-Length, and urllib3 rewinds it before a retry.
    With ``no_follow`` (an outbox entry), the file is opened without following a symbolic
    link and must be a regular file with no other hard link (``OSError`` otherwise).
    """

    def __init__(self, prefix: bytes, path: Path, offset: int, *, no_follow: bool = False) -> None:
        super().__init__()
        self._prefix = prefix
        self._file = open_no_follow(path) if no_follow else path.open("rb")
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


def open_no_follow(path: Path) -> io.BufferedReader:
    """Open a file for reading without following a symbolic link; refuse anything but a
    regular file with a single hard link (a link could make it any file on the machine).
    Raises ``OSError``."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise OSError(f"{path.name}: not a plain file (link or special file)")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_body(payload: Payload) -> bytes | BodyReader:
    """The body to hand to the transport: bytes, or a fresh stream for large payloads."""
    if payload.body is not None:
        return payload.body
    if payload.body_path is None:
        raise ValueError("payload has neither body nor body_path")
    return BodyReader(
        payload.body_prefix, payload.body_path, payload.body_offset, no_follow=payload.is_stored
    )


def body_chunks(payload: Payload) -> Iterator[bytes]:
    """The body in chunks of at most 1 MiB (to write it to the outbox without a second copy in
    memory)."""
    body = open_body(payload)
    if isinstance(body, bytes):
        yield body
        return
    with body:
        while chunk := body.read(_CHUNK):
            yield chunk


def read_body(payload: Payload) -> bytes:
    """The whole body in memory (for the outbox and packages)."""
    body = open_body(payload)
    if isinstance(body, bytes):
        return body
    with body:
        return body.read()


# --- packages (.jxz) -------------------------------------------------------------------------

#: ``Report-Type`` written into the manifest of every package.
PACKAGE_REPORT_TYPE = "junit"
#: The longest value we write on a manifest line (a test id longer than this is cut).
MANIFEST_VALUE_LIMIT = 1024
SIZE_ADVICE = (
    "split the report into smaller files",
    "attach fewer or smaller files (check the [[ATTACHMENT|...]] markers and --attach globs)",
    "raise --max-package-size (JUX_MAX_PACKAGE_SIZE) if the server's limit is higher",
)


def manifest_value(value: str) -> str:
    """``value`` fit for one ``Key: value`` line of ``META-INF/MANIFEST.MF``.

    py-jxz writes the lines joined by ``\n`` with no escaping and reads them back with
    ``str.splitlines``, so a line break in a value (a test named with ``&#10;``, say) would
    start a line of its own, and two would start a section: the manifest would then say what
    the report's author chose, or fail to parse (422). CR, LF, NUL, every other control
    character and the Unicode line separators become a space; the value is cut at
    ``MANIFEST_VALUE_LIMIT`` characters.
    """
    text = replace_control_characters(value, " ").strip()
    if len(text) > MANIFEST_VALUE_LIMIT:
        text = text[: MANIFEST_VALUE_LIMIT - 3].rstrip() + "..."
    return text


def build_package_payload(
    report_xml: bytes,
    attachments: Sequence[Attachment],
    *,
    reason: str,
    signing: SigningMaterial | None = None,
    properties_added: tuple[tuple[str, str], ...] = (),
    warnings: tuple[str, ...] = (),
    digest: bool = True,
) -> Payload:
    """A ``.jxz`` payload built with py-jxz: ``junit.xml``, ``attachments/<name>`` (with
    ``Attachment-For`` when the file came from a test case), signed when ``signing`` is given
    (``digest=False``: without its ``sha256``, as in ``build_raw_payload``).

    Each attachment is read with ``read_attachment`` (from the very file checked when it was
    found); one that is refused or cannot be read any more becomes a warning. Entry names are
    made safe and unique, and every manifest value goes through ``manifest_value``. Raises
    ``jxz.SignatureError`` if signing fails.
    """
    from jxz import ContainerBuilder

    from jux_submit.enrich import SUBMITTER

    builder = ContainerBuilder()
    builder.set_report(report_xml)
    notes = list(warnings)
    # names are made safe here too: this is what py-jxz writes into the ZIP and the manifest,
    # whoever built the list
    for item in unique_names(attachments):
        try:
            data = read_attachment(item)
        except AttachmentRefusedError as exc:
            notes.append(f"attachment refused: {item.origin or item.path} {exc}; it was not read")
            continue
        except OSError as exc:
            notes.append(f"attachment {item.path} could not be read: {exc.strerror or exc}")
            continue
        test_id = manifest_value(item.attachment_for) if item.attachment_for else ""
        builder.add_attachment(item.name, data, attachment_for=test_id or None)
    body = builder.build(
        created_by=manifest_value(SUBMITTER),
        report_type=manifest_value(PACKAGE_REPORT_TYPE),
        private_key=signing.key if signing else None,
        certificate=signing.certificate if signing else None,
    )
    import zipfile  # only for packages (it pulls in shutil, bz2, lzma)

    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        entries = tuple((info.filename, info.file_size) for info in archive.infolist())
    return Payload(
        mode=PayloadMode.PACKAGE,
        mode_reason=reason,
        size=len(body),
        body=body,
        properties_added=properties_added,
        warnings=tuple(notes),
        entries=entries,
        sha256=_sha256(body) if digest else "",
    )


def check_package_size(payload: Payload, limit: int) -> PackageTooLargeError | None:
    """The error to report when ``payload`` is over ``limit`` bytes (it must not be sent)."""
    if payload.size <= limit:
        return None
    what = "package" if payload.mode is PayloadMode.PACKAGE else "report"
    return PackageTooLargeError(
        f"the {what} is {payload.size:,} bytes, over the {limit:,}-byte limit "
        "(--max-package-size / JUX_MAX_PACKAGE_SIZE); it was not sent",
        suggestions=SIZE_ADVICE,
    )
