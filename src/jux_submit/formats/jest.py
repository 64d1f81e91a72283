"""Jest's ``--json`` report (and Vitest's ``json`` reporter, which writes the same shape)
converted to JUnit XML; also the JSON-reading helpers the other JavaScript-ecosystem converters
share (end of this module).

Mapping (fixtures and the commands that made them: ``tests/fixtures/formats/jest/``):

=============================  ==============================================================
Jest / Vitest                  JUnit
=============================  ==============================================================
``testResults[]`` (a file)     a ``<testsuite>`` named by the file's path relative to the
                               deepest directory all the report's files share
                               (``/``-separated), ``timestamp`` its ``startTime`` (UTC)
``ancestorTitles``             suites nested in the file's, flattened by the writer as
                               ``file / describe / inner describe``; the case's
                               ``classname`` is that same path
``title``                      the case's ``name``, exactly (unicode kept)
``status`` passed              passed
``status`` failed              ``<failure>``: ``message`` is the first failure message up to
                               its stack trace, the text every failure message whole,
                               ``type`` the error class (``Error``, ``TypeError``)
``status`` pending, skipped,   ``<skipped>``; message ``todo`` / ``disabled`` for those two
disabled, todo
any other ``status``           ``<error>`` naming it, and a warning
``duration`` (milliseconds)    ``time`` in seconds; none when ``null`` (not run)
retried (Jest:                 properties ``retries`` and, when it passed in the end,
``invocations`` > 1; Vitest:   ``flaky=true``; the failed attempts' messages (Jest's
a passed test with failure     ``retryReasons``, when it recorded them) go to ``<system-err>``
messages)
a file that failed to run      one ``<error>`` case ``Test suite failed to run`` with Jest's
(``status`` failed, but no     reason as ``message`` (a module that cannot load, a throwing
failed test, or Jest's         ``afterAll``): Jest counts no test for it
``Test suite failed to run``)  (``numRuntimeErrorTestSuites``), but the report must not look
                               green
=============================  ==============================================================

Neither tool puts console output in its JSON (``<system-out>`` stays empty). ANSI colour codes
are removed from messages. Counts: ``tests`` = ``numTotalTests`` + the error cases,
``failures`` = ``numFailedTests``, ``skipped`` = ``numPendingTests`` + ``numTodoTests``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from jux_submit.formats.base import Conversion, ConversionError, ReportFormat
from jux_submit.formats.junit import Case, Outcome, Suite, write_junit

TITLE = "Jest JSON"
#: the name Jest gives a file that could not run (and our error case for it)
RUN_FAILED = "Test suite failed to run"
_HEAD = re.compile(rb'"numTotalTests"\s*:\s*\d')
_RESULTS = re.compile(rb'"testResults"\s*:\s*\[')
_ASSERTIONS = re.compile(rb'"assertionResults"\s*:\s*\[')
_ANCESTORS = re.compile(rb'"ancestorTitles"\s*:\s*\[')
_SKIP_MESSAGES = {"pending": "", "skipped": "", "disabled": "disabled", "todo": "todo"}
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
#: where a JavaScript stack trace starts inside an error text
_STACK = re.compile(r"^\s+at ", re.MULTILINE)
_ERROR_CLASS = re.compile(r"^\s*([A-Za-z_$][\w$.]*)(?:\s*\[[^\]\n]*\])?:(?:\s|$)")
_DRIVE = re.compile(r"^[A-Za-z]:/")


def sniff(head: bytes, name: str) -> bool:
    """Jest's top-level counters and ``testResults`` (the order ``jest --json`` writes them),
    or, for a reordered file, its per-test ``assertionResults`` with ``ancestorTitles``."""
    if _HEAD.search(head) and _RESULTS.search(head):
        return True
    return bool(_ASSERTIONS.search(head) and _ANCESTORS.search(head))


def convert(data: bytes) -> Conversion:
    """The JUnit XML for a Jest (or Vitest) JSON report, with warnings when the report says it
    is incomplete. Raises ``ConversionError`` when the input is not JSON or not shaped like
    Jest's output."""
    root = _SHAPE.as_object(read_json(data, _SHAPE.what, _HINT), "the top level")
    _SHAPE.as_list(root.get("testResults"), "testResults")
    files = _SHAPE.objects(root, "testResults", "")
    paths = [_SHAPE.text(item, "name", where) for where, item in files]
    relative = relative_paths(paths)
    warnings: list[str] = []
    suites = [
        _file_suite(item, where, relative[path], warnings)
        for (where, item), path in zip(files, paths, strict=True)
    ]
    listed = sum(len(item["assertionResults"]) for _, item in files)  # checked lists by now
    if root.get("wasInterrupted") is True:
        warnings.append("the run was interrupted: the report may be missing tests")
    expected = root.get("numTotalTests")
    if isinstance(expected, int) and expected != listed:
        warnings.append(f"the report's numTotalTests is {expected}, but it lists {listed}")
    # Vitest writes Jest's shape without Jest's own bookkeeping keys
    is_jest = "openHandles" in root or "numRuntimeErrorTestSuites" in root
    xml = write_junit(suites, source_format="jest", name="Jest" if is_jest else "Vitest")
    return Conversion(xml, "jest", tuple(warnings))


