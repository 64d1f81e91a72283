"""Find the files a package carries: markers and properties in a report, and ``--attach`` globs.

Every candidate is confined to the working directory after resolving symlinks: a path that
leads outside is refused with a warning and never opened. Missing files are warnings too.
Names inside ``attachments/`` are base names, made unique deterministically (``a.png``,
``a-2.png`` ...).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lxml import etree

from jux_submit.models import Attachment, ReportFile

#: The Jenkins JUnit-attachments convention, in system-out / system-err.
MARKER_RE = re.compile(r"\[\[ATTACHMENT\|([^\]\r\n]+)\]\]")
ATTACHMENT_PROPERTY = "attachment"
# cheap pre-check before parsing a report again (ASCII-compatible encodings only)
_HINTS = (b"[[ATTACHMENT|", b"attachment")
_SCAN_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class AttachmentRef:
    """One reference found in a report: the text as written, the test it belongs to, where."""

    target: str
    attachment_for: str | None
    origin: str  # e.g. "[[ATTACHMENT|x.png]] in system-out of pkg.Cls.test"


@dataclass(frozen=True)
class AttachmentSet:
    """Files allowed into a package, and warnings for those refused or missing."""

    attachments: tuple[Attachment, ...] = ()
    warnings: tuple[str, ...] = ()

    def __add__(self, other: AttachmentSet) -> AttachmentSet:
        return AttachmentSet(self.attachments + other.attachments, self.warnings + other.warnings)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


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
        name = _local(elem.tag)
        if name in ("system-out", "system-err"):
            parent = elem.getparent()
            is_case = parent is not None and _local(parent.tag) == "testcase"
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


def _inside(real: Path, root: Path) -> bool:
    return real == root or root in real.parents


def resolve_references(
    refs: Sequence[AttachmentRef], report: ReportFile, working_directory: Path
) -> AttachmentSet:
    """Turn references into attachments: relative paths are tried against the report's folder,
    then the working directory; anything resolving outside the working directory is refused
    (never opened), anything not found is a warning."""
    if not refs:  # the usual case: no filesystem work at all
        return AttachmentSet((), ())
    root = working_directory.resolve()
    found: list[Attachment] = []
    warnings: list[str] = []
    for ref in refs:
        target = Path(ref.target)
        candidates = (
            [target] if target.is_absolute() else [report.path.parent / target, root / target]
        )
        accepted: Path | None = None
        refused: Path | None = None
        for candidate in candidates:
            real = Path(os.path.realpath(candidate))
            if not _inside(real, root):
                refused = refused or real
                continue
            if real.is_file():
                accepted = real
                break
        if accepted is not None:
            found.append(Attachment(accepted, accepted.name, ref.attachment_for))
        elif refused is not None:
            warnings.append(
                f"{report.relpath}: attachment refused: {ref.origin} resolves to {refused}, "
                f"outside the working directory {root}; it was not read"
            )
        else:
            warnings.append(
                f"{report.relpath}: attachment not found: {ref.origin} "
                f"(looked in {report.path.parent} and {root}); the report is sent without it"
            )
    return AttachmentSet(tuple(found), tuple(warnings))


def collect_globbed(patterns: Sequence[str], working_directory: Path) -> AttachmentSet:
    """Files matching the ``--attach`` globs (relative to the working directory), confined to
    it after resolving symlinks; a glob matching nothing is a warning."""
    from jux_submit.discover import discover_reports

    root = working_directory.resolve()
    found: list[Attachment] = []
    warnings: list[str] = []
    for pattern in patterns:
        discovery = discover_reports([pattern], root)
        warnings.extend(discovery.warnings)
        if not discovery.files:
            warnings.append(f"--attach {pattern}: no file matched")
        for file in discovery.files:
            real = Path(os.path.realpath(file.path))
            if not _inside(real, root):
                warnings.append(
                    f"--attach {pattern}: {file.relpath} resolves to {real}, outside the "
                    f"working directory {root}; it was not read"
                )
                continue
            found.append(Attachment(real, real.name))
    return AttachmentSet(tuple(found), tuple(warnings))


def unique_names(attachments: Iterable[Attachment]) -> tuple[Attachment, ...]:
    """Drop exact repeats (same file for the same test) and make names unique, in order:
    the first ``a.png`` keeps its name, later ones become ``a-2.png``, ``a-3.png`` ..."""
    seen: set[tuple[Path, str | None]] = set()
    used: set[str] = set()
    out: list[Attachment] = []
    for item in attachments:
        key = (item.path, item.attachment_for)
        if key in seen:
            continue
        seen.add(key)
        name = item.name
        if name in used:
            pure = PurePosixPath(name)
            stem, suffix = (pure.stem, pure.suffix) if pure.stem else (name, "")
            n = 2
            while f"{stem}-{n}{suffix}" in used:
                n += 1
            name = f"{stem}-{n}{suffix}"
        used.add(name)
        out.append(Attachment(item.path, name, item.attachment_for))
    return tuple(out)
