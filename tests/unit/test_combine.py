"""Merging reports for --combine: one <testsuites>, exact counts, jux:source_file per suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from jux_submit.combine import combine_reports, prepare_combined_payload
from jux_submit.enrich import Metadata
from jux_submit.models import PayloadMode, ReportFile, ValidReport
from jux_submit.settings import load_settings
from jux_submit.validate import validate_report
from tests.conftest import write_junit

NESTED = """<?xml version="1.0" encoding="ISO-8859-1"?>
<testsuites name="all">
  <testsuite name="Outer" tests="2">
    <properties>
      <property name="jux:source_file" value="stale"/><property name="k" value="v"/>
    </properties>
    <testcase classname="o" name="a"><skipped/></testcase>
    <testsuite name="Inner"><testcase classname="i" name="b"><error/></testcase></testsuite>
  </testsuite>
  <testsuite name="Second"><testcase classname="s" name="caf\xe9"/></testsuite>
</testsuites>
"""


def valid(path: Path, root: Path) -> ValidReport:
    checked = validate_report(ReportFile(path, path.relative_to(root).as_posix()))
    assert not isinstance(checked, Exception) and hasattr(checked, "report"), checked
    return checked.report  # type: ignore[union-attr]


@pytest.fixture
def reports(tmp_path: Path) -> list[ValidReport]:
    a = write_junit(
        tmp_path / "a" / "TEST-A.xml",
        suite="A",
        cases=3,
        failures=1,
        properties=[("project", "from-a")],
    )
    b = write_junit(tmp_path / "b" / "TEST-B.xml", suite="B", cases=2)
    c = tmp_path / "c.xml"
    c.write_bytes(NESTED.encode("latin-1"))
    return [valid(p, tmp_path) for p in (a, b, c)]


def suites_of(xml: bytes) -> list[etree._Element]:
    return etree.fromstring(xml).findall("testsuite")


def test_counts_are_the_sum_and_every_case_is_kept(reports: list[ValidReport]) -> None:
    combined = combine_reports(reports)
    root = etree.fromstring(combined.xml)
    assert root.tag == "testsuites"
    assert combined.counts.tests == 3 + 2 + 3 == len(root.findall(".//testcase"))
    assert (combined.counts.failures, combined.counts.errors, combined.counts.skipped) == (1, 1, 1)
    assert root.get("tests") == "8" and root.get("failures") == "1"
    assert root.get("errors") == "1" and root.get("skipped") == "1"
    assert root.findall(".//testcase")[-1].get("name") == "caf\u00e9"  # re-encoded as UTF-8


def test_each_top_level_suite_names_its_source_file(reports: list[ValidReport]) -> None:
    combined = combine_reports(reports)
    suites = suites_of(combined.xml)
    assert [s.get("name") for s in suites] == ["A", "B", "Outer", "Second"]
    sources = [
        [p.get("value") for p in s.findall("properties/property[@name='jux:source_file']")]
        for s in suites
    ]
    assert sources == [["a/TEST-A.xml"], ["b/TEST-B.xml"], ["c.xml"], ["c.xml"]]
    outer = suites[2].findall("properties/property")
    assert [(p.get("name"), p.get("value")) for p in outer] == [
        ("jux:source_file", "c.xml"),
        ("k", "v"),
    ]
    assert combined.first_suite_properties[:2] == (
        ("jux:source_file", "a/TEST-A.xml"),
        ("project", "from-a"),
    )


def test_metadata_goes_on_the_first_suite_only(tmp_path: Path, reports: list[ValidReport]) -> None:
    settings = load_settings(["--dry-run", "--mode", "raw"], {}, cwd=tmp_path)
    metadata = Metadata(
        explicit=(("jux:environment", "ci"),), detected=(("project", "x"), ("git:branch", "main"))
    )
    payload = prepare_combined_payload(reports, metadata, settings)
    assert payload.mode is PayloadMode.RAW
    assert "combined 3 report(s)" in payload.mode_reason
    suites = suites_of(payload.body or b"")
    first = {p.get("name"): p.get("value") for p in suites[0].findall("properties/property")}
    assert first["project"] == "from-a"  # detected values only fill gaps
    assert first["git:branch"] == "main" and first["jux:environment"] == "ci"
    assert first["jux:source_file"] == "a/TEST-A.xml"
    for suite in suites[1:]:
        names = {p.get("name") for p in suite.findall("properties/property")}
        assert "git:branch" not in names and "jux:environment" not in names
    assert payload.size == len(payload.body or b"")


def test_nothing_to_combine() -> None:
    with pytest.raises(ValueError):
        combine_reports([])
