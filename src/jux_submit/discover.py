"""Find report files: glob patterns with ``**`` and ``!`` exclusions, relative to a folder.

Walks each pattern's literal base folder once, never descends into ``.git``, ``node_modules``,
``.venv`` or the outbox, and never follows symlinked folders (so loops cannot hang it).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from jux_submit.models import Record, ReportFile, record

SKIPPED_DIRS = frozenset(
    {".git", "node_modules", ".venv", ".hg", ".svn", "__pycache__", ".tox", ".jux-outbox"}
)
_MAGIC = re.compile(r"[*?\[]")


@record
class Discovery(Record):
    """What discovery found: files in sorted order, plus warnings (unreadable folders...)."""

    files: tuple[ReportFile, ...]
    warnings: tuple[str, ...] = ()


@lru_cache(maxsize=256)
def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob (``*``, ``?``, ``[...]``, ``**``) matching '/'-separated relative paths."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                at_start = i == 0 or pattern[i - 1] == "/"
                j = i + 2
                if at_start and j < n and pattern[j] == "/":
                    out.append("(?:.*/)?")  # '**/' matches zero or more folders
                    i = j + 1
                    continue
                if at_start and j == n:
                    out.append(".*")
                    i = j
                    continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _normalise(pattern: str) -> str:
    pattern = pattern.strip().replace("\\", "/")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern


def _literal_base(pattern: str) -> str:
    """The leading folders of a pattern that contain no wildcard ('' for the root)."""
    parts = pattern.split("/")
    base: list[str] = []
    for part in parts[:-1]:
        if _MAGIC.search(part):
            break
        base.append(part)
    return "/".join(base)


def _walk(
    root: Path, rel: str, skip: frozenset[str], warnings: list[str]
) -> Iterator[tuple[str, os.DirEntry[str], Path]]:
    """Yield (relative path, entry, its folder) for every non-directory below ``root/rel``
    (the folder's ``Path`` made once: joining a name to it costs half of parsing a path)."""
    stack = [rel]
    while stack:
        current = stack.pop()
        folder = root / current if current else root
        try:
            with os.scandir(folder) as entries:
                listing = list(entries)
        except FileNotFoundError:
            continue
        except OSError as exc:
            warnings.append(f"cannot list folder {current or '.'}: {exc.strerror or exc}")
            continue
        for entry in listing:
            relpath = f"{current}/{entry.name}" if current else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if entry.name not in skip and relpath not in skip:
                    stack.append(relpath)
            else:
                yield relpath, entry, folder


def _is_link(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_symlink()
    except OSError:  # no type from the listing, and the file is gone
        return False


def _known_real(entry: os.DirEntry[str]) -> str | None:
    try:
        return None if entry.is_symlink() else entry.path
    except OSError:
        return None


def printable(relpath: str) -> str:
    """A path as text every output can carry: bytes that are not UTF-8 (kept by the
    filesystem as surrogate escapes) become U+FFFD."""
    try:
        relpath.encode("utf-8")
    except UnicodeEncodeError:
        return relpath.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return relpath


def discover_reports(
    patterns: Sequence[str], root: Path, *, extra_skip: Sequence[str] = ()
) -> Discovery:
    """Match ``patterns`` below ``root``; returns files sorted by relative path.

    Patterns starting with ``!`` exclude. Symlinked files are followed (and de-duplicated by
    their real path); symlinked folders are not. Entries that are not regular files after
    following links (folders named ``x.xml``, broken links, sockets) are skipped silently;
    files that cannot be read are still returned, so that validation reports them.
    """
    includes = [_normalise(p) for p in patterns if p.strip() and not p.strip().startswith("!")]
    excludes = [_normalise(p.strip()[1:]) for p in patterns if p.strip().startswith("!")]
    skip = SKIPPED_DIRS | frozenset(s.strip("/") for s in extra_skip if s)
    warnings: list[str] = []
    root = root.resolve()

    absolute = [p for p in includes if p.startswith("/")]
    relative = [p for p in includes if not p.startswith("/")]
    include_res = [pattern_regex(p) for p in relative]
    exclude_res = [pattern_regex(p) for p in excludes if not p.startswith("/")]

    bases = sorted({_literal_base(p) for p in relative}, key=len)
    walk_roots: list[str] = []
    for base in bases:
        if not any(b in (base, "") or base.startswith(b + "/") for b in walk_roots):
            walk_roots.append(base)

    found: dict[str, tuple[ReportFile, str]] = {}

    def consider(
        relpath: str, path: Path, entry: os.DirEntry[str], real: str | None = None
    ) -> None:
        """``real``: the path's known real path (saves ``realpath``'s lstat per component)."""
        relpath = printable(relpath)
        try:
            info = entry.stat()  # follows a link, as Path.stat would
        except PermissionError:
            found.setdefault(relpath, (ReportFile(path, relpath, 0), relpath))
            return
        except OSError as exc:
            if _is_link(entry):
                warnings.append(
                    f"{relpath}: skipped, symbolic link that cannot be followed "
                    f"({exc.strerror or exc})"
                )
            return
        if stat.S_ISREG(info.st_mode):
            found[relpath] = (
                ReportFile(path, relpath, info.st_size),
                real if real is not None else os.path.realpath(path),
            )

    for base in walk_roots:
        # Below a base without links, _walk enters no linked folder: a file that is not a link
        # itself is its own real path (realpath costs an lstat per component, issue 7).
        base_path = str(root / base) if base else str(root)
        is_base_real = os.path.realpath(base_path) == base_path
        for relpath, entry, folder in _walk(root, base, skip, warnings):
            if any(rx.match(relpath) for rx in include_res) and not any(
                rx.match(relpath) for rx in exclude_res
            ):
                real = _known_real(entry) if is_base_real else None
                consider(relpath, folder / entry.name, entry, real)

    for pattern in absolute:
        base = _literal_base(pattern) or "/"
        rx = pattern_regex(pattern.lstrip("/"))
        for relpath, entry, folder in _walk(Path("/"), base.lstrip("/"), skip, warnings):
            if rx.match(relpath):
                path = folder / entry.name
                try:
                    shown = path.relative_to(root).as_posix()
                except ValueError:
                    shown = str(path)
                if not any(x.match(shown) for x in exclude_res):
                    consider(shown, path, entry)

    # the same file reached through links counts once, under its first path in sorted order
    files: list[ReportFile] = []
    seen_real: set[str] = set()
    for relpath in sorted(found):
        report, real = found[relpath]
        if real not in seen_real:
            seen_real.add(real)
            files.append(report)
    return Discovery(files=tuple(files), warnings=tuple(warnings))
