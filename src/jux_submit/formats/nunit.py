"""NUnit XML to JUnit XML: NUnit 3 ``<test-run>`` and NUnit 2.x ``<test-results>`` (2.5/2.6,
and the older 2.2/2.4 files that have only ``executed``/``success``).

Recognised by its root element, ``<test-run>`` or ``<test-results>`` without a namespace.
Parsed with the hardened parser the .NET formats share (``trx.parse_report``); a DOCTYPE is
refused.

Outcomes (the server counts failure, error, skipped, else passed):

================================================  =================================================
NUnit 3 ``result`` (+ ``label``)                  JUnit
================================================  =================================================
``Passed``                                        passed
``Warning``                                       passed, ``warning`` property with the message
                                                  (NUnit itself does not fail the run)
``Failed``                                        ``<failure>``
``Failed`` + ``Error``                            ``<error>`` (an unexpected exception; ``type``
                                                  is the exception class when the message starts
                                                  ``Some.Exception : …``)
``Failed`` + ``Invalid``/``Cancelled``/timeout    ``<error type="Invalid">`` etc.: the test could
                                                  not run (or not finish)
``Skipped`` + ``Ignored``/``Explicit``/none       ``<skipped message="<reason>">``
``Skipped`` + ``Invalid``                         ``<error type="Invalid">`` (a broken test is
                                                  never hidden as skipped)
``Inconclusive``                                  ``<skipped message="Inconclusive: …">``
================================================  =================================================

================================================  =================================================
NUnit 2.5/2.6 ``result`` (2.2/2.4: flags)         JUnit
================================================  =================================================
``Success`` (``success="True"``)                  passed
``Failure`` (``success="False"``)                 ``<failure>``
``Error``, ``Cancelled``                          ``<error>``
``NotRunnable``                                   ``<error type="NotRunnable">`` (NUnit 3 reports
                                                  the same test as ``Failed``/``Invalid``)
``Ignored``, ``Skipped`` (``executed="False"``)   ``<skipped>``
``Inconclusive``                                  ``<skipped message="Inconclusive: …">``
================================================  =================================================

An unknown ``result`` is an ``<error>`` and a warning. So the JUnit counts are NUnit's own
except in two documented ways: NUnit's ``failed`` is split into failures and errors, and an
invalid or not-runnable test is an error, not "not run".

Everything else:

- **Names** are kept exactly as NUnit writes them: the case name is the ``test-case@name``
  (NUnit 3: ``Is_Even_Number(2)``, parameters and quotes included; NUnit 2: the full name
  ``Ns.Fixture.Method("a",1)``), unicode included.
- **Suites**: assembly, namespace and fixture suites are flattened to one ``<testsuite>`` per
  fixture, named by its full name (``Ns.Fixture``, ``Ns.ParameterizedFixture(42)``,
  ``Ns.GenericFixture<Double>(11.5d)``); method-level suites (``ParameterizedMethod``,
  ``Theory``, ``GenericMethod``, 2.x ``ParameterizedTest``) are folded into their fixture, so a
  parameterized test's cases sit beside the fixture's other tests. ``classname`` is
  ``test-case@classname`` (NUnit 3), else the fixture's full name. Suite time, timestamp and
  hostname are the fixture's ``duration``/``time``, ``start-time`` (NUnit 2: the run's
  ``date``/``time``) and ``environment@machine-name``.
- **Durations**: NUnit 3 ``duration`` (seconds; ``time`` in early 3.0 files), NUnit 2
  ``time`` (seconds; a decimal comma is read too).
- **Failure message vs. stack trace**: ``failure/message`` is the ``message`` attribute, the
  element text is the message followed by ``failure/stack-trace`` (as Surefire writes it); a
  skipped test's ``reason/message`` is its message.
- **Output**: ``<output>`` of a test case or fixture is its ``system-out``.
- **Properties**: a case's ``<properties>`` (``Category``, ``Description``, custom ones; NUnit's
  internal ``_SKIPREASON``-style names are left out), NUnit 2 ``<categories>`` as ``Category``
  and ``description`` as ``Description``, and each NUnit 3 ``attachment/filePath`` as an
  ``attachment`` property (packages carry the file). A fixture's own properties go on its suite.
- **Failures outside any test**: a suite that failed where no test case below it shows it
  (``OneTimeTearDown``, ``site="TearDown"``; an assembly or fixture that is ``Invalid`` or
  ``NotRunnable`` and lists no test cases, e.g. an assembly that failed to load) becomes one
  ``<error>`` case named ``(OneTimeSetUp)``, ``(OneTimeTearDown)`` or ``(fixture)`` in that
  suite, with a warning. A skipped suite that lists no test cases adds a warning only.

A report that is not well-formed, has a DOCTYPE, or a ``<test-case>`` without ``name`` (or,
in NUnit 3, without ``result``) raises ``ConversionError`` naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

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

NAME = "nunit"
TITLE = "NUnit XML"
ROOTS = ("test-run", "test-results")
#: suites of one method (its test cases, one per argument set), folded into the fixture
_METHOD_SUITES = frozenset({"ParameterizedMethod", "Theory", "GenericMethod", "ParameterizedTest"})
_NUNIT3_ERROR_LABELS = frozenset({"Error", "Invalid", "Cancelled", "Timeout"})
_NUNIT2_RESULTS: dict[str, Outcome] = {
    "Success": Outcome.PASSED,
    "Failure": Outcome.FAILURE,
    "Error": Outcome.ERROR,
    "Cancelled": Outcome.ERROR,
    "NotRunnable": Outcome.ERROR,
    "Ignored": Outcome.SKIPPED,
    "Skipped": Outcome.SKIPPED,
    "Inconclusive": Outcome.SKIPPED,
}
#: "System.DivideByZeroException : Attempted to divide by zero." (NUnit's exception message)
_EXCEPTION = re.compile(r"^([A-Za-z_][\w`+]*(?:\.[A-Za-z_][\w`+]*)+) : ")


def sniff(head: bytes, name: str) -> bool:
    """True for a root ``<test-run>`` (NUnit 3) or ``<test-results>`` (NUnit 2) without a
    namespace."""
    root = root_start(head)
    return root is not None and root[0] in ROOTS and root[1] is None


@dataclass
class _Group:
    """One fixture's cases, as they are found."""

    name: str
    time: float | None = None
    timestamp: str | None = None
    hostname: str | None = None
    properties: tuple[tuple[str, str], ...] = ()
    system_out: str = ""
    cases: list[Case] = field(default_factory=list)

    def suite(self) -> Suite:
        return Suite(
            name=self.name,
            cases=tuple(self.cases),
            time=self.time,
            timestamp=self.timestamp,
            hostname=self.hostname,
            properties=self.properties,
            system_out=self.system_out,
        )


