"""Add metadata ``<property>`` elements to the first ``<testsuite>`` of a report.

The report is edited as bytes, not re-serialised: only the first suite's ``<properties>`` block
changes, so text, CDATA, comments, the encoding declaration and every other byte survive. The
result is a new head plus the offset where the untouched rest of the file resumes, which lets
large reports be streamed from disk. Precedence (CONTRACT.md): explicit settings replace every
occurrence of their name, detected values only fill gaps (a blank value counts as missing),
everything else already there stays.
"""

from __future__ import annotations

import codecs
import functools
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jux_submit import __version__
from jux_submit.detect import default_project
from jux_submit.models import CIContext, Record, record

if TYPE_CHECKING:
    from datetime import datetime

SUBMITTER = f"jux-submit/{__version__}"
_HEAD_READ = 64 * 1024
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ATTR_RE = re.compile(rb"""([^\s=/>]+)\s*=\s*("([^"]*)"|'([^']*)')""")


@record
class Metadata(Record):
    """Properties to write: ``explicit`` ones replace, ``detected`` ones fill gaps."""

    explicit: tuple[tuple[str, str], ...] = ()
    detected: tuple[tuple[str, str], ...] = ()


def _utc_text(when: datetime | None) -> str:
    """``when`` (default: now, in UTC) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if when is None:  # without importing datetime: the usual case
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _hostname() -> str:
    if hasattr(os, "uname"):  # what socket.gethostname() returns on POSIX, without importing it
        return os.uname().nodename
    import socket

    return socket.gethostname()


def build_metadata(
    context: CIContext,
    *,
    cwd: Path,
    explicit_names: Sequence[str],
    environment: str,
    tags: Sequence[str],
    env_vars: Sequence[str],
    environ: Mapping[str, str],
    timestamp: datetime | None = None,
) -> Metadata:
    """Turn the CI context and settings into the properties of CONTRACT.md.

    ``explicit_names`` lists the property names the user set explicitly (``project``,
    ``git:branch``, ``git:commit``, ``jux:environment``, ``jux:tags``); those replace what a
    report already has.
    """
    values: dict[str, str | None] = {
        "project": context.project or default_project(context, cwd),
        "git:branch": context.branch,
        "git:commit": context.commit,
        "git:tag": context.tag,
        "git:remote": context.repository_url,
        "ci:provider": context.provider,
        "ci:build_id": context.build_id,
        "ci:build_number": context.build_number,
        "ci:build_url": context.build_url,
        "ci:job_name": context.job_name,
        "ci:job_id": context.job_id,
        "ci:job_url": context.job_url,
        "ci:run_attempt": context.run_attempt,
        "ci:pull_request": context.pull_request,
        "ci:pr_source_branch": context.pr_source_branch,
        "ci:pr_target_branch": context.pr_target_branch,
        "ci:merge_commit": context.merge_commit,
        "ci:repository": context.repository,
        "ci:actor": context.actor,
        "ci:event": context.event,
        "jux:environment": environment,
        "jux:tags": ",".join(tags) if tags else None,
        "jux:submitter": SUBMITTER,
        "jux:hostname": _hostname(),
        "jux:timestamp": _utc_text(timestamp),
    }
    explicit: list[tuple[str, str]] = []
    detected: list[tuple[str, str]] = []
    for name, value in values.items():
        if value in (None, ""):
            continue
        (explicit if name in explicit_names else detected).append((name, str(value)))
    for var in env_vars:
        if var in environ:
            explicit.append((f"env:{var}", environ[var]))
    return Metadata(tuple(explicit), tuple(detected))


def plan_properties(
    existing: Sequence[tuple[str, str]], metadata: Metadata, source_file: str | None
) -> tuple[tuple[tuple[str, str], ...], frozenset[str]]:
    """Decide what to add and which existing names to drop, given the first suite's properties.

    Returns (properties to add, names whose existing occurrences are removed).
    """
    present: set[str] = set()
    blank: set[str] = set()
    for name, value in existing:
        (present if value.strip() else blank).add(name)
    add: list[tuple[str, str]] = []
    remove: set[str] = set()
    for name, value in metadata.explicit:
        add.append((name, value))
        if name in present or name in blank:
            remove.add(name)
    explicit_names = {name for name, _ in metadata.explicit}
    detected = list(metadata.detected)
    if source_file:
        detected.append(("jux:source_file", source_file))
    for name, value in detected:
        if name in explicit_names or name in present:
            continue
        add.append((name, value))
        if name in blank:
            remove.add(name)
    return tuple(add), frozenset(remove)


# --- byte-level editing -----------------------------------------------------------------


@record
class Splice(Record):
    """The enriched document = ``head`` + original bytes from ``resume_at`` to the end."""

    head: bytes
    resume_at: int


class _NeedMoreError(Exception):
    """The scanned prefix ended before the first suite's properties did."""


