"""The JUnit XML every converter writes: suites of test cases, counted the way the server
counts (one outcome per case: failure, error, skipped, or passed)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from lxml import etree

SOURCE_FORMAT = "jux:source_format"
#: characters XML 1.0 cannot carry, shown as visible escapes instead of being dropped
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class Outcome(StrEnum):
    PASSED = "passed"
    FAILURE = "failure"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Case:
    """One test case. ``message`` is the short reason, ``details`` the long text (stack
    trace, diff); ``time`` is in seconds."""

    name: str
    classname: str = ""
    time: float | None = None
    outcome: Outcome = Outcome.PASSED
    message: str = ""
    kind: str = ""  # the failure/error type attribute
    details: str = ""
    system_out: str = ""
    system_err: str = ""
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Suite:
    """One test suite (nested suites are flattened by converters, names joined)."""

    name: str
    cases: tuple[Case, ...] = ()
    time: float | None = None
    timestamp: str | None = None
    hostname: str | None = None
    properties: tuple[tuple[str, str], ...] = ()
    system_out: str = ""
    system_err: str = ""
    suites: tuple[Suite, ...] = field(default=())


def clean(text: str) -> str:
    """Text XML 1.0 can carry: forbidden characters become visible ``\\xNN`` escapes."""
    return _FORBIDDEN.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _seconds(value: float | None) -> str | None:
    if value is None or not math.isfinite(value):
        return None
    return f"{max(0.0, value):.6f}".rstrip("0").rstrip(".") or "0"


def _counts(cases: Sequence[Case]) -> dict[str, int]:
    return {
        "tests": len(cases),
        "failures": sum(c.outcome is Outcome.FAILURE for c in cases),
        "errors": sum(c.outcome is Outcome.ERROR for c in cases),
        "skipped": sum(c.outcome is Outcome.SKIPPED for c in cases),
    }


def _set(elem: etree._Element, name: str, value: str | None) -> None:
    if value is not None:
        elem.set(name, clean(value))


def _case(parent: etree._Element, case: Case) -> None:
    elem = etree.SubElement(parent, "testcase")
    _set(elem, "name", case.name)
    _set(elem, "classname", case.classname)
    _set(elem, "time", _seconds(case.time))
    if case.properties:
        props = etree.SubElement(elem, "properties")
        for name, value in case.properties:
            prop = etree.SubElement(props, "property")
            _set(prop, "name", name)
            _set(prop, "value", value)
    if case.outcome is not Outcome.PASSED:
        outcome = etree.SubElement(elem, case.outcome.value)
        if case.message:
            _set(outcome, "message", case.message)
        if case.kind and case.outcome is not Outcome.SKIPPED:
            _set(outcome, "type", case.kind)
        if case.details:
            outcome.text = clean(case.details)
    for tag, text in (("system-out", case.system_out), ("system-err", case.system_err)):
        if text:
            etree.SubElement(elem, tag).text = clean(text)


def _suite(parent: etree._Element, suite: Suite, extra: tuple[tuple[str, str], ...]) -> None:
    elem = etree.SubElement(parent, "testsuite")
    _set(elem, "name", suite.name)
    for key, count in _counts(suite.cases).items():
        elem.set(key, str(count))
    _set(elem, "time", _seconds(suite.time if suite.time is not None else _total(suite.cases)))
    _set(elem, "timestamp", suite.timestamp)
    _set(elem, "hostname", suite.hostname)
    properties = (*extra, *suite.properties)
    if properties:
        props = etree.SubElement(elem, "properties")
        for name, value in properties:
            prop = etree.SubElement(props, "property")
            _set(prop, "name", name)
            _set(prop, "value", value)
    for case in suite.cases:
        _case(elem, case)
    for tag, text in (("system-out", suite.system_out), ("system-err", suite.system_err)):
        if text:
            etree.SubElement(elem, tag).text = clean(text)


def _total(cases: Sequence[Case]) -> float | None:
    times = [c.time for c in cases if c.time is not None]
    return sum(times) if times else None


def _flatten(suites: Sequence[Suite], prefix: str = "") -> list[Suite]:
    out: list[Suite] = []
    for suite in suites:
        name = f"{prefix}{suite.name}"
        if suite.cases or not suite.suites:
            out.append(replace(suite, name=name, suites=()))
        out.extend(_flatten(suite.suites, f"{name} / " if name else ""))
    return out


def write_junit(suites: Sequence[Suite], *, source_format: str, name: str | None = None) -> bytes:
    """The JUnit XML document (UTF-8, with declaration) for ``suites``: a ``<testsuites>``
    root whose counts are the sums, nested suites flattened (names joined with `` / ``), and
    ``jux:source_format`` in the first suite's properties (where the server reads metadata)."""
    flat = _flatten(suites) or [Suite(name=name or "(no tests)")]
    root = etree.Element("testsuites")
    _set(root, "name", name)
    cases = [c for s in flat for c in s.cases]
    for key, count in _counts(cases).items():
        root.set(key, str(count))
    total = [s.time if s.time is not None else _total(s.cases) for s in flat]
    known = [t for t in total if t is not None]
    _set(root, "time", _seconds(sum(known)) if known else None)
    for index, suite in enumerate(flat):
        _suite(root, suite, ((SOURCE_FORMAT, source_format),) if index == 0 else ())
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
