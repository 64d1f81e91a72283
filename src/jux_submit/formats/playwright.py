"""Playwright Test's ``json`` reporter output converted to JUnit XML.

Mapping (fixtures and the commands that made them: ``tests/fixtures/formats/playwright/``):

============================  ===============================================================
Playwright                    JUnit
============================  ===============================================================
a test (one per spec and      one case, named by the spec's ``title`` exactly (unicode
project)                      kept)
``projectName``               the outer ``<testsuite>`` level when not empty (one per
                              project, as in Playwright's own tree)
``suites[]`` (files,          suites nested inside, flattened by the writer as
relative to ``testDir``),     ``project / file / describe / inner``; the case's
nested ``suites[]``           ``classname`` is that same path
(describes)
``status`` expected           passed (``test.fail()`` that failed is expected, too)
``status`` flaky              passed, with properties ``flaky=true`` and ``retries``
``status`` unexpected         ``<failure>`` from the last attempt: ``message`` is its first
                              error's message (without code frame or stack), the text each
                              of its errors whole (message, code frame, stack), ``type`` the
                              error class (else the attempt's status, e.g. ``timedOut``); a
                              last attempt ``interrupted`` (the run stopped) is an
                              ``<error>`` instead
``status`` skipped            ``<skipped>``, message the ``skip`` annotation's reason
any other ``status``          ``<error>`` naming it, and a warning
``results[]`` (attempts)      ``time`` = all attempts' ``duration`` (milliseconds) summed,
                              in seconds; property ``retries`` = attempts - 1 when retried;
                              the failed earlier attempts' errors go to ``<system-err>``
``stdout`` / ``stderr``       ``<system-out>`` / ``<system-err>`` (text, or base64 ``buffer``
                              decoded), each attempt headed when there were several
annotations, ``tags``         properties: the annotation's type, its description as the
                              value (as Playwright's JUnit reporter does); ``tags``
                              comma-separated
top-level ``errors[]``        one ``<error>`` case each (``error outside tests``, in a suite
                              named by the file it points at): a file that fails to load
                              stops the whole run, and the report must not look green
============================  ===============================================================

ANSI colour codes are removed from messages. Counts equal Playwright's summary line:
``failures`` = unexpected, ``skipped`` = skipped, passed = expected + flaky; plus one error
per top-level error.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import replace
from typing import Any

from jux_submit.formats.base import Conversion, ReportFormat
from jux_submit.formats.jest import Shape, read_json, split_error, strip_ansi
from jux_submit.formats.junit import Case, Outcome, Suite, write_junit

TITLE = "Playwright JSON"
OUTSIDE_TESTS = "error outside tests"
_CONFIG = re.compile(rb'"config"\s*:\s*\{')
_SUITES = re.compile(rb'"suites"\s*:\s*\[')
_MARKS = re.compile(rb'"(?:specs"\s*:\s*\[|rootDir"\s*:)')
_STATS = ("expected", "unexpected", "flaky", "skipped")
#: where the code frame starts in a formatted error ("  12 |" or "> 12 |" after a blank line)
_FRAME = re.compile(r"\n\s*\n(?=\s*>?\s*\d+ \|)")


def sniff(head: bytes, name: str) -> bool:
    """Playwright's ``config`` object and ``suites`` list, with its ``specs`` or the
    config's ``rootDir``."""
    return bool(_CONFIG.search(head) and _SUITES.search(head) and _MARKS.search(head))


def convert(data: bytes) -> Conversion:
    """The JUnit XML for Playwright's JSON report, with warnings for unknown statuses and
    counts that disagree with ``stats``. Raises ``ConversionError`` when the input is not
    JSON or not shaped like Playwright's output."""
    root = _SHAPE.as_object(read_json(data, _SHAPE.what, _HINT), "the top level")
    _SHAPE.as_list(root.get("suites"), "suites")
    files = _SHAPE.objects(root, "suites", "")
    warnings: list[str] = []
    projects = _projects(files)
    suites: list[Suite] = []
    statuses: list[str] = []
    for project in projects:
        parents = [project] if project else []
        trees = [
            _suite(f, at, project=project, parents=parents, warnings=warnings, statuses=statuses)
            for at, f in files
        ]
        kept = tuple(t for t in trees if t is not None)
        suites.extend(kept if not project else (Suite(project, suites=kept),))
    suites.extend(_errors(root, warnings))
    warnings.extend(_stats_warnings(root, statuses))
    xml = write_junit(suites, source_format="playwright", name="Playwright")
    return Conversion(xml, "playwright", tuple(warnings))


FORMAT = ReportFormat(name="playwright", title=TITLE, sniff=sniff, convert=convert)


