"""The go test -json, TAP, RSpec JSON and Dart JSON converters: sniffing and conversion, no sockets.

Fixtures are real producer output (tests/fixtures/formats/<format>/SOURCES.md says which tool,
version and command); the expected counts are the ones the producer itself printed, carried over
by the mapping each module's docstring documents.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from jux_submit.formats import (
    SNIFF_BYTES,
    ConversionError,
    available,
    dart,
    get_format,
    gotest,
    rspec,
    sniff,
    tap,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
MINE = ("gotest", "tap", "rspec", "dart")

#: (format, fixture, (tests, failures, errors, skipped)) as SOURCES.md derives them
CASES = [
    ("gotest", "gotest/gotest.json", (17, 4, 1, 2)),
    ("gotest", "gotest/gotest-combined.json", (17, 4, 1, 2)),
    ("gotest", "gotest/gotest-crash.json", (4, 0, 2, 0)),
    ("gotest", "gotest/gotestsum-with-attributes.json", (1, 0, 0, 0)),
    ("gotest", "gotest/gotestsum-benchmark-go1.20.json", (1, 0, 0, 0)),
    ("tap", "tap/bats.tap", (5, 1, 0, 1)),
    ("tap", "tap/bats-tap13.tap", (5, 1, 0, 1)),
    ("tap", "tap/bats-report.tap", (5, 1, 0, 1)),
    ("tap", "tap/perl.tap", (9, 2, 0, 2)),
    ("tap", "tap/perl-merged.tap", (9, 2, 0, 2)),
    ("tap", "tap/perl-bail.tap", (3, 0, 1, 0)),
    ("tap", "tap/node.tap", (9, 2, 0, 2)),
    ("rspec", "rspec/rspec.json", (10, 3, 0, 3)),
    ("rspec", "rspec/rspec-load-error.json", (1, 0, 1, 0)),
    ("dart", "dart/dorny-dart-json.json", (6, 1, 3, 1)),
    ("dart", "dart/enricomi-dart-code-metrics.json", (20, 1, 2, 1)),
]


def counts(xml: bytes) -> tuple[int, int, int, int]:
    """Counted the way the Jux server counts: one outcome per testcase."""
    root = etree.fromstring(xml)
    found = [0, 0, 0, 0]
    for case in root.iter("testcase"):
        found[0] += 1
        tags = {child.tag for child in case}
        for index, tag in ((1, "failure"), (2, "error"), (3, "skipped")):
            if tag in tags:
                found[index] += 1
                break
    return found[0], found[1], found[2], found[3]


def convert(name: str, data: bytes | str) -> etree._Element:
    raw = data.encode() if isinstance(data, str) else data
    return etree.fromstring(get_format(name).convert(raw).xml)


def case(root: etree._Element, name: str) -> etree._Element:
    found = [c for c in root.iter("testcase") if c.get("name") == name]
    assert len(found) == 1, [c.get("name") for c in root.iter("testcase")]
    return found[0]


def lines(*events: dict[str, object]) -> str:
    return "".join(json.dumps(event) + "\n" for event in events)


# --- every fixture: the producer's counts, the format's own sniffer ---------------------------


@pytest.mark.parametrize(("name", "fixture", "expected"), CASES, ids=[c[1] for c in CASES])
def test_fixture_converts_to_the_counts_its_producer_printed(
    name: str, fixture: str, expected: tuple[int, int, int, int]
) -> None:
    data = (FIXTURES / fixture).read_bytes()
    conversion = get_format(name).convert(data)
    assert conversion.source_format == name
    assert counts(conversion.xml) == expected
    root = etree.fromstring(conversion.xml)
    props = {p.get("name"): p.get("value") for p in root.find("testsuite").iter("property")}
    assert props["jux:source_format"] == name
    assert (root.get("tests"), root.get("failures")) == (str(expected[0]), str(expected[1]))


@pytest.mark.parametrize(("name", "fixture"), [c[:2] for c in CASES], ids=[c[1] for c in CASES])
def test_fixture_is_sniffed_as_its_format_and_by_no_other(name: str, fixture: str) -> None:
    head = (FIXTURES / fixture).read_bytes()[:SNIFF_BYTES]
    claims = [f.name for f in available() if f.sniff(head, Path(fixture).name)]
    assert claims == [name]
    found = sniff(head, Path(fixture).name)
    assert found is not None and found.name == name


def other_fixtures() -> list[Path]:
    """The other engineers' format fixtures (JSON and XML reports of other tools)."""
    return sorted(
        p
        for p in FIXTURES.rglob("*")
        if p.is_file()
        and p.suffix in (".json", ".xml", ".trx")
        and p.relative_to(FIXTURES).parts[0] not in MINE
        and "src" not in p.relative_to(FIXTURES).parts
    )


