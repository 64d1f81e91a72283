"""Validation: the shared fixture corpus, hostile XML and non-JUnit files."""

from __future__ import annotations

from pathlib import Path

import pytest

from jux_submit.models import ReportFile, ValidationProblem
from jux_submit.validate import Validated, validate_report
from tests.conftest import FIXTURES, write_junit


def check(path: Path) -> Validated | ValidationProblem:
    return validate_report(ReportFile(path, path.name, path.stat().st_size))


VALID = sorted(p for p in (FIXTURES / "raw").rglob("*.xml")) + sorted(
    p for p in (FIXTURES / "edge-cases").glob("*.xml")
)
MALFORMED = sorted((FIXTURES / "edge-cases" / "malformed").iterdir())


@pytest.mark.parametrize("path", VALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_corpus_is_valid(path: Path) -> None:
    result = check(path)
    assert isinstance(result, Validated), result


# exact reasons for every malformed fixture (line/column as libxml2 reports them)
EXPECTED_MALFORMED = {
    "empty-file.xml": "the file is empty (0 bytes)",
    "invalid-xml-declaration.xml": "line 1, column 20: not well-formed XML: Unsupported version",
    "mismatched-tags.xml": "line 4, column 14: not well-formed XML: Opening and ending tag "
    "mismatch: testcase line 3 and testsute",
    "not-xml.txt": "line 1, column 1: not well-formed XML: Start tag expected, '<' not found",
    "unclosed-tag.xml": "line 4, column 13: not well-formed XML: Opening and ending tag "
    "mismatch: testcase line 3 and testsuite",
    "unescaped-ampersand.xml": "line 2, column 29: not well-formed XML: xmlParseEntityRef",
}


@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.name)
def test_malformed_fixtures_get_a_precise_reason(path: Path) -> None:
    result = check(path)
    assert isinstance(result, ValidationProblem)
    assert str(result).startswith(EXPECTED_MALFORMED[path.name]), str(result)


def test_counts_come_from_testcases(tmp_path: Path) -> None:
    report = write_junit(tmp_path / "r.xml", cases=5, failures=2)
    result = check(report)
    assert isinstance(result, Validated)
    c = result.report.counts
    assert (c.tests, c.failures, c.errors, c.skipped) == (5, 2, 0, 0)


def test_nested_suites_counts(tmp_path: Path) -> None:
    result = check(FIXTURES / "edge-cases" / "nested-testsuites.xml")
    assert isinstance(result, Validated)
    c = result.report.counts
    assert (c.tests, c.failures, c.skipped, c.time) == (9, 1, 1, 3.456)


def test_xxe_file_entity_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    report = tmp_path / "xxe.xml"
    report.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY x SYSTEM "file://{secret}">]>'
        '\n<testsuite name="s"><testcase name="&x;"/></testsuite>\n'
    )
    result = check(report)
    assert isinstance(result, ValidationProblem)
    assert "DOCTYPE" in result.message and "XXE" in result.message
    assert "TOP-SECRET" not in str(result)


def test_parameter_entity_and_billion_laughs_refused(tmp_path: Path) -> None:
    param = tmp_path / "param.xml"
    param.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY % p SYSTEM '
        '"http://127.0.0.1:9/evil.dtd"> %p;]>\n<testsuite name="s"/>\n'
    )
    lol = tmp_path / "lol.xml"
    ents = '<!ENTITY a "lollollollollol">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)
    )
    lol.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE t [{ents}]>\n'
        '<testsuite name="&j;"><testcase name="x"/></testsuite>\n'
    )
    for path in (param, lol):
        result = check(path)
        assert isinstance(result, ValidationProblem), path
        assert "refused" in result.message or "not well-formed" in result.message


def test_not_junit_binary_and_directory(tmp_path: Path) -> None:
    other = tmp_path / "pom.xml"
    other.write_text('<?xml version="1.0"?><project><modelVersion>4</modelVersion></project>')
    result = check(other)
    assert isinstance(result, ValidationProblem)
    assert "root element is <project>" in result.message
    junk = tmp_path / "junk.xml"
    junk.write_bytes(bytes(range(256)) * 4)
    assert isinstance(check(junk), ValidationProblem)
    folder = tmp_path / "dir.xml"
    folder.mkdir()
    res = validate_report(ReportFile(folder, "dir.xml", 0))
    assert isinstance(res, ValidationProblem)


