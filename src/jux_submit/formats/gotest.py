"""``go test -json`` (cmd/test2json) event streams, converted to JUnit: a suite per package.

Mapping (https://pkg.go.dev/cmd/test2json; Go 1.24 build events: golang/go#62067):

==========================  =================================================================
go test -json               JUnit
==========================  =================================================================
``Package``                 a ``<testsuite name>`` and every case's ``classname``; packages
                            that ran no test and did not fail (``[no test files]``) are left
                            out; suite ``time`` is the package's ``Elapsed``, ``timestamp``
                            its first event's ``Time`` in UTC (``YYYY-MM-DDTHH:MM:SS``)
``Test``                    a ``<testcase name>``, exactly as Go names it (``TestX/sub_case``:
                            Go's own spelling, spaces already ``_``, unicode kept)
subtests ``TestX/sub``      every test with no subtests of its own is a case; a parent
                            (``TestX``) is not counted again, since its result is only the sum
                            of its subtests'; it is kept as a case only when it failed and no
                            subtest did (``t.Error`` in the parent's own body), so no failure
                            vanishes and none is counted twice; what a parent that is no case
                            logged goes to the suite's ``<system-out>``
``pass`` / ``bench``        passed (``bench``: a benchmark that logged and did not fail)
``fail``                    ``<failure>``: ``message`` is the ``panic: ...`` line if the test
                            panicked, else the text of its last ``file.go:N:`` log line, else
                            ``Failed``; the body is the test's output
``skip``                    ``<skipped>``, ``message`` the text of the last ``file.go:N:`` line
                            (where ``t.Skip`` writes its reason)
``run`` with no result      the binary stopped first (panic in another goroutine, timeout,
                            ``os.Exit``): ``<error message="did not finish ...">`` in a failed
                            or cut-off package; in a package that passed, passed (a benchmark
                            that printed nothing gets no result event)
package ``fail`` with no    an ``<error>`` case named ``[build failed]`` / ``[setup failed]``
failing test                (build output as its body, from ``build-output`` events of Go 1.24+
                            or from the text lines older Go prints) or ``[package failed]``
                            (``TestMain`` exit, panic in ``init``; the package output as body)
``Elapsed``                 ``time``, in seconds (as Go gives it)
``output``                  the test's ``<system-out>`` (the body of its failure, for a failed
                            test), without Go's framing lines (``=== RUN``, ``--- PASS: ...``);
                            package output (``PASS``, ``ok ...``, coverage) is the suite's
``attr`` (Go 1.25)          ``<property>`` of the case
start, pause, cont          no effect
==========================  =================================================================

A test run again in the same stream (``-count=2``) gives a case per run. Lines that are not JSON
(the build errors of ``go test -json ... 2>&1``, older Go's ``FAIL pkg [build failed]``) are
read for build failures; the rest is kept as the first suite's system-err, with a warning.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from jux_submit.formats.base import Conversion, ConversionError, ReportFormat
from jux_submit.formats.junit import Case, Outcome, Suite, write_junit

NAME = "gotest"
ACTIONS = frozenset(
    {
        "start",
        "run",
        "pause",
        "cont",
        "pass",
        "bench",
        "fail",
        "output",
        "skip",
        "attr",
        "build-output",
        "build-fail",
    }
)
_RESULTS = {
    "pass": Outcome.PASSED,
    "bench": Outcome.PASSED,
    "fail": Outcome.FAILURE,
    "skip": Outcome.SKIPPED,
}
_STRING_FIELDS = ("Time", "Package", "Test", "Output", "ImportPath", "FailedBuild", "Key", "Value")
#: the lines go test frames each test's output with (not part of what the test wrote)
_FRAME = re.compile(r"^\s*(?:=== (?:RUN|PAUSE|CONT|NAME|ATTR)\b|--- (?:PASS|FAIL|SKIP|BENCH): )")
#: what t.Log, t.Error and t.Skip write: "    file_test.go:12: text"
_LOCATED = re.compile(r"^\s+[\w.\-]+\.go:\d+: ?(.*)$")
_BUILD_FAILED = re.compile(r"^FAIL\s+(\S+) \[(build|setup) failed\]\s*$")
_HEADER = re.compile(r"^# (\S+)(?: \[(\S+?)(?:\.test)?\])?\s*$")
#: text go test itself prints around the JSON (first line of a sniffed file)
_GO_TEXT = re.compile(r"^(?:# \S|FAIL\s|ok  \t|\?   \t|go: |panic: )")
#: the start of an event line cut at the sniffing limit
_EVENT_START = re.compile(r'^\{"(?:Time|Action|ImportPath|Package)":')
_ACTION_FIELD = re.compile(r'"Action":"([a-z-]+)"')


@dataclass(frozen=True)
class _Event:
    action: str
    package: str | None
    test: str | None
    output: str
    elapsed: float | None
    time: str | None
    import_path: str | None
    failed_build: str | None
    key: str
    value: str


@dataclass
class _Test:
    name: str
    outcome: Outcome | None = None
    elapsed: float | None = None
    output: list[str] = field(default_factory=list)
    attrs: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Package:
    name: str
    tests: list[_Test] = field(default_factory=list)
    current: dict[str, _Test] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    result: str | None = None  # pass / fail / skip
    elapsed: float | None = None
    first_time: str | None = None
    build_failure: str | None = None  # "build failed" / "setup failed"
    failed_build: str | None = None  # the ImportPath whose build-output explains it


def sniff(head: bytes, name: str) -> bool:
    """True when the first JSON line of ``head`` is a go test event (``Action`` with
    ``Package`` or ``ImportPath``), the lines before it being text go test prints; or, with
    no JSON line, when go test's text says a package failed to build."""
    lines = _decode(head)[0].splitlines()
    significant = [line for line in lines if line.strip()]
    if not significant:
        return False
    first = significant[0]
    if not first.lstrip().startswith("{") and not _GO_TEXT.match(first):
        return False
    for index, line in enumerate(significant):
        if line.lstrip().startswith("{"):
            is_last = index == len(significant) - 1 and not head.rstrip(b" \t").endswith(b"\n")
            return _is_event(line.strip(), maybe_cut=is_last)
    # no JSON at all: Go before 1.24 prints only text when every package fails to build
    return any(_BUILD_FAILED.match(line) for line in significant)


