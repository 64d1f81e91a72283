"""Find the files a package carries (markers and properties in a report, ``--attach`` globs)
and read them without letting a link, a swapped folder or a credential file slip in; also the
safe entry names they get under ``attachments/``.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path, PurePath, PurePosixPath

from lxml import etree

from jux_submit.models import Attachment, Record, ReportFile, record
from jux_submit.validate import local_name

#: The Jenkins JUnit-attachments convention, in system-out / system-err.
MARKER_RE = re.compile(r"\[\[ATTACHMENT\|([^\]\r\n]+)\]\]")
ATTACHMENT_PROPERTY = "attachment"
# cheap pre-check before parsing a report again (ASCII-compatible encodings only)
_HINTS = (b"[[ATTACHMENT|", b"attachment")
_SCAN_CHUNK = 1024 * 1024


@record
class AttachmentRef(Record):
    """One reference found in a report: the text as written, the test it belongs to, where."""

    target: str
    attachment_for: str | None
    origin: str  # e.g. "[[ATTACHMENT|x.png]] in system-out of pkg.Cls.test"


@record
class AttachmentSet(Record):
    """Files allowed into a package, and warnings for those refused or missing."""

    attachments: tuple[Attachment, ...] = ()
    warnings: tuple[str, ...] = ()

    def __add__(self, other: AttachmentSet) -> AttachmentSet:
        return AttachmentSet(self.attachments + other.attachments, self.warnings + other.warnings)


def _test_id(case: etree._Element) -> str:
    classname = case.get("classname") or ""
    name = case.get("name") or ""
    return f"{classname}.{name}" if classname else name


def _is_wide(head: bytes) -> bool:
    """True for UTF-16/32 text, where the byte hints cannot be searched."""
    return head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head


def _may_reference(path: Path) -> bool:
    """False only when the file surely holds no reference: a streaming byte scan, so that
    large reports without attachments are never loaded whole (UTF-16/32 always say True)."""
    keep = max(len(h) for h in _HINTS) - 1
    with path.open("rb") as handle:
        head = handle.read(4)
        if _is_wide(head):
            return True
        tail = head
        while True:
            chunk = handle.read(_SCAN_CHUNK)
            window = tail + chunk
            if any(hint in window for hint in _HINTS):
                return True
            if not chunk:
                return False
            tail = window[-keep:]


def find_references(
    path: Path, *, huge_tree: bool = False, content: bytes | None = None
) -> tuple[AttachmentRef, ...]:
    """Attachment references in the report at ``path``, in document order.

    Markers ``[[ATTACHMENT|path]]`` in ``system-out``/``system-err`` (of a test case or a
    suite) and ``<property name="attachment" value="path"/>`` on test cases. ``content`` is
    the whole file when the caller has already read it (the file is then not opened again).
    Returns ``()`` for a file that cannot be read or parsed (validation reports those).
    """
    from jux_submit.validate import make_parser

    try:
        if content is not None:
            if not _is_wide(content[:4]) and not any(hint in content for hint in _HINTS):
                return ()
            root = etree.fromstring(content, make_parser(huge_tree=huge_tree))
        else:
            if not _may_reference(path):
                return ()
            with path.open("rb") as handle:
                root = etree.parse(handle, make_parser(huge_tree=huge_tree)).getroot()
    except (OSError, etree.XMLSyntaxError):
        return ()
    refs: list[AttachmentRef] = []
    for elem in root.iter():
        name = local_name(elem.tag)
        if name in ("system-out", "system-err"):
            parent = elem.getparent()
            is_case = parent is not None and local_name(parent.tag) == "testcase"
            owner = _test_id(parent) if is_case and parent is not None else None
            where = f"of {owner}" if owner else "of a test suite"
            text = "".join(str(part) for part in elem.itertext())
            for match in MARKER_RE.finditer(text):
                origin = f"{match.group(0)} in {name} {where}"
                refs.append(AttachmentRef(match.group(1).strip(), owner, origin))
        elif name == "testcase":
            for prop in elem.iter("{*}property", "property"):
                if prop.get("name") == ATTACHMENT_PROPERTY and (prop.get("value") or "").strip():
                    value = (prop.get("value") or "").strip()
                    refs.append(
                        AttachmentRef(
                            value,
                            _test_id(elem),
                            f'<property name="attachment" value="{value}"/> of {_test_id(elem)}',
                        )
                    )
    return tuple(refs)


# --- where an attachment may come from ---------------------------------------------------------

#: Folders whose files are never attached, even inside the working directory: version control (a
#: checkout's ``.git/config`` can hold the job's token) and credential stores.
SENSITIVE_FOLDERS = frozenset({".git", ".hg", ".svn", ".ssh", ".docker", ".gnupg", ".aws", ".kube"})
#: File names that hold credentials or private keys, never attached wherever they are.
SENSITIVE_FILES = frozenset(
    {
        ".netrc",
        "_netrc",
        ".npmrc",
        ".pypirc",
        ".git-credentials",
        ".env",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
    }
)
_PEM_START = b"-----BEGIN"
_PRIVATE_KEY = b"PRIVATE KEY"
_PEM_HEAD = 64  # enough for a BOM or blank lines before "-----BEGIN"
#: How far into a PEM file the ``PRIVATE KEY`` label is looked for (a bundle may list
#: certificates first; such files are small)
_KEY_SCAN_LIMIT = 1024 * 1024
#: The kernel's own limit on links followed in one lookup (Linux MAXSYMLINKS)
_MAX_LINKS = 40
_NAME_LIMIT = 200
_READ_CHUNK = 1024 * 1024
_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
# O_PATH (Linux): a folder needs only search permission to be walked, as with a path
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_PATH", 0)
_DIR_FLAGS |= _NOFOLLOW | _CLOEXEC
# non-blocking, so that a FIFO planted under the expected name cannot hang the run
_FILE_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_BINARY", 0)
    | _NOFOLLOW
    | _CLOEXEC
)
# open(2) with O_NOFOLLOW on a link: ELOOP (Linux, macOS), EMLINK (FreeBSD), and ENOTDIR on
# Linux when O_DIRECTORY is given too
_LINK_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK, errno.ENOTDIR})
#: openat-style walking (each component opened relative to its folder's descriptor) where the
#: platform has it; elsewhere (Windows) a path-based check that cannot rule out every race
HAS_OPENAT = (
    bool(_NOFOLLOW)
    and hasattr(os, "O_DIRECTORY")
    and os.open in os.supports_dir_fd
    and os.readlink in os.supports_dir_fd
)
#: Unicode categories of characters that can end a line: control characters (CR, LF, NUL, VT,
#: FF, NEL ...) and the line/paragraph separators, all of which ``str.splitlines`` breaks on;
#: plus lone surrogates (file-name bytes that are not UTF-8), which cannot be written as UTF-8.
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp", "Cs"})


class AttachmentRefusedError(Exception):
    """A file that must not be attached. The message completes "<where it was named> ...",
    e.g. "is in a version-control or credential location (.git)"."""


class _MissingError(Exception):
    """Nothing attachable at the path: nothing there, a folder, or a file used as a folder."""


def replace_control_characters(text: str, replacement: str) -> str:
    """``text`` with every character that could end or break a line (see ``_LINE_BREAKING``)
    replaced by ``replacement``."""
    if text.isprintable():  # the usual case; printable text has none of them
        return text
    import unicodedata

    return "".join(
        replacement if unicodedata.category(char) in _LINE_BREAKING else char for char in text
    )


def entry_name(name: str) -> str:
    """A safe name for ``attachments/<name>``: the last part of ``name`` split on ``/`` and
    ``\\`` (``..\\..\\x.png`` gives ``x.png``: a report written on Windows, or a hostile one),
    control characters as ``_``, at most 200 characters with the extension kept; never empty,
    ``.`` or ``..``. Applying it twice changes nothing."""
    parts = re.split(r"[/\\]", replace_control_characters(name, "_"))
    kept = [part.strip() for part in parts if part.strip() not in ("", ".", "..")]
    base = kept[-1] if kept else "attachment"
    if len(base) > _NAME_LIMIT:
        suffix = PurePosixPath(base).suffix[:20]
        base = (base[: _NAME_LIMIT - len(suffix)].rstrip() + suffix).strip()
    return base if base not in ("", ".", "..") else "attachment"


def _sensitive(name: str, *, is_last: bool) -> str | None:
    """Why a path component must not be read, or None. Compared case-insensitively, as the
    filesystems of macOS and Windows do."""
    folded = name.casefold()
    if folded in SENSITIVE_FOLDERS:
        return f"is in a version-control or credential location ({name})"
    if is_last and folded in SENSITIVE_FILES:
        return f"is a credential file ({name})"
    return None


def _written_refusal(target: str) -> str | None:
    """Why the path as written names a refused location: checked before anything is opened,
    with ``\\`` counted as a separator too."""
    parts = [part for part in re.split(r"[/\\]", target) if part]
    for index, name in enumerate(parts):
        reason = _sensitive(name, is_last=index == len(parts) - 1)
        if reason is not None:
            return reason
    return None


def _is_pem(head: bytes) -> bool:
    return head[:_PEM_HEAD].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(_PEM_START)


def _is_private_key(data: bytes) -> bool:
    """True for PEM text holding a private key (``-----BEGIN ... PRIVATE KEY-----``), whatever
    the file is called."""
    return _is_pem(data) and _PRIVATE_KEY in data[:_KEY_SCAN_LIMIT]


def _read_fd(fd: int, limit: int | None = None) -> bytes:
    """Up to ``limit`` bytes (all when None) from the start of the open file ``fd``."""
    os.lseek(fd, 0, os.SEEK_SET)
    chunks: list[bytes] = []
    got = 0
    while limit is None or got < limit:
        chunk = os.read(fd, _READ_CHUNK if limit is None else min(_READ_CHUNK, limit - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _check_opened(fd: int) -> os.stat_result:
    """The status of ``fd`` when it is a regular file with a single link. Raises
    ``_MissingError`` for a folder, ``AttachmentRefusedError`` for anything else."""
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise _MissingError("a folder")
    if not stat.S_ISREG(info.st_mode):
        raise AttachmentRefusedError("is not a regular file (a device, pipe or socket)")
    if info.st_nlink != 1:
        # a hard link shares the inode of a file anywhere on the same filesystem: confinement
        # by path means nothing for it
        raise AttachmentRefusedError(
            f"has {info.st_nlink} hard links (a hard link can be any file on the machine)"
        )
    return info


def _absolute(path: Path) -> PurePath:
    """``path`` made absolute with ``.`` and ``..`` folded as written (links are not looked
    at: this only gives a starting point, which is then walked safely)."""
    return PurePath(os.path.normpath(Path(path).absolute()))


def _link_target(name: str, dir_fd: int) -> str | None:
    """The target of the symbolic link ``name`` in the folder ``dir_fd``; None if not a link."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None