@dataclass
class _Node:
    """A describe block while a file's tree is built (first-seen order kept)."""

    name: str
    cases: list[Case] = field(default_factory=list)
    children: dict[str, _Node] = field(default_factory=dict)

    def child(self, name: str) -> _Node:
        return self.children.setdefault(name, _Node(name))

    def freeze(self, timestamp: str | None = None) -> Suite:
        kids = tuple(c.freeze() for c in self.children.values())
        return Suite(self.name, tuple(self.cases), timestamp=timestamp, suites=kids)


def _file_suite(item: dict[str, Any], where: str, path: str, warnings: list[str]) -> Suite:
    top = _Node(path)
    _SHAPE.as_list(item.get("assertionResults"), f"{where}.assertionResults")
    has_failed = False
    for at, test in _SHAPE.objects(item, "assertionResults", where):
        ancestors = _SHAPE.strings(test, "ancestorTitles", at)
        node = top
        for title in ancestors:
            node = node.child(title)
        case = _case(test, at, " / ".join([path, *ancestors]), warnings)
        has_failed = has_failed or case.outcome is Outcome.FAILURE
        node.cases.append(case)
    message = strip_ansi(_SHAPE.text(item, "message", where, ""))
    if item.get("status") == "failed" and (not has_failed or RUN_FAILED in message):
        top.cases.append(_run_failure(path, message))
    return top.freeze(utc_timestamp(_SHAPE.number(item, "startTime", where)))


def _case(test: dict[str, Any], at: str, classname: str, warnings: list[str]) -> Case:
    status = _SHAPE.text(test, "status", at)
    duration = _SHAPE.number(test, "duration", at)
    messages = [strip_ansi(m) for m in _SHAPE.strings(test, "failureMessages", at)]
    case = Case(
        name=_SHAPE.text(test, "title", at),
        classname=classname,
        time=duration / 1000 if duration is not None else None,
    )
    # Retried tests: Jest counts ``invocations`` and keeps the earlier attempts' failures in
    # ``retryReasons``; Vitest has neither, but a test that passed with failure messages was
    # retried, one attempt per message.
    earlier = [strip_ansi(r) for r in _SHAPE.strings(test, "retryReasons", at)]
    attempts = int(_SHAPE.number(test, "invocations", at) or 1)
    if "invocations" not in test and status == "passed" and messages:
        earlier, messages, attempts = messages, [], len(messages) + 1
    if attempts > 1:
        flaky = (("flaky", "true"),) if status == "passed" else ()
        case = replace(
            case,
            properties=(*flaky, ("retries", str(attempts - 1))),
            system_err="\n\n".join(
                f"attempt {n} of {attempts} failed:\n{r}" for n, r in enumerate(earlier, 1)
            ),
        )
    if status == "passed":
        return case
    if status == "failed":
        message, kind = split_error(messages[0] if messages else "")
        details = "\n\n".join(messages)
        return replace(
            case, outcome=Outcome.FAILURE, message=message or "failed", kind=kind, details=details
        )
    if status in _SKIP_MESSAGES:
        return replace(case, outcome=Outcome.SKIPPED, message=_SKIP_MESSAGES[status])
    warnings.append(f"{at}: unknown Jest status {status!r}, reported as an error")
    unknown = f"unknown Jest status {status!r}"
    return replace(case, outcome=Outcome.ERROR, message=unknown, details="\n\n".join(messages))


def _run_failure(path: str, message: str) -> Case:
    lines = (line.strip() for line in message.splitlines())
    first = next((line for line in lines if line and not line.startswith("●")), RUN_FAILED)
    return Case(
        name=RUN_FAILED,
        classname=path,
        outcome=Outcome.ERROR,
        message=first,
        kind=split_error(first)[1],
        details=message.strip("\n"),
    )