def test_bad_numeric_attribute_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(
        '<testsuites><testsuite name="s" tests="many"><testcase name="a"/></testsuite></testsuites>'
    )
    result = check(bad)
    assert isinstance(result, ValidationProblem)
    assert "tests='many'" in result.message


def test_encodings_bom_and_signature(tmp_path: Path) -> None:
    latin = write_junit(tmp_path / "latin.xml", suite="Caf\u00e9", encoding="ISO-8859-1")
    utf16 = write_junit(tmp_path / "u16.xml", suite="\u00dcml", encoding="UTF-16")
    bom = tmp_path / "bom.xml"
    bom.write_bytes(b"\xef\xbb\xbf" + write_junit(tmp_path / "plain.xml").read_bytes())
    for path in (latin, utf16, bom):
        assert isinstance(check(path), Validated), path
    signed = tmp_path / "signed.xml"
    signed.write_text(
        '<testsuites><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/>'
        "<SignatureValue>c2ln</SignatureValue></Signature>"
        '<testsuite name="s"><testcase name="a"/></testsuite></testsuites>'
    )
    result = check(signed)
    assert isinstance(result, Validated) and result.report.is_signed


@pytest.mark.parametrize(
    "signature",
    [
        "<Signature xmlns='http://www.w3.org/2000/09/xmldsig#'/>",
        "<Signature xmlns='http://www.w3.org/2000/09/xmldsig#'><SignedInfo/></Signature>",
        "<Signature xmlns='http://www.w3.org/2000/09/xmldsig#'><SignedInfo/>"
        "<SignatureValue> </SignatureValue></Signature>",
        "<Signature xmlns='urn:other'><SignedInfo/><SignatureValue>x</SignatureValue></Signature>",
    ],
)
def test_a_signature_counts_only_if_it_is_one(tmp_path: Path, signature: str) -> None:
    fake = tmp_path / "fake.xml"
    fake.write_text(
        f"<testsuites>{signature}<testsuite name='s'><testcase name='a'/></testsuite></testsuites>"
    )
    result = check(fake)
    assert isinstance(result, Validated) and not result.report.is_signed


def test_nul_bytes_are_invalid(tmp_path: Path) -> None:
    path = tmp_path / "nul.xml"
    path.write_bytes(b'<testsuite name="a\x00b"><testcase name="x"/></testsuite>')
    assert isinstance(check(path), ValidationProblem)


@pytest.mark.parametrize(
    "path",
    [*VALID, *MALFORMED, FIXTURES / "edge-cases" / "nested-testsuites.xml"],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_streaming_path_gives_the_same_answer(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jux_submit import validate

    in_memory = check(path)
    monkeypatch.setattr(validate, "_PROLOG_READ", 8)  # every file takes the streaming path
    streamed = check(path)
    if isinstance(in_memory, Validated):
        assert isinstance(streamed, Validated)
        assert streamed.report == in_memory.report
        assert streamed.first_suite_properties == in_memory.first_suite_properties
    else:
        assert isinstance(streamed, ValidationProblem)
        assert streamed.message.split(":")[0] == in_memory.message.split(":")[0]


# --- junitparser stays the reference for the number rules ---------------------------------

_NUMBER_SAMPLES = (
    "3",
    " 3 ",
    "+3",
    "-1",
    "1_000",
    "٣",
    "3.0",
    "1e3",
    "",
    " ",
    "x",
    "0x1f",
    "3 4",
    "1,000",
    "1,5",
    "2.5",
    ".5",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "१२",
    "0",
    "00",
    "½",
)


@pytest.mark.parametrize("attr", ["tests", "failures", "errors", "skipped", "time"])
@pytest.mark.parametrize("raw", _NUMBER_SAMPLES)
def test_number_rules_match_junitparser(attr: str, raw: str) -> None:
    from junitparser import JUnitXml, TestSuite
    from lxml import etree as lxml_etree

    from jux_submit.validate import _BadNumberError, _read_numbers

    for tag, wrapper in (("testsuite", TestSuite), ("testsuites", JUnitXml)):
        elem = lxml_etree.Element(tag)
        elem.set(attr, raw)
        try:
            if raw.strip():
                getattr(wrapper.fromelem(elem), attr)
            reference_ok = True
        except (ValueError, TypeError):
            reference_ok = False
        try:
            _read_numbers(elem)
            ours_ok = True
        except _BadNumberError:
            ours_ok = False
        assert ours_ok == reference_ok, (tag, attr, raw)