def _is_event(line: str, *, maybe_cut: bool) -> bool:
    try:
        obj = json.loads(line)
    except ValueError:
        if not maybe_cut or not _EVENT_START.match(line):
            return False
        found = _ACTION_FIELD.search(line)
        return found is not None and found.group(1) in ACTIONS
    return (
        isinstance(obj, dict)
        and obj.get("Action") in ACTIONS
        and ("Package" in obj or "ImportPath" in obj)
    )


def convert(data: bytes) -> Conversion:
    """JUnit XML for a ``go test -json`` stream (see the module docstring). Raises
    ``ConversionError`` for a JSON line that is not a go test event, or no event at all."""
    text, warnings = _decode(data)
    packages: list[_Package] = []
    open_packages: dict[str, _Package] = {}
    build_output: dict[str, list[str]] = {}
    stray: list[str] = []
    events = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if not line.lstrip().startswith("{"):
            found = _BUILD_FAILED.match(line)
            if found:
                package = _package(found.group(1), packages, open_packages, reopen=False)
                package.build_failure = f"{found.group(2)} failed"
                package.result = package.result or "fail"
            else:
                stray.append(line)
            continue
        event = _parse_event(line, number)
        events += 1
        _apply(event, number, packages, open_packages, build_output)
    if not events and not packages:
        raise ConversionError('no go test -json event found (lines of JSON with an "Action")')
    suites = []
    blocks = _blocks(stray)
    for package in packages:
        suite = _suite(package, build_output, blocks)
        if suite is not None:
            suites.append(suite)
    leftover = [line for _, lines in blocks for line in lines]  # what no build failure claimed
    if leftover and suites:
        suites[0] = replace(suites[0], system_err="\n".join(leftover) + "\n")
        warnings.append(
            f"{len(leftover)} line(s) that are not go test -json events were kept as the "
            "system-err of the first suite"
        )
    xml = write_junit(suites, source_format=NAME, name="go test")
    return Conversion(xml=xml, source_format=NAME, warnings=tuple(warnings))


