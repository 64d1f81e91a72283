"""Validate one report: hardened XML parse (no entities, no DTD, no network), then junitparser.

Returns the counts and the facts enrichment needs (encoding, signature, the first suite's
properties), or a ``ValidationProblem`` with line and column. Never raises for a bad file.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from lxml import etree

from jux_submit.models import Counts, ReportFile, ValidationProblem, ValidReport

XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
_SIGNATURE_TAG = f"{{{XMLDSIG_NS}}}Signature"
_ROOTS = ("testsuites", "testsuite")


@dataclass(frozen=True)
class Validated:
    """A valid report plus the properties of its first ``<testsuite>`` (in document order)."""

    report: ValidReport
    first_suite_properties: tuple[tuple[str, str], ...]


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


def make_parser(*, huge_tree: bool = False) -> etree.XMLParser:
    """An lxml parser that resolves no entities, loads no DTD and touches no network."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge_tree,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    parser.resolvers.add(_DenyResolver())
    return parser


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _line(elem: etree._Element) -> int | None:
    line = elem.sourceline
    return line if isinstance(line, int) else None


def _problem_from_syntax_error(exc: etree.XMLSyntaxError) -> ValidationProblem:
    line: int | None
    column: int | None
    line, column = exc.position if exc.position else (None, None)
    message = (exc.msg or str(exc)).strip()
    # libxml2 appends ", line N, column M" to some messages: it is already in line/column.
    tail = f", line {line}, column {column}"
    if message.endswith(tail):
        message = message[: -len(tail)]
    if not line:
        line, column = None, None
    return ValidationProblem(f"not well-formed XML: {message}", line, column or None)


_OUTCOMES = ("failure", "error", "skipped")


def count_cases(root: etree._Element) -> Counts:
    """Count tests, failures, errors and skipped from the ``<testcase>`` elements themselves."""
    # The first outcome child decides a case; lxml filters children by tag in C. Case times
    # are summed only when the root carries no total (kept cheap: issue 7's dry-run target).
    tests = failures = errors = skipped = 0
    for case in root.iter("testcase"):
        tests += 1
        outcome = next(case.iterchildren(*_OUTCOMES), None)
        if outcome is not None:
            tag = outcome.tag
            if tag == "failure":
                failures += 1
            elif tag == "error":
                errors += 1
            else:
                skipped += 1
    total_time = _root_time(root)
    if total_time is None:
        total_time = _case_time(root)
    return Counts(tests, failures, errors, skipped, round(total_time, 6))


def _case_time(root: etree._Element) -> float:
    case_time = 0.0
    for case in root.iter("testcase"):
        t = case.get("time")
        if t:
            with contextlib.suppress(ValueError):
                case_time += float(t.replace(",", ""))
    return case_time


def _root_time(root: etree._Element) -> float | None:
    text = root.get("time")
    if text is None and _local(root.tag) == "testsuites":
        suites = [s.get("time") for s in root if _local(s.tag) == "testsuite"]
        if suites and all(suites):
            try:
                return sum(float(str(s).replace(",", "")) for s in suites)
            except ValueError:
                return None
        return None
    try:
        return float(text.replace(",", "")) if text else None
    except ValueError:
        return None


def first_suite(root: etree._Element) -> etree._Element | None:
    """The first ``<testsuite>`` in document order (the root itself for a testsuite root)."""
    if _local(root.tag) == "testsuite":
        return root
    return next(root.iter("testsuite"), None)


def suite_properties(suite: etree._Element | None) -> tuple[tuple[str, str], ...]:
    if suite is None:
        return ()
    props: list[tuple[str, str]] = []
    # "{*}x" matches x in any namespace or none, like _local(tag) == "x", but filtered in C
    for child in suite.iterchildren("{*}properties"):
        for prop in child.iterchildren("{*}property"):
            name = prop.get("name")
            if name is not None:
                props.append((name, prop.get("value") or prop.text or ""))
    return tuple(props)


def validate_report(file: ReportFile, *, huge_tree: bool = False) -> Validated | ValidationProblem:
    """Parse and check one file.

    Returns ``Validated`` for a JUnit report, else a ``ValidationProblem`` saying why (empty,
    unreadable, not well-formed, has a DOCTYPE, not JUnit), with line and column when known.
    """
    try:
        with file.path.open("rb") as handle:
            head = handle.read(_PROLOG_READ)
            if not head:
                return ValidationProblem(
                    "the file is empty (0 bytes): the test run did not write a report, or it "
                    "was truncated"
                )
            if _has_doctype(head):
                return ValidationProblem(_DOCTYPE_REFUSED, 1, None)
            parser = make_parser(huge_tree=huge_tree)
            if len(head) < _PROLOG_READ:
                # the whole file is already in memory: parse it there, without reading it again
                root = etree.fromstring(head, parser, base_url=str(file.path))
                tree = root.getroottree()
            else:
                handle.seek(0)
                tree = etree.parse(handle, parser)
    except etree.XMLSyntaxError as exc:
        return _problem_from_syntax_error(exc)
    except IsADirectoryError:
        return ValidationProblem("is a folder, not a file")
    except OSError as exc:
        return ValidationProblem(f"cannot read the file: {exc.strerror or exc}")

    docinfo: Any = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        return ValidationProblem(_DOCTYPE_REFUSED, 1, None)
    root = tree.getroot()
    name = _local(root.tag)
    if name not in _ROOTS:
        return ValidationProblem(
            f"not a JUnit report: the root element is <{name}>, expected <testsuites> or "
            f"<testsuite>",
            _line(root),
            None,
        )
    suite = first_suite(root)
    properties = suite_properties(suite)
    is_signed = next(root.iterchildren(_SIGNATURE_TAG), None) is not None or (
        suite is not None and next(suite.iterchildren(_SIGNATURE_TAG), None) is not None
    )
    counts = count_cases(root)
    problem = _check_with_junitparser(root)
    if problem is not None:
        return problem
    encoding = docinfo.encoding or "UTF-8"
    return Validated(
        ValidReport(file=file, counts=counts, encoding=encoding, is_signed=is_signed),
        properties,
    )


def _check_with_junitparser(root: etree._Element) -> ValidationProblem | None:
    """Let junitparser read every suite's typed attributes the way consumers will.

    Only attributes that are present are read: junitparser fills in missing ones by rewriting
    the element, which must not happen to a report we send.
    """
    from junitparser import JUnitXml, JUnitXmlError, TestSuite

    try:
        if _local(root.tag) == "testsuites":
            junit: Any = JUnitXml
            junit.fromroot(root)  # checks the root's shape
            _read_numbers(junit.fromelem(root), root)
        suite_type: Any = TestSuite
        for elem in root.iter("testsuite"):
            _read_numbers(suite_type.fromelem(elem), elem)
    except JUnitXmlError as exc:
        return ValidationProblem(f"not a valid JUnit report: {exc}")
    except _BadNumberError as exc:
        return ValidationProblem(str(exc), exc.line, None)
    return None


class _BadNumberError(ValueError):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _read_numbers(wrapped: object, elem: etree._Element) -> None:
    for attr in ("tests", "failures", "errors", "skipped", "time"):
        raw = elem.get(attr)
        if raw is None or not raw.strip():
            continue
        try:
            getattr(wrapped, attr)
        except (ValueError, TypeError):
            name = elem.get("name")
            label = f"<{_local(elem.tag)} name={name!r}>" if name else f"<{_local(elem.tag)}>"
            raise _BadNumberError(
                f"not a valid JUnit report: {label} has {attr}={raw!r}, which is not a number",
                _line(elem),
            ) from None
