"""Mocha's built-in ``json`` reporter output converted to JUnit XML.

Mapping (fixtures and the commands that made them: ``tests/fixtures/formats/mocha/``):

=============================  ==============================================================
Mocha                          JUnit
=============================  ==============================================================
``tests[]``                    one case each, in Mocha's order
``file``                       a ``<testsuite>`` per file, named by its path relative to the
                               deepest directory all files share (``/``-separated)
``fullTitle`` minus ``title``  a suite nested in the file's: the parent describe blocks, in
                               the one string Mocha keeps (titles joined by spaces, as Mocha
                               prints them; the JSON has no separate levels); flattened by
                               the writer as ``file / parents``, which is also the case's
                               ``classname``
``title``                      the case's ``name``, exactly (unicode kept)
``err`` non-empty              ``<failure>``: ``message`` is ``err.message``, the element's
                               text ``err.stack``, ``type`` the error class
listed in ``pending[]``        ``<skipped>`` (``it.skip``, ``it()`` without a body,
                               ``this.skip()``)
otherwise                      passed
``failures[]`` not in          ``<error>`` cases: a failing hook (``"before all" hook for
``tests[]``                    "…"``, named as Mocha names it) or an uncaught error. Mocha
                               counts these in ``stats.failures`` but not in ``stats.tests``
``duration`` (milliseconds)    ``time`` in seconds (none for a pending test)
``currentRetry`` > 0           property ``retries``; ``flaky=true`` when the test passed
=============================  ==============================================================

Console output is not in Mocha's JSON. When the report was captured from stdout
(``mocha --reporter json > report.json``) the tests' own output comes first: that text is
skipped with a warning; write the report with ``--reporter-option output=FILE`` instead.
Counts: ``tests`` = ``stats.tests`` + the error cases, ``failures + errors`` =
``stats.failures``, ``skipped`` = ``stats.pending``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from typing import Any

from jux_submit.formats.base import Conversion, ConversionError, ReportFormat
from jux_submit.formats.jest import Shape, read_json, relative_paths, split_error
from jux_submit.formats.junit import Case, Outcome, Suite, write_junit

TITLE = "Mocha JSON"
#: Mocha's stats object: a few numbers and dates, no nested object (bounded, so a large
#: head that only looks like it is not scanned over and over)
_STATS = re.compile(rb'"stats"\s*:\s*\{([^{}]{0,4096})\}')
_STAT_COUNTS = (re.compile(rb'"passes"\s*:\s*\d'), re.compile(rb'"pending"\s*:\s*\d'))
_LISTS = re.compile(rb'"(?:tests|failures|passes|pending)"\s*:\s*\[')
#: mochawesome's stats (a different format, with its own reporter)
_MOCHAWESOME = re.compile(rb'"testsRegistered"\s*:')
#: where the JSON document starts when other output came first: a line opening an object
_START = re.compile(r'^\{\s*"stats"\s*:', re.MULTILINE)


def sniff(head: bytes, name: str) -> bool:
    """Mocha's ``stats`` object (``passes``, ``pending``) and its lists of tests; not
    mochawesome's look-alike."""
    stats = _STATS.search(head)
    if stats is None or not all(count.search(stats.group(1)) for count in _STAT_COUNTS):
        return False
    return bool(_LISTS.search(head) and not _MOCHAWESOME.search(head))


def convert(data: bytes) -> Conversion:
    """The JUnit XML for Mocha's JSON report, with warnings for console output around it and
    counts that disagree with ``stats``. Raises ``ConversionError`` when it is not JSON or not
    shaped like Mocha's output."""
    document, warnings = _load(data)
    root = _SHAPE.as_object(document, "the top level")
    stats = _SHAPE.as_object(root.get("stats"), "stats")
    _SHAPE.as_list(root.get("tests"), "tests")
    tests = _SHAPE.objects(root, "tests", "")
    failures = _SHAPE.objects(root, "failures", "")
    pending = Counter(_key(t, at) for at, t in _SHAPE.objects(root, "pending", ""))
    failed = Counter[tuple[str, str]]()
    cases: list[tuple[str, str, Case]] = []
    for at, test in tests:
        file, parent, case = _case(test, at, pending)
        if case.outcome is Outcome.FAILURE:
            failed[_key(test, at)] += 1
        cases.append((file, parent, case))
    for at, failure in failures:  # failures of hooks are not among the tests
        key = _key(failure, at)
        if failed[key]:
            failed[key] -= 1
            continue
        file, parent, case = _case(failure, at, Counter())
        error = replace(case, outcome=Outcome.ERROR, message=case.message or "failed")
        cases.append((file, parent, error))
    suites = _suites(cases)
    expected = stats.get("tests")
    listed = len(tests)
    if isinstance(expected, int) and expected != listed:
        warnings.append(f"Mocha's stats.tests is {expected}, but the report lists {listed}")
    return Conversion(
        write_junit(suites, source_format="mocha", name="Mocha"), "mocha", tuple(warnings)
    )