def _decode(data: bytes) -> tuple[str, list[str]]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), ["bytes that are not UTF-8 were replaced by U+FFFD"]


def _parse_event(line: str, number: int) -> _Event:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConversionError(
            f"line {number}: not valid JSON ({exc.msg}, column {exc.colno}); "
            "is the go test -json output cut short?"
        ) from None
    if not isinstance(obj, dict) or not isinstance(obj.get("Action"), str):
        raise ConversionError(f'line {number}: not a go test -json event (no "Action")')
    for key in _STRING_FIELDS:
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise ConversionError(f'line {number}: "{key}" is not a string')
    elapsed = obj.get("Elapsed")
    if elapsed is not None and (isinstance(elapsed, bool) or not isinstance(elapsed, int | float)):
        raise ConversionError(f'line {number}: "Elapsed" is not a number')
    return _Event(
        action=obj["Action"],
        package=obj.get("Package"),
        test=obj.get("Test") or None,
        output=obj.get("Output") or "",
        elapsed=float(elapsed) if elapsed is not None else None,
        time=obj.get("Time"),
        import_path=obj.get("ImportPath"),
        failed_build=obj.get("FailedBuild"),
        key=obj.get("Key") or "",
        value=obj.get("Value") or "",
    )


def _package(
    name: str, packages: list[_Package], open_packages: dict[str, _Package], *, reopen: bool
) -> _Package:
    """The package record for ``name``; a new one when the last one has its result and this
    event starts the package again (two runs in one stream)."""
    package = open_packages.get(name)
    if package is None or (reopen and package.result is not None):
        package = _Package(name)
        packages.append(package)
        open_packages[name] = package
    return package


def _apply(
    event: _Event,
    number: int,
    packages: list[_Package],
    open_packages: dict[str, _Package],
    build_output: dict[str, list[str]],
) -> None:
    if event.action == "build-output":
        build_output.setdefault(event.import_path or "", []).append(event.output)
        return
    if event.action == "build-fail":
        build_output.setdefault(event.import_path or "", [])
        return
    if event.package is None:
        raise ConversionError(f'line {number}: a "{event.action}" event without "Package"')
    package = _package(
        event.package, packages, open_packages, reopen=event.action in ("start", "run")
    )
    if package.first_time is None and event.time:
        package.first_time = event.time
    if event.test is None:
        _apply_to_package(event, package)
        return
    test = package.current.get(event.test)
    if test is None or (event.action == "run" and test.outcome is not None):
        test = _Test(event.test)
        package.tests.append(test)
        package.current[event.test] = test
    if event.action == "output":
        test.output.append(event.output)
    elif event.action in _RESULTS:
        test.outcome = _RESULTS[event.action]
        test.elapsed = event.elapsed
    elif event.action == "attr":
        test.attrs.append((event.key, event.value))


def _apply_to_package(event: _Event, package: _Package) -> None:
    if event.action == "output":
        package.output.append(event.output)
        found = _BUILD_FAILED.match(event.output)
        if found:
            package.build_failure = f"{found.group(2)} failed"
    elif event.action in ("pass", "fail", "skip"):
        package.result = event.action
        package.elapsed = event.elapsed
        if event.failed_build:
            package.failed_build = event.failed_build
            package.build_failure = package.build_failure or "build failed"


def _blocks(stray: list[str]) -> list[tuple[str | None, list[str]]]:
    """Text lines grouped under their ``# import/path`` headers (what the Go compiler prints
    before a package's build errors); lines before any header have the header None."""
    blocks: list[tuple[str | None, list[str]]] = []
    for line in stray:
        found = _HEADER.match(line)
        if found or not blocks:
            blocks.append((line if found else None, []))
        blocks[-1][1].append(line)
    return blocks


def _claim_build_text(package: str, blocks: list[tuple[str | None, list[str]]]) -> list[str]:
    """The text blocks whose header names ``package`` (taken out of ``blocks``)."""
    claimed: list[str] = []
    for block in list(blocks):
        header = block[0]
        found = _HEADER.match(header) if header else None
        if found and package in (found.group(1), found.group(2)):
            claimed.extend(block[1])
            blocks.remove(block)
    return claimed


