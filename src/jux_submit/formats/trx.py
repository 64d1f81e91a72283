"""Visual Studio TRX (``dotnet test --logger trx``, vstest.console, MSTest) to JUnit XML.

Recognised by its root ``<TestRun>`` in the TeamTest namespace
(``http://microsoft.com/schemas/VisualStudio/TeamTest/2010``, or VS2005's ``…/2006``; a
``.trx`` file whose ``<TestRun>`` has no namespace is accepted too). Parsed with the hardened
parser of ``validate``; a DOCTYPE is refused. This module also holds the XML reading the
three .NET formats share (``root_start``, ``parse_report``, ``text_of``, ``parse_seconds``),
so NUnit and xUnit.net are sniffed and parsed by the same code.

Outcomes (``UnitTestResult@outcome``; the server counts failure, error, skipped, else passed):

=====================================================  ===========================================
TRX                                                    JUnit
=====================================================  ===========================================
``Passed``, ``Completed``, ``PassedButRunAborted``     passed
``Warning``                                            passed, ``warning`` property with the text
``Failed``                                             ``<failure>``
``Error``                                              ``<error>``
``Timeout``, ``Aborted``, ``NotRunnable``,             ``<error type="Timeout">`` etc.: the test
``Disconnected``, ``InProgress``                       did not finish (or could not start)
``NotExecuted``                                        ``<skipped>`` (xUnit ``Skip``, MSTest
                                                       ``[Ignore]``)
``Inconclusive``, ``Pending``                          ``<skipped message="Inconclusive: …">``
anything else                                          ``<error type="<outcome>">`` and a warning
=====================================================  ===========================================

Everything else:

- **Names** are kept exactly as written: ``testName`` is the case name (xUnit writes it fully
  qualified, MSTest and NUnit the method name with its arguments, ``DisplayName`` wins over
  both), unicode included. ``classname`` is the ``TestMethod@className`` of the matching
  ``<TestDefinitions>`` entry, less the ``, Assembly, Version=…`` that old MSTest appends.
- **Suites**: one ``<testsuite>`` per test class, named by its class name, in the order the
  results first mention it (a test without a class goes to a suite named after its assembly).
  Every suite gets the run's ``Times@start`` as timestamp and its first result's
  ``computerName`` as hostname.
- **Data-driven tests** (MSTest ``[DataRow]``/``DataSource``, xUnit theories through the
  adapter, ordered tests): a result with ``<InnerResults>`` is replaced by its rows, each one
  a case with its own outcome, so a failing row is visible and nothing is counted twice. A row
  named exactly like its parent gets `` (Data Row N)`` from ``dataRowInfo`` so rows stay apart.
- **Durations**: ``duration="[d.]hh:mm:ss.fffffff"`` (a .NET ``TimeSpan``: the fraction is in
  100 ns ticks, not milliseconds) becomes seconds.
- **Failure message vs. stack trace**: ``ErrorInfo/Message`` is the ``message`` attribute; the
  element text is the message followed by ``ErrorInfo/StackTrace`` (as Surefire writes it).
- **Output**: ``StdOut`` is ``system-out`` (``DebugTrace``, ``TraceInfo`` and
  ``TextMessages`` follow it under a header line), ``StdErr`` is ``system-err``. The run's own
  ``ResultSummary/Output/StdOut`` and its ``RunInfos`` go to the first suite.
- **Properties** of a case, from its definition: ``Description``, ``Owner``, each
  ``Category`` (``TestCategory``) and each ``<Properties>`` key/value (MSTest
  ``[TestProperty]``, SpecFlow's ``FeatureTitle``…), in document order; each ``ResultFile`` is
  an ``attachment`` property (``<runDeploymentRoot>/In/<relativeResultsDirectory>/<path>``,
  relative to the report) so packages can carry it.
- **A run that failed outside any test** (test host crashed, run aborted: ``ResultSummary``
  ``Failed``/``Error``/``Aborted``/``Timeout`` while no result failed) gets one extra
  ``<error>`` case named ``(test run)`` carrying the ``RunInfos`` errors, and a warning, so such
  a run is never shown as green. A report with no results at all says why in a warning when the
  run left a ``RunInfo`` (e.g. "No test is available in …").

A ``<TestRun>`` that is not well-formed, has a DOCTYPE, or a result without ``testName`` or
``outcome`` raises ``ConversionError`` naming the line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PureWindowsPath

from lxml import etree

from jux_submit.formats.base import Conversion, ConversionError, ReportFormat
from jux_submit.formats.junit import Case, Outcome, Suite, write_junit
from jux_submit.validate import make_parser

NAME = "trx"
TITLE = "Visual Studio TRX"
TEAMTEST_NS = "http://microsoft.com/schemas/VisualStudio/TeamTest/"

_OUTCOMES: dict[str, Outcome] = {
    "Passed": Outcome.PASSED,
    "Completed": Outcome.PASSED,
    "PassedButRunAborted": Outcome.PASSED,
    "Warning": Outcome.PASSED,
    "Failed": Outcome.FAILURE,
    "Error": Outcome.ERROR,
    "Timeout": Outcome.ERROR,
    "Aborted": Outcome.ERROR,
    "NotRunnable": Outcome.ERROR,
    "Disconnected": Outcome.ERROR,
    "InProgress": Outcome.ERROR,
    "NotExecuted": Outcome.SKIPPED,
    "Inconclusive": Outcome.SKIPPED,
    "Pending": Outcome.SKIPPED,
}
#: outcomes named in the JUnit message/type because the JUnit outcome alone loses them
_PLAIN = frozenset({"Passed", "Failed", "Error", "NotExecuted"})
#: a run summary outcome saying the run failed
_RUN_FAILED = frozenset({"Failed", "Error", "Aborted", "Timeout"})
_DURATION = re.compile(r"^\s*(?:(\d+)\.)?(\d+):(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)\s*$")

# --- shared by the .NET formats: the root element from the first bytes, a hardened parse ----
_BOMS = ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
#: whitespace, the XML declaration, comments, processing instructions and a DOCTYPE (its
#: internal subset up to the first "]"); possessive, so a hostile head cannot make it backtrack
_PROLOG = re.compile(
    rb"(?:\s++|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*+(?:\[[^\]]*+\])?\s*+>)*+",
    re.DOTALL | re.IGNORECASE,
)
_START_TAG = re.compile(
    rb"<(?:([A-Za-z_][\w.-]*+):)?([A-Za-z_][\w.-]*+)((?:[^>\"']++|\"[^\"]*+\"|'[^']*+')*+)"
)


def root_start(head: bytes) -> tuple[str, str | None, str] | None:
    """The root element of a document starting with ``head``: its local name, its namespace
    (None when it has none) and the text of its other attributes; None if there is no root
    start tag within ``head``."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :].decode(codec, errors="ignore").encode("utf-8")
            break
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    prolog = _PROLOG.match(head)
    start = _START_TAG.match(head, prolog.end() if prolog else 0)
    if start is None:
        return None
    prefix, local, attrs = start.group(1), start.group(2), start.group(3)
    xmlns = rb"xmlns" + (b":" + prefix if prefix else b"")
    found = re.search(rb"(?:^|\s)" + re.escape(xmlns) + rb"\s*=\s*([\"'])(.*?)\1", attrs)
    namespace = found.group(2).decode("utf-8", "replace") if found else None
    return local.decode("ascii"), namespace, attrs.decode("utf-8", "replace")