def _projects(files: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Every project name, in first-seen order (``""`` for a config without projects)."""
    found: dict[str, None] = {}

    def walk(suite: dict[str, Any], at: str) -> None:
        for spec_at, spec in _SHAPE.objects(suite, "specs", at):
            for test_at, test in _SHAPE.objects(spec, "tests", spec_at):
                found.setdefault(_SHAPE.text(test, "projectName", test_at, ""), None)
        for child_at, child in _SHAPE.objects(suite, "suites", at):
            walk(child, child_at)

    for at, suite in files:
        walk(suite, at)
    return list(found) or [""]


def _suite(
    suite: dict[str, Any],
    at: str,
    *,
    project: str,
    parents: list[str],
    warnings: list[str],
    statuses: list[str],
) -> Suite | None:
    """The suite's cases for one project, with its nested suites (None when it holds no test
    of that project)."""
    path = [*parents, _SHAPE.text(suite, "title", at, "")]
    classname = " / ".join(path)
    cases = []
    for spec_at, spec in _SHAPE.objects(suite, "specs", at):
        _SHAPE.as_list(spec.get("tests"), f"{spec_at}.tests")
        for test_at, test in _SHAPE.objects(spec, "tests", spec_at):
            if _SHAPE.text(test, "projectName", test_at, "") != project:
                continue
            status = _SHAPE.text(test, "status", test_at)
            statuses.append(status)
            cases.append(
                _case(
                    spec,
                    spec_at,
                    test,
                    test_at,
                    status=status,
                    classname=classname,
                    warnings=warnings,
                )
            )
    children = [
        _suite(child, child_at, project=project, parents=path, warnings=warnings, statuses=statuses)
        for child_at, child in _SHAPE.objects(suite, "suites", at)
    ]
    kept = tuple(c for c in children if c is not None)
    if not cases and not kept:
        return None
    return Suite(path[-1], tuple(cases), suites=kept)


def _case(
    spec: dict[str, Any],
    spec_at: str,
    test: dict[str, Any],
    at: str,
    *,
    status: str,
    classname: str,
    warnings: list[str],
) -> Case:
    attempts = _SHAPE.objects(test, "results", at)
    durations = [_SHAPE.number(r, "duration", where) for where, r in attempts]
    known = [d for d in durations if d is not None]
    case = Case(
        name=_SHAPE.text(spec, "title", spec_at),
        classname=classname,
        time=sum(known) / 1000 if known else None,
        system_out=_output(attempts, "stdout"),
        system_err="\n\n".join(
            filter(None, (_output(attempts, "stderr"), _earlier_failures(attempts)))
        ),
        properties=_properties(spec, spec_at, test, at, status=status, attempts=len(attempts)),
    )
    last = attempts[-1][1] if attempts else {}
    last_status = _SHAPE.text(last, "status", attempts[-1][0], "") if attempts else ""
    if status in ("expected", "flaky"):
        return case
    if status == "skipped":
        reason = _annotation(test, at, "skip")
        if last_status == "interrupted":
            reason = reason or "interrupted"
        return replace(case, outcome=Outcome.SKIPPED, message=reason)
    message, kind, details = _failure(last, attempts[-1][0] if attempts else at)
    if status == "unexpected":
        outcome = Outcome.ERROR if last_status == "interrupted" else Outcome.FAILURE
        return replace(
            case,
            outcome=outcome,
            message=message or last_status or "failed",
            kind=kind or last_status,
            details=details,
        )
    warnings.append(f"{at}: unknown Playwright status {status!r}, reported as an error")
    unknown = f"unknown Playwright status {status!r}"
    return replace(case, outcome=Outcome.ERROR, message=unknown, details=details)


def _failure(result: dict[str, Any], at: str) -> tuple[str, str, str]:
    """An attempt's message and error class (from ``error``, its first error) and long text
    (each of ``errors``: Playwright formats those whole, with the code frame and stack)."""
    errors = _SHAPE.objects(result, "errors", at)
    first = result.get("error")
    if not errors and isinstance(first, dict):
        errors = [(f"{at}.error", first)]
    paragraphs = []
    for where, error in errors:
        message = strip_ansi(_SHAPE.text(error, "message", where, ""))
        stack = strip_ansi(_SHAPE.text(error, "stack", where, ""))
        snippet = strip_ansi(_SHAPE.text(error, "snippet", where, "")).rstrip()
        head = stack if message.strip() in stack else "\n".join(filter(None, (message, stack)))
        paragraphs.append("\n\n".join(filter(None, (head.strip(), snippet))))
    source: dict[str, Any] = first if isinstance(first, dict) else errors[0][1] if errors else {}
    text = strip_ansi(_SHAPE.text(source, "message", f"{at}.error", ""))
    message, kind = split_error(_FRAME.split(text, maxsplit=1)[0])
    return message, kind, "\n\n".join(paragraphs)


def _earlier_failures(attempts: list[tuple[str, dict[str, Any]]]) -> str:
    paragraphs = []
    for n, (where, result) in enumerate(attempts[:-1], 1):
        status = _SHAPE.text(result, "status", where, "")
        if status in ("passed", "skipped"):
            continue
        details = _failure(result, where)[2] or status
        paragraphs.append(f"attempt {n} of {len(attempts)} {status}:\n{details}")
    return "\n\n".join(paragraphs)


def _output(attempts: list[tuple[str, dict[str, Any]]], key: str) -> str:
    """The attempts' output (each headed when there were several)."""
    parts = []
    for n, (where, result) in enumerate(attempts, 1):
        text = "".join(_chunk(chunk, at) for at, chunk in _SHAPE.objects(result, key, where))
        if text and len(attempts) > 1:
            text = f"--- attempt {n} of {len(attempts)} ---\n{text}"
        if text:
            parts.append(text if text.endswith("\n") else text + "\n")
    return "".join(parts)


