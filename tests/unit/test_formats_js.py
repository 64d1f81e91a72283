"""The JavaScript ecosystem's JSON reports (Jest/Vitest, Mocha, Cucumber, CTRF, Playwright):
sniffing and conversion to JUnit, checked against reports the real tools wrote
(``tests/fixtures/formats/<format>/``, see each ``SOURCES.md``)."""

from __future__ import annotations

import importlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from jux_submit import formats
from jux_submit.formats import ConversionError, get_format
from jux_submit.formats.jest import relative_paths, split_error
from tests.conftest import FIXTURES as SHARED_FIXTURES
from tests.jux_server import parse_junit

FORMATS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
MINE = ("jest", "mocha", "cucumber", "ctrf", "playwright")


def producer_counts() -> list[tuple[str, str, dict[str, Any]]]:
    """(format, fixture, its entry in counts.json) for every fixture of ours."""
    found = []
    for name in MINE:
        table = json.loads((FORMATS_DIR / name / "counts.json").read_text(encoding="utf-8"))
        found.extend((name, fixture, entry) for fixture, entry in sorted(table.items()))
    return found


FIXTURES = [(name, fixture) for name, fixture, _ in producer_counts()]


def every_report() -> list[Path]:
    """Every report under tests/fixtures/formats (ours and the other converters'), and a few
    JUnit files from the shared corpus: what the sniffers must tell apart."""
    reports = [
        path
        for path in sorted(FORMATS_DIR.rglob("*"))
        if path.is_file()
        and "src" not in path.relative_to(FORMATS_DIR).parts
        and path.name not in ("SOURCES.md", "counts.json")
    ]
    junit = (
        sorted((SHARED_FIXTURES / "raw").rglob("*.xml"))[:10] if SHARED_FIXTURES.is_dir() else []
    )
    return reports + junit


def format_of(path: Path) -> str | None:
    relative = path.relative_to(FORMATS_DIR) if path.is_relative_to(FORMATS_DIR) else None
    return relative.parts[0] if relative else None


def read(name: str, fixture: str) -> bytes:
    return (FORMATS_DIR / name / fixture).read_bytes()


def convert(name: str, fixture: str) -> tuple[etree._Element, tuple[str, ...]]:
    conversion = get_format(name).convert(read(name, fixture))
    assert conversion.source_format == name
    return etree.fromstring(conversion.xml), conversion.warnings


def case(root: etree._Element, name: str, classname: str | None = None) -> etree._Element:
    found = [
        c
        for c in root.iter("testcase")
        if c.get("name") == name and (classname is None or c.get("classname") == classname)
    ]
    assert len(found) == 1, f"{len(found)} cases named {name!r}"
    return found[0]


def outcome(elem: etree._Element) -> str:
    tags = [c.tag for c in elem if c.tag in ("failure", "error", "skipped")]
    return tags[0] if tags else "passed"


def props(elem: etree._Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in elem.findall("properties/property")}


# --- counts: the converted report counts what the producer printed -------------------------


@pytest.mark.parametrize(("name", "fixture", "entry"), producer_counts())
def test_counts_equal_what_the_producer_printed(
    name: str, fixture: str, entry: dict[str, Any]
) -> None:
    conversion = get_format(name).convert(read(name, fixture))
    properties, counts = parse_junit(conversion.xml)  # as the server counts
    assert counts == entry["counts"], entry["printed"]
    assert properties[0] == ("jux:source_format", name)


@pytest.mark.parametrize(("name", "fixture"), FIXTURES)
def test_the_root_counts_are_the_sums_and_no_colour_codes_remain(name: str, fixture: str) -> None:
    conversion = get_format(name).convert(read(name, fixture))
    root = etree.fromstring(conversion.xml)
    cases = list(root.iter("testcase"))
    assert int(root.get("tests", "-1")) == len(cases)
    for key in ("failures", "errors", "skipped"):
        tag = {"failures": "failure", "errors": "error", "skipped": "skipped"}[key]
        assert int(root.get(key, "-1")) == sum(outcome(c) == tag for c in cases)
    assert b"\x1b" not in conversion.xml and b"\\x1b" not in conversion.xml
    assert b"[31m" not in conversion.xml


# --- sniffing: each format knows its own and nothing else ----------------------------------