def sniff(head: bytes, name: str) -> bool:
    """True for a ``<TestRun>`` in the TeamTest namespace, or without namespace in a ``.trx``."""
    root = root_start(head)
    if root is None or root[0] != "TestRun":
        return False
    namespace = root[1]
    if namespace is None:
        return name.lower().endswith(".trx")
    return namespace.startswith(TEAMTEST_NS)


def parse_report(data: bytes, title: str) -> etree._Element:
    """The root of ``data`` parsed with the hardened parser (no DTD, no entities, no network).
    Raises ``ConversionError`` for XML that is not well-formed or has a DOCTYPE."""
    try:
        root = etree.fromstring(data, make_parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        raise ConversionError(
            f"the {title} report is not well-formed XML (line {line}, column {column}): {exc.msg}"
        ) from None
    if root.getroottree().docinfo.internalDTD is not None:  # any <!DOCTYPE …>
        raise ConversionError(
            f"the {title} report has a DOCTYPE declaration, which jux-submit refuses (a test "
            "report needs none, and it can hide entity tricks); remove it and retry"
        )
    return root


def local_name(elem: etree._Element) -> str:
    """The tag of ``elem`` without its namespace ("" for comments and the like)."""
    tag = elem.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def root_label(elem: etree._Element) -> str:
    """The root element as messages name it: ``<local>``, and its namespace if it has one."""
    qname = etree.QName(elem)
    return f"<{qname.localname}>" + (f" (namespace {qname.namespace})" if qname.namespace else "")


def text_of(elem: etree._Element | None, path: str = "") -> str:
    """The text below ``elem`` (or its ``path`` child, ``{*}`` matching any namespace)."""
    target = elem.find(path) if elem is not None and path else elem
    if target is None:
        return ""
    return "".join(str(part) for part in target.itertext())


def parse_seconds(value: str | None) -> float | None:
    """Seconds from a decimal number (a decimal comma, as some locales write it, is read too);
    None for anything else."""
    if value is None:
        return None
    text = value.strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_duration(value: str | None) -> float | None:
    """Seconds from a .NET ``TimeSpan`` (``[d.]hh:mm:ss[.fffffff]``); None when unreadable."""
    match = _DURATION.match(value or "")
    if match is None:
        return None
    days, hours, minutes, seconds = match.groups()
    return (
        int(days or 0) * 86400
        + int(hours) * 3600
        + int(minutes) * 60
        + float(seconds.replace(",", "."))
    )


# --- TRX ---------------------------------------------------------------------------------


@dataclass
class _Group:
    """The cases of one test class, as they are found."""

    name: str
    hostname: str | None = None
    cases: list[Case] = field(default_factory=list)


@dataclass(frozen=True)
class _Definition:
    classname: str
    assembly: str
    properties: tuple[tuple[str, str], ...]


def _definitions(root: etree._Element) -> dict[str, _Definition]:
    found: dict[str, _Definition] = {}
    for test in root.iterfind("{*}TestDefinitions/*"):
        test_id = test.get("id")
        if not test_id:
            continue
        method = test.find("{*}TestMethod")
        classname = (method.get("className") or "") if method is not None else ""
        storage = test.get("storage") or ""
        props: list[tuple[str, str]] = []
        description = text_of(test, "{*}Description").strip()
        if description:
            props.append(("Description", description))
        for owner in test.iterfind("{*}Owners/{*}Owner"):
            if owner.get("name"):
                props.append(("Owner", owner.get("name") or ""))
        for item in test.iterfind("{*}TestCategory/{*}TestCategoryItem"):
            if item.get("TestCategory"):
                props.append(("Category", item.get("TestCategory") or ""))
        for prop in test.iterfind("{*}Properties/{*}Property"):
            key = text_of(prop, "{*}Key")
            if key:
                props.append((key, text_of(prop, "{*}Value")))
        found[test_id] = _Definition(
            classname.split(",", 1)[0].strip(),
            PureWindowsPath(storage).name if storage else "",
            tuple(props),
        )
    return found


def _leaves(
    result: etree._Element, parent: etree._Element | None = None
) -> Iterator[tuple[etree._Element, etree._Element | None]]:
    """A result and the result it is a row of, or its rows (data-driven, ordered tests)."""
    rows = [row for row in result.iterfind("{*}InnerResults/*") if isinstance(row.tag, str)]
    if not rows:
        yield result, parent
        return
    for row in rows:
        yield from _leaves(row, result)


def _required(elem: etree._Element, attribute: str) -> str:
    value = elem.get(attribute)
    if value is None or not value.strip():
        raise ConversionError(
            f"the {TITLE} report has a <{local_name(elem)}> without {attribute} "
            f"(line {elem.sourceline})"
        )
    return value


def _output(out: etree._Element | None) -> tuple[str, str]:
    """``system-out`` and ``system-err`` of a result's ``<Output>``."""
    if out is None:
        return "", ""
    parts = [text_of(out, "{*}StdOut")]
    for label in ("DebugTrace", "TraceInfo"):
        extra = text_of(out, "{*}" + label)
        if extra.strip():
            parts.append(f"--- {label} ---\n{extra}")
    messages = [text_of(m) for m in out.iterfind("{*}TextMessages/{*}Message")]
    if any(m.strip() for m in messages):
        parts.append("--- TextMessages ---\n" + "\n".join(messages))
    return "\n".join(p for p in parts if p), text_of(out, "{*}StdErr")


def _attachments(result: etree._Element, deployment: str) -> Iterator[tuple[str, str]]:
    folder = result.get("relativeResultsDirectory") or result.get("executionId") or ""
    for item in result.iterfind("{*}ResultFiles/{*}ResultFile"):
        path = (item.get("path") or "").strip()
        if not path:
            continue
        if PureWindowsPath(path).is_absolute() or path.startswith("/"):
            yield "attachment", path
            continue
        parts = [p for p in (deployment, "In" if deployment else "", folder, path) if p]
        yield "attachment", "/".join(parts).replace("\\", "/")


def _case(
    result: etree._Element,
    parent: etree._Element | None,
    definition: _Definition | None,
    deployment: str,
    unknown: set[str],
) -> Case:
    name = _required(result, "testName")
    trx_outcome = _required(result, "outcome")
    if parent is not None and name == parent.get("testName") and result.get("dataRowInfo"):
        name = f"{name} (Data Row {result.get('dataRowInfo')})"
    outcome = _OUTCOMES.get(trx_outcome)
    if outcome is None:
        unknown.add(trx_outcome)
        outcome = Outcome.ERROR
    out = result.find("{*}Output")
    message = text_of(out, "{*}ErrorInfo/{*}Message").strip()
    stack = text_of(out, "{*}ErrorInfo/{*}StackTrace").strip("\r\n")
    if not message and out is not None and outcome is Outcome.SKIPPED:
        texts = (text_of(m).strip() for m in out.iterfind("{*}TextMessages/{*}Message"))
        message = next((t for t in texts if t), "")
    properties = list(definition.properties) if definition else []
    kind = ""
    if outcome is Outcome.PASSED:
        if trx_outcome == "Warning":
            properties.append(("warning", message or trx_outcome))
        message = ""
    elif trx_outcome not in _PLAIN:  # say what the JUnit outcome alone does not
        message = f"{trx_outcome}: {message}" if message else trx_outcome
        kind = "" if outcome is Outcome.SKIPPED else trx_outcome
    properties.extend(_attachments(result, deployment))
    system_out, system_err = _output(out)
    is_failed = outcome in (Outcome.FAILURE, Outcome.ERROR)
    return Case(
        name=name,
        classname=definition.classname if definition else "",
        time=parse_duration(result.get("duration")),
        outcome=outcome,
        message=message,
        kind=kind,
        details="\n".join(p for p in (message, stack) if p.strip()) if is_failed else "",
        system_out=system_out,
        system_err=system_err,
        properties=tuple(properties),
    )


def _run_failure(root: etree._Element, cases: Sequence[Case]) -> tuple[Suite, str] | None:
    """The ``(test run)`` case for a run that failed while no test did, and its warning."""
    summary = root.find("{*}ResultSummary")
    run_outcome = summary.get("outcome", "") if summary is not None else ""
    if run_outcome not in _RUN_FAILED:
        return None
    if any(c.outcome in (Outcome.FAILURE, Outcome.ERROR) for c in cases):
        return None
    errors = [
        text_of(info, "{*}Text").strip()
        for info in root.iterfind("{*}ResultSummary/{*}RunInfos/{*}RunInfo")
        if info.get("outcome") == "Error"
    ]
    errors = [e for e in errors if e]
    message = errors[0] if errors else f"the test run ended {run_outcome} but no test failed"
    case = Case(
        name="(test run)",
        outcome=Outcome.ERROR,
        message=message,
        kind=f"TestRun{run_outcome}",
        details="\n".join(errors) or message,
    )
    first_line = message.splitlines()[0] if message else run_outcome
    warning = (
        f"the TRX test run ended {run_outcome} although no test failed ({first_line}); "
        "it is reported as an error test case named '(test run)'"
    )
    return Suite(name="(test run)", cases=(case,)), warning


def _run_info(root: etree._Element) -> tuple[str, str, list[str]]:
    """The run's own stdout, its RunInfos as text, and the RunInfo texts."""
    summary = root.find("{*}ResultSummary")
    stdout = text_of(summary, "{*}Output/{*}StdOut") if summary is not None else ""
    infos = []
    for info in root.iterfind("{*}ResultSummary/{*}RunInfos/{*}RunInfo"):
        text = text_of(info, "{*}Text").strip()
        if text:
            infos.append(f"[{info.get('outcome') or 'Info'}] {text}")
    return stdout, "\n".join(infos), infos


def convert(data: bytes) -> Conversion:
    """The TRX report ``data`` as JUnit XML. Raises ``ConversionError``."""
    root = parse_report(data, TITLE)
    if local_name(root) != "TestRun":
        raise ConversionError(
            f"not a {TITLE} report: the root element is {root_label(root)}, not <TestRun>"
        )
    definitions = _definitions(root)
    deployment_elem = root.find("{*}TestSettings/{*}Deployment")
    deployment = (
        (deployment_elem.get("runDeploymentRoot") or "") if deployment_elem is not None else ""
    )
    times = root.find("{*}Times")
    started = times.get("start") if times is not None else None
    groups: dict[str, _Group] = {}
    unknown: set[str] = set()
    for top in root.iterfind("{*}Results/*"):
        if not isinstance(top.tag, str):
            continue
        for result, parent in _leaves(top):
            test_id = result.get("testId") or (parent.get("testId") if parent is not None else "")
            definition = definitions.get(test_id or "")
            if definition is None and parent is not None:
                definition = definitions.get(parent.get("testId") or "")
            case = _case(result, parent, definition, deployment, unknown)
            key = case.classname or (definition.assembly if definition else "") or TITLE
            group = groups.setdefault(key, _Group(key, result.get("computerName")))
            group.cases.append(case)
    cases = [c for g in groups.values() for c in g.cases]
    stdout, run_infos, info_texts = _run_info(root)
    suites = [
        Suite(name=g.name, cases=tuple(g.cases), timestamp=started, hostname=g.hostname)
        for g in groups.values()
    ]
    warnings: list[str] = []
    failure = _run_failure(root, cases)
    if failure is not None:
        suites.append(failure[0])
        warnings.append(failure[1])
    if suites and (stdout or run_infos):  # the run's own output: kept on the first suite
        suites[0] = replace(suites[0], system_out=stdout, system_err=run_infos)
    if not cases and info_texts:
        warnings.append(f"the TRX report has no test results: {info_texts[0]}")
    if unknown:
        warnings.append(
            "the TRX report has outcomes jux-submit does not know, reported as errors: "
            + ", ".join(sorted(unknown))
        )
    xml = write_junit(suites, source_format=NAME, name=root.get("name"))
    return Conversion(xml, NAME, tuple(warnings))


FORMAT = ReportFormat(name=NAME, title=TITLE, sniff=sniff, convert=convert)