def _chunk(chunk: dict[str, Any], at: str) -> str:
    if "buffer" in chunk:
        try:
            return base64.b64decode(_SHAPE.text(chunk, "buffer", at), validate=True).decode(
                "utf-8", "replace"
            )
        except (binascii.Error, ValueError):
            return "(output that is not base64)\n"
    return strip_ansi(_SHAPE.text(chunk, "text", at, ""))


def _properties(
    spec: dict[str, Any],
    spec_at: str,
    test: dict[str, Any],
    at: str,
    *,
    status: str,
    attempts: int,
) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    if status == "flaky":
        found.append(("flaky", "true"))
    if attempts > 1:
        found.append(("retries", str(attempts - 1)))
    tags = _SHAPE.strings(spec, "tags", spec_at)
    if tags:
        found.append(("tags", ",".join(tags)))
    for where, annotation in _SHAPE.objects(test, "annotations", at):
        kind = _SHAPE.text(annotation, "type", where, "")
        if kind:
            found.append((kind, _SHAPE.text(annotation, "description", where, "")))
    return tuple(found)


def _annotation(test: dict[str, Any], at: str, kind: str) -> str:
    for where, annotation in _SHAPE.objects(test, "annotations", at):
        if annotation.get("type") == kind:
            return _SHAPE.text(annotation, "description", where, "")
    return ""


def _errors(root: dict[str, Any], warnings: list[str]) -> list[Suite]:
    """The errors outside any test (a file that failed to load, a failing global setup): an
    error case each, in a suite per file they point at."""
    config = root.get("config")
    root_dir = config.get("rootDir") if isinstance(config, dict) else None
    groups: dict[str, list[Case]] = {}
    errors = _SHAPE.objects(root, "errors", "")
    for where, error in errors:
        location = error.get("location")
        file = location.get("file") if isinstance(location, dict) else None
        message, kind, details = _failure({"errors": [error]}, where)
        if isinstance(file, str) and file:
            suite = _relative_to(file, root_dir if isinstance(root_dir, str) else "")
        else:
            suite = "Playwright"
        case = Case(
            name=OUTSIDE_TESTS,
            classname=suite,
            outcome=Outcome.ERROR,
            message=message.splitlines()[0] if message else "error",
            kind=kind,
            details=details,
        )
        groups.setdefault(suite, []).append(case)
    if errors:
        warnings.append(f"Playwright reported {len(errors)} error(s) outside tests")
    return [Suite(name, tuple(cases)) for name, cases in groups.items()]


def _relative_to(path: str, root: str) -> str:
    """``path`` relative to the config's ``rootDir`` (the test files' titles are), when it is
    inside it."""
    path, root = path.replace("\\", "/"), root.replace("\\", "/").rstrip("/")
    return path[len(root) + 1 :] if root and path.startswith(root + "/") else path


def _stats_warnings(root: dict[str, Any], statuses: list[str]) -> list[str]:
    stats = root.get("stats")
    if not isinstance(stats, dict):
        return []
    out = []
    for key in _STATS:
        said = stats.get(key)
        listed = statuses.count(key)
        if isinstance(said, int) and not isinstance(said, bool) and said != listed:
            out.append(f"Playwright's stats say {key}={said}, but the report lists {listed}")
    return out


_SHAPE = Shape("the Playwright JSON report", "Playwright")
_HINT = "write it with the json reporter's outputFile option or PLAYWRIGHT_JSON_OUTPUT_FILE"
