"""``formats.read_report`` hands validation the bytes it read to sniff the format, so a small
JUnit report is opened once: validating from those bytes must give what reading the file
gives, and large reports (streamed) or converted ones hand nothing on."""

from __future__ import annotations

from pathlib import Path

import pytest

from jux_submit.formats import SNIFF_BYTES, convert_file, read_report
from jux_submit.models import ReportFile
from jux_submit.validate import _PROLOG_READ, validate_report

DOCS = {
    "plain.xml": b'<?xml version="1.0"?>\n<testsuite name="s" tests="1"><testcase name="a"/>'
    b"</testsuite>\n",
    "props.xml": b'<testsuites time="1.5"><testsuite name="s"><properties><property name="p" '
    b'value="v"/></properties><testcase name="a"><failure/></testcase></testsuite>'
    b"</testsuites>",
    "empty.xml": b"",
    "broken.xml": b"<testsuite><testcase></testsuite>",
    "repairable.xml": b'<testsuite name="a & b"><testcase name="x"/></testsuite>',
    "doctype.xml": b'<!DOCTYPE x [<!ENTITY e "x">]><testsuite/>',
    "other.xml": b"<project><modelVersion>4</modelVersion></project>",
    "badnumber.xml": b'<testsuite tests="many"><testcase/></testsuite>',
    "latin1.xml": '<?xml version="1.0" encoding="ISO-8859-1"?><testsuite name="caf\u00e9">'
    "<testcase/></testsuite>".encode("latin-1"),
    "utf16.xml": '<?xml version="1.0" encoding="UTF-16"?><testsuite><testcase/></testsuite>'.encode(
        "utf-16"
    ),
    "big.xml": b"<testsuite>"
    + b'<testcase name="c"><system-out>'
    + b"x" * 70_000
    + b"</system-out></testcase>"
    + b"</testsuite>",
}


@pytest.mark.parametrize("name", sorted(DOCS))
def test_validating_the_bytes_read_once_is_validating_the_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(DOCS[name])
    file = ReportFile(path, name, path.stat().st_size)
    converted, data = read_report(path, name)
    assert converted is None
    assert converted == convert_file(path, name)
    if len(DOCS[name]) < SNIFF_BYTES:
        assert data == DOCS[name]
    else:
        assert data is None
    assert validate_report(file, data=data) == validate_report(file)
    assert validate_report(file, data=data, repair=False) == validate_report(file, repair=False)


def test_bytes_too_large_to_be_the_whole_file_are_not_used(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_bytes(DOCS["plain.xml"])
    file = ReportFile(path, "r.xml", path.stat().st_size)
    stale = b"<testsuite>" + b" " * _PROLOG_READ + b"</testsuite>"
    assert validate_report(file, data=stale) == validate_report(file)


def test_a_converted_report_hands_no_bytes_on(tmp_path: Path) -> None:
    path = tmp_path / "results.tap"
    path.write_bytes(b"TAP version 13\n1..1\nok 1 - works\n")
    converted, data = read_report(path, "results.tap")
    assert converted is not None
    assert data is None
    assert read_report(path, "results.tap", "junit") == (None, None)