@pytest.mark.parametrize("path", every_report(), ids=lambda p: p.name)
@pytest.mark.parametrize("name", MINE)
def test_sniffers_claim_their_own_reports_only(name: str, path: Path) -> None:
    head = path.read_bytes()[: formats.SNIFF_BYTES]
    assert get_format(name).sniff(head, path.name) == (format_of(path) == name)


@pytest.mark.parametrize(("name", "fixture"), FIXTURES)
def test_the_dispatcher_picks_the_right_format(name: str, fixture: str) -> None:
    found = formats.sniff(read(name, fixture)[: formats.SNIFF_BYTES], fixture)
    assert found is not None and found.name == name


def _grown(name: str, fixture: str) -> bytes:
    """The fixture made larger than the sniffing window by repeating its tests."""
    data: Any = json.loads(read(name, fixture))
    if name == "jest":
        data["testResults"] *= 400
    elif name == "mocha":
        for key in ("tests", "passes", "failures", "pending"):
            data[key] *= 300
    elif name == "cucumber":
        data *= 100
    elif name == "ctrf":
        data["results"]["tests"] *= 100
    else:
        data["suites"] *= 40
    text = json.dumps(data, indent=2, ensure_ascii=False).encode()
    assert len(text) > 3 * formats.SNIFF_BYTES
    return text


GROWN = [
    ("jest", "report.json"),
    ("jest", "vitest.json"),
    ("mocha", "report.json"),
    ("cucumber", "report.json"),
    ("ctrf", "jest-ctrf.json"),
    ("ctrf", "playwright-ctrf.json"),
    ("playwright", "report.json"),
]


@pytest.mark.parametrize(("name", "fixture"), GROWN)
def test_a_report_cut_at_the_sniffing_window_is_still_recognised(name: str, fixture: str) -> None:
    data = _grown(name, fixture)
    head = data[: formats.SNIFF_BYTES]
    with pytest.raises(json.JSONDecodeError):
        json.loads(head)
    found = formats.sniff(head, fixture)
    assert found is not None and found.name == name
    get_format(name).convert(data)  # and the whole file converts


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"{}",
        b"[]",
        b'<?xml version="1.0"?><testsuites/>',
        b'{"name": "my-package", "version": "1.0.0", "scripts": {"test": "jest"}}',
        b'{"stats": {"suites": 1, "tests": 1, "passes": 1, "pending": 0, "failures": 0,'
        b' "testsRegistered": 1}, "results": [{"suites": [{"tests": []}]}]}',  # mochawesome
        b'{"title": "\\"numTotalTests\\": 3, \\"testResults\\": ["}',  # keys inside a string
    ],
)
@pytest.mark.parametrize("name", MINE)
def test_sniffers_say_no_to_look_alikes(name: str, head: bytes) -> None:
    assert not get_format(name).sniff(head, "report.json")


ADVERSARIAL_HEADS = [
    b'{"stats": {' + b'"passes": 1, ' * 5000,
    b'{"stats": {' * 6000,
    b"[" + b" " * 65000,
    b'"config": {' * 5000,
    b'"results": {"tool": {' * 3000,
    b'"elements": [' * 5000,
    b'"numTotalTests": 1' * 4000,
]


@pytest.mark.parametrize("name", MINE)
def test_sniffing_stays_cheap_on_heads_built_to_look_alike(name: str) -> None:
    sniff = get_format(name).sniff
    started = time.perf_counter()
    for head in ADVERSARIAL_HEADS:
        sniff(head[: formats.SNIFF_BYTES], "report.json")
    assert time.perf_counter() - started < 0.5  # milliseconds in practice; no backtracking


# --- Jest and Vitest -------------------------------------------------------------------------


def test_jest_suites_nest_by_file_and_describe_and_keep_unicode_names() -> None:
    root, warnings = convert("jest", "report.json")
    assert warnings == ()
    nested = "math.test.js / math / nested — ünïcødé ✓"
    assert case(root, "naïve café ☕ 测试").get("classname") == nested
    assert root.find(f"testsuite[@name='{nested}']") is not None
    assert case(root, "top level, no describe").get("classname") == "math.test.js"
    assert case(root, "passes").get("classname") == "other.test.js / other file"
    report = json.loads(read("jest", "report.json"))
    adds = report["testResults"][0]["assertionResults"][0]
    assert adds["title"] == "adds"
    assert float(case(root, "adds").get("time", "")) == adds["duration"] / 1000  # ms to s


