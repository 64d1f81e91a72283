"""xUnit.net XML to JUnit XML: the v2/v3 ``<assemblies>`` format (``xunit.console -xml``,
``dotnet test --logger xunit``, xunit.v3 ``-xml``) and the v1 single ``<assembly>``.

Recognised by its root element without a namespace: ``<assemblies>``, or ``<assembly>`` whose
start tag has xUnit's ``test-framework``, ``run-date`` or ``total`` attribute (other tools use
``<assembly>`` too). Parsed with the hardened parser the .NET formats share
(``trx.parse_report``); a DOCTYPE is refused.

Outcomes (``test@result``; the server counts failure, error, skipped, else passed):

==================================  ===============================================================
xUnit.net                           JUnit
==================================  ===============================================================
``Pass``                            passed
``Fail``                            ``<failure type="<exception-type>">``: xUnit does not tell an
                                    assertion from an unexpected exception, and counts both as
                                    ``failed``; the exception type says which it was
``Skip``                            ``<skipped message="<reason>">``
``NotRun`` (v3)                     ``<skipped message="NotRun">`` (an explicit test not selected)
anything else                       ``<error type="<result>">`` and a warning
``<errors><error>``                 one ``<error>`` case each (see below)
==================================  ===============================================================

Everything else:

- **Names** are kept exactly: ``test@name`` is the case name (by default the fully qualified
  method, a theory's arguments included: ``Ns.Class.Method(x: 1, s: "a")``; a ``DisplayName``
  when the test sets one), unicode included. ``classname`` is ``test@type``.
- **Suites**: one ``<testsuite>`` per test class (``type``) within each assembly, named by the
  class, in document order; collections (v2/v3) and v1 ``<class>`` elements only group.
  Suite timestamp: the assembly's ``run-date`` + ``run-time``.
- **Durations**: ``time`` in seconds (a decimal comma, as some locales write it, is read too).
- **Failure message vs. stack trace**: ``failure/message`` is the ``message`` attribute,
  ``exception-type`` the ``type``; the element text is the message followed by
  ``failure/stack-trace`` (as Surefire writes it).
- **Output**: ``<output>`` is ``system-out`` (xUnit captures only ``ITestOutputHelper``).
- **Traits become properties**, in order, repeated names kept (``Category``, ``Bug``…); a v3
  ``<warnings><warning>`` is a ``warning`` property.
- **Errors outside any test** (``<errors><error type="fixture-cleanup"|"test-class-cleanup"|
  "assembly-cleanup"…>``: a fixture's ``Dispose`` threw, a collection failed to clean up): xUnit
  counts them in the assembly's ``errors``, apart from ``total``; each becomes an ``<error>``
  case named ``(<type>)`` whose class is the error's ``name`` (the fixture or class), and a
  warning, so a run with only cleanup errors is never shown as green.

A report that is not well-formed, has a DOCTYPE, or a ``<test>`` without ``name`` or
``result`` raises ``ConversionError`` naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PureWindowsPath

from lxml import etree

from jux_submit.formats.base import Conversion, ConversionError, ReportFormat
from jux_submit.formats.junit import Case, Outcome, Suite, write_junit
from jux_submit.formats.trx import (
    local_name,
    parse_report,
    parse_seconds,
    root_label,
    root_start,
    text_of,
)

NAME = "xunit"
TITLE = "xUnit.net XML"
_RESULTS: dict[str, Outcome] = {
    "Pass": Outcome.PASSED,
    "Fail": Outcome.FAILURE,
    "Skip": Outcome.SKIPPED,
    "NotRun": Outcome.SKIPPED,
}
#: attributes only xUnit's ``<assembly>`` has (a Maven assembly descriptor has none of them)
_ASSEMBLY_HINT = re.compile(r"(?:^|\s)(?:test-framework|run-date|total)\s*=")


def sniff(head: bytes, name: str) -> bool:
    """True for a root ``<assemblies>``, or an ``<assembly>`` with xUnit's attributes, without
    a namespace."""
    root = root_start(head)
    if root is None or root[1] is not None:
        return False
    if root[0] == "assemblies":
        return True
    return root[0] == "assembly" and _ASSEMBLY_HINT.search(root[2]) is not None


@dataclass
class _Group:
    """One class's cases within an assembly, as they are found."""

    name: str
    timestamp: str | None = None
    cases: list[Case] = field(default_factory=list)


def _required(elem: etree._Element, attribute: str) -> str:
    value = elem.get(attribute)
    if value is None or not value.strip():
        raise ConversionError(
            f"the {TITLE} report has a <{local_name(elem)}> without {attribute} "
            f"(line {elem.sourceline})"
        )
    return value


