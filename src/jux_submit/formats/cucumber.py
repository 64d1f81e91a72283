"""Cucumber's JSON report (cucumber-js ``--format json:FILE``; the same shape from cucumber-ruby
and cucumber-jvm) converted to JUnit XML: one test case per scenario.

Mapping (fixtures and the commands that made them: ``tests/fixtures/formats/cucumber/``):

===============================  ============================================================
Cucumber                         JUnit
===============================  ============================================================
a feature                        a ``<testsuite>`` named by the feature's ``name`` (its
                                 ``uri`` when unnamed); the cases' ``classname`` too
a scenario (``elements[]`` of    a case named by the scenario's ``name``, exactly (unicode
type ``scenario``; each row of   kept); when several scenarios of a feature share a name
a scenario outline is one)       (outline rows whose name has no ``<placeholder>``), the
                                 second and later get `` [2]``, `` [3]``…
a ``background`` element         its steps belong to the scenario that follows it
                                 (cucumber-js already puts them in each scenario)
steps, ``before``/``after``      the scenario's result is its worst step or hook, in
hooks (``hidden`` steps)         cucumber's order: failed, ambiguous, undefined, pending,
                                 skipped, passed
worst: ``passed`` (or no steps)  passed
worst: ``skipped``               ``<skipped>`` (a hook returned ``skipped``, a ``@skip``)
worst: ``failed``                ``<failure>``: ``message`` is the first line of the step's
                                 ``error_message``, the text all of it, ``type`` the error
                                 class (else ``failed``)
worst: ``ambiguous``,            ``<failure>`` too, ``type`` the status, message naming the
``undefined``, ``pending``       step (``undefined step: When I juggle``), as cucumber-js'
                                 default ``--strict`` fails the run for them (and as the
                                 official cucumber JUnit formatter maps them). Run with
                                 ``--no-strict`` and they still count as failures here: the
                                 report does not say which mode was used
any other status                 ``<error>`` naming it, and a warning
``result.duration``              summed over steps and hooks: **nanoseconds** in every
                                 cucumber implementation's JSON, ``time`` in seconds
step log (``this.log``, text     ``<system-out>``: one line per step (``Given an empty
``embeddings``, ``output``)      basket ..... passed``), followed by its log lines
tags, ``uri``:``line``           properties ``tags`` (comma-separated) and ``location``
===============================  ============================================================

Counts equal cucumber's summary line for scenarios: ``failures`` = failed + ambiguous +
undefined + pending, ``skipped`` = skipped.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, replace
from typing import Any

from jux_submit.formats.base import Conversion, ReportFormat
from jux_submit.formats.jest import Shape, read_json, split_error, strip_ansi
from jux_submit.formats.junit import Case, Outcome, Suite, write_junit

TITLE = "Cucumber JSON"
_ARRAY = re.compile(rb"^(?:\xef\xbb\xbf)?\s*\[\s*(?:\{|\])")
_ELEMENTS = re.compile(rb'"elements"\s*:\s*\[')
_KEYWORD = re.compile(rb'"keyword"\s*:\s*"')
_URI = re.compile(rb'"uri"\s*:\s*"')
#: cucumber's order of step results, best first (a scenario takes its worst)
_RANK = ("passed", "skipped", "pending", "undefined", "ambiguous", "failed")
_TEXT_LOGS = ("text/x.cucumber.log+plain", "text/plain")
#: the element keys that hold steps, in the order they ran, and the hook each one holds
_STEP_KEYS = {"before": "Before", "steps": "", "after": "After"}
_DOTS = 60


def sniff(head: bytes, name: str) -> bool:
    """A JSON array of features: ``uri``, ``keyword`` and ``elements`` (scenarios)."""
    return bool(
        _ARRAY.match(head)
        and _ELEMENTS.search(head)
        and _KEYWORD.search(head)
        and _URI.search(head)
    )


def convert(data: bytes) -> Conversion:
    """The JUnit XML for a Cucumber JSON report, with a warning for each unknown step status.
    Raises ``ConversionError`` when the input is not JSON or not shaped like Cucumber's."""
    features = _SHAPE.as_list(read_json(data, _SHAPE.what, _HINT), "the top level")
    warnings: list[str] = []
    suites = []
    for i, raw in enumerate(features):
        where = f"[{i}]"
        suites.append(_feature(_SHAPE.as_object(raw, where), where, warnings))
    xml = write_junit(suites, source_format="cucumber", name="Cucumber")
    return Conversion(xml, "cucumber", tuple(warnings))


FORMAT = ReportFormat(name="cucumber", title=TITLE, sniff=sniff, convert=convert)


@dataclass(frozen=True)
class _Step:
    """A step or hook as it ran: its line in ``<system-out>`` and what it says about the
    scenario."""

    label: str  # "Given an empty basket", or "Before hook"
    status: str
    seconds: float
    error: str
    log: tuple[str, ...]