def test_jest_failures_skips_todos_and_retries() -> None:
    root, _ = convert("jest", "report.json")
    failed = case(root, "fails on purpose")
    failure = failed.find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("Error: expect(received).toBe(expected)")
    assert " at " not in failure.get("message", "")  # the stack stays in the text
    assert "at Object.toBe" in (failure.text or "")
    assert failure.get("type") == "Error"
    typed = case(root, "throws a TypeError").find("failure")
    assert typed is not None and typed.get("type") == "TypeError"
    assert outcome(case(root, "skipped one")) == "skipped"
    todo = case(root, "write the division test").find("skipped")
    assert todo is not None and todo.get("message") == "todo"
    retried = case(root, "passes on the second attempt")
    assert outcome(retried) == "passed"
    assert props(retried) == {"flaky": "true", "retries": "1"}


def test_jest_files_that_failed_to_run_are_errors() -> None:
    root, _ = convert("jest", "broken.json")
    missing = case(root, "Test suite failed to run", "broken.test.js").find("error")
    assert missing is not None
    assert (
        missing.get("message") == "Cannot find module './does-not-exist' from 'src/broken.test.js'"
    )
    teardown = case(root, "Test suite failed to run", "hook.test.js").find("error")
    assert teardown is not None and teardown.get("message") == "teardown broke"
    assert outcome(case(root, "passes before the teardown breaks")) == "passed"


def test_vitest_reports_convert_as_jest_and_its_retries_are_flaky() -> None:
    root, warnings = convert("jest", "vitest.json")
    assert warnings == () and root.get("name") == "Vitest"
    retried = case(root, "passes on the second attempt")
    assert outcome(retried) == "passed" and props(retried) == {"flaky": "true", "retries": "1"}
    failure = case(root, "fails on purpose").find("failure")
    assert failure is not None and failure.get("type") == "AssertionError"


def test_jest_unknown_status_is_an_error_with_a_warning() -> None:
    data = {
        "numTotalTests": 1,
        "testResults": [
            {"name": "/w/a.test.js", "assertionResults": [{"title": "t", "status": "exploded"}]}
        ],
    }
    conversion = get_format("jest").convert(json.dumps(data).encode())
    assert parse_junit(conversion.xml)[1]["error_count"] == 1
    assert conversion.warnings == (
        "testResults[0].assertionResults[0]: unknown Jest status 'exploded', reported as an error",
    )


# --- Mocha ---------------------------------------------------------------------------------


def test_mocha_cases_hooks_and_retries() -> None:
    root, warnings = convert("mocha", "report.json")
    assert warnings == ()
    assert (
        case(root, "naïve café ☕ 测试").get("classname")
        == "math.spec.js / math nested — ünïcødé ✓"
    )
    failure = case(root, "fails on purpose").find("failure")
    assert failure is not None and failure.get("type") == "AssertionError"
    assert failure.get("message") == "Expected values to be strictly equal:\n\n2 !== 3"
    assert (failure.text or "").startswith("AssertionError [ERR_ASSERTION]")
    hook = case(root, '"before all" hook for "never runs because of the hook"')
    assert hook.get("classname") == "math.spec.js / broken hook"
    error = hook.find("error")
    assert error is not None and error.get("message") == "setup broke"
    assert outcome(case(root, "pending without a body")) == "skipped"
    retried = case(root, "passes on the third attempt")
    assert outcome(retried) == "passed" and props(retried) == {"flaky": "true", "retries": "2"}


def test_mocha_report_captured_from_stdout_converts_with_a_warning() -> None:
    conversion = get_format("mocha").convert(read("mocha", "stdout.json"))
    assert conversion.warnings == (
        "skipped 1 line(s) of console output before Mocha's JSON; "
        "write it with mocha --reporter json --reporter-option output=FILE",
    )
    clean = get_format("mocha").convert(read("mocha", "report.json"))
    assert parse_junit(conversion.xml)[1] == parse_junit(clean.xml)[1]
    names = [c.get("name") for c in etree.fromstring(conversion.xml).iter("testcase")]
    assert names == [c.get("name") for c in etree.fromstring(clean.xml).iter("testcase")]


