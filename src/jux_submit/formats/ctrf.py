"""CTRF, the Common Test Report Format (JSON; https://ctrf.io), converted to JUnit XML.

Mapping (fixtures and the commands that made them: ``tests/fixtures/formats/ctrf/``):

==============================  ============================================================
CTRF                            JUnit
==============================  ============================================================
``results.tests[]``             one case each, in the report's order
``suite``                       the ``<testsuite>`` (and the cases' ``classname``): the
                                string as written (reporters join levels with `` > ``), or
                                the list of levels joined the same way, so a reporter moving
                                to the list form keeps the names; without ``suite``, the
                                ``filePath`` (relative to the directory all files share),
                                else the tool's name
``name``                        the case's ``name``, exactly (unicode kept; reporters often
                                put the describe titles in it)
``status`` passed               passed
``status`` failed               ``<failure>``: ``message`` is ``message`` up to any stack
                                trace, the text ``trace`` (with the message when the trace
                                lacks it) and ``snippet``, ``type`` the error class
``status`` skipped, pending     ``<skipped>`` (message ``pending`` for the latter)
``status`` other                ``<skipped>`` with message ``other`` and the tool's own
                                ``rawStatus`` (``other (todo)``): CTRF says only that it is
                                neither passed nor failed
any other ``status``            ``<error>`` naming it, and a warning
``duration`` (milliseconds)     ``time`` in seconds
``retries`` / ``flaky``         properties ``retries`` and ``flaky=true`` (also the older
(``retry`` / ``flake``)         names); the failed attempts (``retryAttempts``) go to
                                ``<system-err>``
``stdout`` / ``stderr`` lists   ``<system-out>`` / ``<system-err>``
``tags``, ``browser``           properties ``tags`` (comma-separated), ``browser``
``results.tool``                the ``<testsuites>`` name (``jest 29.7``)
==============================  ============================================================

ANSI colour codes are removed from messages. Counts follow the tests listed, which is what
CTRF's ``summary`` should count: ``failures`` = failed, ``skipped`` = skipped + pending +
other; a summary that disagrees is reported as a warning.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from jux_submit.formats.base import Conversion, ReportFormat
from jux_submit.formats.jest import Shape, read_json, relative_paths, split_error, strip_ansi
from jux_submit.formats.junit import Case, Outcome, Suite, write_junit

TITLE = "CTRF JSON"
_RESULTS = re.compile(rb'"results"\s*:\s*\{')
_TOOL = re.compile(rb'"tool"\s*:\s*\{')
_MARK = re.compile(rb'"reportFormat"\s*:\s*"CTRF"')
_SUMMARY = re.compile(rb'"summary"\s*:\s*\{')
_SKIPPED = {"skipped": "", "pending": "pending", "other": "other"}
#: CTRF's statuses, each also a count in ``summary``
_STATUSES = ("passed", "failed", "skipped", "pending", "other")


def sniff(head: bytes, name: str) -> bool:
    """``results`` with a ``tool`` object, and the ``reportFormat: "CTRF"`` mark or (before
    the spec required it) a ``summary`` object."""
    return bool(
        _RESULTS.search(head)
        and _TOOL.search(head)
        and (_MARK.search(head) or _SUMMARY.search(head))
    )


def convert(data: bytes) -> Conversion:
    """The JUnit XML for a CTRF report, with a warning when its summary disagrees with its
    tests. Raises ``ConversionError`` when the input is not JSON or not shaped like CTRF."""
    root = _SHAPE.as_object(read_json(data, _SHAPE.what, _HINT), "the top level")
    results = _SHAPE.as_object(root.get("results"), "results")
    tool = _SHAPE.as_object(results.get("tool"), "results.tool")
    tool_name = " ".join(
        filter(None, (_SHAPE.text(tool, "name", "results.tool", ""), _text(tool, "version")))
    )
    _SHAPE.as_list(results.get("tests"), "results.tests")
    tests = _SHAPE.objects(results, "tests", "results")
    files = relative_paths([_text(t, "filePath") for _, t in tests])
    warnings: list[str] = []
    groups: dict[str, list[Case]] = {}
    statuses: list[str] = []
    for at, test in tests:
        status = _SHAPE.text(test, "status", at)
        statuses.append(status)
        suite = _suite_name(test, at) or files[_text(test, "filePath")] or tool_name or "CTRF"
        case = _case(test, at, status, warnings)
        groups.setdefault(suite, []).append(replace(case, classname=suite))
    warnings.extend(_summary_warnings(results, statuses))
    suites = [Suite(name, tuple(cases)) for name, cases in groups.items()]
    xml = write_junit(suites, source_format="ctrf", name=tool_name or "CTRF")
    return Conversion(xml, "ctrf", tuple(warnings))


FORMAT = ReportFormat(name="ctrf", title=TITLE, sniff=sniff, convert=convert)


def _suite_name(test: dict[str, Any], at: str) -> str:
    suite = test.get("suite")
    if isinstance(suite, list):
        return " > ".join(_SHAPE.strings(test, "suite", at))
    return _SHAPE.text(test, "suite", at, "")


def _case(test: dict[str, Any], at: str, status: str, warnings: list[str]) -> Case:
    duration = _SHAPE.number(test, "duration", at)
    case = Case(
        name=_SHAPE.text(test, "name", at),
        time=duration / 1000 if duration is not None else None,
        system_out=_output(test, "stdout", at),
        system_err=_output(test, "stderr", at),
        properties=_properties(test, at, status),
    )
    attempts = _attempts(test, at)
    if attempts:
        case = replace(case, system_err="\n\n".join(filter(None, (attempts, case.system_err))))
    if status == "passed":
        return case
    message, kind = split_error(strip_ansi(_text(test, "message")))
    if status == "failed":
        return replace(
            case,
            outcome=Outcome.FAILURE,
            message=message or "failed",
            kind=kind,
            details=_details(test),
        )
    if status in _SKIPPED:
        raw = _text(test, "rawStatus")
        reason = _SKIPPED[status]
        if status == "other" and raw:
            reason = f"other ({raw})"
        return replace(case, outcome=Outcome.SKIPPED, message=message or reason)
    warnings.append(f"{at}: unknown CTRF status {status!r}, reported as an error")
    unknown = f"unknown CTRF status {status!r}"
    return replace(case, outcome=Outcome.ERROR, message=unknown, details=_details(test))


def _details(test: dict[str, Any]) -> str:
    """The failure's long text: the trace (with the message when the trace lacks it), then
    the code snippet."""
    message = strip_ansi(_text(test, "message")).strip()
    trace = strip_ansi(_text(test, "trace")).strip()
    snippet = strip_ansi(_text(test, "snippet")).rstrip()
    head = trace if message in trace else "\n".join(filter(None, (message, trace)))
    return "\n\n".join(filter(None, (head, snippet)))


def _properties(test: dict[str, Any], at: str, status: str) -> tuple[tuple[str, str], ...]:
    retries = _retries(test, at)
    flaky = test.get("flaky", test.get("flake")) is True  # "flake": older reporters
    found: list[tuple[str, str]] = []
    if flaky and status == "passed":
        found.append(("flaky", "true"))
    if retries:
        found.append(("retries", str(int(retries))))
    tags = [t for t in (test.get("tags") or []) if isinstance(t, str)]
    if tags:
        found.append(("tags", ",".join(tags)))
    browser = _text(test, "browser")
    if browser:
        found.append(("browser", browser))
    return tuple(found)


def _retries(test: dict[str, Any], at: str) -> int:
    retries = _SHAPE.number(test, "retries", at)
    if retries is None:
        retries = _SHAPE.number(test, "retry", at)  # older reporters' name
    return int(retries or 0)


def _attempts(test: dict[str, Any], at: str) -> str:
    """The failed earlier attempts, one paragraph each (``retryAttempts``; older reporters
    wrote ``attempts``)."""
    key = "retryAttempts" if "retryAttempts" in test else "attempts"
    attempts = _SHAPE.objects(test, key, at)
    total = max(_retries(test, at) + 1, len(attempts))
    paragraphs = []
    for n, (where, attempt) in enumerate(attempts, 1):
        status = _SHAPE.text(attempt, "status", where, "")
        if status == "passed":
            continue
        text = _details(attempt) or status
        paragraphs.append(f"attempt {n} of {total} {status or 'ended'}:\n{text}")
    return "\n\n".join(paragraphs)


def _output(test: dict[str, Any], key: str, at: str) -> str:
    chunks = [strip_ansi(c) for c in _SHAPE.strings(test, key, at)]
    return "".join(c if c.endswith("\n") else c + "\n" for c in chunks)


def _summary_warnings(results: dict[str, Any], statuses: list[str]) -> list[str]:
    summary = results.get("summary")
    if not isinstance(summary, dict):
        return []
    out = []
    said = summary.get("tests")
    if isinstance(said, int) and not isinstance(said, bool) and said != len(statuses):
        out.append(f"the CTRF summary says tests={said}, but the report lists {len(statuses)}")
    for key in _STATUSES:
        said = summary.get(key)
        listed = statuses.count(key)
        if isinstance(said, int) and not isinstance(said, bool) and said != listed:
            out.append(f"the CTRF summary says {key}={said}, but the report lists {listed}")
    return out


def _text(obj: dict[str, Any], key: str) -> str:
    """An optional string field; anything else (missing, null, another type) is ``""``."""
    value = obj.get(key)
    return value if isinstance(value, str) else ""


_SHAPE = Shape("the CTRF report", "CTRF")
_HINT = "write it with a CTRF reporter (e.g. jest-ctrf-json-reporter) to a file"
