"""Validate one report: hardened XML parse (no entities, no DTD, no network), with the number
rules of junitparser (checked against it by the tests).

Returns the counts and the facts enrichment needs (encoding, signature, the first suite's
properties), or a ``ValidationProblem`` with line and column. Never raises for a bad file.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
from typing import Any, TypedDict

from lxml import etree

from jux_submit.models import Counts, Record, ReportFile, ValidationProblem, ValidReport, record

XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
_SIGNATURE_TAG = f"{{{XMLDSIG_NS}}}Signature"
_SIGNED_INFO_TAG = f"{{{XMLDSIG_NS}}}SignedInfo"
_SIGNATURE_VALUE_TAG = f"{{{XMLDSIG_NS}}}SignatureValue"
FAKE_SIGNATURE_WARNING = (
    "the report has an XML Signature element without SignedInfo and SignatureValue: it is not "
    "a signature, so the report is treated as unsigned (metadata is added as usual)"
)


def is_signature(elem: etree._Element) -> bool:
    """A structural XML-DSig check: ``SignedInfo`` and a non-empty ``SignatureValue`` (the
    server verifies it; an empty ``<Signature/>`` must not stop metadata from being added)."""
    value = elem.find(_SIGNATURE_VALUE_TAG)
    return (
        elem.find(_SIGNED_INFO_TAG) is not None
        and value is not None
        and bool((value.text or "").strip())
    )


_ROOTS = ("testsuites", "testsuite")


@record
class Validated(Record):
    """A valid report plus the properties of its first ``<testsuite>`` (in document order).

    ``content`` is the whole file when it was small enough to be read at once, so that later
    stages need not read it again; None for a large report, which is streamed."""

    report: ValidReport
    first_suite_properties: tuple[tuple[str, str], ...]
    content: bytes | None = None
    warnings: tuple[str, ...] = ()
    #: the report re-encoded as UTF-8, when Python has no codec for its own encoding
    converted: bytes | None = None
    #: what was repaired in memory (``repair.Repair.describe``), when anything was
    repaired: str | None = None
    #: the first suite has a ``<properties>`` child (False: enrichment inserts one right
    #: after the suite's start tag without reading on through the suite)
    first_suite_has_properties: bool = True

    @property
    def text(self) -> bytes | None:
        """The bytes later stages edit and send (None: stream the file)."""
        return self.converted if self.converted is not None else self.content


_PROLOG_READ = 64 * 1024
_DOCTYPE_REFUSED = (
    "the document has a DOCTYPE declaration: JUnit reports have none, and entity "
    "declarations can read local files or expand without limit (XXE, billion laughs); "
    "it is refused"
)
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _has_doctype(head: bytes) -> bool:
    """True when the prolog (before the first element) declares a DOCTYPE.

    Checked before libxml2 sees the document, so no DTD or entity is ever processed.
    """
    encoding = "latin-1"
    for bom, name in _BOMS:
        if head.startswith(bom):
            encoding = name
            head = head[len(bom) :]
            break
    else:
        if head[:2] == b"<\x00":
            encoding = "utf-16-le"
        elif head[:2] == b"\x00<":
            encoding = "utf-16-be"
    text = head.decode(encoding, "ignore")
    pos = 0
    while True:
        start = text.find("<", pos)
        if start == -1:
            return False
        if text.startswith("<?", start):
            pos = text.find("?>", start)
        elif text.startswith("<!--", start):
            pos = text.find("-->", start)
        else:
            return text.startswith("<!DOCTYPE", start) or text.startswith("<!ENTITY", start)
        if pos == -1:
            return False


class _DenyResolver(etree.Resolver):
    """Refuses every external resource (defence in depth: DOCTYPEs are refused earlier)."""

    def resolve(  # type: ignore[override]  # lxml-stubs omit the context argument
        self, system_url: str | None, public_id: str | None, context: Any
    ) -> Any:
        return self.resolve_string("", context, base_url=None)


#: the guards of every parse (``make_parser``, ``hardened_iterparse``): no entity resolved, no
#: DTD loaded or validated, no network, comments and processing instructions dropped, no ID
#: table
class _Guards(TypedDict):
    resolve_entities: bool
    no_network: bool
    load_dtd: bool
    dtd_validation: bool
    remove_comments: bool
    remove_pis: bool
    collect_ids: bool


_HARDENED = _Guards(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)


def hardened_iterparse(
    source: Any,
    *,
    events: tuple[str, ...],
    tag: Any = None,
    huge_tree: bool = False,
) -> etree.iterparse:
    """``etree.iterparse`` with the same guards as ``make_parser``: no entities, no DTD, no
    network, every resolver refused."""
    parsed = etree.iterparse(source, events=events, tag=tag, huge_tree=huge_tree, **_HARDENED)
    parsed.resolvers.add(_DenyResolver())
    return parsed


def make_parser(*, huge_tree: bool = False) -> etree.XMLParser:
    """An lxml parser that resolves no entities, loads no DTD and touches no network."""
    parser = etree.XMLParser(huge_tree=huge_tree, **_HARDENED)
    parser.resolvers.add(_DenyResolver())
    return parser


def local_name(tag: object) -> str:
    """An element's tag without its namespace ("" for comments and the like)."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _line(elem: etree._Element) -> int | None:
    line = elem.sourceline
    return line if isinstance(line, int) else None


