"""With no patterns, every producer's default file is found and submitted, and the ordinary
XML files of a real repository cause no warning (against the local contract server)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import make_environ, run_cli, write_junit
from tests.jux_server import JuxServer

FORMATS = Path(__file__).resolve().parents[1] / "fixtures" / "formats"

#: where each producer writes its JUnit report by default (or as its documentation shows)
PRODUCER_LAYOUT = {
    "target/surefire-reports/TEST-com.example.CartTest.xml": "Maven Surefire",
    "build/test-results/test/TEST-com.example.ShopTest.xml": "Gradle",
    "reports/TESTS-features.checkout.xml": "behave / Ant junitreport",
    "test-results.xml": "mocha-junit-reporter",
    "build/test_detail.xml": "GoogleTest --gtest_output=xml",
    "report.xml": "bats --report-formatter junit",
    "playwright-report/results.xml": "Playwright junit reporter (docs)",
    "tap.xml": "tap-junit",
    "rspec.xml": "rspec_junit_formatter",
    "xunit.xml": "Robot Framework --xunit, mocha xunit reporter",
    "criterion.xml": "Criterion --xml",
    "junit.xml": "pytest --junitxml=junit.xml",
    "coverage/jest-junit.xml": "jest-junit",
    "build/cmocka_unit_tests.xml": "cmocka (CMOCKA_XML_FILE)",
}

#: XML files of an ordinary repository, some of which a default pattern matches by name
ORDINARY_XML = {
    "pom.xml": "<project><modelVersion>4.0.0</modelVersion></project>",
    "coverage.xml": '<coverage line-rate="0.9"><packages/></coverage>',
    ".idea/workspace.xml": '<project version="4"><component name="x"/></project>',
    "target/checkstyle-result.xml": '<checkstyle version="10"><file name="a"/></checkstyle>',
    "target/site/jacoco/jacoco.xml": '<report name="shop"><counter type="LINE"/></report>',
    "app/build/reports/lint-results.xml": '<issues format="6"><issue id="x"/></issues>',
    "testng.xml": '<suite name="all"><test name="unit"><classes/></test></suite>',
    "src/test/resources/log4j2-test.xml": "<Configuration><Appenders/></Configuration>",
    "src/test/resources/test-data.xml": "<data><row id='1'/></data>",
    "src/main/resources/TestPlan.xml": "<plan><step/></plan>",
    "app/src/main/AndroidManifest.xml": '<manifest package="com.example"/>',
    "phpunit.xml": "<phpunit bootstrap='x.php'><testsuites/></phpunit>",
}


#: reports in other formats, where their producers (or their docs) put them
CONVERTED_LAYOUT = {
    "ctrf/ctrf-report.json": "ctrf/jest-ctrf.json",
    "reports/cucumber.json": "cucumber/report.json",
    "jest-results.json": "jest/report.json",
    "test/playwright-results.json": "playwright/report.json",
    "mocha-report.json": "mocha/report.json",
    "test-output/report.tap": "tap/bats.tap",
}


def build_tree(root: Path) -> None:
    for index, rel in enumerate(PRODUCER_LAYOUT):
        write_junit(root / rel, suite=f"Suite{index}", cases=index % 3 + 1, failures=index % 2)
    for rel, fixture in CONVERTED_LAYOUT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FORMATS / fixture, root / rel)
    (root / "package.json").write_text('{"name": "shop", "scripts": {"test": "jest"}}')
    (root / "tsconfig-results.json").write_text('{"compilerOptions": {}}')
    for rel, text in ORDINARY_XML.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'<?xml version="1.0"?>\n{text}\n')


def test_every_producer_layout_is_found_and_ordinary_xml_stays_quiet(tmp_path: Path) -> None:
    build_tree(tmp_path)
    with JuxServer() as server:
        result = run_cli(
            ["--api-url", server.url, "--working-directory", str(tmp_path), "--fail-on-error"],
            make_environ(JUX_BRANCH="main", JUX_COMMIT_SHA="0123456789abcdef" * 2 + "01234567"),
        )
        assert result.code == 0, result.output
        stored = sorted(r.properties["jux:source_file"] for r in server.runs)
    assert stored == sorted([*PRODUCER_LAYOUT, *CONVERTED_LAYOUT])
    for rel in ORDINARY_XML:
        assert rel not in result.stdout, rel  # neither listed nor counted
    assert "WARNING" not in result.stderr and "ERROR" not in result.stderr, result.stderr
    assert f"total: {len(PRODUCER_LAYOUT) + len(CONVERTED_LAYOUT)} file(s)" in result.stdout


def test_at_verbose_level_the_ignored_files_are_named(tmp_path: Path) -> None:
    build_tree(tmp_path)
    result = run_cli(["--dry-run", "-v", "--working-directory", str(tmp_path)], make_environ())
    assert result.code == 0, result.output
    for rel in (
        "testng.xml",
        "src/test/resources/log4j2-test.xml",
        "src/main/resources/TestPlan.xml",
    ):
        assert f"{rel}: ignored: not a test report" in result.stderr


def test_a_file_named_by_an_explicit_pattern_stays_invalid(tmp_path: Path) -> None:
    build_tree(tmp_path)
    result = run_cli(
        ["--dry-run", "--working-directory", str(tmp_path), "--fail-on-error", "testng.xml"],
        make_environ(),
    )
    assert result.code == 1
    assert "testng.xml  INVALID" in result.stdout
    assert "the root element is <suite>" in result.stdout
