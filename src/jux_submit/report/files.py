"""Output files written without following a link planted at their name: appends to the files a
CI runner names (job summary, step outputs), and new files (JSON result, dotenv report) created
beside the target under a random name and renamed over it.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO planted at the name must not hang
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def _refuse_link(path: Path) -> None:
    """Raise ``OSError(ELOOP)`` when the last component of ``path`` is a symbolic link."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise OSError(errno.ELOOP, "it is a symbolic link, which is not followed", str(path))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def append_text(path: Path, text: str) -> None:
    """Append ``text`` (UTF-8) to ``path``, creating it if missing.

    Opened with ``O_NOFOLLOW | O_APPEND``: a symbolic link at the final component is refused,
    never followed, and so is anything but a regular file. Raises ``OSError``.
    """
    if not _NOFOLLOW:  # no O_NOFOLLOW (Windows): check first
        _refuse_link(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _NONBLOCK | _CLOEXEC | _BINARY
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # EMLINK: FreeBSD's O_NOFOLLOW answer
            _refuse_link(path)
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        _write_all(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def replace_file(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) as the new content of ``path``.

    The text goes to a new file in the same folder, created with ``O_EXCL | O_NOFOLLOW``
    under a random name, which is then renamed over ``path``: a rename replaces a link at
    ``path`` rather than writing where it points, so the target of a planted link is never
    touched. A symbolic link at ``path`` is refused outright. Raises ``OSError``; the
    temporary file never stays behind.
    """
    _refuse_link(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
    fd = os.open(temporary, flags, 0o666)
    is_done = False
    try:
        try:
            _write_all(fd, text.encode("utf-8"))
        finally:
            os.close(fd)
        temporary.replace(path)
        is_done = True
    finally:
        if not is_done:
            temporary.unlink(missing_ok=True)