OTHER_SAMPLES = {
    "jest": '{"numFailedTestSuites":0,"numFailedTests":0,"numPassedTests":1,"testResults":'
    '[{"name":"/a.test.js","assertionResults":[{"fullName":"a","status":"passed"}]}]}',
    "mocha": '{"stats":{"suites":1,"tests":1,"passes":1},"tests":[{"title":"a","fullTitle":"a",'
    '"err":{}}],"pending":[],"failures":[],"passes":[]}',
    "ctrf": '{"reportFormat":"CTRF","specVersion":"0.0.0","results":{"tool":{"name":"x"},'
    '"summary":{"tests":1},"tests":[{"name":"a","status":"passed","duration":1}]}}',
    "cucumber": '[{"id":"f","uri":"features/a.feature","keyword":"Feature","name":"A",'
    '"elements":[{"name":"s","type":"scenario","steps":[]}]}]',
    "cucumber-messages": '{"meta":{"protocolVersion":"22.0.0","implementation":{"name":"x"}}}\n'
    '{"source":{"uri":"a.feature","data":"Feature: A"}}\n',
    "playwright": '{"config":{"rootDir":"/x"},"suites":[{"title":"a.spec.ts","specs":[]}],'
    '"errors":[],"stats":{"expected":1}}',
    "junit": '<?xml version="1.0"?><testsuite name="x" tests="1"><testcase name="a"/></testsuite>',
    "go-text": "ok  \texample.com/x\t0.012s\n?   \texample.com/y\t[no test files]\n",
    "go-verbose-text": "=== RUN   TestA\n--- PASS: TestA (0.00s)\nPASS\nok  \tx\t0.01s\n",
    "ndjson": '{"level":"info","msg":"started","time":"2024-01-01T00:00:00Z"}\n',
    "yaml": "1.2.3: version\nname: x\n",
    "empty": "",
}


@pytest.mark.parametrize("path", other_fixtures(), ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_other_formats_fixtures_are_not_claimed(path: Path) -> None:
    head = path.read_bytes()[:SNIFF_BYTES]
    assert [n for n in MINE if get_format(n).sniff(head, path.name)] == []


@pytest.mark.parametrize("kind", sorted(OTHER_SAMPLES))
def test_other_documents_are_not_claimed(kind: str) -> None:
    head = OTHER_SAMPLES[kind].encode()
    assert [n for n in MINE if get_format(n).sniff(head, "report.json")] == []


def padded(prefix: str, unit: str, total: int = SNIFF_BYTES * 2) -> bytes:
    return (prefix + unit * (total // len(unit))).encode()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        (
            "gotest",
            (
                '{"Time":"2024-01-01T00:00:00Z","Action":"output","Package":"p","Test":"TestA",'
                '"Output":"' + "x" * 70_000 + '\\n"}\n'
            ).encode(),
        ),
        ("gotest", padded("", '{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0}\n')),
        ("tap", padded("TAP version 14\n1..100000\n", "ok 1 - a test\n")),
        (
            "rspec",
            padded(
                '{"version":"3.13.0","examples":[',
                '{"id":"x","description":"d","full_description":"d","status":"passed"},',
            ),
        ),
        (
            "dart",
            padded(
                '{"protocolVersion":"0.1.1","runnerVersion":null,"pid":1,"type":"start","time":0}\n',
                '{"testID":1,"messageType":"print","message":"x","type":"print","time":1}\n',
            ),
        ),
    ],
    ids=["gotest-first-line-cut", "gotest", "tap", "rspec", "dart"],
)
def test_sniffing_copes_with_a_head_cut_at_64_kib(name: str, data: bytes) -> None:
    head = data[:SNIFF_BYTES]
    assert len(head) == SNIFF_BYTES
    assert get_format(name).sniff(head, "report")