class _Workspace:
    """The working directory, held open while paths beneath it are walked and opened."""

    def __init__(self, directory: Path) -> None:
        self.real = Path(os.path.realpath(directory))
        # a path written against the directory as given (through a link to it) is below it too
        given = _absolute(directory).parts
        self._prefixes = tuple(dict.fromkeys((PurePath(self.real).parts, given)))
        self._fd = os.open(self.real, _DIR_FLAGS) if HAS_OPENAT else None

    def __enter__(self) -> _Workspace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def outside(self, via: str = "") -> AttachmentRefusedError:
        how = f" (through the symbolic link {via})" if via else ""
        return AttachmentRefusedError(f"leads outside the working directory {self.real}{how}")

    def below(self, path: str | PurePath) -> list[str] | None:
        """The components of the absolute ``path`` below the working directory, compared as
        written (a ``..`` is kept, for the walk to handle); None when it is not below."""
        parts = PurePath(path).parts
        for prefix in self._prefixes:
            if parts[: len(prefix)] == prefix:
                return list(parts[len(prefix) :])
        return None

    def check(self, parts: Sequence[str]) -> tuple[tuple[str, ...], tuple[int, int]]:
        """The components of the file at ``parts`` with links resolved, and its (device,
        inode), when it may be attached. Raises ``AttachmentRefusedError``, ``_MissingError``."""
        fd, walked = self.open(parts, follow=True)
        try:
            info = _check_opened(fd)
            # only a file that starts as PEM text is read further, to look for the key label
            if _is_pem(_read_fd(fd, _PEM_HEAD)) and _is_private_key(_read_fd(fd, _KEY_SCAN_LIMIT)):
                raise AttachmentRefusedError("is a private key")
        except OSError as exc:
            raise _MissingError(exc.strerror or str(exc)) from None
        finally:
            os.close(fd)
        return walked, (info.st_dev, info.st_ino)

    def open(self, parts: Sequence[str], *, follow: bool) -> tuple[int, tuple[str, ...]]:
        """An fd on the file at ``parts`` (the caller closes it) and the components walked,
        links resolved. With ``follow`` False any link on the way is refused (the path was
        resolved before, so a link there now is a swap). Raises ``AttachmentRefusedError``
        (nothing was opened beyond the refused component) or ``_MissingError``."""
        if any("\0" in part for part in parts):
            raise _MissingError("a NUL character in the path")
        if self._fd is None:
            return self._open_by_path(parts, follow=follow)
        return self._open_beneath(self._fd, parts, follow=follow)

    def _open_beneath(
        self, root_fd: int, parts: Sequence[str], *, follow: bool
    ) -> tuple[int, tuple[str, ...]]:
        """Walk from ``root_fd`` one component at a time, each opened with ``O_NOFOLLOW``
        relative to its folder's descriptor, so that no folder can be swapped for a link
        between a check and an open. A link is read and its target walked by us: absolute
        only when it points below the working directory, and ``..`` goes back up the folders
        already opened, never above the working directory (as openat2's RESOLVE_BENEATH)."""
        folders: list[tuple[str, int]] = []  # opened below the root, innermost last
        # the next component last, each with the link whose target it comes from ("" if none)
        pending = [(part, "") for part in reversed(parts)]
        links = 0
        try:
            while pending:
                name, via = pending.pop()
                if name in ("", "."):
                    continue
                if name == "..":
                    if not folders:
                        raise self.outside(via)
                    os.close(folders.pop()[1])
                    continue
                is_last = not pending
                reason = _sensitive(name, is_last=is_last)
                if reason is not None:
                    raise AttachmentRefusedError(reason)
                at = folders[-1][1] if folders else root_fd
                try:
                    fd = os.open(name, _FILE_FLAGS if is_last else _DIR_FLAGS, dir_fd=at)
                except OSError as exc:
                    target = _link_target(name, at) if exc.errno in _LINK_ERRNOS else None
                    if target is None:
                        raise _MissingError(exc.strerror or str(exc)) from None
                    where = "/".join([*(folder for folder, _ in folders), name])
                    if not follow:
                        raise AttachmentRefusedError(
                            f"changed after it was checked ({where} is now a symbolic link)"
                        ) from None
                    links += 1
                    if links > _MAX_LINKS:
                        raise AttachmentRefusedError("goes through too many links") from None
                    link = f"{where} -> {target}"
                    if PurePosixPath(target).is_absolute():
                        below = self.below(target)
                        if below is None:
                            raise self.outside(link) from None
                        while folders:
                            os.close(folders.pop()[1])
                    else:
                        below = list(PurePosixPath(target).parts)
                    pending.extend((part, link) for part in reversed(below))
                    continue
                if is_last:
                    return fd, (*(folder for folder, _ in folders), name)
                folders.append((name, fd))
            raise _MissingError("a folder")
        finally:
            for _, folder_fd in folders:
                os.close(folder_fd)

    def _open_by_path(self, parts: Sequence[str], *, follow: bool) -> tuple[int, tuple[str, ...]]:
        """Without openat (Windows): resolve the path, check it, open it and make sure the file
        opened is the one resolved. A folder swapped for a link between the check and the open
        is not caught here; creating links there needs privileges, which narrows the risk."""
        joined = self.real.joinpath(*parts)
        real = os.path.realpath(joined)
        rel = self.below(real)
        if rel is None or ".." in rel:
            raise self.outside()
        if not follow and PurePath(real) != PurePath(joined):
            raise AttachmentRefusedError("changed after it was checked (a link is now in its path)")
        for index, name in enumerate(rel):
            reason = _sensitive(name, is_last=index == len(rel) - 1)
            if reason is not None:
                raise AttachmentRefusedError(reason)
        if not rel:
            raise _MissingError("a folder")
        try:
            fd = os.open(real, _FILE_FLAGS)
        except OSError as exc:
            raise _MissingError(exc.strerror or str(exc)) from None
        try:
            seen, opened = os.lstat(real), os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise _MissingError(exc.strerror or str(exc)) from None
        if (seen.st_dev, seen.st_ino) != (opened.st_dev, opened.st_ino):
            os.close(fd)
            raise AttachmentRefusedError("changed while it was opened")
        return fd, tuple(rel)


