"""TAP (Test Anything Protocol) 12/13/14 streams, converted to JUnit: one suite per (sub)test
block.

Mapping (https://testanything.org/tap-version-14-specification.html):

======================================  ============================================================
TAP                                     JUnit
======================================  ============================================================
the stream                              a suite named ``TAP`` (a stream names nothing)
``ok N - description``                  a passed ``<testcase>``: ``name`` the description with
                                        TAP's escapes ``\\#`` and ``\\\\`` undone and the `` - ``
                                        separator dropped, exact otherwise (unicode kept; a ``#``
                                        that starts no directive, as bats writes it, stays in the
                                        name); no description: ``test N``; ``classname`` the
                                        suite's name
``not ok``                              ``<failure>``: ``message`` the first line of the YAML
                                        ``message`` or ``error``, else of the first diagnostic
                                        (``#``) line after it, else ``not ok``; ``type`` the YAML
                                        ``name`` (node's error class); body the YAML block as
                                        written, then the diagnostics
``... # SKIP reason``                    ``<skipped message="reason">``, after ``ok`` or ``not ok``
``not ok ... # TODO reason``            ``<skipped message="TODO: reason">``: an expected failure
                                        is no failure (TAP: a failing TODO does not fail the run);
                                        body the diagnostics
``ok ... # TODO reason``                passed, with the case property ``tap:todo`` = reason (a TODO
                                        that unexpectedly passes)
subtest (indented block, TAP 14;        a nested suite named by the parent's description (or
``# Subtest: name`` header)             its ``# Subtest:`` header), flattened as
                                        ``TAP / parent / child``; the parent's own line is not
                                        counted again (its result is its subtests'), unless it
                                        failed with no failing subtest (node: a failing hook):
                                        then it is a failure case too; a TODO parent makes its
                                        subtests' failures TODO
YAML ``duration_ms``                    ``time``, in seconds (node, bats ``--timing``); of a parent,
                                        the nested suite's ``time``
``# diagnostic`` lines                  after a test line: its diagnostics (the failure body, or
                                        the ``<system-out>`` of a passing case); before any test
                                        line, after the closing plan, or ``# Looks like ...``: the
                                        suite's ``<system-out>``
other lines                             output: the ``<system-out>`` of the test line before them
``1..N`` with another count of tests    an ``<error>`` case ``[plan]``: ``planned N tests, ran M``;
                                        no plan at all at the top: ``[plan]`` too (a cut stream)
``1..0 # SKIP reason``                  no case; the reason is the suite's ``<system-out>``
``Bail out! reason``                    an ``<error>`` case ``Bail out!``, message the reason; what
                                        follows is not read
``TAP version``, ``pragma``             no effect
======================================  ============================================================

The parser is our own, small and line-based. ``tap.py`` (the ``tappy`` project, 3.2.1) was
evaluated and not used: it reads no TAP 14 subtest (indented lines are ``Unknown``, with their
text dropped, so the nesting cannot be rebuilt from its output), it does not undo the ``\\#``
escape (a name with ``\\#`` is cut there and the rest taken as a directive), it keeps the
`` - `` separator in descriptions, and it parses YAML blocks only after a ``TAP version 13``
line and only with ``more-itertools`` installed, printing to stdout when a block is not YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from jux_submit.formats.base import Conversion, ConversionError, ReportFormat
from jux_submit.formats.junit import Case, Outcome, Suite, write_junit

NAME = "tap"
ROOT = "TAP"
_VERSION = re.compile(r"^TAP version \d+\s*$")
_PLAN = re.compile(r"^1\.\.(\d+)\s*(?:#\s*(.*))?$")
_POINT = re.compile(r"^(not )?ok\b(.*)$")
#: a first line that is a test point: "ok", "ok 1 ...", "ok - ..." (not go's "ok  \tpkg")
_FIRST_POINT = re.compile(r"^(?:not )?ok(?: +\d+\b| +- |\s*$)")
_NUMBER = re.compile(r"^[ \t]*(\d+)(?=\s|$)")
_DIRECTIVE = re.compile(r"^\s*(skip|todo)\S*(?:\s+(.*))?$", re.IGNORECASE)
_BAIL = re.compile(r"^Bail out!\s*(.*)$")
_SUBTEST = re.compile(r"^#\s*Subtest:?\s*(.*)$", re.IGNORECASE)
_PRAGMA = re.compile(r"^pragma [+-]")
_TRAILER = re.compile(r"^#\s*Looks like ")


@dataclass
class _Point:
    """One test line with what follows it."""

    ok: bool | None  # None: a subtest block that no test line closed
    number: int | None
    description: str
    directive: str | None = None  # "skip" / "todo"
    reason: str = ""
    yaml: dict[str, Any] | None = None
    yaml_text: str = ""
    diagnostics: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    subtest: _Block | None = None

    @property
    def name(self) -> str:
        if self.description:
            return self.description
        if self.subtest is not None and self.subtest.header:
            return self.subtest.header
        if self.ok is None:  # a subtest no test line closed, with no "# Subtest:" header
            return "(subtest)"
        return f"test {self.number}" if self.number is not None else "test"


@dataclass
class _Block:
    """The lines at one indentation: a stream, or a subtest."""

    indent: int
    header: str = ""  # from "# Subtest: name"
    points: list[_Point] = field(default_factory=list)
    plan: int | None = None
    plan_skip: str | None = None
    is_plan_last: bool = False
    preamble: list[str] = field(default_factory=list)
    trailer: list[str] = field(default_factory=list)
    pending: _Block | None = None  # a subtest block waiting for the test line closing it
    bail: str | None = None


class _Parser:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.index = 0
        self.bailed = False
        self.warnings: list[str] = []
        self.seen = 0  # test lines, plans and bail-outs

    def block(self, indent: int, header: str = "") -> _Block:
        block = _Block(indent, header)
        next_header = ""
        while self.index < len(self.lines) and not self.bailed:
            raw = self.lines[self.index]
            if not raw.strip():
                self.index += 1
                continue
            depth = _indent(raw)
            if depth < indent:
                break
            text = raw.strip()
            if depth > indent:
                if _starts_block(text):
                    self._close_pending(block)
                    block.pending = self.block(depth, next_header)
                    next_header = ""
                else:
                    self._attach(block, raw[indent:], is_comment=False)
                    self.index += 1
                continue
            self.index += 1
            if (match := _POINT.match(text)) is not None:
                point = _parse_point(match.group(1) is None, match.group(2))
                self._read_yaml(point, indent)
                point.subtest, block.pending = block.pending, None
                block.points.append(point)
                next_header = ""  # node heads every test line, subtest or not
                self.seen += 1
            elif (match := _PLAN.match(text)) is not None:
                block.plan = int(match.group(1))
                block.is_plan_last = bool(block.points)
                directive = _DIRECTIVE.match(match.group(2) or "")
                if directive and directive.group(1).lower() == "skip":
                    block.plan_skip = (directive.group(2) or "").strip()
                self.seen += 1
            elif (match := _BAIL.match(text)) is not None:
                block.bail = match.group(1).strip() or "(no reason given)"
                self.bailed = True
                self.seen += 1
            elif (match := _SUBTEST.match(text)) is not None:
                next_header = _unescape(match.group(1).strip())
            elif _VERSION.match(text) or _PRAGMA.match(text):
                continue
            else:
                self._attach(block, text, is_comment=text.startswith("#"))
        self._close_pending(block)
        return block

    def _close_pending(self, block: _Block) -> None:
        """A subtest block no test line closed (a bail-out or a cut stream) keeps its cases."""
        if block.pending is not None:
            block.points.append(_Point(ok=None, number=None, description="", subtest=block.pending))
            block.pending = None

    def _attach(self, block: _Block, text: str, *, is_comment: bool) -> None:
        if is_comment:
            text = text[1:].removeprefix(" ")
        if not block.points or block.is_plan_last:
            (block.trailer if block.points else block.preamble).append(text)
        elif is_comment and _TRAILER.match("#" + text):
            block.trailer.append(text)
        elif is_comment:
            block.points[-1].diagnostics.append(text)
        else:
            block.points[-1].output.append(text)

    def _read_yaml(self, point: _Point, indent: int) -> None:
        """The YAML block right after a test line, indented deeper: ``---`` to ``...``."""
        if self.index >= len(self.lines):
            return
        start = self.lines[self.index]
        depth = _indent(start)
        if start.strip() != "---" or depth <= indent:
            return
        body: list[str] = []
        self.index += 1
        while self.index < len(self.lines):
            line = self.lines[self.index]
            if line.strip() == "..." and _indent(line) == depth:
                self.index += 1
                break
            if line.strip() and _indent(line) < depth:
                break
            body.append(line[depth:])
            self.index += 1
        point.yaml_text = "\n".join(body).rstrip()
        try:
            loaded = yaml.safe_load(point.yaml_text) if point.yaml_text else None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1} of the block)" if mark is not None else ""
            self.warnings.append(
                f"the YAML block of {point.name!r} is not YAML{where}; kept as text"
            )
            loaded = None
        point.yaml = loaded if isinstance(loaded, dict) else None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _starts_block(text: str) -> bool:
    return bool(
        _POINT.match(text) or _PLAN.match(text) or _SUBTEST.match(text) or _BAIL.match(text)
    )


def _unescape(text: str) -> str:
    return re.sub(r"\\([\\#])", r"\1", text)


def _parse_point(is_ok: bool, rest: str) -> _Point:
    """A test line after ``ok``/``not ok``: number, description (escapes undone), directive."""
    number = None
    found = _NUMBER.match(rest)
    if found:
        number = int(found.group(1))
        rest = rest[found.end() :]
    rest = rest.strip()
    if rest.startswith("- ") or rest == "-":
        rest = rest[2:]
    chars: list[str] = []
    index = 0
    while index < len(rest):
        char = rest[index]
        if char == "\\" and index + 1 < len(rest) and rest[index + 1] in "\\#":
            chars.append(rest[index + 1])
            index += 2
            continue
        if char == "#":
            directive = _DIRECTIVE.match(rest[index + 1 :])
            if directive:
                return _Point(
                    ok=is_ok,
                    number=number,
                    description="".join(chars).strip(),
                    directive=directive.group(1).lower(),
                    reason=_unescape((directive.group(2) or "").strip()),
                )
        chars.append(char)
        index += 1
    return _Point(ok=is_ok, number=number, description="".join(chars).strip())


def sniff(head: bytes, name: str) -> bool:
    """True when the first line that is no ``#`` comment is ``TAP version N``, a plan
    ``1..N`` or a test line ``ok``/``not ok`` (numbered, or with `` - ``)."""
    text = _decode(head)[0]
    for line in text.splitlines()[:200]:
        stripped = line.rstrip()
        if not stripped or stripped.startswith("#"):
            continue
        return bool(
            _VERSION.match(stripped) or _PLAN.match(stripped) or _FIRST_POINT.match(stripped)
        )
    return False


def convert(data: bytes) -> Conversion:
    """JUnit XML for a TAP stream (see the module docstring). Raises ``ConversionError``
    when the input has no TAP plan, test line or bail-out."""
    text, warnings = _decode(data)
    parser = _Parser(text.splitlines())
    root = parser.block(0)
    if not parser.seen:
        raise ConversionError("no TAP plan (1..N), test line (ok / not ok) or 'Bail out!' found")
    suite = _suite(root, (ROOT,), todo=None, bailed=parser.bailed, is_top=True)
    xml = write_junit([suite], source_format=NAME)
    return Conversion(xml=xml, source_format=NAME, warnings=(*warnings, *parser.warnings))


def _decode(data: bytes) -> tuple[str, list[str]]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), ["bytes that are not UTF-8 were replaced by U+FFFD"]


def _seconds(point: _Point) -> float | None:
    value = (point.yaml or {}).get("duration_ms")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1000
    return None


def _suite(
    block: _Block, path: tuple[str, ...], *, todo: str | None, bailed: bool, is_top: bool
) -> Suite:
    classname = " / ".join(path)
    cases: list[Case] = []
    children: list[Suite] = []
    for point in block.points:
        if point.subtest is None:
            cases.append(_case(point, classname, todo))
            continue
        inner_todo = todo if point.directive != "todo" else (point.reason or "TODO")
        child = _suite(
            point.subtest, (*path, point.name), todo=inner_todo, bailed=bailed, is_top=False
        )
        children.append(_timed(child, _seconds(point)))
        is_failed = point.ok is False and point.directive is None and inner_todo is None
        if is_failed and not _has_failure(child):
            cases.append(_case(point, classname, todo))
    real = sum(point.ok is not None for point in block.points)
    if block.bail is not None:
        cases.append(
            Case(name="Bail out!", classname=classname, outcome=Outcome.ERROR, message=block.bail)
        )
    elif not bailed and block.plan is not None and block.plan != real:
        cases.append(
            Case(
                name="[plan]",
                classname=classname,
                outcome=Outcome.ERROR,
                message=f"planned {block.plan} tests, ran {real}",
            )
        )
    elif not bailed and is_top and block.plan is None:
        cases.append(
            Case(
                name="[plan]",
                classname=classname,
                outcome=Outcome.ERROR,
                message=f"no plan (1..N) after {real} test(s): the TAP stream may be cut short",
            )
        )
    out = [*block.preamble, *block.trailer]
    if block.plan_skip is not None:
        out.insert(0, f"1..0 # SKIP {block.plan_skip}".rstrip())
    return Suite(
        name=path[-1],
        cases=tuple(cases),
        suites=tuple(children),
        system_out="\n".join(out) + "\n" if out else "",
    )


def _timed(suite: Suite, seconds: float | None) -> Suite:
    return suite if seconds is None else replace(suite, time=seconds)


def _has_failure(suite: Suite) -> bool:
    return any(c.outcome in (Outcome.FAILURE, Outcome.ERROR) for c in suite.cases) or any(
        _has_failure(child) for child in suite.suites
    )


def _first_line(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return next((line.strip() for line in value.splitlines() if line.strip()), "")


def _case(point: _Point, classname: str, todo: str | None) -> Case:
    info = point.yaml or {}
    diagnostics = "\n".join(point.diagnostics)
    output = "\n".join(point.output)
    todo_reason = point.reason if point.directive == "todo" else todo
    details = _join(point.yaml_text, diagnostics)
    message = kind = ""
    properties: tuple[tuple[str, str], ...] = ()
    if point.directive == "skip":
        outcome, message, details, output = (
            Outcome.SKIPPED,
            point.reason,
            "",
            _join(diagnostics, output),
        )
    elif point.ok is False and todo_reason is not None:
        outcome, message = Outcome.SKIPPED, f"TODO: {todo_reason}" if todo_reason else "TODO"
    elif point.ok is False:
        outcome = Outcome.FAILURE
        message = (
            _first_line(info.get("message"))
            or _first_line(info.get("error"))
            or _first_line(diagnostics)
            or "not ok"
        )
        name = info.get("name")
        kind = name if isinstance(name, str) else ""
    else:
        outcome = Outcome.PASSED
        has_more = any(key != "duration_ms" for key in info)
        output = _join(point.yaml_text if has_more else "", diagnostics, output)
        details = ""
        if todo_reason is not None:
            properties = (("tap:todo", todo_reason),)
    return Case(
        name=point.name,
        classname=classname,
        time=_seconds(point),
        outcome=outcome,
        message=message,
        kind=kind,
        details=details,
        system_out=output,
        properties=properties,
    )


def _join(*parts: str) -> str:
    return "\n".join(part for part in parts if part)


FORMAT = ReportFormat(name=NAME, title="TAP (Test Anything Protocol)", sniff=sniff, convert=convert)