# --- go test -json -----------------------------------------------------------------------------


def go_fixture(name: str = "gotest.json") -> etree._Element:
    return convert("gotest", (FIXTURES / "gotest" / name).read_bytes())


def test_go_subtests_are_cases_and_their_parents_are_not_counted_again() -> None:
    root = go_fixture()
    names = {c.get("name") for c in root.iter("testcase")}
    assert {"TestTable/one_plus_one", "TestTable/zero", "TestTable/wrong"} <= names
    assert {"TestNested/level1/level2", "TestNested/level1/skipped"} <= names
    assert names.isdisjoint({"TestTable", "TestNested", "TestNested/level1", "TestParallel"})
    wrong = case(root, "TestTable/wrong").find("failure")
    assert wrong.get("message") == "got 2, want 3"


def test_go_a_parent_that_fails_on_its_own_is_kept() -> None:
    parent = case(go_fixture(), "TestParentOwnFailure")
    assert parent.find("failure").get("message") == "the parent's own check failed"
    assert case(go_fixture(), "TestParentOwnFailure/sub_passes").find("failure") is None


def test_go_names_output_time_and_suite() -> None:
    root = go_fixture()
    unicode = case(root, "TestUnicodeÄöü_日本")
    assert unicode.get("classname") == "example.com/fx/calc"
    assert unicode.findtext("system-out") == "    calc_test.go:58: ünïcödé ✓\n"
    add = case(root, "TestAdd").findtext("system-out")
    assert "adding 1 and 2" in add and "=== RUN" not in add and "--- PASS" not in add
    assert case(root, "TestParallel/a").get("time") == "0.01"
    skipped = case(root, "TestSkipped").find("skipped")
    assert skipped.get("message") == "not ready yet"
    suite = next(s for s in root.iter("testsuite") if s.get("name") == "example.com/fx/calc")
    assert suite.get("timestamp").startswith("2026-12-01T")
    assert float(suite.get("time")) > 0
    assert "FAIL\texample.com/fx/calc" in suite.findtext("system-out")
    assert "example.com/fx/notests" not in {s.get("name") for s in root.iter("testsuite")}


def test_go_a_panic_is_the_failure_message() -> None:
    failure = case(go_fixture(), "TestPanic").find("failure")
    assert failure.get("message") == "panic: assignment to entry in nil map [recovered]"
    assert "goroutine" in failure.text


@pytest.mark.parametrize("fixture", ["gotest.json", "gotest-combined.json"])
def test_go_a_build_failure_is_an_error_case(fixture: str) -> None:
    error = case(go_fixture(fixture), "[build failed]").find("error")
    assert error.getparent().get("classname") == "example.com/fx/broken"
    if fixture == "gotest-combined.json":  # the compiler's text was in the file (2>&1)
        assert error.get("message").startswith("broken/b.go:3:28: cannot use")
        assert "# example.com/fx/broken" in error.text
    else:
        assert error.get("message") == "build failed"


def test_go_a_timeout_and_a_failing_test_main_are_errors() -> None:
    root = go_fixture("gotest-crash.json")
    slow = case(root, "TestSlow").find("error")
    assert slow.get("message") == (
        "did not finish: the test binary stopped first (panic: test timed out after 2s)"
    )
    assert "starting a long sleep" in slow.text
    main = case(root, "[package failed]")
    assert main.get("classname") == "example.com/crash/badmain"
    assert "TestMain: forcing exit status 3" in main.find("error").text
    assert case(root, "TestFine").find("error") is None