FORMAT = ReportFormat(name="mocha", title=TITLE, sniff=sniff, convert=convert)


def _load(data: bytes) -> tuple[Any, list[str]]:
    """The JSON document, skipping console output printed before it (with a warning)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return read_json(data, _SHAPE.what, _HINT), []  # raises, saying where
    if text.lstrip().startswith("{"):
        return read_json(data, _SHAPE.what, _HINT), []
    found = _START.search(text)
    if found is None:
        return read_json(data, _SHAPE.what, _HINT), []
    try:
        document, end = json.JSONDecoder().raw_decode(text, found.start())
    except json.JSONDecodeError as exc:
        raise ConversionError(
            f"{_SHAPE.what} is not valid JSON ({exc.msg}, line {exc.lineno} column "
            f"{exc.colno}); {_HINT}"
        ) from None
    before = text[: found.start()].count("\n")
    warnings = [f"skipped {before} line(s) of console output before Mocha's JSON; {_HINT}"]
    if text[end:].strip():
        warnings.append(f"skipped the text after Mocha's JSON; {_HINT}")
    return document, warnings


def _key(test: dict[str, Any], at: str) -> tuple[str, str]:
    return _SHAPE.text(test, "fullTitle", at), _SHAPE.text(test, "file", at, "")


def _case(
    test: dict[str, Any], at: str, pending: Counter[tuple[str, str]]
) -> tuple[str, str, Case]:
    """The test's file, its parents' title and its case (a failure, skipped, or passed)."""
    title = _SHAPE.text(test, "title", at)
    full = _SHAPE.text(test, "fullTitle", at)
    file = _SHAPE.text(test, "file", at, "")
    parent = full[: -len(title)].rstrip() if title and full.endswith(title) else ""
    duration = _SHAPE.number(test, "duration", at)
    retry = _SHAPE.number(test, "currentRetry", at) or 0
    err = _SHAPE.as_object(test.get("err") or {}, f"{at}.err")
    case = Case(name=title, time=duration / 1000 if duration is not None else None)
    if err:
        message, stack, name = (_loose(err, key) for key in ("message", "stack", "name"))
        if message and message in stack:
            details = stack
        else:
            details = "\n".join(filter(None, (message, stack)))
        kind = name or split_error(stack)[1]
        message = message.strip() or "failed"
        case = replace(case, outcome=Outcome.FAILURE, message=message, kind=kind, details=details)
    elif pending[(full, file)]:
        pending[(full, file)] -= 1
        case = replace(case, outcome=Outcome.SKIPPED)
    if retry > 0:
        flaky = (("flaky", "true"),) if case.outcome is Outcome.PASSED else ()
        case = replace(case, properties=(*flaky, ("retries", str(int(retry)))))
    return file, parent, case


def _loose(err: dict[str, Any], key: str) -> str:
    """A string field of an error object (any enumerable property can be there; others are
    ignored)."""
    value = err.get(key)
    return value if isinstance(value, str) else ""


def _suites(cases: list[tuple[str, str, Case]]) -> list[Suite]:
    """A suite per file (first-seen order), with one nested suite per parent title."""
    relative = relative_paths([file for file, _, _ in cases])
    files: dict[str, dict[str, list[Case]]] = {}
    for file, parent, case in cases:
        files.setdefault(relative[file], {}).setdefault(parent, []).append(case)
    suites = []
    for file, parents in files.items():
        name = file or "(no file)"
        top = tuple(replace(c, classname=name) for c in parents.pop("", []))
        nested = tuple(
            Suite(parent, tuple(replace(c, classname=f"{name} / {parent}") for c in group))
            for parent, group in parents.items()
        )
        suites.append(Suite(name, top, suites=nested))
    return suites


_SHAPE = Shape("the Mocha JSON report", "Mocha")
_HINT = "write it with mocha --reporter json --reporter-option output=FILE"