# --- Cucumber --------------------------------------------------------------------------------


def test_cucumber_scenarios_and_strict_step_statuses() -> None:
    root, warnings = convert("cucumber", "report.json")
    assert warnings == ()
    assert [s.get("name") for s in root.iter("testsuite")] == ["Basket", "Ünïcødé — 测试 ✓"]
    failed = case(root, "a failing check").find("failure")
    assert failed is not None and failed.get("type") == "AssertionError"
    assert (
        failed.get("message")
        == "AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:"
    )
    assert (failed.text or "").startswith("failed step: Then the basket holds 3 items\n\n")
    for name, status, step in [
        ("an undefined step", "undefined", "When I juggle the basket"),
        ("a pending step", "pending", "When I add a gift card"),
        ("an ambiguous step", "ambiguous", "When I shake the basket"),
    ]:
        failure = case(root, name).find("failure")
        assert failure is not None
        assert (failure.get("type"), failure.get("message")) == (status, f"{status} step: {step}")
    assert outcome(case(root, "skipped by a hook")) == "skipped"
    assert outcome(case(root, "naïve café ☕")) == "passed"


def test_cucumber_names_durations_output_and_properties() -> None:
    root, _ = convert("cucumber", "report.json")
    # outline rows sharing a name are told apart; rows named from their values are kept
    assert outcome(case(root, "same name for every row")) == "passed"
    assert outcome(case(root, "same name for every row [2]")) == "passed"
    assert outcome(case(root, 'adding 2 "kiwi"')) == "passed"
    added = case(root, "adding an item")
    steps = json.loads(read("cucumber", "report.json"))[0]["elements"][0]["steps"]
    nanoseconds = sum(step["result"]["duration"] for step in steps)
    assert float(added.get("time", "")) == pytest.approx(nanoseconds / 1e9, abs=1e-6)
    assert added.findtext("system-out") == (
        "Given an empty basket ....................................... passed\n"
        'When I add 1 "apple" ........................................ passed\n'
        "    added 1 apple\n"
        "Then the basket holds 1 item ................................ passed\n"
    )
    assert props(case(root, "a failing check")) == {
        "tags": "@wip",
        "location": "features/basket.feature:12",
    }


def _ruby_feature(*elements: dict[str, Any]) -> bytes:
    """A report shaped like cucumber-ruby's and cucumber-jvm's (a synthetic one: backgrounds
    as their own elements, hooks in ``before``/``after``)."""
    feature = {
        "uri": "features/a.feature",
        "keyword": "Feature",
        "name": "A",
        "elements": list(elements),
    }
    return json.dumps([feature]).encode()


def _step(keyword: str, name: str, status: str, error: str = "") -> dict[str, Any]:
    result: dict[str, Any] = {"status": status, "duration": 2_000_000}
    if error:
        result["error_message"] = error
    return {"keyword": keyword, "name": name, "result": result}


def test_cucumber_backgrounds_and_hooks_of_other_implementations() -> None:
    data = _ruby_feature(
        {
            "type": "background",
            "keyword": "Background",
            "name": "",
            "steps": [_step("Given ", "a broken setup", "failed", "RuntimeError: no db")],
        },
        {
            "type": "scenario",
            "keyword": "Scenario",
            "name": "first",
            "line": 5,
            "steps": [_step("Then ", "it works", "skipped")],
        },
        {
            "type": "background",
            "keyword": "Background",
            "name": "",
            "steps": [_step("Given ", "a setup", "passed")],
        },
        {
            "type": "scenario",
            "keyword": "Scenario",
            "name": "second",
            "before": [{"result": {"status": "passed", "duration": 1_000_000}}],
            "steps": [_step("Then ", "it works", "passed")],
            "after": [{"result": {"status": "failed", "error_message": "cleanup failed"}}],
        },
    )
    conversion = get_format("cucumber").convert(data)
    assert get_format("cucumber").sniff(data, "a.json")
    root = etree.fromstring(conversion.xml)
    first = case(root, "first")
    assert outcome(first) == "failure" and first.get("time") == "0.004"
    assert "Given a broken setup" in (first.findtext("system-out") or "")
    second = case(root, "second").find("failure")
    assert second is not None and second.get("message") == "cleanup failed"
    assert "After hook" in (case(root, "second").findtext("system-out") or "")