def _attachment(
    workspace: _Workspace, parts: Sequence[str], attachment_for: str | None, origin: str
) -> Attachment:
    """The checked file at ``parts``. Raises ``AttachmentRefusedError``, ``_MissingError``."""
    walked, identity = workspace.check(parts)
    return Attachment(
        workspace.real.joinpath(*walked),
        entry_name(walked[-1]),
        attachment_for,
        root=workspace.real,
        identity=identity,
        origin=origin,
    )


def resolve_references(
    refs: Sequence[AttachmentRef], report: ReportFile, working_directory: Path
) -> AttachmentSet:
    """Turn references into attachments: a relative path is tried against the report's folder,
    then the working directory.

    Each path is walked from the working directory without following links blindly (see
    ``_Workspace``). One leading outside it, into a version-control or credential location
    (``SENSITIVE_FOLDERS``, ``SENSITIVE_FILES``), or to a private key, a file with other hard
    links or a special file is refused with a warning naming the report and the reference, and
    its content is never read; nothing attachable there is a "not found" warning.
    """
    if not refs:  # the usual case: no filesystem work at all
        return AttachmentSet((), ())
    try:
        workspace = _Workspace(working_directory)
    except OSError as exc:
        problem = exc.strerror or str(exc)
        return AttachmentSet(
            (),
            tuple(
                f"{report.relpath}: attachment not found: {ref.origin} (the working directory "
                f"{working_directory} cannot be opened: {problem}); the report is sent without it"
                for ref in refs
            ),
        )
    found: list[Attachment] = []
    warnings: list[str] = []
    with workspace:
        report_dir = workspace.below(_absolute(report.path.parent))
        if report_dir is None:
            report_dir = workspace.below(os.path.realpath(report.path.parent))
        for ref in refs:
            refusal = _written_refusal(ref.target)
            target = PurePath(ref.target)
            candidates: list[list[str] | None]
            if target.is_absolute():
                candidates = [workspace.below(target)]
            else:
                in_report_dir = None if report_dir is None else [*report_dir, *target.parts]
                candidates = [in_report_dir, list(target.parts)]
                if candidates[0] == candidates[1]:  # a report in the working directory itself
                    candidates.pop()
            accepted: Attachment | None = None
            for parts in candidates if refusal is None else []:
                try:
                    if parts is None:
                        raise workspace.outside()
                    accepted = _attachment(workspace, parts, ref.attachment_for, ref.origin)
                    break
                except AttachmentRefusedError as exc:
                    refusal = refusal or str(exc)
                except _MissingError:
                    continue
            if accepted is not None:
                found.append(accepted)
            elif refusal is not None:
                warnings.append(
                    f"{report.relpath}: attachment refused: {ref.origin} {refusal}; it was not read"
                )
            else:
                warnings.append(
                    f"{report.relpath}: attachment not found: {ref.origin} (looked in "
                    f"{report.path.parent} and {workspace.real}); the report is sent without it"
                )
    return AttachmentSet(tuple(found), tuple(warnings))