def test_go_attributes_are_properties_and_a_silent_benchmark_passed() -> None:
    attrs = case(go_fixture("gotestsum-with-attributes.json"), "TestSomeAttributes")
    assert [(p.get("name"), p.get("value")) for p in attrs.iter("property")] == [
        ("hello", "world"),
        ("other", "side"),
    ]
    bench = case(go_fixture("gotestsum-benchmark-go1.20.json"), "BenchmarkDiscardLogInfoOneArg")
    assert len(bench) == 1 and bench[0].tag == "system-out"  # passed, with its result line
    assert "91.33 ns/op" in bench.findtext("system-out")


def test_go_1_24_build_events_explain_the_build_failure() -> None:
    # the event shapes of golang/go src/cmd/go/testdata/script/test_json_build.txt
    stream = lines(
        {
            "ImportPath": "m/builderror [m/builderror.test]",
            "Action": "build-output",
            "Output": "# m/builderror [m/builderror.test]\n",
        },
        {
            "ImportPath": "m/builderror [m/builderror.test]",
            "Action": "build-output",
            "Output": "builderror/main_test.go:3:11: undefined: y\n",
        },
        {"ImportPath": "m/builderror [m/builderror.test]", "Action": "build-fail"},
        {"Time": "2025-02-11T10:00:00Z", "Action": "start", "Package": "m/builderror"},
        {
            "Time": "2025-02-11T10:00:00Z",
            "Action": "output",
            "Package": "m/builderror",
            "Output": "FAIL\tm/builderror [build failed]\n",
        },
        {
            "Time": "2025-02-11T10:00:00Z",
            "Action": "fail",
            "Package": "m/builderror",
            "Elapsed": 0,
            "FailedBuild": "m/builderror [m/builderror.test]",
        },
    )
    assert gotest.sniff(stream.encode(), "report.json")
    error = case(convert("gotest", stream), "[build failed]").find("error")
    assert error.get("message") == "builderror/main_test.go:3:11: undefined: y"
    assert "undefined: y" in error.text


def test_go_before_1_24_a_run_where_nothing_builds_is_text_only() -> None:
    stream = (
        b"# example.com/x [example.com/x.test]\n"
        b"x/x.go:3:1: syntax error: non-declaration statement outside function body\n"
        b"FAIL\texample.com/x [build failed]\n"
        b"FAIL\texample.com/y [setup failed]\n"
    )
    assert gotest.sniff(stream, "report.json")
    assert [n for n in MINE if get_format(n).sniff(stream, "report.json")] == ["gotest"]
    root = convert("gotest", stream)
    assert counts(etree.tostring(root)) == (2, 0, 2, 0)
    x = case(root, "[build failed]")
    assert x.get("classname") == "example.com/x"
    assert x.find("error").get("message").startswith("x/x.go:3:1: syntax error")
    assert case(root, "[setup failed]").get("classname") == "example.com/y"