def test_cucumber_unknown_step_status_is_an_error_with_a_warning() -> None:
    data = _ruby_feature(
        {"type": "scenario", "name": "s", "steps": [_step("Given ", "x", "untested")]}
    )
    conversion = get_format("cucumber").convert(data)
    assert parse_junit(conversion.xml)[1]["error_count"] == 1
    assert conversion.warnings == (
        "[0].elements[0]: unknown Cucumber step status 'untested', reported as an error",
    )


# --- CTRF ----------------------------------------------------------------------------------


def test_ctrf_statuses_suites_and_retries() -> None:
    root, warnings = convert("ctrf", "jest-ctrf.json")
    assert warnings == () and root.get("name") == "jest"
    assert case(root, "math adds").get("classname") == "math.test.js > math"
    todo = case(root, "math write the division test").find("skipped")
    assert todo is not None and todo.get("message") == "other (todo)"
    pending = case(root, "math skipped one").find("skipped")
    assert pending is not None and pending.get("message") == "pending"
    unicode = case(root, "math nested — ünïcødé ✓ naïve café ☕ 测试")
    assert unicode.get("classname") == "math.test.js > math > nested — ünïcødé ✓"
    retried = case(root, "retried passes on the second attempt")
    assert props(retried) == {"flaky": "true", "retries": "1"}


def test_ctrf_from_playwright_output_attempts_and_a_summary_that_disagrees() -> None:
    root, warnings = convert("ctrf", "playwright-ctrf.json")
    assert warnings == (
        "the CTRF summary says passed=3, but the report lists 4",
        "the CTRF summary says failed=4, but the report lists 3",
    )
    flaky = case(root, "flaky: passes on the second attempt")
    assert outcome(flaky) == "passed" and props(flaky) == {"flaky": "true", "retries": "1"}
    assert "attempt 1 of 2 failed:\nError: first attempt fails" in (
        flaky.findtext("system-err") or ""
    )
    output = case(root, "naïve café ☕ 测试")
    assert output.findtext("system-out") == "logged from a test\n"
    assert output.findtext("system-err") == "warned from a test\n"
    failure = case(root, "fails on purpose").find("failure")
    assert failure is not None and "> 12 |   expect(1 + 1).toBe(3);" in (failure.text or "")


def test_ctrf_suite_lists_join_like_suite_strings_and_unknown_statuses_are_errors() -> None:
    data = {
        "reportFormat": "CTRF",
        "specVersion": "1.0.0",
        "results": {
            "tool": {"name": "pytest", "version": "8.0"},
            "summary": {
                "tests": 2,
                "passed": 1,
                "failed": 0,
                "skipped": 0,
                "pending": 0,
                "other": 0,
            },
            "tests": [
                {"name": "a", "status": "passed", "duration": 5, "suite": ["pkg", "mod"]},
                {"name": "b", "status": "crashed", "duration": 5, "suite": "pkg > mod"},
            ],
        },
    }
    conversion = get_format("ctrf").convert(json.dumps(data).encode())
    root = etree.fromstring(conversion.xml)
    assert root.get("name") == "pytest 8.0"
    assert [s.get("name") for s in root.iter("testsuite")] == ["pkg > mod"]
    assert outcome(case(root, "b")) == "error"
    assert conversion.warnings == (
        "results.tests[1]: unknown CTRF status 'crashed', reported as an error",
    )


# --- Playwright ------------------------------------------------------------------------------


def test_playwright_projects_files_and_describes_nest() -> None:
    root, warnings = convert("playwright", "report.json")
    assert warnings == ()
    assert case(root, "adds").get("classname") == "api / basket.spec.js"
    deeper = "api / basket.spec.js / nested — ünïcødé ✓ / deeper"
    assert case(root, "throws a TypeError").get("classname") == deeper
    assert root.find(f"testsuite[@name='{deeper}']") is not None


