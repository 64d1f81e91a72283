"""The Dart/Flutter JSON reporter (``dart test --reporter json``, ``flutter test --machine``),
converted to JUnit: a suite per test file.

Mapping (the protocol: dart-lang/test ``doc/json_reporter.md``, "JSON Reporter Protocol"):

============================  ===================================================================
Dart JSON events              JUnit
============================  ===================================================================
``start``                     must come first (``protocolVersion``); text lines before it
                              (``flutter pub get`` output) are skipped
``suite.path``                a ``<testsuite name>`` and the ``classname`` of its cases; a path run
                              on several platforms is one suite per platform, named
                              ``path [platform]``
``group``                     nothing of its own: Dart's test names already start with their
                              group names (``Test 1 Test 1.1 Failing test``)
``testStart.test.name``       the ``<testcase name>``, exact (unicode kept)
``testDone.result: success``  passed
``result: failure``           ``<failure>`` (the first error was a ``TestFailure``, an ``expect``)
``result: error``             ``<error>`` (any other exception, a timeout, a file that does not
                              compile: its ``loading <path>`` test)
``skipped: true``             ``<skipped>``, ``message`` the skip reason (``metadata.skipReason``,
                              else the ``Skip: ...`` message)
``hidden: true``              not counted (the ``loading`` test of each file, ``setUpAll``,
                              ``tearDownAll``): the runner hides only successful ones; one that
                              errs after it completed is shown (the protocol says so)
``error`` event               ``message`` the first line of the first ``error``; body every
                              error with its ``stackTrace``; an error after ``testDone`` makes a
                              passed test an ``<error>`` (the protocol: it "should be considered
                              to have failed")
``print`` event               the case's ``<system-out>`` (``messageType: print``; ``skip``
                              messages give the skip reason)
``time`` (ms since start)     ``time`` = ``testDone.time - testStart.time``, in seconds
``testStart`` with no         an ``<error message="did not finish ...">`` (the run was stopped)
``testDone``
``done.success: false``       with no failing case: an ``<error>`` case ``[run failed]``; no
with no failing test          ``done`` at all: a warning (the stream may be cut)
============================  ===================================================================
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from jux_submit.formats.base import Conversion, ConversionError, ReportFormat
from jux_submit.formats.junit import Case, Outcome, Suite, write_junit

NAME = "dart"
RESULTS = {"success": Outcome.PASSED, "failure": Outcome.FAILURE, "error": Outcome.ERROR}
_START = re.compile(r'^\{"protocolVersion":"[^"]*",')
_RUN_SUITE = "dart"


@dataclass
class _Test:
    id: int
    name: str
    suite_id: int | None
    start: float | None
    skip_reason: str = ""
    result: str | None = None
    is_skipped: bool = False
    is_hidden: bool = False
    end: float | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # error, stackTrace
    has_late_error: bool = False
    prints: list[str] = field(default_factory=list)
    skip_messages: list[str] = field(default_factory=list)


def sniff(head: bytes, name: str) -> bool:
    """True when the first line of ``head`` that starts with ``{`` is the reporter's start
    event: ``"type": "start"`` with a ``protocolVersion``."""
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("{"):
            continue
        try:
            event = json.loads(stripped)
        except ValueError:
            return bool(_START.match(stripped)) and '"type":"start"' in stripped
        return (
            isinstance(event, dict) and event.get("type") == "start" and "protocolVersion" in event
        )
    return False


def convert(data: bytes) -> Conversion:
    """JUnit XML for a Dart JSON reporter stream (see the module docstring). Raises
    ``ConversionError`` when the first event is not ``start``, a line that starts with ``{``
    is not JSON, or an event names a test or suite that was never announced."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", "replace")
    warnings: list[str] = []
    suites: dict[int, tuple[str, str]] = {}  # id -> (path, platform)
    tests: dict[int, _Test] = {}
    success: bool | None = None
    has_done = False
    events = 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped.startswith("{"):
            continue
        event = _parse(stripped, number)
        kind = event.get("type")
        if events == 0 and (kind != "start" or "protocolVersion" not in event):
            raise ConversionError(
                f'line {number}: the first event is not the reporter\'s "start" event'
            )
        events += 1
        if kind == "suite":
            suite = _object(event, "suite", number)
            suites[_id(suite, "id", number)] = (
                str(suite.get("path") or ""),
                str(suite.get("platform") or ""),
            )
        elif kind == "testStart":
            _start(_object(event, "test", number), event, tests, suites, number)
        elif kind == "testDone":
            test = _known(tests, event, number)
            test.result = str(event.get("result"))
            test.is_skipped = event.get("skipped") is True
            test.is_hidden = event.get("hidden") is True
            test.end = _time(event)
        elif kind == "error":
            test = _known(tests, event, number)
            test.errors.append((str(event.get("error") or ""), str(event.get("stackTrace") or "")))
            test.has_late_error = test.has_late_error or test.result is not None
        elif kind == "print":
            test = _known(tests, event, number)
            message = str(event.get("message") or "")
            if event.get("messageType") == "skip":
                test.skip_messages.append(message)
            else:
                test.prints.append(message)
        elif kind == "done":
            has_done = True
            success = event.get("success") if isinstance(event.get("success"), bool) else None
    if not events:
        raise ConversionError('no Dart JSON reporter event found (the "start" event first)')
    if not has_done:
        warnings.append('the Dart run has no "done" event: the stream may be cut short')
    unknown = sorted({t.result for t in tests.values() if t.result and t.result not in RESULTS})
    if unknown:
        warnings.append(f"unknown Dart test result(s) {', '.join(unknown)} counted as errors")
    return Conversion(
        xml=_write(tests, suites, success=success),
        source_format=NAME,
        warnings=tuple(warnings),
    )


def _parse(line: str, number: int) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConversionError(
            f"line {number}: not valid JSON ({exc.msg}, column {exc.colno}); "
            "is the Dart reporter output cut short?"
        ) from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ConversionError(f'line {number}: not a Dart reporter event (no "type")')
    return event


def _object(event: dict[str, Any], key: str, number: int) -> dict[str, Any]:
    value = event.get(key)
    if not isinstance(value, dict):
        raise ConversionError(f'line {number}: a "{event["type"]}" event without "{key}"')
    return value


def _id(obj: dict[str, Any], key: str, number: int) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConversionError(f'line {number}: "{key}" is not a number')
    return value


def _time(event: dict[str, Any]) -> float | None:
    value = event.get("time")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _start(
    test: dict[str, Any],
    event: dict[str, Any],
    tests: dict[int, _Test],
    suites: dict[int, tuple[str, str]],
    number: int,
) -> None:
    test_id = _id(test, "id", number)
    suite_id = test.get("suiteID")
    if suite_id is not None and suite_id not in suites:
        raise ConversionError(f"line {number}: test {test_id} names suite {suite_id}, never seen")
    metadata: dict[str, Any] = test["metadata"] if isinstance(test.get("metadata"), dict) else {}
    tests[test_id] = _Test(
        id=test_id,
        name=str(test.get("name") or ""),
        suite_id=suite_id if isinstance(suite_id, int) else None,
        start=_time(event),
        skip_reason=str(metadata.get("skipReason") or ""),
    )


def _known(tests: dict[int, _Test], event: dict[str, Any], number: int) -> _Test:
    test_id = event.get("testID")
    if not isinstance(test_id, int) or test_id not in tests:
        raise ConversionError(
            f'line {number}: a "{event["type"]}" event for test {test_id!r}, never started'
        )
    return tests[test_id]


def _suite_names(suites: dict[int, tuple[str, str]]) -> dict[int, str]:
    platforms: dict[str, set[str]] = {}
    for path, platform in suites.values():
        platforms.setdefault(path, set()).add(platform)
    return {
        suite_id: f"{path} [{platform}]" if len(platforms[path]) > 1 and platform else path
        for suite_id, (path, platform) in suites.items()
    }


def _write(
    tests: dict[int, _Test], suites: dict[int, tuple[str, str]], *, success: bool | None
) -> bytes:
    names = _suite_names(suites)
    grouped: dict[str, list[Case]] = {name: [] for name in names.values()}
    for test in tests.values():
        if test.is_hidden and not test.has_late_error and test.result is not None:
            continue
        suite = names.get(test.suite_id, _RUN_SUITE) if test.suite_id is not None else _RUN_SUITE
        grouped.setdefault(suite, []).append(_case(test, suite))
    cases = [case for group in grouped.values() for case in group]
    if success is False and not any(c.outcome in (Outcome.FAILURE, Outcome.ERROR) for c in cases):
        grouped.setdefault(_RUN_SUITE, []).append(
            Case(
                name="[run failed]",
                classname=_RUN_SUITE,
                outcome=Outcome.ERROR,
                message="the Dart test run reported failure with no failing test",
            )
        )
    out = [Suite(name=name, cases=tuple(group)) for name, group in grouped.items() if group]
    return write_junit(out, source_format=NAME, name="dart test")


def _case(test: _Test, suite: str) -> Case:
    if test.result is None:
        outcome = Outcome.ERROR
    elif test.is_skipped:
        outcome = Outcome.SKIPPED
    else:
        outcome = RESULTS.get(test.result, Outcome.ERROR)
    if test.has_late_error and outcome in (Outcome.PASSED, Outcome.SKIPPED):
        outcome = Outcome.ERROR
    message = ""
    details = "\n\n".join(
        "\n".join(part for part in (error.rstrip("\n"), trace.rstrip("\n")) if part)
        for error, trace in test.errors
    )
    if outcome is Outcome.SKIPPED:
        reason = test.skip_reason or next(iter(test.skip_messages), "").removeprefix("Skip: ")
        message, details = reason, ""
    elif outcome is not Outcome.PASSED:
        first = next((error for error, _ in test.errors if error.strip()), "")
        message = next((line.strip() for line in first.splitlines() if line.strip()), "")
        if test.result is None:
            message = "did not finish: the run stopped before its result"
        elif test.has_late_error and test.result == "success":
            message = f"failed after it had completed: {message}"
        elif test.result not in RESULTS:
            message = message or f"result {test.result!r}"
    time = None
    if test.start is not None and test.end is not None:
        time = max(0.0, test.end - test.start) / 1000
    return Case(
        name=test.name,
        classname=suite,
        time=time,
        outcome=outcome,
        message=message,
        details=details,
        system_out="\n".join(test.prints) + "\n" if test.prints else "",
    )


FORMAT = ReportFormat(name=NAME, title="Dart/Flutter JSON reporter", sniff=sniff, convert=convert)