def test_go_a_test_run_twice_is_two_cases_and_stray_text_is_kept() -> None:
    run = [
        {"Action": "run", "Package": "p", "Test": "TestA"},
        {"Action": "pass", "Package": "p", "Test": "TestA", "Elapsed": 0.5},
    ]
    stream = "go: downloading example.com/dep v1.0.0\n" + lines(
        *run, *run, {"Action": "pass", "Package": "p", "Elapsed": 1}
    )
    conversion = gotest.convert(stream.encode())
    assert counts(conversion.xml) == (2, 0, 0, 0)
    assert "go: downloading" in etree.fromstring(conversion.xml).findtext("testsuite/system-err")
    assert conversion.warnings == (
        "1 line(s) that are not go test -json events were kept as the system-err of the first "
        "suite",
    )
    assert gotest.sniff(stream.encode(), "report.json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"Action":"run","Package":"p","Test":"T"}\n{"Action":"pass",', "line 2: not valid JSON"),
        ('{"Action":"run","Package":"p"}\n{"Package":"p"}\n', "line 2: not a go test -json event"),
        ('{"Action":"run","Package":"p","Test":7}\n', 'line 1: "Test" is not a string'),
        ('{"Action":"pass","Package":"p","Elapsed":"1s"}\n', 'line 1: "Elapsed" is not a number'),
        ('{"Action":"run","Test":"T"}\n', 'line 1: a "run" event without "Package"'),
        ("just some text\n", "no go test -json event found"),
    ],
)
def test_go_structurally_wrong_input_is_a_conversion_error(data: str, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        gotest.convert(data.encode())


# --- TAP ---------------------------------------------------------------------------------------


def tap_fixture(name: str) -> etree._Element:
    return convert("tap", (FIXTURES / "tap" / name).read_bytes())


def test_tap_names_are_exact() -> None:
    bats = tap_fixture("bats.tap")
    assert [c.get("name") for c in bats.iter("testcase")] == [
        "addition works",
        "a failing test",
        "skipped test",
        "unicode name: ünïcödé ✓ 日本",
        "test with # hash in name",  # bats does not escape '#'; no directive follows it
    ]
    perl = {c.get("name") for c in tap_fixture("perl.tap").iter("testcase")}
    assert "name with # hash and \\ backslash" in perl  # Test::More's \# and \\ undone
    assert "test 3" in perl  # "ok 3 # skip ..." has no description
    node = {c.get("name") for c in tap_fixture("node.tap").iter("testcase")}
    assert {"child # two", "ünïcödé ✓ 日本 name"} <= node


def test_tap_todo_and_skip() -> None:
    root = tap_fixture("perl-merged.tap")
    todo = case(root, "known bug").find("skipped")
    assert todo.get("message") == "TODO: not fixed yet"
    assert "Failed (TODO) test 'known bug'" in todo.text
    passed_todo = case(root, "todo that passes")
    assert len(passed_todo.findall("skipped")) == 0
    assert [(p.get("name"), p.get("value")) for p in passed_todo.iter("property")] == [
        ("tap:todo", "not fixed yet")
    ]
    assert case(root, "test 3").find("skipped").get("message") == "no network here"
    failure = case(root, "arithmetic is broken").find("failure")
    assert failure.get("message") == "Failed test 'arithmetic is broken'"
    assert "expected: '5'" in failure.text
    bats13 = tap_fixture("bats-tap13.tap")  # bats writes a skip as "not ok ... # SKIP"
    assert case(bats13, "skipped test").find("skipped").get("message") == "not implemented yet"


def test_tap_subtests_are_nested_suites() -> None:
    root = tap_fixture("node.tap")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == [
        "TAP",
        "TAP / a suite",
        "TAP / a suite / inner suite",
        "TAP / parent test with subtests",
    ]
    deep = case(root, "deeply nested fails")
    assert deep.get("classname") == "TAP / a suite / inner suite"
    failure = deep.find("failure")
    assert (failure.get("message"), failure.get("type")) == ("bad type", "TypeError")
    assert "stack: |-" in failure.text
    assert suites["TAP / parent test with subtests"].get("time") == "0.000694"
    assert case(root, "adds numbers").get("time") == "0.000928"  # duration_ms 0.927707
    assert "tests 10" in suites["TAP"].findtext("system-out")  # node's trailer
    perl = tap_fixture("perl.tap")
    assert case(perl, "inner fail").get("classname") == "TAP / a subtest"


def test_tap_bail_out_is_an_error_and_plan_mismatches_are_said() -> None:
    bail = case(tap_fixture("perl-bail.tap"), "Bail out!").find("error")
    assert bail.get("message") == "database is down"
    short = convert("tap", "1..3\nok 1 - a\nok 2 - b\n")
    assert case(short, "[plan]").find("error").get("message") == "planned 3 tests, ran 2"
    cut = convert("tap", "TAP version 13\nok 1 - a\nnot ok 2 - b\n")
    assert counts(etree.tostring(cut)) == (3, 1, 1, 0)
    assert "no plan" in case(cut, "[plan]").find("error").get("message")


def test_tap_a_failed_parent_with_no_failing_subtest_is_kept_and_todo_reaches_subtests() -> None:
    stream = (
        "TAP version 14\n"
        "# Subtest: hooked\n"
        "    1..1\n"
        "    ok 1 - the only test\n"
        "not ok 1 - hooked\n"
        "  ---\n"
        "  error: 'after hook failed'\n"
        "  ...\n"
        "# Subtest: short\n"
        "    1..2\n"
        "    ok 1 - only one ran\n"
        "not ok 2 - short\n"
        "# Subtest: later\n"
        "    1..1\n"
        "    not ok 1 - not written yet\n"
        "not ok 3 - later # TODO next sprint\n"
        "1..3\n"
    )
    root = convert("tap", stream)
    assert counts(etree.tostring(root)) == (5, 1, 1, 1)
    assert case(root, "hooked").find("failure").get("message") == "after hook failed"
    plan = case(root, "[plan]")  # explains why "short" failed: not counted twice
    assert plan.get("classname") == "TAP / short"
    assert plan.find("error").get("message") == "planned 2 tests, ran 1"
    todo = case(root, "not written yet").find("skipped")
    assert todo.get("message") == "TODO: next sprint"


def test_tap_bail_out_in_a_subtest_keeps_what_ran_and_stops() -> None:
    stream = (
        "TAP version 14\n"
        "1..3\n"
        "# Subtest: setup\n"
        "ok 1 - not a subtest: the header above heads this line only\n"
        "    1..3\n"
        "    ok 1 - first\n"
        "    Bail out! disk full\n"
        "ok 2 - never read\n"
    )
    root = convert("tap", stream)
    assert counts(etree.tostring(root)) == (3, 0, 1, 0)
    bail = case(root, "Bail out!")
    assert bail.get("classname") == "TAP / (subtest)"
    assert bail.find("error").get("message") == "disk full"
    assert case(root, "first").get("classname") == "TAP / (subtest)"


def test_tap_odd_lines() -> None:
    stream = (
        "# a header comment\n"
        "1..2\n"
        "ok 1 - first\n"
        "some program output\n"
        "not ok 2 - second\n"
        "  ---\n"
        "  message: [unclosed\n"
        "  ...\n"
    )
    conversion = tap.convert(stream.encode())
    root = etree.fromstring(conversion.xml)
    assert case(root, "first").findtext("system-out") == "some program output"
    assert conversion.warnings == (
        "the YAML block of 'second' is not YAML (line 1 of the block); kept as text",
    )
    assert "message: [unclosed" in case(root, "second").find("failure").text
    skipped_all = convert("tap", "1..0 # SKIP no database\n")
    assert counts(etree.tostring(skipped_all)) == (0, 0, 0, 0)
    assert "no database" in skipped_all.findtext("testsuite/system-out")


def test_tap_sniffing() -> None:
    for head in ("TAP version 14\n", "1..3\nok 1\n", "ok 1 - a\n", "not ok 1\n", "# c\nok - x\n"):
        assert tap.sniff(head.encode(), "x.log"), head
    for head in ("ok  \texample.com/x\t0.1s\n", "okay\n", "Running tests\n1..3\n", "{}\n"):
        assert not tap.sniff(head.encode(), "x.tap"), head


def test_tap_forced_on_something_else_is_a_conversion_error() -> None:
    with pytest.raises(ConversionError, match="no TAP plan"):
        tap.convert(b"hello\nworld\n")


# --- RSpec -------------------------------------------------------------------------------------


def test_rspec_mapping() -> None:
    root = convert("rspec", (FIXTURES / "rspec" / "rspec.json").read_bytes())
    assert [s.get("name") for s in root.iter("testsuite")] == [
        "spec/calculator_spec.rb",
        "spec/other_spec.rb",
    ]
    unicode = case(root, "Calculator#add handles ünïcödé ✓ 日本 names")
    assert unicode.get("classname") == "spec.calculator_spec"
    failure = case(root, "Calculator#add fails on purpose").find("failure")
    assert failure.get("type") == "RSpec::Expectations::ExpectationNotMetError"
    assert failure.get("message").startswith("expected: 5")
    assert "calculator_spec.rb:13" in failure.text
    error = case(root, "Calculator#div when dividing by zero errors outside an expectation")
    assert error.find("failure").get("type") == "ZeroDivisionError"  # RSpec: a failure too
    fixed = case(root, "Other fixed pending").find("failure")
    assert fixed.get("type") == "RSpec::Core::Pending::PendingExampleFixedError"
    assert case(root, "Calculator#add is an xit").find("skipped").get("message") == (
        "Temporarily skipped with xit"
    )
    assert case(root, "Calculator#add adds two numbers").get("time") == "0.00028"


def test_rspec_errors_outside_examples_and_seed() -> None:
    root = convert("rspec", (FIXTURES / "rspec" / "rspec-load-error.json").read_bytes())
    error = next(root.iter("testcase"))
    assert error.getparent().get("name") == "spec/broken_spec.rb"
    assert error.find("error").get("message") == (
        "LoadError: cannot load such file -- a_gem_that_does_not_exist"
    )
    doc = {
        "version": "3.13.0",
        "seed": 4242,
        "messages": ["Run options: include {:focus=>true}"],
        "examples": [],
        "summary": {"example_count": 1, "errors_outside_of_examples_count": 0},
    }
    conversion = rspec.convert(json.dumps(doc).encode())
    suite = etree.fromstring(conversion.xml).find("testsuite")
    assert conversion.warnings == ("the RSpec summary counts 1 example(s), the report lists 0",)
    assert suite.findtext("system-out") is None  # no suite to carry it: no examples


def test_rspec_sniffs_sorted_keys_too() -> None:
    doc = json.loads((FIXTURES / "rspec" / "rspec.json").read_bytes())
    assert rspec.sniff(json.dumps(doc, sort_keys=True).encode(), "r.json")
    assert rspec.sniff(json.dumps(doc, indent=2).encode(), "r.json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"version":"3.12.0","examples":[', "not valid JSON"),
        ('{"version":"3.12.0","examples":{}}', 'no "examples" list'),
        (
            '{"version":"3.12.0","examples":[{"full_description":"a","status":"broken"}]}',
            r"examples\[0\]: \"status\" is 'broken'",
        ),
        ('{"version":"3.12.0","examples":[{"status":"passed"}]}', 'has no "full_description"'),
    ],
)
def test_rspec_structurally_wrong_input_is_a_conversion_error(data: str, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        rspec.convert(data.encode())


# --- Dart ----------------------------------------------------------------------------------------


START = {"protocolVersion": "0.1.1", "runnerVersion": None, "pid": 1, "type": "start", "time": 0}


def dart_test(test_id: int, name: str, at: int, suite: int = 0) -> dict[str, object]:
    return {
        "test": {
            "id": test_id,
            "name": name,
            "suiteID": suite,
            "groupIDs": [],
            "metadata": {"skip": False, "skipReason": None},
        },
        "type": "testStart",
        "time": at,
    }


def dart_done(test_id: int, result: str, at: int, *, hidden: bool = False) -> dict[str, object]:
    return {
        "testID": test_id,
        "result": result,
        "skipped": False,
        "hidden": hidden,
        "type": "testDone",
        "time": at,
    }


def test_dart_mapping() -> None:
    root = convert("dart", (FIXTURES / "dart" / "dorny-dart-json.json").read_bytes())
    names = [c.get("name") for c in root.iter("testcase")]
    assert not any(n.startswith("loading ") for n in names)  # hidden
    assert case(root, "Test 1 Test 1.1 Failing test").find("failure").get("message") == (
        "Expected: <2>"
    )
    timeout = case(root, "Timeout test")
    assert timeout.find("error").get("message").startswith("TimeoutException after")
    assert timeout.get("time") == "0.037"  # 3692 - 3655 ms
    assert timeout.get("classname") == "test\\second_test.dart"
    assert case(root, "Skipped test").find("skipped").get("message") == "skipped test"


def test_dart_flutter_machine_output_with_text_before_and_protocol_edge_cases() -> None:
    suite = {
        "suite": {"id": 0, "platform": "vm", "path": "test/widget_test.dart"},
        "type": "suite",
        "time": 0,
    }
    stream = "Resolving dependencies...\nGot dependencies!\n" + lines(
        START,
        suite,
        dart_test(1, "loading test/widget_test.dart", 1),
        dart_done(1, "success", 5, hidden=True),
        dart_test(2, "(setUpAll)", 6),
        dart_done(2, "success", 7, hidden=True),
        dart_test(3, "counter increments ✓", 8),
        {"testID": 3, "messageType": "print", "message": "hello", "type": "print", "time": 9},
        dart_done(3, "success", 10),
        {
            "testID": 3,
            "error": "Bad state: late",
            "stackTrace": "x.dart 1:1",
            "isFailure": False,
            "type": "error",
            "time": 11,
        },
        dart_test(4, "hangs", 12),
        {"success": False, "type": "done", "time": 20},
    )
    assert dart.sniff(stream.encode(), "out.json")
    root = convert("dart", stream)
    assert counts(etree.tostring(root)) == (2, 0, 2, 0)
    late = case(root, "counter increments ✓")
    assert late.find("error").get("message") == "failed after it had completed: Bad state: late"
    assert late.findtext("system-out") == "hello\n"
    assert case(root, "hangs").find("error").get("message").startswith("did not finish")


def test_dart_a_file_that_does_not_compile_and_a_failed_run_with_no_failure() -> None:
    suite = {
        "suite": {"id": 0, "platform": "vm", "path": "test/a_test.dart"},
        "type": "suite",
        "time": 0,
    }
    stream = lines(
        START,
        suite,
        dart_test(1, "loading test/a_test.dart", 1),
        {
            "testID": 1,
            "error": 'Failed to load "test/a_test.dart":\nCompilation failed',
            "stackTrace": "",
            "isFailure": False,
            "type": "error",
            "time": 2,
        },
        dart_done(1, "error", 3),
        {"success": False, "type": "done", "time": 4},
    )
    loading = case(convert("dart", stream), "loading test/a_test.dart").find("error")
    assert loading.get("message") == 'Failed to load "test/a_test.dart":'
    empty_failed = convert("dart", lines(START, {"success": False, "type": "done", "time": 1}))
    assert case(empty_failed, "[run failed]").find("error") is not None
    cut = dart.convert(lines(START, suite).encode())
    assert cut.warnings == ('the Dart run has no "done" event: the stream may be cut short',)


def test_dart_platforms_make_separate_suites() -> None:
    stream = lines(
        START,
        {"suite": {"id": 0, "platform": "vm", "path": "test/a_test.dart"}, "type": "suite"},
        {"suite": {"id": 1, "platform": "chrome", "path": "test/a_test.dart"}, "type": "suite"},
        dart_test(2, "a", 1, suite=0),
        dart_done(2, "success", 2),
        dart_test(3, "a", 1, suite=1),
        dart_done(3, "success", 2),
        {"success": True, "type": "done", "time": 3},
    )
    names = [s.get("name") for s in convert("dart", stream).iter("testsuite")]
    assert names == ["test/a_test.dart [vm]", "test/a_test.dart [chrome]"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (lines({"type": "suite", "suite": {"id": 0}}), "the first event is not the reporter"),
        (lines(START) + "{not json\n", "line 2: not valid JSON"),
        (lines(START, dart_done(9, "success", 1)), 'a "testDone" event for test 9, never started'),
        (lines(START, dart_test(1, "a", 1, suite=5)), "names suite 5, never seen"),
        (lines(START, {"type": "suite"}), 'a "suite" event without "suite"'),
        ("no json at all\n", "no Dart JSON reporter event found"),
    ],
)
def test_dart_structurally_wrong_input_is_a_conversion_error(data: str, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        dart.convert(data.encode())