def test_playwright_outcomes_retries_and_output() -> None:
    root, _ = convert("playwright", "report.json")
    flaky = case(root, "flaky: passes on the second attempt")
    assert outcome(flaky) == "passed"
    assert props(flaky) == {"flaky": "true", "retries": "1"}
    assert "attempt 1 of 2 failed:\nError: first attempt fails" in (
        flaky.findtext("system-err") or ""
    )
    expected_failure = case(root, "expected to fail")
    assert outcome(expected_failure) == "passed" and props(expected_failure) == {"fail": ""}
    failed = case(root, "fails on purpose")
    failure = failed.find("failure")
    assert failure is not None and failure.get("type") == "Error"
    assert failure.get("message") == (
        "Error: expect(received).toBe(expected) // Object.is equality\n\nExpected: 3\nReceived: 2"
    )
    assert "> 12 |   expect(1 + 1).toBe(3);" in (failure.text or "")
    assert props(failed) == {"retries": "2"}
    report = json.loads(read("playwright", "report.json"))
    attempts = report["suites"][0]["specs"][1]["tests"][0]["results"]
    assert len(attempts) == 3
    total = sum(a["duration"] for a in attempts) / 1000  # the three attempts, ms to s
    assert float(failed.get("time", "")) == pytest.approx(total)
    timeout = case(root, "times out").find("failure")
    assert timeout is not None
    assert (timeout.get("type"), timeout.get("message")) == (
        "timedOut",
        "Test timeout of 200ms exceeded.",
    )
    skipped = case(root, "skipped at run time").find("skipped")
    assert skipped is not None and skipped.get("message") == "not on this platform"
    output = case(root, "naïve café ☕ 测试")
    assert output.findtext("system-out") == "logged from a test\n"
    assert output.findtext("system-err") == "warned from a test\n"


def test_playwright_errors_outside_tests_are_error_cases() -> None:
    root, warnings = convert("playwright", "broken.json")
    assert warnings == ("Playwright reported 1 error(s) outside tests",)
    error = case(root, "error outside tests", "broken.spec.js").find("error")
    assert error is not None
    assert error.get("message") == "Error: Cannot find module './does-not-exist'"
    assert "> 2 | const missing = require('./does-not-exist');" in (error.text or "")


def test_playwright_without_projects_has_no_project_level() -> None:
    spec = {
        "title": "t",
        "tests": [
            {
                "projectName": "",
                "status": "expected",
                "results": [{"status": "passed", "duration": 4}],
            }
        ],
    }
    data = {
        "config": {"rootDir": "/w"},
        "suites": [{"title": "a.spec.ts", "specs": [spec]}],
        "errors": [],
    }
    root = etree.fromstring(get_format("playwright").convert(json.dumps(data).encode()).xml)
    assert case(root, "t").get("classname") == "a.spec.ts"


def test_playwright_projects_are_the_outer_level_each() -> None:
    def test(project: str, status: str) -> dict[str, Any]:
        result = {"status": "passed" if status == "expected" else "failed", "duration": 1}
        return {"projectName": project, "status": status, "results": [result]}

    spec = {"title": "t", "tests": [test("chromium", "expected"), test("firefox", "unexpected")]}
    data = {"config": {"rootDir": "/w"}, "suites": [{"title": "a.spec.ts", "specs": [spec]}]}
    root = etree.fromstring(get_format("playwright").convert(json.dumps(data).encode()).xml)
    assert [s.get("name") for s in root.iter("testsuite")] == [
        "chromium / a.spec.ts",
        "firefox / a.spec.ts",
    ]
    assert outcome(case(root, "t", "chromium / a.spec.ts")) == "passed"
    assert outcome(case(root, "t", "firefox / a.spec.ts")) == "failure"


# --- input that looks like the format but is not right ---------------------------------------