@dataclass
class _Run:
    """What a conversion collects: the groups in document order, and its warnings."""

    groups: list[_Group] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unknown: set[str] = field(default_factory=set)


def _properties(elem: etree._Element) -> list[tuple[str, str]]:
    """The user's properties of a test or suite (NUnit's own start with an underscore)."""
    found = []
    for prop in elem.iterfind("properties/property"):
        name = prop.get("name") or ""
        if name and not name.startswith("_"):
            found.append((name, prop.get("value") or ""))
    return found


def _required(elem: etree._Element, attribute: str) -> str:
    value = elem.get(attribute)
    if value is None or not value.strip():
        raise ConversionError(
            f"the {TITLE} report has a <{local_name(elem)}> without {attribute} "
            f"(line {elem.sourceline})"
        )
    return value


def _failure_texts(elem: etree._Element) -> tuple[str, str]:
    """The failure message (else the reason) and the stack trace of a test or suite."""
    message = text_of(elem, "failure/message").strip()
    if not message:
        message = text_of(elem, "reason/message").strip()
    return message, text_of(elem, "failure/stack-trace").strip("\r\n")


def _details(message: str, stack: str) -> str:
    return "\n".join(p for p in (message, stack) if p.strip())


def _suite_warning(suite: str, case: str, message: str, has_cases: bool) -> str:
    what = "failed outside its test cases" if has_cases else "could not run and lists no tests"
    first = message.splitlines()[0] if message.strip() else "no reason given"
    return f"NUnit suite {suite} {what} ({first}); it is reported as an error test case {case}"


