"""RSpec's JSON formatter (``rspec --format json``), converted to JUnit: a suite per spec file.

Mapping (``RSpec::Core::Formatters::JsonFormatter``):

=================================  ==============================================================
RSpec JSON                         JUnit
=================================  ==============================================================
``examples[].file_path``           a ``<testsuite name>``, without the leading ``./``, in the
                                   order files first appear; ``classname`` of its cases the path
                                   without extension, ``/`` as ``.`` (``spec.models.user_spec``,
                                   as ``rspec_junit_formatter`` writes it)
``full_description``               the ``<testcase name>``, exact (the example group descriptions
                                   and the example's, as RSpec joins them; unicode kept)
``status: passed``                 passed
``status: failed``                 ``<failure>``: RSpec counts every failed example as a failure,
                                   whatever it raised, so does this (``type`` tells them apart);
                                   ``message`` the exception message (trimmed), ``type`` the
                                   exception ``class``, body the message then the ``backtrace``
                                   (a fixed ``pending`` example fails with
                                   ``PendingExampleFixedError``, as RSpec reports it)
``status: pending``                ``<skipped message="pending_message">`` (``pending``, ``skip``,
                                   ``xit``: RSpec reports them alike)
``run_time``                       ``time``, in seconds (as RSpec gives it)
``summary``                        ``errors_outside_of_examples_count`` errors (a spec file that
                                   does not load, a failing ``before(:suite)``) become that many
                                   ``<error>`` cases, each named by the first line of its message
                                   ("An error occurred while loading ./spec/x_spec.rb."), in the
                                   suite of the file it names; other ``messages`` ("No examples
                                   found.") are the first suite's ``<system-out>``; an
                                   ``example_count`` that differs from the examples read is a
                                   warning
``seed``                           the first suite's property ``rspec:seed``
=================================  ==============================================================

RSpec's JSON carries no captured output and no timestamp.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from jux_submit.formats.base import Conversion, ConversionError, ReportFormat
from jux_submit.formats.junit import Case, Outcome, Suite, write_junit

NAME = "rspec"
STATUSES = {"passed": Outcome.PASSED, "failed": Outcome.FAILURE, "pending": Outcome.SKIPPED}
#: RSpec writes ``version`` first; then ``messages``/``seed``/``examples``
_HEAD = re.compile(r'^\{\s*"version"\s*:\s*"\d+\.\d+[^"]*"\s*,')
_KEYS = re.compile(r'"(?:examples|messages|summary_line)"\s*:')
#: the same document with its keys sorted (``jq -S``)
_SORTED_HEAD = re.compile(r'^\{\s*"examples"\s*:\s*\[\s*(?:\]|\{\s*"description"\s*:)')
_OUTSIDE = re.compile(r"^An error occurred\b")
_LOADING = re.compile(r"^An error occurred while loading (\S+?)\.?(?: -|$)")
_FALLBACK_SUITE = "rspec"


@dataclass(frozen=True)
class _Example:
    description: str
    file_path: str
    status: str
    run_time: float | None
    pending_message: str
    exception: dict[str, Any] | None


def sniff(head: bytes, name: str) -> bool:
    """True for a JSON object that starts with RSpec's ``"version"`` and has its
    ``examples``/``messages``/``summary_line`` keys (or is that document with sorted keys)."""
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if _HEAD.match(text):
        return bool(_KEYS.search(text))
    return bool(_SORTED_HEAD.match(text)) and '"full_description"' in text


def convert(data: bytes) -> Conversion:
    """JUnit XML for an RSpec JSON report (see the module docstring). Raises
    ``ConversionError`` for a document that is not JSON or not RSpec's shape."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ConversionError(
            f"the RSpec report is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConversionError(
            f"the RSpec report is not UTF-8 (byte {exc.start}): JSON must be"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("examples"), list):
        raise ConversionError('the RSpec report has no "examples" list')
    examples = [_example(item, index) for index, item in enumerate(doc["examples"])]
    warnings: list[str] = []
    grouped: dict[str, list[Case]] = {}
    for example in examples:
        path = example.file_path.removeprefix("./") or _FALLBACK_SUITE
        grouped.setdefault(path, []).append(_case(example, path))
    summary = _mapping(doc.get("summary"))
    messages = [m for m in doc.get("messages") or [] if isinstance(m, str)]
    outside = [m for m in messages if _OUTSIDE.match(m.strip())]
    others = [m.strip() for m in messages if not _OUTSIDE.match(m.strip())]
    errors = _int(summary.get("errors_outside_of_examples_count"))
    if errors is not None and errors > len(outside):  # counted, with no message saying what
        outside += ["An error occurred outside of examples (RSpec gave no message)"] * (
            errors - len(outside)
        )
    for message in outside:
        first = message.strip().splitlines()[0]
        loading = _LOADING.match(first)
        path = loading.group(1).removeprefix("./") if loading else _FALLBACK_SUITE
        grouped.setdefault(path, []).append(
            Case(
                name=first,
                classname=_classname(path),
                outcome=Outcome.ERROR,
                message=_error_line(message) or first,
                details=message.strip("\n"),
            )
        )
    count = _int(summary.get("example_count"))
    if count is not None and count != len(examples):
        warnings.append(
            f"the RSpec summary counts {count} example(s), the report lists {len(examples)}"
        )
    suites = [Suite(name=path, cases=tuple(cases)) for path, cases in grouped.items()]
    first_extra: dict[str, Any] = {}
    if others:
        first_extra["system_out"] = "\n".join(others) + "\n"
    if doc.get("seed") is not None:
        first_extra["properties"] = (("rspec:seed", str(doc["seed"])),)
    if suites and first_extra:
        suites[0] = replace(suites[0], **first_extra)
    xml = write_junit(suites, source_format=NAME, name="rspec")
    return Conversion(xml=xml, source_format=NAME, warnings=tuple(warnings))