def collect_globbed(patterns: Sequence[str], working_directory: Path) -> AttachmentSet:
    """Files matching the ``--attach`` globs (relative to the working directory), checked as
    ``resolve_references`` checks a reference (a refusal is a warning naming the glob and the
    file, which is never read); a glob matching nothing is a warning."""
    from jux_submit.discover import discover_reports

    try:
        workspace = _Workspace(working_directory)
    except OSError as exc:
        return AttachmentSet(
            (),
            (
                f"--attach: the working directory {working_directory} cannot be opened "
                f"({exc.strerror or exc}); no file was attached",
            ),
        )
    found: list[Attachment] = []
    warnings: list[str] = []
    with workspace:
        for pattern in patterns:
            discovery = discover_reports([pattern], workspace.real)
            warnings.extend(discovery.warnings)
            if not discovery.files:
                warnings.append(f"--attach {pattern}: no file matched")
            for file in discovery.files:
                origin = f"--attach {pattern}: {file.relpath}"
                parts = workspace.below(_absolute(file.path))
                try:
                    if parts is None:
                        raise workspace.outside()
                    found.append(_attachment(workspace, parts, None, origin))
                except AttachmentRefusedError as exc:
                    warnings.append(f"{origin} {exc}; it was not read")
                except _MissingError as exc:
                    warnings.append(f"{origin} could not be opened ({exc}); it was not attached")
    return AttachmentSet(tuple(found), tuple(warnings))