# --- reading JSON reports: shared by the JavaScript-ecosystem converters (mocha, ctrf,
# playwright, cucumber import these rather than carry copies) ------------------------------


@dataclass(frozen=True)
class Shape:
    """Typed reads from parsed JSON: a value of the wrong type is a ``ConversionError`` that
    names the report (``what``) and where in it (``testResults[2].status``)."""

    what: str  # e.g. "the Jest JSON report"
    producer: str  # whose shape the input should have, e.g. "Jest"

    def wrong(self, where: str, wanted: str) -> ConversionError:
        return ConversionError(
            f"{self.what} is not shaped like {self.producer}'s: {where} should be {wanted}"
        )

    def as_object(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.wrong(where, "an object")
        return value

    def as_list(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.wrong(where, "a list")
        return value

    def as_string(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            raise self.wrong(where, "a string")
        return value

    def text(self, obj: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
        """``obj[key]``, a string; required unless a ``default`` is given (used for a missing
        key or ``null``)."""
        value = obj.get(key)
        if value is None and default is not None:
            return default
        return self.as_string(value, f"{where}.{key}")

    def number(self, obj: dict[str, Any], key: str, where: str) -> float | None:
        """``obj[key]``, a number, or None when missing or ``null``."""
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.wrong(f"{where}.{key}", "a number")
        return float(value)

    def objects(
        self, obj: dict[str, Any], key: str, where: str
    ) -> list[tuple[str, dict[str, Any]]]:
        """The objects of the list ``obj[key]`` (missing or ``null``: none), each with where
        it is (``where.key[i]``)."""
        value = obj.get(key)
        if value is None:
            return []
        at = f"{where}.{key}" if where else key
        return [
            (f"{at}[{i}]", self.as_object(v, f"{at}[{i}]"))
            for i, v in enumerate(self.as_list(value, at))
        ]

    def strings(self, obj: dict[str, Any], key: str, where: str) -> list[str]:
        """The strings of the list ``obj[key]`` (missing or ``null``: none)."""
        value = obj.get(key)
        if value is None:
            return []
        at = f"{where}.{key}"
        return [self.as_string(v, f"{at}[{i}]") for i, v in enumerate(self.as_list(value, at))]


def read_json(data: bytes, what: str, hint: str) -> Any:
    """The parsed JSON document. Raises ``ConversionError`` naming ``what`` and where the
    JSON breaks, followed by ``hint`` (how to write the report cleanly)."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConversionError(f"{what} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ConversionError(
            f"{what} is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno}); {hint}"
        ) from None


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes (reporters keep them in messages)."""
    return _ANSI.sub("", text)


def split_error(text: str) -> tuple[str, str]:
    """The message part of a JavaScript error text (up to its stack trace) and its class
    (``TypeError``), or ``""`` when the text does not start with one."""
    stack = _STACK.search(text)
    message = (text[: stack.start()] if stack else text).strip()
    found = _ERROR_CLASS.match(message)
    kind = found.group(1) if found else ""
    return message, kind if kind.endswith(("Error", "Exception")) else ""


def relative_paths(paths: list[str]) -> dict[str, str]:
    """Each path, ``/``-separated, relative to the deepest directory shared by every absolute
    one: an absolute path names the machine that ran the tests, not the test. (A run of part
    of the files, e.g. one shard, may share a deeper directory than the whole suite.)"""
    normal = {p: p.replace("\\", "/") for p in paths}
    absolute = [n.split("/")[:-1] for n in normal.values() if n.startswith("/") or _DRIVE.match(n)]
    if not absolute:
        return normal
    common = absolute[0]
    for parts in absolute[1:]:
        size = 0
        while size < min(len(common), len(parts)) and common[size] == parts[size]:
            size += 1
        common = common[:size]
    prefix = "/".join(common) + "/"
    return {p: n[len(prefix) :] if n.startswith(prefix) else n for p, n in normal.items()}


def utc_timestamp(epoch_ms: float | None) -> str | None:
    """A JUnit ``timestamp`` from milliseconds since the epoch (ISO 8601 in UTC, without a zone
    suffix, as the JUnit schema's pattern wants)."""
    if epoch_ms is None:
        return None
    try:
        moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


_SHAPE = Shape("the Jest JSON report", "Jest")
_HINT = "write it with jest --json --outputFile=FILE rather than capturing the console"
FORMAT = ReportFormat(name="jest", title=TITLE, sniff=sniff, convert=convert)
