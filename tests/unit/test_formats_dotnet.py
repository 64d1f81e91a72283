"""The .NET converters (TRX, NUnit, xUnit.net): sniffing and conversion, on real sample files
(tests/fixtures/formats/*/SOURCES.md) and on small documents for the cases they lack."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lxml import etree

from jux_submit.formats import (
    SNIFF_BYTES,
    ConversionError,
    convert_file,
    get_format,
    nunit,
    sniff,
    trx,
    xunit,
)
from jux_submit.formats.junit import SOURCE_FORMAT

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
TRX_NS = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"


def counts(xml: bytes) -> tuple[int, int, int, int]:
    """(tests, failures, errors, skipped) counted the way the server counts: by a case's first
    outcome child."""
    root = etree.fromstring(xml)
    found = [0, 0, 0, 0]
    for case in root.iter("testcase"):
        found[0] += 1
        tags = [child.tag for child in case]
        for index, tag in ((1, "failure"), (2, "error"), (3, "skipped")):
            if tag in tags:
                found[index] += 1
                break
    return found[0], found[1], found[2], found[3]


def cases(xml: bytes) -> dict[str, etree._Element]:
    """The test cases by ``classname::name`` (asserting that no two share one)."""
    found: dict[str, etree._Element] = {}
    for case in etree.fromstring(xml).iter("testcase"):
        key = f"{case.get('classname')}::{case.get('name')}"
        assert key not in found, f"two test cases are {key}"
        found[key] = case
    return found


def props(case: etree._Element) -> list[tuple[str | None, str | None]]:
    return [(p.get("name"), p.get("value")) for p in case.iterfind("properties/property")]


def convert(format_name: str, data: bytes | str) -> tuple[bytes, tuple[str, ...]]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    conversion = get_format(format_name).convert(raw)
    assert conversion.source_format == format_name
    return conversion.xml, conversion.warnings


# --- the real sample files -------------------------------------------------------------------

#: (folder, file, (tests, failures, errors, skipped), number of warnings); the counts follow
#: from each file's own counters as SOURCES.md explains
SAMPLES = [
    ("trx", "dotnet-trx.trx", (7, 3, 0, 1), 0),
    ("trx", "pickles-mstest.trx", (4, 1, 0, 0), 0),
    ("trx", "dotnet-trx-unknown-outcome.trx", (3, 0, 1, 1), 0),
    ("trx", "dotnet-trx-run-aborted.trx", (1 + 1, 0, 1, 0), 1),
    ("trx", "dotnet-trx-empty-test-definitions.trx", (0, 0, 0, 0), 1),
    ("nunit", "dotnet-nunit.xml", (9, 5 - 3, 3, 1), 0),
    ("nunit", "nunit-sample.xml", (18 + 1, 2 - 1, 1 + 2 + 1, 3 - 2 + 1), 2),
    ("nunit", "mock-assembly-2.6.2.xml", (21 + 7, 1, 1 + 3, 4 + 1), 0),
    ("nunit", "pickles-nunit2.xml", (4, 1, 0, 0), 0),
    ("xunit", "jenkinsci-testcase1.xml", (3, 1, 0, 1), 0),
    ("xunit", "jenkinsci-testcase3-decimal-comma.xml", (3, 1, 0, 1), 0),
    ("xunit", "jenkinsci-testcase5-output.xml", (5, 0, 0, 0), 0),
    ("xunit", "pickles-xunit-v1.xml", (4, 1, 0, 0), 0),
]


@pytest.mark.parametrize(("folder", "name", "expected", "warnings"), SAMPLES)
def test_sample_is_sniffed_and_converted_with_its_own_counts(
    folder: str, name: str, expected: tuple[int, int, int, int], warnings: int
) -> None:
    data = (FIXTURES / folder / name).read_bytes()
    found = sniff(data[:SNIFF_BYTES], name)
    assert found is not None and found.name == folder
    xml, said = convert(folder, data)
    assert counts(xml) == expected
    assert len(said) == warnings, said
    first = etree.fromstring(xml).find("testsuite")
    assert first is not None
    assert (SOURCE_FORMAT, folder) in props(first)


def test_every_sample_file_is_listed_in_its_sources() -> None:
    listed = {(folder, name) for folder, name, _, _ in SAMPLES}
    for folder in ("trx", "nunit", "xunit"):
        sources = (FIXTURES / folder / "SOURCES.md").read_text(encoding="utf-8")
        for path in sorted((FIXTURES / folder).iterdir()):
            if path.name == "SOURCES.md":
                continue
            assert f"`{path.name}`" in sources, path
            assert (folder, path.name) in listed or path.name == "NUnit-sec1752-file.xml"


def test_convert_file_converts_a_sample_and_hashes_the_original() -> None:
    source = FIXTURES / "trx" / "dotnet-trx.trx"
    converted = convert_file(source, "dotnet-trx.trx")
    assert converted is not None
    assert converted.conversion.source_format == "trx"
    assert len(converted.source_sha256) == 64


# --- sniffing -------------------------------------------------------------------------------

SNIFF_CASES = [
    # (head, file name, format it is, or None)
    (b'<?xml version="1.0"?>\n<TestRun id="x" xmlns="' + TRX_NS.encode() + b'">', "r.trx", "trx"),
    (b'<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2006">', "a.xml", "trx"),
    (b'<t:TestRun xmlns:t="' + TRX_NS.encode() + b'" name="a > b">', "a.xml", "trx"),
    (b"<TestRun>", "run.trx", "trx"),  # hand-made TRX without namespace, named .trx
    (b"<TestRun>", "run.xml", None),  # ... but not as .xml
    (b'<TestRun xmlns="urn:other">', "run.trx", None),
    (
        b'<?xml version="1.0"?><!-- c --><test-run id="2" testcasecount="1">',
        "TestResult.xml",
        "nunit",
    ),
    (b"\xef\xbb\xbf<test-results name='x' total='1'>", "TestResult.xml", "nunit"),
    (b'<!DOCTYPE test [<!ENTITY x SYSTEM "f">]>\n<test-results name="x">', "r.xml", "nunit"),
    (b'<test-run xmlns="urn:x">', "r.xml", None),
    (b"<assemblies timestamp='06/15/2018 18:09:29'>\n  <assembly", "results.xml", "xunit"),
    (b"<assemblies/>", "results.xml", "xunit"),
    (b'<!-- v1 -->\n<assembly name="a.dll" run-date="2012-01-14" total="4">', "a.xml", "xunit"),
    (b"<assembly>\n  <id>bin</id>\n  <formats>", "assembly.xml", None),  # Maven, old style
    (b'<assembly xmlns="http://maven.apache.org/ASSEMBLY/2.1.0" total="1">', "a.xml", None),
    (b'<?xml version="1.0"?>\n<testsuites><testsuite name="x">', "TEST-x.xml", None),
    (b'{"results": {"tool": {"name": "jest"}}}', "ctrf.json", None),
    (b"<?xml version='1.0'?><!-- never closed", "r.trx", None),
    (b"", "r.trx", None),
]


@pytest.mark.parametrize(("head", "name", "expected"), SNIFF_CASES)
def test_sniffers_know_their_root_element_and_nothing_else(
    head: bytes, name: str, expected: str | None
) -> None:
    said = {module.NAME for module in (trx, nunit, xunit) if module.sniff(head, name)}
    assert said == ({expected} if expected else set())


def test_a_utf16_trx_is_sniffed_from_its_first_bytes() -> None:
    head = f'<?xml version="1.0" encoding="utf-16"?>\n<TestRun xmlns="{TRX_NS}">'
    assert trx.sniff(head.encode("utf-16"), "r.trx")


@pytest.mark.parametrize(
    "head",
    [
        b"<!DOCTYPE x [" + b"[]" * (SNIFF_BYTES // 2),
        b"<!DOCTYPE " + b"[" * SNIFF_BYTES,
        b"<!--" + b"-" * SNIFF_BYTES,
        b"<?" + b"?" * SNIFF_BYTES,
        b'<TestRun a="' + b'"' * SNIFF_BYTES,
        b"<TestRun " + b'a="b" ' * (SNIFF_BYTES // 6),
    ],
    ids=["subset", "brackets", "comment", "pi", "quotes", "attributes"],
)
def test_sniffing_a_hostile_head_stays_cheap(head: bytes) -> None:
    # the prolog and start-tag patterns are possessive: no head makes them backtrack
    started = time.perf_counter()
    for module in (trx, nunit, xunit):
        module.sniff(head[:SNIFF_BYTES], "r.trx")
    assert time.perf_counter() - started < 1.0


def test_sniffing_looks_only_at_the_root_start_tag() -> None:
    # the head ends in the middle of the document: the root alone decides
    head = (FIXTURES / "nunit" / "dotnet-nunit.xml").read_bytes()[:400]
    assert nunit.sniff(head, "TestResult.xml")
    assert not trx.sniff(head, "TestResult.xml") and not xunit.sniff(head, "TestResult.xml")


# --- refusing what is not a report ----------------------------------------------------------


@pytest.mark.parametrize("format_name", ["trx", "nunit", "xunit"])
def test_a_doctype_is_refused_before_any_entity_is_read(format_name: str) -> None:
    data = (FIXTURES / "nunit" / "NUnit-sec1752-file.xml").read_bytes()
    with pytest.raises(ConversionError, match="DOCTYPE"):
        get_format(format_name).convert(data)


@pytest.mark.parametrize(
    ("format_name", "data", "match"),
    [
        ("trx", b"<TestRun><Results><UnitTestResult", "not well-formed XML \\(line 1"),
        ("trx", b"<testsuites/>", "root element is <testsuites>, not <TestRun>"),
        ("nunit", b"<testsuites/>", "not <test-run>"),
        ("xunit", b"<testsuites/>", "not <assemblies>"),
        (
            "trx",
            b'<TestRun>\n<Results>\n<UnitTestResult outcome="Passed"/></Results></TestRun>',
            "<UnitTestResult> without testName \\(line 3\\)",
        ),
        (
            "trx",
            b'<TestRun><Results><UnitTestResult testName="t"/></Results></TestRun>',
            "without outcome",
        ),
        (
            "nunit",
            b'<test-run><test-suite type="TestFixture" name="F">\n<test-case name="t"/>'
            b"</test-suite></test-run>",
            "<test-case> without result \\(line 2\\)",
        ),
        ("nunit", b'<test-run><test-case name="t" result="Passed"/></test-run>', "outside any"),
        (
            "xunit",
            b'<assemblies><assembly><collection><test result="Pass"/></collection></assembly>'
            b"</assemblies>",
            "<test> without name",
        ),
        (
            "xunit",
            b'<assemblies><assembly><collection><test name="t"/></collection></assembly>'
            b"</assemblies>",
            "<test> without result",
        ),
    ],
)
def test_a_structurally_wrong_report_is_a_one_line_conversion_error(
    format_name: str, data: bytes, match: str
) -> None:
    with pytest.raises(ConversionError, match=match) as caught:
        get_format(format_name).convert(data)
    assert "\n" not in str(caught.value)


# --- TRX ------------------------------------------------------------------------------------


def test_trx_names_classes_times_messages_and_output() -> None:
    xml, _ = convert("trx", (FIXTURES / "trx" / "dotnet-trx.trx").read_bytes())
    found = cases(xml)
    cls = "DotnetTests.XUnitTests.CalculatorTests"
    assert f"{cls}::Custom Name" in found  # a DisplayName is kept as written
    failing = found[f"{cls}::{cls}.Failing_Test"]
    assert failing.get("time") == "0.003295"  # 00:00:00.0032953 is 3.2953 ms, not 32 s
    failure = failing.find("failure")
    assert failure is not None
    assert failure.get("message") == "Assert.Equal() Failure\r\nExpected: 3\r\nActual:   2"
    assert (failure.text or "").endswith("CalculatorTests.cs:line 27")
    assert (failure.text or "").startswith("Assert.Equal() Failure")
    skipped = found[f"{cls}::{cls}.Skipped_Test"]
    assert skipped.find("skipped") is not None
    assert skipped.findtext("system-out") == "Skipped test"
    suite = etree.fromstring(xml).find("testsuite")
    assert suite is not None
    assert suite.get("name") == cls and suite.get("hostname") == "DORNY-PC"
    assert suite.get("timestamp") == "2020-10-17T21:39:03.3285079+02:00"
    assert "Discovering: DotnetTests.XUnitTests" in (suite.findtext("system-out") or "")
    assert "[Error]" in (suite.findtext("system-err") or "")


def test_trx_old_mstest_class_names_lose_the_assembly_and_keep_their_properties() -> None:
    xml, _ = convert("trx", (FIXTURES / "trx" / "pickles-mstest.trx").read_bytes())
    found = cases(xml)
    case = found["Pickles.TestHarness.MSTest.AdditionFeature::AddingSeveralNumbers_40"]
    assert props(case) == [
        ("Description", "Adding several numbers"),
        ("FeatureTitle", "Addition"),
        ("VariantName", "40"),
        ("Parameter:Second Number", "50"),
        ("Parameter:Result", "90"),
        ("Parameter:First Number", "40"),
    ]


def test_trx_timeout_and_inconclusive_are_an_error_and_a_skip_that_say_so() -> None:
    xml, _ = convert("trx", (FIXTURES / "trx" / "dotnet-trx-unknown-outcome.trx").read_bytes())
    found = cases(xml)
    cls = "DotnetTests.XUnitTests.CalculatorTests"
    error = found[f"{cls}::{cls}.Timed_Out_Test"].find("error")
    assert error is not None and error.get("type") == "Timeout"
    assert (
        error.get("message") == "Timeout: Test 'Timed_Out_Test' exceeded execution timeout period."
    )
    assert found[f"{cls}::{cls}.Timed_Out_Test"].get("time") == "30"
    skipped = found[f"{cls}::{cls}.Inconclusive_Test"].find("skipped")
    assert skipped is not None and skipped.get("message") == "Inconclusive"


def test_trx_run_that_crashed_while_no_test_failed_is_not_green() -> None:
    xml, warnings = convert("trx", (FIXTURES / "trx" / "dotnet-trx-run-aborted.trx").read_bytes())
    run = cases(xml)["::(test run)"]
    error = run.find("error")
    assert error is not None
    assert (error.get("message") or "").startswith("The active test run was aborted.")
    assert "Test host process crashed" in warnings[0]


def _trx(results: str, definitions: str = "", summary: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<TestRun name="r" xmlns="{TRX_NS}">'
        '<TestSettings name="default"><Deployment runDeploymentRoot="u_H 2024"/></TestSettings>'
        f"<Results>{results}</Results><TestDefinitions>{definitions}</TestDefinitions>"
        f"{summary}</TestRun>"
    )


def test_trx_data_driven_rows_are_cases_and_the_parent_is_not_counted() -> None:
    doc = _trx(
        '<UnitTestResult testId="d" testName="Adds" outcome="Failed" duration="00:00:00.3"'
        ' resultType="DataDrivenTest"><InnerResults>'
        '<UnitTestResult testId="d" testName="Adds (1,2,3)" outcome="Passed"'
        ' resultType="DataDrivenDataRow" dataRowInfo="1" duration="00:00:00.1"/>'
        '<UnitTestResult testId="d" testName="Adds" outcome="Failed" dataRowInfo="2"'
        ' resultType="DataDrivenDataRow"><Output><ErrorInfo><Message>Assert.AreEqual failed.'
        "</Message></ErrorInfo></Output></UnitTestResult>"
        '<UnitTestResult testId="d" testName="Adds" outcome="Passed" dataRowInfo="3"/>'
        "</InnerResults></UnitTestResult>",
        '<UnitTest name="Adds" storage="c:\\b\\Calc.Tests.dll" id="d">'
        '<TestCategory><TestCategoryItem TestCategory="Math"/></TestCategory>'
        '<Owners><Owner name="ana"/></Owners>'
        '<TestMethod className="Calc.Tests.AdderTests, Calc.Tests" name="Adds"/></UnitTest>',
    )
    xml, _ = convert("trx", doc)
    assert counts(xml) == (3, 1, 0, 0)
    found = cases(xml)
    assert set(found) == {
        "Calc.Tests.AdderTests::Adds (1,2,3)",
        "Calc.Tests.AdderTests::Adds (Data Row 2)",
        "Calc.Tests.AdderTests::Adds (Data Row 3)",
    }
    assert props(found["Calc.Tests.AdderTests::Adds (1,2,3)"]) == [
        ("Owner", "ana"),
        ("Category", "Math"),
    ]


def test_trx_unicode_names_warnings_unknown_outcomes_and_result_files() -> None:
    name = 'Prüfe_Ünïcödé ✓ 日本語(text: "a&b")'
    escaped = name.replace("&", "&amp;").replace('"', "&quot;")
    doc = _trx(
        f'<UnitTestResult testId="u" testName="{escaped}"'
        ' outcome="Passed" relativeResultsDirectory="e1"><ResultFiles>'
        '<ResultFile path="H\\screen shot.png"/><ResultFile path="C:\\logs\\run.log"/>'
        "</ResultFiles></UnitTestResult>"
        '<UnitTestResult testId="w" testName="Warns" outcome="Warning"><Output><ErrorInfo>'
        "<Message>slow disk</Message></ErrorInfo></Output></UnitTestResult>"
        '<UnitTestResult testId="f" testName="Future" outcome="FutureProducerValue"/>'
        '<UnitTestResult testId="n" testName="Stopped" outcome="NotRunnable"/>',
        '<UnitTest id="u" name="u"><TestMethod className="Ns.Tëst" name="u"/></UnitTest>',
    )
    xml, warnings = convert("trx", doc)
    assert counts(xml) == (4, 0, 2, 0)
    found = cases(xml)
    unicode_case = found[f"Ns.Tëst::{name}"]
    assert props(unicode_case) == [
        ("attachment", "u_H 2024/In/e1/H/screen shot.png"),
        ("attachment", "C:\\logs\\run.log"),
    ]
    assert ("warning", "slow disk") in props(found["::Warns"])
    assert [c.tag for c in found["::Warns"]] == ["properties"]  # passed, with a property
    future = found["::Future"].find("error")
    assert future is not None and future.get("type") == "FutureProducerValue"
    stopped = found["::Stopped"].find("error")
    assert stopped is not None and stopped.get("type") == "NotRunnable"
    assert warnings == (
        "the TRX report has outcomes jux-submit does not know, reported as errors: "
        "FutureProducerValue",
    )


def test_trx_failed_run_with_failed_tests_gets_no_extra_case() -> None:
    summary = '<ResultSummary outcome="Failed"><Counters total="1" failed="1"/></ResultSummary>'
    xml, warnings = convert(
        "trx", _trx('<UnitTestResult testName="t" outcome="Failed"/>', "", summary)
    )
    assert counts(xml) == (1, 1, 0, 0) and warnings == ()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("00:00:01.2340000", 1.234),
        ("00:00:00.0000001", 0.0000001),
        ("01:02:03", 3723.0),
        ("1.02:03:04.5", 93784.5),
        ("", None),
        (None, None),
        ("1.5", None),
        ("00:61", None),
    ],
)
def test_trx_durations_are_timespans(value: str | None, seconds: float | None) -> None:
    assert trx.parse_duration(value) == (pytest.approx(seconds) if seconds is not None else None)


# --- NUnit ----------------------------------------------------------------------------------


def test_nunit3_outcomes_names_properties_and_exception_types() -> None:
    xml, _ = convert("nunit", (FIXTURES / "nunit" / "dotnet-nunit.xml").read_bytes())
    cls = "DotnetTests.XUnitTests.CalculatorTests"
    found = cases(xml)
    assert f"{cls}::Is_Even_Number(2)" in found and f"{cls}::Is_Even_Number(3)" in found
    error = found[f"{cls}::Exception_In_TargetTest"].find("error")
    assert error is not None and error.get("type") == "System.DivideByZeroException"
    timeout = found[f"{cls}::Timeout_Test"].find("error")
    assert timeout is not None and timeout.get("type") == "Timeout"
    assert timeout.get("message") == "Test exceeded Timeout value 1ms."
    assert props(found[f"{cls}::Timeout_Test"]) == [("Timeout", "1")]
    skipped = found[f"{cls}::Skipped_Test"].find("skipped")
    assert skipped is not None and skipped.get("message") == "Skipped"
    assert props(found[f"{cls}::Skipped_Test"]) == []  # NUnit's own _SKIPREASON is left out
    failure = found[f"{cls}::Failing_Test"].find("failure")
    assert failure is not None
    assert failure.get("message") == "Expected: 3\n  But was:  2"
    suites = etree.fromstring(xml).findall("testsuite")
    assert [s.get("name") for s in suites] == [cls]  # the theory is folded into its fixture
    assert suites[0].get("hostname") == "DORNY-PC" and suites[0].get("time") == "0.075896"


def test_nunit3_parameterized_and_generic_fixtures_are_suites_of_their_own() -> None:
    xml, _ = convert("nunit", (FIXTURES / "nunit" / "nunit-sample.xml").read_bytes())
    names = [s.get("name") for s in etree.fromstring(xml).findall("testsuite")]
    assert names == [
        "NUnit.Tests.Assemblies.MockTestFixture",
        "NUnit.Tests.BadFixture",
        "NUnit.Tests.FixtureWithTestCases",
        "NUnit.Tests.ParameterizedFixture(42)",
        "NUnit.Tests.ParameterizedFixture(5)",
        "NUnit.Tests.Singletons.OneTestCase",
        "NUnit.Tests.TestAssembly.MockTestFixture",
    ]
    found = cases(xml)
    invalid = found["NUnit.Tests.Assemblies.MockTestFixture::MockTest5"].find("error")
    assert invalid is not None and invalid.get("type") == "Invalid"
    assert invalid.get("message") == "Method is not public"
    inconclusive = found["NUnit.Tests.Assemblies.MockTestFixture::InconclusiveTest"]
    assert inconclusive.find("skipped") is not None
    assert props(found["NUnit.Tests.Assemblies.MockTestFixture::MockTest3"]) == [
        ("Category", "AnotherCategory"),
        ("Category", "MockCategory"),
    ]
    bad = found["NUnit.Tests.BadFixture::(fixture)"].find("error")
    assert bad is not None and bad.get("message") == "No suitable constructor was found"
    assert "NUnit.Tests.FixtureWithTestCases::MethodWithParameters(9,11)" in found


def _nunit3(suite_body: str, **fixture: str) -> str:
    attrs = " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in fixture.items())
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<test-run id="2" result="Failed">'
        '<test-suite type="Assembly" name="A.Tests.dll" fullname="/b/A.Tests.dll">'
        '<environment machine-name="büild-01"/>'
        f'<test-suite type="TestFixture" name="F" fullname="A.Tests.F" {attrs}>'
        f"{suite_body}</test-suite></test-suite></test-run>"
    )


def test_nunit3_one_time_teardown_failure_is_an_error_case() -> None:
    doc = _nunit3(
        "<failure><message><![CDATA[TearDown : System.IO.IOException : disk full]]></message>"
        "<stack-trace><![CDATA[at A.Tests.F.Cleanup()]]></stack-trace></failure>"
        '<test-case name="Ok" fullname="A.Tests.F.Ok" result="Passed" duration="0.5"/>',
        result="Failed",
        label="Error",
        site="TearDown",
    )
    xml, warnings = convert("nunit", doc)
    assert counts(xml) == (2, 0, 1, 0)
    error = cases(xml)["A.Tests.F::(OneTimeTearDown)"].find("error")
    assert (
        error is not None and error.get("message") == "TearDown : System.IO.IOException : disk full"
    )
    assert "at A.Tests.F.Cleanup()" in (error.text or "")
    assert "(OneTimeTearDown)" in warnings[0]


def test_nunit3_setup_failure_carried_by_its_cases_adds_nothing() -> None:
    doc = _nunit3(
        "<failure><message>OneTimeSetUp: boom</message></failure>"
        '<test-case name="T" fullname="A.Tests.F.T" result="Failed" label="Error" site="Parent">'
        "<failure><message>OneTimeSetUp: boom</message></failure></test-case>",
        result="Failed",
        label="Error",
        site="SetUp",
    )
    xml, warnings = convert("nunit", doc)
    assert counts(xml) == (1, 0, 1, 0) and warnings == ()


def test_nunit3_an_assembly_that_failed_to_load_is_not_an_empty_green_run() -> None:
    doc = (
        '<test-run id="2" result="Failed" total="0"><test-suite type="Assembly" name="Gone.dll"'
        ' fullname="/b/Gone.dll" runstate="NotRunnable" result="Failed" label="Invalid">'
        "<reason><message><![CDATA[File not found: /b/Gone.dll]]></message></reason>"
        "</test-suite></test-run>"
    )
    xml, warnings = convert("nunit", doc)
    assert counts(xml) == (1, 0, 1, 0)
    error = cases(xml)["Gone.dll::(fixture)"].find("error")
    assert error is not None and error.get("message") == "File not found: /b/Gone.dll"
    assert len(warnings) == 1


def test_nunit3_warning_output_attachments_and_unicode_names() -> None:
    doc = _nunit3(
        '<test-case name="Grüße(&quot;日本&quot;, 1.5d)" classname="A.Tests.F" result="Warning">'
        "<reason><message><![CDATA[Warn: slow]]></message></reason>"
        "<output><![CDATA[hello\nwörld]]></output>"
        "<attachments><attachment><filePath>/tmp/a b.png</filePath></attachment></attachments>"
        "</test-case>"
        '<test-case name="E" result="Skipped" label="Explicit"/>'
        '<test-case name="C" result="Failed" label="Cancelled"/>'
        '<test-case name="Odd" result="Mystery"/>',
        result="Passed",
        start_time="2024-01-01T10:00:00Z",
        duration="1.25",
    )
    xml, warnings = convert("nunit", doc)
    assert counts(xml) == (4, 0, 2, 1)
    found = cases(xml)
    case = found['A.Tests.F::Grüße("日本", 1.5d)']
    assert [c.tag for c in case] == ["properties", "system-out"]
    assert props(case) == [("warning", "Warn: slow"), ("attachment", "/tmp/a b.png")]
    assert case.findtext("system-out") == "hello\nwörld"
    explicit = found["A.Tests.F::E"].find("skipped")
    assert explicit is not None and explicit.get("message") == "Explicit"
    cancelled = found["A.Tests.F::C"].find("error")
    assert cancelled is not None and cancelled.get("type") == "Cancelled"
    suite = etree.fromstring(xml).find("testsuite")
    assert suite is not None
    assert suite.get("hostname") == "büild-01" and suite.get("time") == "1.25"
    assert suite.get("timestamp") == "2024-01-01T10:00:00Z"
    assert warnings == (
        "the NUnit report has results jux-submit does not know, reported as errors: Mystery",
    )


def test_nunit2_full_names_fixture_classes_and_results() -> None:
    xml, warnings = convert("nunit", (FIXTURES / "nunit" / "mock-assembly-2.6.2.xml").read_bytes())
    assert warnings == ()
    found = cases(xml)
    generic = "NUnit.Tests.GenericFixture<Double>(11.5d)"
    assert f"{generic}::{generic}.Test1" in found
    method = "NUnit.Tests.FixtureWithTestCases"
    assert f"{method}::{method}.GenericMethod<Double>(9.2d,11.7d)" in found  # folded, exact
    fixture = "NUnit.Tests.Assemblies.MockTestFixture"
    not_runnable = found[f"{fixture}::{fixture}.MockTest5"].find("error")
    assert not_runnable is not None and not_runnable.get("type") == "NotRunnable"
    error = found[f"{fixture}::{fixture}.TestWithException"].find("error")
    assert error is not None and error.get("type") == "System.ApplicationException"
    inconclusive = found[f"{fixture}::{fixture}.InconclusiveTest"].find("skipped")
    assert inconclusive is not None
    assert inconclusive.get("message") == "Inconclusive: No valid data"
    assert props(found[f"{fixture}::{fixture}.MockTest2"]) == [
        ("Description", "This is a " + "really, " * 24 + "really long description"),
        ("Category", "MockCategory"),
        ("Severity", "Critical"),
    ]
    suite = etree.fromstring(xml).find("testsuite")
    assert suite is not None
    assert suite.get("name") == fixture and suite.get("timestamp") == "2013-09-29T16:19:34"
    assert suite.get("hostname") == "CHARLIE-LAPTOP"


def test_nunit2_parameterized_names_keep_their_quotes() -> None:
    xml, _ = convert("nunit", (FIXTURES / "nunit" / "pickles-nunit2.xml").read_bytes())
    cls = "Pickles.TestHarness.AdditionFeature"
    found = cases(xml)
    name = f'{cls}.AddingSeveralNumbers("60","70","130",System.String[])'
    assert f"{cls}::{name}" in found
    failure = found[f"{cls}::{cls}.FailToAddTwoNumbers"].find("failure")
    assert failure is not None and "Addition.feature:line 18" in (failure.text or "")


def test_nunit22_files_with_only_executed_and_success_flags() -> None:
    doc = (
        '<test-results name="T.dll" total="3" failures="1" not-run="1" date="2007-10-31"'
        ' time="21:30:07"><test-suite name="T.dll" success="False"><results>'
        '<test-suite name="UnitTests" success="False"><results>'
        '<test-suite name="MainClassTest" success="False" time="0,25"><results>'
        '<test-case name="UnitTests.MainClassTest.A" executed="True" success="True" time="0,1"/>'
        '<test-case name="UnitTests.MainClassTest.B" executed="True" success="False">'
        "<failure><message>  Expected: ü\n  But was:  â\n</message></failure></test-case>"
        '<test-case name="UnitTests.MainClassTest.C" executed="False"><reason>'
        "<message>Dont do this</message></reason></test-case>"
        "</results></test-suite></results></test-suite></results></test-suite></test-results>"
    )
    xml, _ = convert("nunit", doc)
    assert counts(xml) == (3, 1, 0, 1)
    found = cases(xml)
    assert found["UnitTests.MainClassTest::UnitTests.MainClassTest.A"].get("time") == "0.1"
    failure = found["UnitTests.MainClassTest::UnitTests.MainClassTest.B"].find("failure")
    assert failure is not None and failure.get("message") == "Expected: ü\n  But was:  â"
    skipped = found["UnitTests.MainClassTest::UnitTests.MainClassTest.C"].find("skipped")
    assert skipped is not None and skipped.get("message") == "Dont do this"


# --- xUnit.net ------------------------------------------------------------------------------


def test_xunit_failures_skips_and_locale_times() -> None:
    xml, _ = convert(
        "xunit", (FIXTURES / "xunit" / "jenkinsci-testcase3-decimal-comma.xml").read_bytes()
    )
    cls = "MyProject.Tests.SampleFact"
    found = cases(xml)
    failed = found[f"{cls}::{cls}.FailedTest"]
    assert failed.get("time") == "0.014"
    failure = failed.find("failure")
    assert failure is not None
    assert failure.get("type") == "Xunit.Sdk.TrueException"
    assert failure.get("message") == "Assert.True() Failure"
    assert "SampleFact.cs:line 16" in (failure.text or "")
    skipped = found[f"{cls}::{cls}.SkippedTest"].find("skipped")
    assert skipped is not None and skipped.get("message") == "On Purpose"
    suite = etree.fromstring(xml).find("testsuite")
    assert suite is not None
    assert suite.get("name") == cls and suite.get("timestamp") == "2014-12-18T14:34:32"


def test_xunit_display_names_and_output() -> None:
    xml, _ = convert("xunit", (FIXTURES / "xunit" / "jenkinsci-testcase5-output.xml").read_bytes())
    case = cases(xml)["UnitTest.UnitTest::Check if the app is running."]
    assert (
        case.findtext("system-out") == "Starting test: CheckIfAppIsRunning\nSleeping 3 second(s)\n"
    )
    assert case.get("time") == "3.027903"


def test_xunit_v1_traits_become_properties_and_theory_names_stay_exact() -> None:
    xml, _ = convert("xunit", (FIXTURES / "xunit" / "pickles-xunit-v1.xml").read_bytes())
    cls = "Pickles.TestHarness.xUnit.AdditionFeature"
    name = (
        f'{cls}.AddingSeveralNumbers(firstNumber: "40", secondNumber: "50", result: "90",'
        " exampleTags: System.String[])"
    )
    case = cases(xml)[f"{cls}::{name}"]
    assert props(case) == [("Description", "Adding several numbers"), ("FeatureTitle", "Addition")]
    failure = cases(xml)[f"{cls}::{cls}.FailToAddTwoNumbers"].find("failure")
    assert failure is not None and failure.get("type") == "System.InvalidOperationException"


def test_xunit_cleanup_errors_not_run_traits_and_unicode() -> None:
    doc = (
        '<assemblies schema-version="3"><assembly name="/src/Sample.Tests.dll" total="3"'
        ' passed="1" failed="0" skipped="0" not-run="1" errors="1" run-date="2024-01-01"'
        ' run-time="10:00:00"><errors><error type="fixture-cleanup" name="Ns.DatabaseFixture">'
        '<failure exception-type="System.InvalidOperationException"><message><![CDATA[the '
        "connection was already closed]]></message><stack-trace><![CDATA[at Ns.DatabaseFixture"
        ".Dispose()]]></stack-trace></failure></error></errors>"
        '<collection name="Test collection for Ns.Tests" total="3">'
        '<test name="Ns.Tests.Grüße(wert: &quot;日本&quot;)" type="Ns.Tests" method="Grüße"'
        ' time="0.0100000" result="Pass"><traits><trait name="Category" value="Slow"/>'
        '<trait name="Category" value="Db"/><trait name="Bug" value="1234"/></traits>'
        "<warnings><warning><![CDATA[obsolete API]]></warning></warnings></test>"
        '<test name="Ns.Tests.Explicit" type="Ns.Tests" method="Explicit" result="NotRun"/>'
        '<test name="Ns.Tests.Odd" type="Ns.Tests" method="Odd" result="Weird"/>'
        "</collection></assembly></assemblies>"
    )
    xml, warnings = convert("xunit", doc)
    assert counts(xml) == (4, 0, 2, 1)
    found = cases(xml)
    case = found['Ns.Tests::Ns.Tests.Grüße(wert: "日本")']
    assert props(case) == [
        ("Category", "Slow"),
        ("Category", "Db"),
        ("Bug", "1234"),
        ("warning", "obsolete API"),
    ]
    not_run = found["Ns.Tests::Ns.Tests.Explicit"].find("skipped")
    assert not_run is not None and not_run.get("message") == "NotRun"
    cleanup = found["Ns.DatabaseFixture::(fixture-cleanup)"].find("error")
    assert cleanup is not None
    assert cleanup.get("type") == "System.InvalidOperationException"
    assert cleanup.get("message") == "the connection was already closed"
    assert len(warnings) == 2
    assert "fixture-cleanup error outside any test in Sample.Tests.dll" in warnings[0]
    assert warnings[1].endswith("reported as errors: Weird")


def test_xunit_empty_assemblies_is_an_empty_run() -> None:
    xml, warnings = convert("xunit", "<assemblies/>")
    assert counts(xml) == (0, 0, 0, 0) and warnings == ()