def read_attachment(item: Attachment) -> bytes:
    """The bytes of a file found by ``resolve_references`` or ``collect_globbed``.

    The path is walked again from the working directory it was found beneath, this time
    refusing any link on the way, and the bytes are read from the descriptor opened: only when
    it is still the file checked then (same device and inode), a regular file with one link,
    and not a private key. Raises ``AttachmentRefusedError`` (nothing was sent from it) or
    ``OSError`` (it is gone, or cannot be read).
    """
    root = item.root if item.root is not None else item.path.parent
    try:
        parts = item.path.relative_to(root).parts
    except ValueError:
        raise AttachmentRefusedError(f"leads outside the working directory {root}") from None
    with _Workspace(root) as workspace:
        try:
            fd, _ = workspace.open(parts, follow=False)
        except _MissingError as exc:
            raise FileNotFoundError(errno.ENOENT, str(exc), str(item.path)) from None
        try:
            info = _check_opened(fd)
            if item.identity is not None and (info.st_dev, info.st_ino) != item.identity:
                raise AttachmentRefusedError("was replaced by another file after it was checked")
            data = _read_fd(fd)
        except _MissingError as exc:
            raise FileNotFoundError(errno.ENOENT, str(exc), str(item.path)) from None
        finally:
            os.close(fd)
    # the content may have been rewritten in place since it was checked
    if _is_private_key(data):
        raise AttachmentRefusedError("is a private key")
    return data


def unique_names(attachments: Iterable[Attachment]) -> tuple[Attachment, ...]:
    """Drop exact repeats (same file for the same test), make names safe (``entry_name``) and
    unique, in order: the first ``a.png`` keeps its name, later ones become ``a-2.png`` ..."""
    seen: set[tuple[Path, str | None]] = set()
    used: set[str] = set()
    out: list[Attachment] = []
    for item in attachments:
        key = (item.path, item.attachment_for)
        if key in seen:
            continue
        seen.add(key)
        name = entry_name(item.name)
        if name in used:
            pure = PurePosixPath(name)
            stem, suffix = (pure.stem, pure.suffix) if pure.stem else (name, "")
            n = 2
            while f"{stem}-{n}{suffix}" in used:
                n += 1
            name = f"{stem}-{n}{suffix}"
        used.add(name)
        out.append(replace(item, name=name))
    return tuple(out)