def _has_cases(elem: etree._Element) -> bool:
    return next(elem.iter("test-case"), None) is not None


# --- NUnit 3 ------------------------------------------------------------------------------


def _outcome3(result: str, label: str) -> tuple[Outcome | None, str]:
    """The outcome of an NUnit 3 result and label, and the error type it implies."""
    if result in ("Passed", "Warning"):
        return Outcome.PASSED, ""
    if result == "Failed":
        if label.startswith("Test exceeded Timeout"):  # NUnit writes the message as the label
            return Outcome.ERROR, "Timeout"
        if label in _NUNIT3_ERROR_LABELS:
            return Outcome.ERROR, label
        return Outcome.FAILURE, ""
    if result == "Skipped":
        return (Outcome.ERROR, label) if label == "Invalid" else (Outcome.SKIPPED, "")
    if result == "Inconclusive":
        return Outcome.SKIPPED, ""
    return None, result


def _case3(elem: etree._Element, group: _Group, run: _Run) -> Case:
    name = _required(elem, "name")
    result = _required(elem, "result")
    label = elem.get("label") or ""
    outcome, kind = _outcome3(result, label)
    if outcome is None:
        run.unknown.add(result)
        outcome = Outcome.ERROR
    message, stack = _failure_texts(elem)
    properties = _properties(elem)
    if result == "Warning":
        properties.append(("warning", message or result))
    elif result == "Inconclusive":
        message = f"Inconclusive: {message}" if message else "Inconclusive"
    elif outcome is not Outcome.PASSED:
        message = message or label or result
    if kind == "Error":  # an unexpected exception: NUnit's message starts with its type
        found = _EXCEPTION.match(message)
        kind = found.group(1) if found else kind
    for attachment in elem.iterfind("attachments/attachment"):
        path = text_of(attachment, "filePath").strip()
        if path:
            properties.append(("attachment", path))
    is_failed = outcome in (Outcome.FAILURE, Outcome.ERROR)
    return Case(
        name=name,
        classname=elem.get("classname") or group.name,
        time=parse_seconds(elem.get("duration") or elem.get("time")),
        outcome=outcome,
        message=message if outcome is not Outcome.PASSED else "",
        kind=kind,
        details=_details(message, stack) if is_failed else "",
        system_out=text_of(elem, "output"),
        properties=tuple(properties),
    )


def _suite_name3(suite: etree._Element) -> str:
    if suite.get("type") == "Assembly":
        return suite.get("name") or suite.get("fullname") or "(assembly)"
    return suite.get("fullname") or suite.get("name") or "(suite)"


def _walk3(elem: etree._Element, group: _Group | None, hostname: str | None, run: _Run) -> None:
    for child in elem:
        tag = child.tag
        if tag == "test-case":
            if group is None:
                raise ConversionError(
                    f"the {TITLE} report has a <test-case> outside any <test-suite> "
                    f"(line {child.sourceline})"
                )
            group.cases.append(_case3(child, group, run))
        elif tag == "test-suite":
            machine = child.find("environment")
            host = (machine.get("machine-name") if machine is not None else None) or hostname
            if group is not None and child.get("type") in _METHOD_SUITES:
                _walk3(child, group, host, run)
            else:
                sub = _Group(
                    _suite_name3(child),
                    time=parse_seconds(child.get("duration") or child.get("time")),
                    timestamp=child.get("start-time"),
                    hostname=host,
                    properties=tuple(_properties(child)),
                    system_out=text_of(child, "output"),
                )
                run.groups.append(sub)
                _walk3(child, sub, host, run)
                _suite_problem3(child, sub, run)