def _example(item: object, index: int) -> _Example:
    where = f"examples[{index}]"
    if not isinstance(item, dict):
        raise ConversionError(f"{where} is not an object")
    description = item.get("full_description")
    if not isinstance(description, str):
        description = item.get("description")
    if not isinstance(description, str):
        raise ConversionError(f'{where} has no "full_description"')
    status = item.get("status")
    if status not in STATUSES:
        raise ConversionError(
            f'{where}: "status" is {status!r}, not one of {", ".join(sorted(STATUSES))}'
        )
    run_time = item.get("run_time")
    exception = item.get("exception")
    return _Example(
        description=description,
        file_path=item["file_path"] if isinstance(item.get("file_path"), str) else "",
        status=status,
        run_time=float(run_time)
        if isinstance(run_time, int | float) and not isinstance(run_time, bool)
        else None,
        pending_message=item.get("pending_message") or "",
        exception=exception if isinstance(exception, dict) else None,
    )


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _classname(path: str) -> str:
    return re.sub(r"\.[^/]*$", "", path).replace("/", ".").strip(".")


def _error_line(message: str) -> str:
    """``LoadError: cannot load such file -- x`` from RSpec's error text."""
    lines = [line.strip() for line in message.splitlines()]
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z]\w*(?:::\w+)*:$", line) and index + 1 < len(lines):
            return f"{line} {lines[index + 1]}"
    return ""


def _case(example: _Example, path: str) -> Case:
    outcome = STATUSES[example.status]
    message = kind = details = ""
    if outcome is Outcome.SKIPPED:
        message = str(example.pending_message)
    if example.exception is not None:
        raw = example.exception.get("message")
        text = raw.strip("\n") if isinstance(raw, str) else ""
        trace = example.exception.get("backtrace")
        lines = [line for line in trace if isinstance(line, str)] if isinstance(trace, list) else []
        details = "\n".join(part for part in (text, "\n".join(lines)) if part)
        if outcome is Outcome.FAILURE:
            message = text.strip()
            kind = str(example.exception.get("class") or "")
    if outcome is Outcome.FAILURE and not message:
        message = kind or "failed"
    return Case(
        name=example.description,
        classname=_classname(path),
        time=example.run_time,
        outcome=outcome,
        message=message,
        kind=kind,
        details=details,
    )


FORMAT = ReportFormat(name=NAME, title="RSpec JSON", sniff=sniff, convert=convert)