def _escape_attr(value: str) -> str:
    value = _INVALID_XML_CHARS.sub("\ufffd", value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
    )


_XML_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _unescape_attr(value: str) -> str:
    def sub(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.startswith("#x"):
            return chr(int(ref[2:], 16))
        if ref.startswith("#"):
            return chr(int(ref[1:]))
        return _XML_ENTITIES.get(ref, match.group(0))

    return re.sub(r"&(#x[0-9a-fA-F]+|#[0-9]+|\w+);", sub, value)


@functools.lru_cache(maxsize=1024)
def _property_element(name: str, value: str, encoding: str) -> bytes:
    """``<property name=".." value=".."/>`` escaped and encoded; cached, as every report of a
    run gets the same metadata."""
    text = f'<property name="{_escape_attr(name)}" value="{_escape_attr(value)}"/>'
    return text.encode(encoding, "xmlcharrefreplace")


def _skip(data: bytes, pos: int, end_marker: bytes) -> int:
    end = data.find(end_marker, pos)
    if end == -1:
        raise _NeedMoreError
    return end + len(end_marker)


_TAG_SPECIAL = re.compile(rb"[\"'>]")


def _tag_end(data: bytes, pos: int) -> int:
    """Index just after the '>' closing the tag that starts at ``pos`` (quotes respected)."""
    # Jumps from quote to matching quote with C-level searches: a byte-by-byte loop here was
    # the largest cost of a dry run over many small reports (benchmarks/RESULTS.md).
    i = pos
    while True:
        match = _TAG_SPECIAL.search(data, i)
        if match is None:
            raise _NeedMoreError
        j = match.start()
        if data[j] == 0x3E:
            return j + 1
        close = data.find(data[j : j + 1], j + 1)
        if close == -1:
            raise _NeedMoreError
        i = close + 1


def _local(name: bytes) -> bytes:
    return name.rsplit(b":", 1)[-1]


_NAME_RE = re.compile(rb"<([^\s/>]+)")


@dataclass(eq=False, repr=False)
class _Tag(Record):
    """One tag found while scanning for the first suite's properties."""

    kind: str  # "start", "end", "empty"
    name: bytes
    start: int
    end: int


# A complete start or empty-element tag, quoted values respected: the same name as _NAME_RE
# and the same end as _tag_end, found in one C-level match (possessive, so no backtracking).
_START_TAG_RE = re.compile(rb"""<([^\s/>"']+)(?=[\s/>])(?:[^"'>]++|"[^"]*+"|'[^']*+')*+>""")


def _next_tag(data: bytes, pos: int) -> _Tag:
    """The next element tag at or after ``pos``, skipping comments, PIs, CDATA and DOCTYPE."""
    while True:
        i = data.find(b"<", pos)
        if i == -1:
            raise _NeedMoreError
        if data[i + 1 : i + 2] not in (b"?", b"!", b"/", b""):  # fast path: a start tag
            match = _START_TAG_RE.match(data, i)
            if match is not None:
                end = match.end()
                kind = "empty" if data[end - 2 : end - 1] == b"/" else "start"
                return _Tag(kind, match.group(1), i, end)
        if data.startswith(b"<?", i):
            pos = _skip(data, i, b"?>")
        elif data.startswith(b"<!--", i):
            pos = _skip(data, i, b"-->")
        elif data.startswith(b"<![CDATA[", i):
            pos = _skip(data, i, b"]]>")
        elif data.startswith(b"<!", i):
            pos = _tag_end(data, i)
        elif data.startswith(b"</", i):
            end = _skip(data, i, b">")
            return _Tag("end", data[i + 2 : end - 1].strip(), i, end)
        else:
            match = _NAME_RE.match(data, i)
            if not match:
                raise _NeedMoreError
            end = _tag_end(data, i)
            kind = "empty" if data[end - 2 : end - 1] == b"/" else "start"
            return _Tag(kind, match.group(1), i, end)


def _attributes(tag_bytes: bytes, encoding: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _ATTR_RE.finditer(tag_bytes):
        raw = match.group(3) if match.group(3) is not None else match.group(4)
        attrs[match.group(1).decode(encoding, "replace")] = _unescape_attr(
            raw.decode(encoding, "replace")
        )
    return attrs


def _skip_element(data: bytes, tag: _Tag) -> int:
    """Index just after the element whose start tag is ``tag`` (nested elements skipped)."""
    if tag.kind == "empty":
        return tag.end
    depth = 1
    pos = tag.end
    while depth:
        nxt = _next_tag(data, pos)
        if nxt.kind == "start":
            depth += 1
        elif nxt.kind == "end":
            depth -= 1
        pos = nxt.end
    return pos


def _line_start_indent(data: bytes, index: int) -> bytes:
    line_start = data.rfind(b"\n", 0, index) + 1
    prefix = data[line_start:index]
    return prefix if prefix.strip() == b"" else b""


def splice_properties(
    data: bytes,
    add: Sequence[tuple[str, str]],
    remove: frozenset[str],
    encoding: str,
    *,
    has_properties: bool = True,
) -> Splice:
    """Plan the edit of the first suite's properties inside ``data`` (a prefix of the file).

    Raises ``_NeedMoreError`` when ``data`` ends too early: the caller reads more and retries.
    With ``has_properties`` False the suite's children are not searched (the caller knows
    there is no ``<properties>``): the block goes right after the start tag.
    """
    pos = 0
    while True:
        tag = _next_tag(data, pos)
        if tag.kind != "end" and _local(tag.name) == b"testsuite":
            break
        if _local(tag.name) == b"testsuites" and tag.kind in ("end", "empty"):
            # a <testsuites> root without any suite (jest-junit, go-junit-report for zero
            # tests): the metadata goes into an empty suite of its own
            return _add_empty_suite(data, tag, add, encoding)
        pos = tag.end

    suite_indent = _line_start_indent(data, tag.start)
    child_indent = suite_indent + b"  "

    def render(props: Sequence[tuple[str, str]], indent: bytes) -> bytes:
        return b"".join(b"\n" + indent + _property_element(n, v, encoding) for n, v in props)

    if tag.kind == "empty":
        if not add:
            return Splice(b"", 0)
        close = b"</" + tag.name + b">"
        block = (
            b"\n"
            + child_indent
            + b"<properties>"
            + render(add, child_indent + b"  ")
            + b"\n"
            + child_indent
            + b"</properties>\n"
            + suite_indent
            + close
        )
        slash = data.rindex(b"/", tag.start, tag.end)
        return Splice(data[:slash].rstrip() + b">" + block, tag.end)

    # Look through the suite's direct children for <properties>.
    pos = tag.end
    first_child: _Tag | None = None
    if not has_properties:
        if not add:
            return Splice(b"", 0)
        try:  # indent like the first child when it is within reach
            first_child = _next_tag(data, pos)
        except _NeedMoreError:
            first_child = None
        if first_child is not None and first_child.kind != "end":
            child_indent = _line_start_indent(data, first_child.start) or child_indent
        return Splice(data[: tag.end] + _properties_block(add, child_indent, render), tag.end)
    while True:
        child = _next_tag(data, pos)
        if child.kind == "end":  # end of the suite: no <properties>
            break
        if first_child is None:
            first_child = child
        if _local(child.name) == b"properties":
            return _edit_properties(data, child, add, remove, encoding, render)
        pos = _skip_element(data, child)
    if not add:
        return Splice(b"", 0)
    if first_child is not None:
        child_indent = _line_start_indent(data, first_child.start) or child_indent
    return Splice(data[: tag.end] + _properties_block(add, child_indent, render), tag.end)


def _properties_block(
    add: Sequence[tuple[str, str]],
    indent: bytes,
    render: Callable[[Sequence[tuple[str, str]], bytes], bytes],
) -> bytes:
    return (
        b"\n"
        + indent
        + b"<properties>"
        + render(add, indent + b"  ")
        + b"\n"
        + indent
        + b"</properties>"
    )


EMPTY_SUITE_NAME = "(no test suites)"


def _add_empty_suite(
    data: bytes, tag: _Tag, add: Sequence[tuple[str, str]], encoding: str
) -> Splice:
    """Insert ``<testsuite tests="0">`` carrying the properties into a ``<testsuites>`` root
    that has none (``tag`` is its end tag, or the root itself when self-closing)."""
    if not add:
        return Splice(b"", 0)
    indent = _line_start_indent(data, tag.start) + b"  "
    props = b"".join(b"\n" + indent + b"    " + _property_element(n, v, encoding) for n, v in add)
    suite = (
        b"\n"
        + indent
        + f'<testsuite name="{EMPTY_SUITE_NAME}" tests="0" failures="0" errors="0" '
        'skipped="0">'.encode(encoding)
        + b"\n"
        + indent
        + b"  <properties>"
        + props
        + b"\n"
        + indent
        + b"  </properties>\n"
        + indent
        + b"</testsuite>\n"
    )
    if tag.kind == "empty":
        slash = data.rindex(b"/", tag.start, tag.end)
        closing = b"</" + tag.name + b">"
        return Splice(data[:slash].rstrip() + b">" + suite + closing, tag.end)
    return Splice(data[: tag.start].rstrip() + suite, tag.start)


def _edit_properties(  # noqa: PLR0917 - private helper of splice_properties
    data: bytes,
    props_tag: _Tag,
    add: Sequence[tuple[str, str]],
    remove: frozenset[str],
    encoding: str,
    render: Callable[[Sequence[tuple[str, str]], bytes], bytes],
) -> Splice:
    props_indent = _line_start_indent(data, props_tag.start)
    if props_tag.kind == "empty":
        if not add:
            return Splice(b"", 0)
        inner = props_indent + b"  "
        block = b"<properties>" + render(add, inner) + b"\n" + props_indent + b"</properties>"
        return Splice(data[: props_tag.start] + block, props_tag.end)
    if not remove and add:
        fast = _append_to_simple_properties(data, props_tag, add, render)
        if fast is not None:
            return fast
    pieces: list[bytes] = [data[: props_tag.end]]
    pos = props_tag.end
    cursor = props_tag.end
    prop_indent: bytes | None = None
    while True:
        child = _next_tag(data, pos)
        if child.kind == "end":
            closing = child
            break
        end = _skip_element(data, child)
        if _local(child.name) == b"property":
            if prop_indent is None:
                prop_indent = _line_start_indent(data, child.start)
            # the name matters only when something is removed: skip decoding it otherwise
            name = (
                _attributes(data[child.start : child.end], encoding).get("name") if remove else None
            )
            if name is not None and name in remove:
                # drop the element and the whitespace before it on its line
                cut_from = child.start
                line_start = data.rfind(b"\n", cursor, child.start)
                if line_start != -1 and data[line_start : child.start].strip() == b"":
                    cut_from = line_start
                pieces.append(data[cursor:cut_from])
                cursor = end
        pos = end
    if not add and cursor == props_tag.end:
        return Splice(b"", 0)
    tail = data[cursor : closing.start]
    if add:
        indent = prop_indent if prop_indent is not None else props_indent + b"  "
        pieces.append(tail.rstrip())
        pieces.append(render(add, indent))
        pieces.append(b"\n" + _line_start_indent(data, closing.start))
    else:
        pieces.append(tail)
    return Splice(b"".join(pieces), closing.start)


# Whitespace and empty-element tags only, then the closing tag: the usual <properties> block.
_SIMPLE_CHILDREN_RE = re.compile(
    rb"""(?:\s*+<[^\s/>"'!?]+(?=[\s/>])(?:[^"'>/]++|/(?!>)|"[^"]*+"|'[^']*+')*+/>)*+\s*+(</)[^>]*+>"""
)


def _append_to_simple_properties(
    data: bytes,
    props_tag: _Tag,
    add: Sequence[tuple[str, str]],
    render: Callable[[Sequence[tuple[str, str]], bytes], bytes],
) -> Splice | None:
    """``_edit_properties``'s result when nothing is removed and the block holds only empty
    ``<property/>``-like elements (one regex match instead of a tag-by-tag walk); None when
    the block is anything else, and the walk decides."""
    match = _SIMPLE_CHILDREN_RE.match(data, props_tag.end)
    if match is None:
        return None
    closing_start = match.start(1)
    first = data.find(b"<", props_tag.end, closing_start)
    prop_indent: bytes | None = None
    if first != -1:
        name = _NAME_RE.match(data, first)
        if name is None or _local(name.group(1)) != b"property":
            return None  # the walk finds the first <property> further on
        prop_indent = _line_start_indent(data, first)
    indent = (
        prop_indent
        if prop_indent is not None
        else _line_start_indent(data, props_tag.start) + b"  "
    )
    head = (
        data[:closing_start].rstrip()
        + render(add, indent)
        + b"\n"
        + _line_start_indent(data, closing_start)
    )
    return Splice(head, closing_start)


def _is_ascii_compatible(encoding: str) -> bool:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return not name.startswith(("utf-16", "utf-32", "utf_16", "utf_32", "cp037", "cp500"))


def enrich_file(
    path: Path,
    size: int,
    add: Sequence[tuple[str, str]],
    remove: frozenset[str],
    encoding: str,
    *,
    content: bytes | None = None,
    has_properties: bool = True,
) -> Splice:
    """Compute the splice for the report at ``path``, reading as little of it as needed.

    ``has_properties`` False (validation saw the whole first suite without a
    ``<properties>`` child) lets the splice stop at the suite's start tag: a 200 MB suite is
    then read only up to there, instead of to its end to learn that there is none.

    ``content`` is the whole file when the caller has already read it (a small report): the
    file is then not opened again. For encodings that are not ASCII-compatible (UTF-16/32)
    the document is decoded, edited and re-encoded whole; such reports are rare and small.
    Raises ``ValueError`` if the first suite cannot be found (which validation rules out).
    """
    if not add and not remove:
        return Splice(b"", 0)
    if not _is_ascii_compatible(encoding):
        raw = path.read_bytes() if content is None else content
        codec = codecs.lookup(encoding).name
        text = raw.decode(codec)
        had_bom = text.startswith("\ufeff") and codec not in ("utf-16", "utf-32")
        text = text.lstrip("\ufeff")
        body = text.encode("utf-8")
        splice = splice_properties(body, add, remove, "utf-8")
        merged = (splice.head + body[splice.resume_at :]).decode("utf-8")
        return Splice((("\ufeff" if had_bom else "") + merged).encode(codec), len(raw))
    if content is not None:
        try:
            return splice_properties(content, add, remove, encoding)
        except _NeedMoreError:
            raise ValueError(f"{path}: first <testsuite> not found") from None
    chunk = _HEAD_READ
    with path.open("rb") as handle:
        while True:
            handle.seek(0)
            data = handle.read(chunk)
            try:
                return splice_properties(data, add, remove, encoding, has_properties=has_properties)
            except _NeedMoreError:
                if len(data) >= size or chunk >= size:
                    raise ValueError(f"{path}: first <testsuite> not found") from None
                chunk *= 4