BROKEN = [
    ("jest", b'{"numTotalTests": 1, "testResults": [', "is not valid JSON"),
    (
        "jest",
        b'{"numTotalTests": 1, "testResults": {"assertionResults": [], "ancestorTitles": []}}',
        "testResults should be a list",
    ),
    (
        "jest",
        b'{"numTotalTests": 1, "testResults": [{"name": "a", "assertionResults": '
        b'[{"title": "t"}]}]}',
        "testResults[0].assertionResults[0].status should be a string",
    ),
    (
        "jest",
        b'{"numTotalTests": 1, "testResults": [{"name": "a", "assertionResults": ['
        b'{"title": "t", "status": "passed", "ancestorTitles": "x"}]}]}',
        "testResults[0].assertionResults[0].ancestorTitles should be a list",
    ),
    (
        "mocha",
        b'{"stats": {"passes": 1, "pending": 0}, "failures": [], "tests": {}}',
        "tests should be a list",
    ),
    (
        "mocha",
        b'{"stats": {"passes": 1, "pending": 0}, "tests": [{"title": "t"}]}',
        "tests[0].fullTitle should be a string",
    ),
    ("mocha", b'noise\n{\n  "stats": {"passes": 1, "pending": 0}, "tests": [', "is not valid JSON"),
    (
        "cucumber",
        b'[{"uri": "a.feature", "keyword": "Feature", "elements": [{"steps": [{"name": "x"}]}]}]',
        "[0].elements[0].steps[0].result should be an object",
    ),
    (
        "cucumber",
        b'[{"uri": "a.feature", "keyword": "Feature", "elements": []}, {"elements": {}}]',
        "[1].elements should be a list",
    ),
    (
        "ctrf",
        b'{"results": {"tool": {"name": "x"}, "summary": {}, "tests": 3}}',
        "results.tests should be a list",
    ),
    (
        "ctrf",
        b'{"results": {"tool": {"name": "x"}, "summary": {}, "tests": [{"name": "t"}]}}',
        "results.tests[0].status should be a string",
    ),
    (
        "playwright",
        b'{"config": {"rootDir": "/w"}, "suites": [1]}',
        "suites[0] should be an object",
    ),
    (
        "playwright",
        b'{"config": {"rootDir": "/w"}, "suites": [{"title": "a", "specs": [{"title": "t"}]}]}',
        "suites[0].specs[0].tests should be a list",
    ),
    (
        "playwright",
        b'{"config": {"rootDir": "/w"}, "suites": [{"title": "a", "specs": [{"title": "t", '
        b'"tests": [{"projectName": "", "results": []}]}]}]}',
        "suites[0].specs[0].tests[0].status should be a string",
    ),
]


@pytest.mark.parametrize(("name", "data", "where"), BROKEN)
def test_input_that_sniffs_as_the_format_but_is_wrong_is_a_conversion_error(
    name: str, data: bytes, where: str
) -> None:
    assert get_format(name).sniff(data, "report.json")
    with pytest.raises(ConversionError) as raised:
        get_format(name).convert(data)
    message = str(raised.value)
    assert where in message and "\n" not in message
    assert message.startswith("the ")


@pytest.mark.parametrize("name", MINE)
def test_input_that_is_not_utf8_is_a_conversion_error(name: str) -> None:
    with pytest.raises(ConversionError, match=r"is not UTF-8 text \(byte 1\)"):
        get_format(name).convert(b"[\xff]")


# --- helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (
            ["/ci/work/app/src/a.test.js", "/ci/work/app/src/b/c.test.js"],
            ["a.test.js", "b/c.test.js"],
        ),
        (["/ci/work/app/src/a.test.js"], ["a.test.js"]),
        (["C:\\ci\\app\\a.test.js", "C:\\ci\\app\\lib\\b.test.js"], ["a.test.js", "lib/b.test.js"]),
        (["src/a.test.js", "src/b.test.js"], ["src/a.test.js", "src/b.test.js"]),
    ],
)
def test_relative_paths_drop_the_machine_specific_part(
    paths: list[str], expected: list[str]
) -> None:
    relative = relative_paths(paths)
    assert [relative[p] for p in paths] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TypeError: x is null\n    at f (a.js:1:2)", ("TypeError: x is null", "TypeError")),
        ("Error: boom", ("Error: boom", "Error")),
        (
            "AssertionError [ERR_ASSERTION]: 1 == 2",
            ("AssertionError [ERR_ASSERTION]: 1 == 2", "AssertionError"),
        ),
        ("expected 1 to equal 2", ("expected 1 to equal 2", "")),
        ("Note: not an error", ("Note: not an error", "")),
    ],
)
def test_split_error_separates_message_from_stack(text: str, expected: tuple[str, str]) -> None:
    assert split_error(text) == expected


@pytest.mark.parametrize("name", MINE)
def test_each_module_documents_its_mapping_table(name: str) -> None:
    doc = importlib.import_module(f"jux_submit.formats.{name}").__doc__ or ""
    assert re.search(r"^=+ +=+$", doc, re.MULTILINE)  # a reStructuredText table
    assert re.search(r"(milli|nano)seconds", doc)