def _suite_problem3(suite: etree._Element, group: _Group, run: _Run) -> None:
    """A failure the suite reports that no test case below it carries (see the docstring)."""
    result, label, site = suite.get("result"), suite.get("label") or "", suite.get("site")
    has_cases = _has_cases(suite)
    if result == "Failed" and site in ("SetUp", "TearDown"):
        failed_below = any(c.get("result") == "Failed" for c in suite.iter("test-case"))
        if site == "SetUp" and failed_below:
            return
        name = "(OneTimeSetUp)" if site == "SetUp" else "(OneTimeTearDown)"
    elif label == "Invalid" and not has_cases:
        name = "(fixture)"
    else:
        if result == "Skipped" and not has_cases and int(suite.get("testcasecount") or 0) > 0:
            run.warnings.append(
                f"NUnit suite {group.name} is {result} ({label or 'no reason given'}) and lists "
                f"none of its {suite.get('testcasecount')} test cases; they are not counted"
            )
        return
    message, stack = _failure_texts(suite)
    message = message or label or result or "failed"
    group.cases.append(
        Case(
            name=name,
            classname=group.name,
            outcome=Outcome.ERROR,
            message=message,
            kind=label or "Error",
            details=_details(message, stack),
        )
    )
    run.warnings.append(_suite_warning(group.name, name, message, has_cases))


# --- NUnit 2 ------------------------------------------------------------------------------


def _outcome2(elem: etree._Element) -> tuple[Outcome | None, str]:
    """The outcome of an NUnit 2 test case, and the NUnit result it came from."""
    result = elem.get("result")
    if result:
        return _NUNIT2_RESULTS.get(result), result
    if (elem.get("executed") or "").lower() == "false":
        return Outcome.SKIPPED, "Ignored"
    if (elem.get("success") or "").lower() == "true":
        return Outcome.PASSED, "Success"
    return Outcome.FAILURE, "Failure"


def _classname2(case_name: str, fixture: str, short: str) -> str:
    """The full fixture name: ``fixture`` when the case's full name starts with it, else the
    part of the case's name up to the suite's own ``short`` name (NUnit 2.2/2.4 suites have
    no ``type``, so their namespaces are not known), else ``fixture``."""
    if case_name.startswith(fixture + "."):
        return fixture
    start = 0
    while (index := case_name.find(short + ".", start)) >= 0:
        if index == 0 or case_name[index - 1] == ".":
            return case_name[: index + len(short)]
        start = index + 1
    return fixture


@dataclass(frozen=True)
class _Context2:
    """What an NUnit 2 suite inherits: the run's timestamp and host, its namespace."""

    timestamp: str | None
    hostname: str | None
    namespace: str = ""


def _case2(elem: etree._Element, group: _Group, short: str, run: _Run) -> Case:
    name = _required(elem, "name")
    outcome, result = _outcome2(elem)
    if outcome is None:
        run.unknown.add(result)
        outcome = Outcome.ERROR
    message, stack = _failure_texts(elem)
    properties = [("Category", c.get("name") or "") for c in elem.iterfind("categories/category")]
    if elem.get("description"):
        properties.insert(0, ("Description", elem.get("description") or ""))
    properties.extend(_properties(elem))
    kind = ""
    if result == "Inconclusive":
        message = f"Inconclusive: {message}" if message else "Inconclusive"
    elif outcome is Outcome.ERROR:
        kind = "" if result == "Error" else result
        found = _EXCEPTION.match(message) if result == "Error" else None
        kind = found.group(1) if found else kind
        message = message or result
    elif outcome is Outcome.FAILURE:
        message = message or result
    is_failed = outcome in (Outcome.FAILURE, Outcome.ERROR)
    return Case(
        name=name,
        classname=_classname2(name, group.name, short),
        time=parse_seconds(elem.get("time")),
        outcome=outcome,
        message=message if outcome is not Outcome.PASSED else "",
        kind=kind,
        details=_details(message, stack) if is_failed else "",
        system_out=text_of(elem, "output"),
        properties=tuple(properties),
    )