def _clean_output(lines: list[str]) -> str:
    return "".join(line for line in lines if not _FRAME.match(line))


def _panic_line(lines: list[str]) -> str:
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("panic: "):
            return stripped
    return ""


def _last_located(lines: list[str]) -> str:
    for line in reversed(lines):
        found = _LOCATED.match(line.rstrip("\n"))
        if found and found.group(1).strip():
            return found.group(1).strip()
    return ""


def _timestamp(value: str | None) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _suite(
    package: _Package,
    build_output: dict[str, list[str]],
    blocks: list[tuple[str | None, list[str]]],
) -> Suite | None:
    finished = package.result == "pass"
    outcomes = {id(test): _outcome(test, finished=finished) for test in package.tests}
    names = {test.name for test in package.tests}
    bad = (Outcome.FAILURE, Outcome.ERROR)
    parents: set[str] = set()
    has_bad_subtest: set[str] = set()  # parents with a failing or erring subtest, at any depth
    for test in package.tests:
        for index, char in enumerate(test.name):
            if char == "/" and test.name[:index] in names:
                parents.add(test.name[:index])
                if outcomes[id(test)] in bad:
                    has_bad_subtest.add(test.name[:index])
    cases: list[Case] = []
    parent_output: list[str] = []
    for test in package.tests:
        outcome = outcomes[id(test)]
        if test.name in parents and (outcome not in bad or test.name in has_bad_subtest):
            own = _clean_output(test.output)
            if own:
                parent_output.append(f"--- {test.name}:\n{own}")
            continue
        cases.append(_case(test, package, outcome))
    if package.result == "fail" and not any(case.outcome in bad for case in cases):
        cases.append(_package_case(package, build_output, blocks))
    if not cases:
        return None
    system_out = "".join(package.output) + "".join(parent_output)
    return Suite(
        name=package.name,
        cases=tuple(cases),
        time=package.elapsed,
        timestamp=_timestamp(package.first_time),
        system_out=system_out,
    )


def _outcome(test: _Test, *, finished: bool) -> Outcome:
    if test.outcome is not None:
        return test.outcome
    return Outcome.PASSED if finished else Outcome.ERROR


def _case(test: _Test, package: _Package, outcome: Outcome) -> Case:
    output = _clean_output(test.output)
    message = ""
    details = ""
    if outcome is Outcome.FAILURE:
        message = _panic_line(test.output) or _last_located(test.output) or "Failed"
        details, output = output, ""
    elif outcome is Outcome.ERROR:
        reason = _panic_line(test.output) or _panic_line(package.output)
        message = "did not finish: the test binary stopped first" + (
            f" ({reason})" if reason else ""
        )
        details, output = output, ""
    elif outcome is Outcome.SKIPPED:
        message = _last_located(test.output)
    return Case(
        name=test.name,
        classname=package.name,
        time=test.elapsed,
        outcome=outcome,
        message=message,
        details=details,
        system_out=output,
        properties=tuple(test.attrs),
    )


def _package_case(
    package: _Package,
    build_output: dict[str, list[str]],
    blocks: list[tuple[str | None, list[str]]],
) -> Case:
    output = "".join(package.output)
    if package.build_failure:
        lines = build_output.get(package.failed_build or "", [])
        text = "".join(lines) or "\n".join(_claim_build_text(package.name, blocks))
        first = next(
            (line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"), ""
        )
        return Case(
            name=f"[{package.build_failure}]",
            classname=package.name,
            outcome=Outcome.ERROR,
            message=first or package.build_failure,
            kind=package.build_failure,
            details=(text.rstrip("\n") + "\n" if text else "") + output,
        )
    reason = _panic_line(package.output) or next(
        (line.strip() for line in package.output if line.startswith("exit status")), ""
    )
    return Case(
        name="[package failed]",
        classname=package.name,
        outcome=Outcome.ERROR,
        message=reason or "the package failed with no failing test",
        details=output,
    )


FORMAT = ReportFormat(name=NAME, title="go test -json", sniff=sniff, convert=convert)