def _feature(feature: dict[str, Any], where: str, warnings: list[str]) -> Suite:
    uri = _SHAPE.text(feature, "uri", where, "")
    name = _SHAPE.text(feature, "name", where, "") or uri or "(unnamed feature)"
    background: list[_Step] = []
    seen: dict[str, int] = {}
    cases = []
    for at, element in _SHAPE.objects(feature, "elements", where):
        steps = _steps(element, at)
        if element.get("type") == "background":
            background = steps
            continue
        title = _SHAPE.text(element, "name", at, "")
        seen[title] = seen.get(title, 0) + 1
        if seen[title] > 1:
            title = f"{title} [{seen[title]}]"
        case = _scenario([*background, *steps], at, warnings)
        background = []
        tags = [t for t in (_tag(tag) for tag in _SHAPE.objects(element, "tags", at)) if t]
        properties = [("tags", ",".join(tags))] if tags else []
        line = _SHAPE.number(element, "line", at)
        if uri and line is not None:
            properties.append(("location", f"{uri}:{int(line)}"))
        cases.append(replace(case, name=title, classname=name, properties=tuple(properties)))
    return Suite(name, tuple(cases))


def _tag(tag: tuple[str, dict[str, Any]]) -> str:
    at, value = tag
    return _SHAPE.text(value, "name", at, "")


def _steps(element: dict[str, Any], at: str) -> list[_Step]:
    """Hooks and steps in the order they ran (cucumber-ruby and -jvm keep hooks apart, in
    ``before`` and ``after``; cucumber-js lists them among the steps, ``hidden``)."""
    return [
        _step(step, where, hook)
        for key, hook in _STEP_KEYS.items()
        for where, step in _SHAPE.objects(element, key, at)
    ]


def _step(step: dict[str, Any], where: str, hook: str) -> _Step:
    result = _SHAPE.as_object(step.get("result"), f"{where}.result")
    keyword = _SHAPE.text(step, "keyword", where, "")
    text = _SHAPE.text(step, "name", where, "")
    if hook or step.get("hidden") is True:  # cucumber-js names its hooks in the keyword
        label = " ".join(filter(None, (keyword.strip() or hook, "hook")))
    else:
        label = (
            f"{keyword}{text}" if keyword.endswith(" ") else " ".join(filter(None, (keyword, text)))
        )
    duration = _SHAPE.number(result, "duration", f"{where}.result") or 0.0
    return _Step(
        label=label,
        status=_SHAPE.text(result, "status", f"{where}.result"),
        seconds=duration / 1e9,
        error=strip_ansi(_SHAPE.text(result, "error_message", f"{where}.result", "")),
        log=_logs(step, where),
    )


def _logs(step: dict[str, Any], where: str) -> tuple[str, ...]:
    lines = list(_SHAPE.strings(step, "output", where))
    for at, embedding in _SHAPE.objects(step, "embeddings", where):
        mime = _SHAPE.text(embedding, "mime_type", at, "")
        if mime not in _TEXT_LOGS:
            lines.append(f"(attachment {mime or 'of unknown type'})")
            continue
        try:
            raw = base64.b64decode(_SHAPE.text(embedding, "data", at, ""), validate=True)
        except (binascii.Error, ValueError):
            lines.append("(log attachment that is not base64)")
            continue
        lines.append(raw.decode("utf-8", "replace"))
    return tuple(lines)


def _scenario(steps: list[_Step], at: str, warnings: list[str]) -> Case:
    rendition = "\n".join(_render(step) for step in steps)
    time = sum(step.seconds for step in steps) if steps else None
    base = Case(name="", time=time, system_out=rendition + "\n" if rendition else "")
    unknown = [s for s in steps if s.status not in _RANK]
    if unknown:
        step = unknown[0]
        warnings.append(f"{at}: unknown Cucumber step status {step.status!r}, reported as an error")
        message = f"unknown step status {step.status!r}: {step.label}"
        return replace(base, outcome=Outcome.ERROR, message=message, details=step.error)
    worst = max(steps, key=lambda s: _RANK.index(s.status), default=None)
    if worst is None or worst.status == "passed":
        return base
    if worst.status == "skipped":
        return replace(base, outcome=Outcome.SKIPPED)
    if worst.status == "failed":
        first, kind = split_error(worst.error)
        message = first.splitlines()[0] if first else f"failed step: {worst.label}"
        details = f"failed step: {worst.label}\n\n{worst.error}".strip()
        return replace(
            base, outcome=Outcome.FAILURE, message=message, kind=kind or "failed", details=details
        )
    message = f"{worst.status} step: {worst.label}"
    details = f"{message}\n\n{worst.error}" if worst.error else message
    return replace(
        base, outcome=Outcome.FAILURE, message=message, kind=worst.status, details=details
    )


def _render(step: _Step) -> str:
    line = f"{step.label} {'.' * max(3, _DOTS - len(step.label))} {step.status}"
    logs = "".join(f"\n    {text}" for entry in step.log for text in entry.splitlines())
    return line + logs


_SHAPE = Shape("the Cucumber JSON report", "Cucumber")
_HINT = "write it with cucumber-js --format json:FILE"