def _walk2(
    children: Iterable[etree._Element],
    group: _Group | None,
    short: str,
    context: _Context2,
    run: _Run,
) -> None:
    for child in children:
        if child.tag == "test-case":
            if group is None:
                raise ConversionError(
                    f"the {TITLE} report has a <test-case> outside any <test-suite> "
                    f"(line {child.sourceline})"
                )
            case = _case2(child, group, short, run)
            if not group.cases:  # the first case tells the fixture's full name
                group.name = case.classname
            group.cases.append(case)
        elif child.tag == "test-suite":
            kind = child.get("type")
            if group is not None and kind in _METHOD_SUITES:
                _walk2(child.iterfind("results/*"), group, short, context, run)
                continue
            name = child.get("name") or "(suite)"
            inner = context
            if kind == "Namespace":
                inner = replace(context, namespace=f"{context.namespace}{name}.")
            sub = _Group(
                name if kind in (None, "Assembly") else f"{context.namespace}{name}",
                time=parse_seconds(child.get("time")),
                timestamp=context.timestamp,
                hostname=context.hostname,
                properties=tuple(_properties(child)),
            )
            run.groups.append(sub)
            _walk2(child.iterfind("results/*"), sub, name, inner, run)
            _suite_problem2(child, sub, run)


def _suite_problem2(suite: etree._Element, group: _Group, run: _Run) -> None:
    """A failure the NUnit 2 suite reports that no test case below it carries."""
    result = suite.get("result") or ""
    has_failure = suite.find("failure") is not None
    failed_below = any(
        _outcome2(case)[0] in (Outcome.FAILURE, Outcome.ERROR) for case in suite.iter("test-case")
    )
    is_broken = result == "NotRunnable" and not _has_cases(suite)
    if not (has_failure and not failed_below) and not is_broken:
        return
    message, stack = _failure_texts(suite)
    message = message or result or "failed"
    group.cases.append(
        Case(
            name="(fixture)",
            classname=group.name,
            outcome=Outcome.ERROR,
            message=message,
            kind=result or "Error",
            details=_details(message, stack),
        )
    )
    run.warnings.append(_suite_warning(group.name, "(fixture)", message, _has_cases(suite)))


def _context2(root: etree._Element) -> _Context2:
    date, time = root.get("date"), root.get("time")
    environment = root.find("environment")
    return _Context2(
        f"{date}T{time}" if date and time else None,
        environment.get("machine-name") if environment is not None else None,
    )


def convert(data: bytes) -> Conversion:
    """The NUnit 3 or NUnit 2 report ``data`` as JUnit XML. Raises ``ConversionError``."""
    root = parse_report(data, TITLE)
    if root.tag not in ROOTS:
        raise ConversionError(
            f"not an {TITLE} report: the root element is {root_label(root)}, not <test-run> "
            "(NUnit 3) or <test-results> (NUnit 2)"
        )
    run = _Run()
    if root.tag == "test-run":
        _walk3(root, None, None, run)
    else:
        _walk2(root.iterfind("test-suite"), None, "", _context2(root), run)
    suites = [g.suite() for g in run.groups if g.cases]
    if run.unknown:
        run.warnings.append(
            "the NUnit report has results jux-submit does not know, reported as errors: "
            + ", ".join(sorted(run.unknown))
        )
    xml = write_junit(suites, source_format=NAME, name=root.get("name"))
    return Conversion(xml, NAME, tuple(run.warnings))


FORMAT = ReportFormat(name=NAME, title=TITLE, sniff=sniff, convert=convert)