def _problem_from_syntax_error(
    exc: etree.XMLSyntaxError, data: bytes | None = None
) -> ValidationProblem:
    from jux_submit.repair import describe_syntax_error  # only for a broken report

    line: int | None
    column: int | None
    line, column = exc.position if exc.position else (None, None)
    # one line, never libxml2's "Unregistered error message"; the position is shown once,
    # by ValidationProblem
    message = describe_syntax_error(exc, data=data, with_position=False)
    if not line:
        line, column = None, None
    return ValidationProblem(f"not well-formed XML: {message}", line, column or None)


def _repaired_or_problem(
    file: ReportFile,
    exc: etree.XMLSyntaxError,
    *,
    huge_tree: bool,
    keep_content: bool,
    repair: bool,
) -> Validated | ValidationProblem:
    """A report made malformed by known producer breakage, validated again after an exact
    repair in memory (the file is not touched; the repaired bytes are what is sent); else the
    problem the parser found."""
    from jux_submit.repair import MAX_REPAIR_BYTES, repair_xml  # only for a broken report

    try:
        with file.path.open("rb") as handle:
            data = handle.read(MAX_REPAIR_BYTES + 1)
    except OSError:
        return _problem_from_syntax_error(exc)
    # a raw NUL byte is corruption (a file cut short by a crash, zeros written ahead), not
    # a producer's known breakage: such a file stays invalid
    is_repairable = repair and len(data) <= MAX_REPAIR_BYTES and b"\x00" not in data
    fixed = repair_xml(data) if is_repairable else None
    if fixed is None:
        problem = _problem_from_syntax_error(exc, data)
        could = not repair and len(data) <= MAX_REPAIR_BYTES and b"\x00" not in data
        if could and repair_xml(data) is not None:
            message = f"{problem.message} (a known producer breakage; --no-repair is set)"
            return dataclasses.replace(problem, message=message)
        return problem
    result = validate_report(
        file, huge_tree=huge_tree, keep_content=keep_content, converted=fixed.data
    )
    if isinstance(result, ValidationProblem):
        return result
    return dataclasses.replace(
        result,
        warnings=(*result.warnings, f"{fixed.describe()} (the file itself is unchanged)"),
        repaired=fixed.describe(),
    )


_OUTCOMES = ("failure", "error", "skipped")
#: the elements whose events reach Python; everything else is handled inside libxml2
_WATCHED = ("testsuites", "testsuite", "testcase", "{*}properties", _SIGNATURE_TAG)
_EVENTS = ("start", "end")