def _failure(elem: etree._Element) -> tuple[str, str, str]:
    """The message, the exception type and the element text of a ``<failure>`` below ``elem``."""
    failure = elem.find("failure")
    if failure is None:
        return "", "", ""
    message = text_of(failure, "message").strip()
    stack = text_of(failure, "stack-trace").strip("\r\n")
    details = "\n".join(p for p in (message, stack) if p.strip())
    return message, failure.get("exception-type") or "", details


def _case(elem: etree._Element, unknown: set[str]) -> Case:
    name = _required(elem, "name")
    result = _required(elem, "result")
    outcome = _RESULTS.get(result)
    if outcome is None:
        unknown.add(result)
        outcome = Outcome.ERROR
    message, kind, details = _failure(elem)
    if outcome is Outcome.SKIPPED:
        message, kind, details = text_of(elem, "reason").strip() or result, "", ""
    elif outcome is Outcome.ERROR:
        message, kind = message or result, kind or result
        details = details or message
    elif outcome is Outcome.FAILURE:
        message = message or result
        details = details or message
    properties = [
        (t.get("name") or "", t.get("value") or "") for t in elem.iterfind("traits/trait")
    ]
    properties.extend(("warning", text_of(w)) for w in elem.iterfind("warnings/warning"))
    return Case(
        name=name,
        classname=elem.get("type") or "",
        time=parse_seconds(elem.get("time")),
        outcome=outcome,
        message=message if outcome is not Outcome.PASSED else "",
        kind=kind if outcome is not Outcome.PASSED else "",
        details=details if outcome is not Outcome.PASSED else "",
        system_out=text_of(elem, "output"),
        properties=tuple(p for p in properties if p[0]),
    )


def _error_case(error: etree._Element, assembly: str) -> Case:
    """An ``<errors><error>``: a cleanup or fixture failure outside any test."""
    error_type = error.get("type") or "error"
    message, kind, details = _failure(error)
    message = message or error_type
    return Case(
        name=f"({error_type})",
        classname=error.get("name") or assembly,
        outcome=Outcome.ERROR,
        message=message,
        kind=kind or error_type,
        details=details or message,
    )


def _assembly(assembly: etree._Element, unknown: set[str], warnings: list[str]) -> list[_Group]:
    path = assembly.get("name") or ""
    display = PureWindowsPath(path).name if path else TITLE
    date, time = assembly.get("run-date"), assembly.get("run-time")
    timestamp = f"{date}T{time}" if date and time else None
    groups: dict[str, _Group] = {}
    # v2/v3: assembly/collection/test; v1: assembly/class/test
    for test in assembly.iterfind("*/test"):
        case = _case(test, unknown)
        parent = test.getparent()
        fallback = (parent.get("name") if parent is not None else None) or display
        key = case.classname or fallback
        groups.setdefault(key, _Group(key, timestamp)).cases.append(case)
    for error in assembly.iterfind("errors/error"):
        case = _error_case(error, display)
        groups.setdefault(case.classname, _Group(case.classname, timestamp)).cases.append(case)
        warnings.append(
            f"xUnit.net {case.name[1:-1]} error outside any test in {display} "
            f"({case.classname}: {case.message.splitlines()[0]}); it is reported as an error "
            f"test case named {case.name!r}"
        )
    return list(groups.values())


def convert(data: bytes) -> Conversion:
    """The xUnit.net report ``data`` as JUnit XML. Raises ``ConversionError``."""
    root = parse_report(data, TITLE)
    if root.tag == "assemblies":
        assemblies = list(root.iterfind("assembly"))
    elif root.tag == "assembly":
        assemblies = [root]
    else:
        raise ConversionError(
            f"not an {TITLE} report: the root element is {root_label(root)}, not <assemblies>"
        )
    unknown: set[str] = set()
    warnings: list[str] = []
    groups = [g for assembly in assemblies for g in _assembly(assembly, unknown, warnings)]
    suites = [Suite(name=g.name, cases=tuple(g.cases), timestamp=g.timestamp) for g in groups]
    if unknown:
        warnings.append(
            "the xUnit.net report has results jux-submit does not know, reported as errors: "
            + ", ".join(sorted(unknown))
        )
    return Conversion(write_junit(suites, source_format=NAME), NAME, tuple(warnings))


FORMAT = ReportFormat(name=NAME, title=TITLE, sniff=sniff, convert=convert)