def _number(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


class _Scan:
    """Facts gathered from one pass over the parse events of a report.

    With ``is_streaming`` (large files), every finished ``<testcase>`` and nested
    ``<testsuite>`` is cleared and dropped once counted, so memory stays bounded by the
    largest single test case rather than the file.
    """

    def __init__(self, *, is_streaming: bool) -> None:
        self.is_streaming = is_streaming
        self.root: etree._Element | None = None
        self.first_suite: etree._Element | None = None
        self.properties: tuple[tuple[str, str], ...] = ()
        self.has_properties = False
        self.is_signed = False
        self.fake_signature = False  # a Signature element that is not one (ignored)
        self.tests = self.failures = self.errors = self.skipped = 0
        self.root_time: float | None = None
        self.suite_times: list[float | None] = []
        self.case_time = 0.0

    def feed(self, events: Any) -> ValidationProblem | None:
        """Consume (event, element) pairs; a problem ends the scan early."""
        for event, elem in events:
            if event == "start":
                problem = self._start(elem)
                if problem is not None:
                    return problem
            elif elem.tag == "testcase":
                self._count_case(elem)
                self._drop(elem)
            else:
                self._end(elem)
        return None

    def scan_tree(self, root: etree._Element) -> ValidationProblem | None:
        """``feed`` for a tree in memory: the events ``iterwalk`` would give for the watched
        elements other than test cases, and every test case counted in document order.

        ``iterwalk`` makes a Python proxy for every element it passes (a small report's 30
        properties and 20 cases cost more than its parse); here one C-level ``iter`` yields
        only the watched elements, in document order, and each one's end event is derived
        from the ancestry: an element ends just before the next watched element that is not
        below it (tests/unit/test_validate_scan.py compares both on many documents). A test
        case's only event that matters is its end, which counts it: counting it when it is
        met keeps the order of the case times, and no other event depends on the counts.
        """
        open_: list[etree._Element] = []  # watched elements whose end is still to come
        tests = failures = errors = skipped = 0  # _count_case, inlined (20 calls a report)
        for elem in root.iter(*_WATCHED):
            if elem.tag == "testcase":
                tests += 1
                for outcome in elem.iterchildren(*_OUTCOMES):  # the first one decides
                    tag = outcome.tag
                    if tag == "failure":
                        failures += 1
                    elif tag == "error":
                        errors += 1
                    else:
                        skipped += 1
                    break
                if self.root_time is None:  # case times matter only when the root has none
                    self.case_time += _number(elem.get("time")) or 0.0
                continue
            if open_ and elem.getparent() is not open_[-1]:
                ancestors = list(elem.iterancestors())
                while open_ and not any(a is open_[-1] for a in ancestors):
                    self._end(open_.pop())
            problem = self._start(elem)
            if problem is not None:
                return problem
            open_.append(elem)
        while open_:
            self._end(open_.pop())
        self.tests += tests
        self.failures += failures
        self.errors += errors
        self.skipped += skipped
        return None

    def _start(self, elem: etree._Element) -> ValidationProblem | None:
        if self.root is None:
            problem = self.start_root(elem)
            if problem is not None:
                return problem
        if elem.tag == "testsuite" and self.first_suite is None:
            self.first_suite = elem
        return None

    def _end(self, elem: etree._Element) -> None:
        """The end of a watched element other than a test case."""
        tag = elem.tag
        if tag == "testsuite":
            _read_numbers(elem)
            if elem.getparent() is self.root:
                self.suite_times.append(_number(elem.get("time")))
            if elem is not self.root:
                self._drop(elem)
        elif tag == _SIGNATURE_TAG:
            parent = elem.getparent()
            is_placed = parent is self.root or (parent is not None and parent is self.first_suite)
            if is_placed and is_signature(elem):
                self.is_signed = True
            elif is_placed:
                self.fake_signature = True
        elif elem.getparent() is self.first_suite and self.first_suite is not None:
            self.has_properties = True
            self.properties += tuple(
                [
                    (name, prop.get("value") or prop.text or "")
                    for prop in elem.iterchildren("{*}property")
                    if (name := prop.get("name")) is not None
                ]
            )

    def start_root(self, elem: etree._Element) -> ValidationProblem | None:
        root = elem
        while (parent := root.getparent()) is not None:
            root = parent
        self.root = root
        name = local_name(root.tag)
        if name not in _ROOTS:
            return ValidationProblem(
                f"not a JUnit report: the root element is <{name}>, expected <testsuites> or "
                f"<testsuite>",
                _line(root),
                None,
                is_not_a_report=True,
            )
        self.root_time = _number(root.get("time"))
        if name == "testsuites":
            _read_numbers(root)
        return None

    def _count_case(self, case: etree._Element) -> None:
        # the first outcome child decides a case; lxml filters children by tag in C
        self.tests += 1
        outcome = next(case.iterchildren(*_OUTCOMES), None)
        if outcome is not None:
            if outcome.tag == "failure":
                self.failures += 1
            elif outcome.tag == "error":
                self.errors += 1
            else:
                self.skipped += 1
        if self.root_time is None:  # case times matter only when the root has no total
            self.case_time += _number(case.get("time")) or 0.0

    def _drop(self, elem: etree._Element) -> None:
        if not self.is_streaming:
            return
        elem.clear(keep_tail=True)  # type: ignore[call-arg]  # lxml-stubs lag
        parent = elem.getparent()
        if parent is not None:
            while elem.getprevious() is not None:
                del parent[0]

    def counts(self) -> Counts:
        total = self.root_time
        if total is None and self.suite_times and all(t is not None for t in self.suite_times):
            total = sum(t for t in self.suite_times if t is not None)
        if total is None:
            total = self.case_time
        return Counts(self.tests, self.failures, self.errors, self.skipped, round(total, 6))


def validate_report(
    file: ReportFile,
    *,
    huge_tree: bool = False,
    keep_content: bool = True,
    converted: bytes | None = None,
    repair: bool = True,
    data: bytes | None = None,
) -> Validated | ValidationProblem:
    """Parse and check one file.

    Returns ``Validated`` for a JUnit report, else a ``ValidationProblem`` saying why (empty,
    unreadable, not well-formed, has a DOCTYPE, not JUnit, a suite count that is not a number),
    with line and column when known. A small file is parsed from the bytes already read; a
    large one is streamed, keeping memory bounded whatever its size. The bytes of a small
    file are kept in ``Validated.content`` unless ``keep_content`` is false (callers that hold
    many results at once). ``converted`` is the report already turned into JUnit XML (from
    another format): it is validated instead of the file, and kept as ``Validated.converted``.
    ``data`` is the whole file when the caller has already read it (``formats.read_report``):
    the file is then not opened again (ignored unless it is under the size read at once).
    """
    if data is not None and (converted is not None or len(data) >= _PROLOG_READ):
        data = None
    try:
        given = converted if converted is not None else data
        with file.path.open("rb") if given is None else io.BytesIO(given) as handle:
            head = handle.read(_PROLOG_READ) if given is None else given
            if not head:
                return ValidationProblem(
                    "the file is empty (0 bytes): the test run did not write a report, or it "
                    "was truncated"
                )
            if _has_doctype(head):
                return ValidationProblem(_DOCTYPE_REFUSED, 1, None)
            if len(head) < _PROLOG_READ:
                # the whole file is already in memory: parse it there, then walk the tree
                root = etree.fromstring(
                    head, make_parser(huge_tree=huge_tree), base_url=file.relpath
                )
                scan = _Scan(is_streaming=False)
                problem = scan.scan_tree(root)
                found_root: etree._Element = root
                content: bytes | None = head if converted is None else None
            else:
                handle.seek(0)
                events = hardened_iterparse(
                    handle, events=_EVENTS, tag=_WATCHED, huge_tree=huge_tree
                )
                scan = _Scan(is_streaming=True)
                problem = scan.feed(events)
                found_root = events.root
                content = None
    except etree.XMLSyntaxError as exc:
        if converted is not None:
            return _problem_from_syntax_error(exc, converted)
        return _repaired_or_problem(
            file, exc, huge_tree=huge_tree, keep_content=keep_content, repair=repair
        )
    except IsADirectoryError:
        return ValidationProblem("is a folder, not a file")
    except OSError as exc:
        return ValidationProblem(f"cannot read the file: {exc.strerror or exc}")
    except _BadNumberError as exc:
        return ValidationProblem(str(exc), exc.line, None)
    if problem is not None:
        return problem
    if scan.root is None:  # no watched element at all: say what the root is instead
        return scan.start_root(found_root) or ValidationProblem(
            "not a JUnit report", is_not_a_report=True
        )
    docinfo: Any = scan.root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        return ValidationProblem(_DOCTYPE_REFUSED, 1, None)
    encoding = docinfo.encoding or "UTF-8"
    warnings: tuple[str, ...] = (FAKE_SIGNATURE_WARNING,) if scan.fake_signature else ()
    try:
        codecs.lookup(encoding)
    except LookupError:
        # libxml2 (through iconv) reads encodings Python has no codec for; enrichment edits
        # text, so such a report travels re-encoded as UTF-8
        if content is None:
            return ValidationProblem(
                f"the report is encoded as {encoding}, which jux-submit can only re-encode for "
                "files under 64 KiB; save it as UTF-8"
            )
        converted = etree.tostring(found_root.getroottree(), encoding="UTF-8", xml_declaration=True)
        warnings += (
            f"re-encoded from {encoding} to UTF-8 (no Python codec for {encoding}); "
            "comments and processing instructions were dropped",
        )
        encoding = "UTF-8"
    report = ValidReport(
        file=file,
        counts=scan.counts(),
        encoding=encoding,
        is_signed=scan.is_signed,
        converted=converted,
    )
    return Validated(
        report,
        scan.properties,
        content if keep_content else None,
        warnings,
        converted,
        first_suite_has_properties=scan.has_properties or scan.first_suite is None,
    )


class _BadNumberError(ValueError):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _read_numbers(elem: etree._Element) -> None:
    """Refuse a suite whose counts or time junitparser could not read: it reads ``tests``,
    ``failures``, ``errors`` and ``skipped`` with ``int()`` and ``time`` with ``float()``
    after dropping commas (its ``IntAttr``/``FloatAttr``). The same conversions, without
    importing it (its import alone cost a third of a small run's start-up);
    tests/unit/test_validate.py compares both on the same values."""
    for attr in ("tests", "failures", "errors", "skipped", "time"):
        raw = elem.get(attr)
        if raw is None or not raw.strip():
            continue
        try:
            if attr == "time":
                float(raw.replace(",", ""))
            else:
                int(raw)
        except (ValueError, TypeError):
            name = elem.get("name")
            label = (
                f"<{local_name(elem.tag)} name={name!r}>" if name else f"<{local_name(elem.tag)}>"
            )
            raise _BadNumberError(
                f"not a valid JUnit report: {label} has {attr}={raw!r}, which is not a number",
                _line(elem),
            ) from None
