"""Repair of known producer breakage: real reports from seven producers, then each rule alone,
the documents that must not change, encodings, limits and one-line syntax error messages."""

from __future__ import annotations

import codecs
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from jux_submit import repair as repair_module
from jux_submit.models import ReportFile
from jux_submit.repair import Repair, describe_syntax_error, repair_xml
from jux_submit.validate import Validated, make_parser, validate_report
from tests.conftest import FIXTURES

REPAIR_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "repair"
PRODUCERS = sorted(p.name for p in REPAIR_FIXTURES.iterdir() if p.is_dir())


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("unit tests must not open sockets")

    monkeypatch.setattr(socket, "socket", refuse)
    yield


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, make_parser())


def parse_error(data: bytes) -> etree.XMLSyntaxError:
    with pytest.raises(etree.XMLSyntaxError) as caught:
        parse(data)
    return caught.value


def counts_of(path: Path, data: bytes | None = None) -> tuple[int, int, int, int]:
    if data is not None:
        path = path.with_name("repaired.xml")
        path.write_bytes(data)
    result = validate_report(ReportFile(path, path.name, path.stat().st_size))
    assert isinstance(result, Validated), result
    c = result.report.counts
    return (c.tests, c.failures, c.errors, c.skipped)


def repaired(data: bytes) -> Repair:
    result = repair_xml(data)
    assert result is not None
    parse(result.data)
    return result


def text_of(data: bytes) -> str:
    """Every piece of character data in the document, attributes included, in order."""
    root = parse(data)
    parts: list[str] = []
    for elem in root.iter():
        parts.extend(f"{k}={v}" for k, v in elem.attrib.items())
        parts.append(elem.text or "")
        parts.append(elem.tail or "")
    return "\n".join(parts)


# --- the real producers ----------------------------------------------------------------------

#: text the repaired report must show (what the test printed, around each trigger)
VISIBLE = {
    "bats-core": (
        "\\x1b[31mcoloured failure\\x1b[0m after colour",
        "output has ]]> inside",
    ),
    "boost-test": (
        "check failed: ]]> tail",
        "message: message has ]]> inside\n",
        "\\x1b[31mcoloured failure\\x1b[0m after colour",
    ),
    "criterion": (
        "suite.c:23: \\x1b[31mcoloured failure\\x1b[0m after colour\n",
        "suite.c:27: first line of the message\n        second line has ]]> inside\n"
        "        third line & <end>\n",
    ),
    "cucumber-js": (
        "message has ]]> inside\n+ actual - expected\n\n+ 'value ]]> tail'\n- 'expected'\n"
        "    + expected - actual\n\n    -value ]]> tail\n    +expected\n\n    at World.<anonymous>",
    ),
    "meson": (
        "\\x1b[31mcoloured output\\x1b[0m from a passing test",
        "\\x1b[31mcoloured failure\\x1b[0m after colour\\x07",
        "output has ]]> inside",
    ),
    "node-test": (
        "[Error [ERR_TEST_FAILURE]: message has ]]> inside\n+ actual - expected\n\n"
        "+ 'value ]]> tail'",
        "actual: 'value ]]> tail',",
        "failure=\\x1b[31mcoloured failure\\x1b[0m after colour",
        "cause: AssertionError [ERR_ASSERTION]: \\x1b[31mcoloured failure\\x1b[0m after colour",
    ),
    "rust-libtest": (
        "\\x1b[31mcoloured failure\\x1b[0m after colour\\x07",
        'assertion `left == right` failed: message has ]]> inside\n  left: "value ]]> tail"',
    ),
}

#: what each repair says (the kinds of breakage each producer writes)
DESCRIBED = {
    "bats-core": "repaired: 2 forbidden character references",
    "boost-test": "repaired: 2 control characters, 1 CDATA section",
    "criterion": "repaired: 2 control characters, 1 text outside CDATA",
    "cucumber-js": "repaired: 1 CDATA section",
    "meson": "repaired: 5 control characters",
    "node-test": "repaired: 8 control characters, 5 ']]>' in text",
    "rust-libtest": "repaired: 3 control characters",
}


def test_every_producer_has_a_fixture_and_expectations() -> None:
    assert PRODUCERS == sorted(VISIBLE) == sorted(DESCRIBED)
    assert len(PRODUCERS) == 7
    for name in PRODUCERS:
        folder = REPAIR_FIXTURES / name
        assert {"broken.xml", "twin.xml", "SOURCES.md"} <= {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("producer", PRODUCERS)
def test_broken_report_does_not_parse(producer: str) -> None:
    parse_error((REPAIR_FIXTURES / producer / "broken.xml").read_bytes())


@pytest.mark.parametrize("producer", PRODUCERS)
def test_repaired_report_has_the_counts_of_its_twin(producer: str, tmp_path: Path) -> None:
    folder = REPAIR_FIXTURES / producer
    result = repaired((folder / "broken.xml").read_bytes())
    assert counts_of(tmp_path / "x.xml", result.data) == counts_of(folder / "twin.xml")


@pytest.mark.parametrize("producer", PRODUCERS)
def test_repaired_report_keeps_the_output_visible(producer: str) -> None:
    result = repaired((REPAIR_FIXTURES / producer / "broken.xml").read_bytes())
    text = text_of(result.data)
    for expected in VISIBLE[producer]:
        assert expected in text


@pytest.mark.parametrize("producer", PRODUCERS)
def test_repair_is_described_in_one_line(producer: str) -> None:
    result = repaired((REPAIR_FIXTURES / producer / "broken.xml").read_bytes())
    assert result.describe() == DESCRIBED[producer]


@pytest.mark.parametrize("producer", PRODUCERS)
def test_twin_needs_no_repair(producer: str) -> None:
    assert repair_xml((REPAIR_FIXTURES / producer / "twin.xml").read_bytes()) is None


@pytest.mark.parametrize("producer", PRODUCERS)
def test_repair_changes_nothing_else(producer: str) -> None:
    # undoing the visible escapes and the CDATA split gives back the original text exactly
    data = (REPAIR_FIXTURES / producer / "broken.xml").read_bytes()
    result = repaired(data)
    undone = result.data.decode().replace("]]]]><![CDATA[>", "]]>")
    for code in range(0x20):
        undone = undone.replace(f"\\x{code:02x}", chr(code))
    original = data.decode().replace("]]]]><![CDATA[>", "]]>")
    if producer == "bats-core":
        original = original.replace("&#27;", "\x1b")
    if producer == "criterion":  # the text after the section, escaped
        original = original.replace("& <end>", "&amp; &lt;end>")
    undone = undone.replace("]]&gt;", "]]>")
    assert undone == original.replace("]]&gt;", "]]>")


# --- the producers' syntax errors, in one line ------------------------------------------------

ERRORS = {
    "bats-core": "a character reference to a character XML does not allow (U+001B) "
    "at line 8, column 6",
    "boost-test": "']]>' in text, which XML does not allow there (it must be written "
    "']]&gt;') at line 23, column 1",
    "criterion": "a character XML does not allow (U+001B) in a CDATA section at line 6, column 84",
    "cucumber-js": "']]>' in text, which XML does not allow there (it must be written "
    "']]&gt;') at line 14, column 12",
    "meson": "a character XML does not allow (U+001B) at line 2, column 225",
    "node-test": "']]>' in text, which XML does not allow there (it must be written "
    "']]&gt;') at line 6, column 40",
    "rust-libtest": "a character XML does not allow (U+001B) in a CDATA section at line 1, "
    "column 857",
}


@pytest.mark.parametrize("producer", PRODUCERS)
def test_producer_error_is_one_clear_line(producer: str) -> None:
    data = (REPAIR_FIXTURES / producer / "broken.xml").read_bytes()
    exc = parse_error(data)
    assert describe_syntax_error(exc, data=data) == ERRORS[producer]
    for message in (describe_syntax_error(exc), describe_syntax_error(exc, with_position=False)):
        assert "\n" not in message
        assert "Unregistered" not in message
    assert describe_syntax_error(exc).count("line") == 1
    assert "line" not in describe_syntax_error(exc, with_position=False)


# --- rule: characters XML forbids ---------------------------------------------------------------


def doc(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="s" tests="1">'
        f'<testcase name="t">{body}</testcase></testsuite>\n'
    ).encode()


def test_raw_escape_in_text_becomes_visible() -> None:
    result = repaired(doc("<failure>\x1b[31mred\x1b[0m plain</failure>"))
    assert result.data == doc("<failure>\\x1b[31mred\\x1b[0m plain</failure>")
    assert result.control_characters == 2
    assert result.describe() == "repaired: 2 control characters"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("\x00", "\\x00"), ("\x07", "\\x07"), ("\x08", "\\x08"), ("\x0b", "\\x0b"),
     ("\x0c", "\\x0c"), ("\x1f", "\\x1f"), ("\ufffe", "\\ufffe"), ("\uffff", "\\uffff")],
)  # fmt: skip
def test_each_forbidden_character_is_shown(raw: str, shown: str) -> None:
    result = repaired(doc(f"<system-out>a{raw}b</system-out>"))
    assert result.data == doc(f"<system-out>a{shown}b</system-out>")


def test_allowed_characters_are_kept() -> None:
    body = "<system-out>tab\there\r\nand \x7f \x85 \u00e9 \U0001f600 \x1b</system-out>"
    result = repaired(doc(body))
    assert result.data == doc(body.replace("\x1b", "\\x1b"))


@pytest.mark.parametrize(
    ("where", "before", "after"),
    [
        ("attribute", '<failure message="a\x1bb"/>', '<failure message="a\\x1bb"/>'),
        ("single-quoted", "<failure message='a\x07b'/>", "<failure message='a\\x07b'/>"),
        ("cdata", "<system-out><![CDATA[a\x1bb]]></system-out>",
         "<system-out><![CDATA[a\\x1bb]]></system-out>"),
        ("comment", "<!-- a\x1bb --><skipped/>", "<!-- a\\x1bb --><skipped/>"),
        ("processing instruction", "<?pi a\x1bb?><skipped/>", "<?pi a\\x1bb?><skipped/>"),
    ],
)  # fmt: skip
def test_raw_controls_everywhere_text_can_be(where: str, before: str, after: str) -> None:
    assert repaired(doc(before)).data == doc(after), where


@pytest.mark.parametrize(
    ("reference", "shown"),
    [("&#27;", "\\x1b"), ("&#x1b;", "\\x1b"), ("&#x1B;", "\\x1b"), ("&#0;", "\\x00"),
     ("&#x0;", "\\x00"), ("&#0000027;", "\\x1b"), ("&#7;", "\\x07"), ("&#xFFFE;", "\\ufffe"),
     ("&#xD800;", "\\ud800"), ("&#x110000;", "&amp;#x110000;")],
)  # fmt: skip
def test_forbidden_character_references_become_visible(reference: str, shown: str) -> None:
    result = repaired(doc(f"<failure>a{reference}b</failure>"))
    assert result.data == doc(f"<failure>a{shown}b</failure>")
    assert result.character_references == 1
    assert result.describe() == "repaired: 1 forbidden character reference"


def test_forbidden_references_in_attributes() -> None:
    result = repaired(doc('<failure message="&#27;[31mred&#x1b;[0m &amp; &#10;"/>'))
    assert result.data == doc('<failure message="\\x1b[31mred\\x1b[0m &amp; &#10;"/>')
    assert result.character_references == 2


def test_allowed_references_and_entities_are_kept() -> None:
    body = "<failure>&#9;&#10;&#13;&#65;&#x20AC;&#x1F600;&amp;&lt;&gt;&quot;&apos;&#27;</failure>"
    result = repaired(doc(body))
    assert result.data == doc(body.replace("&#27;", "\\x1b"))


def test_references_are_plain_text_inside_cdata_and_comments() -> None:
    body = "<system-out><![CDATA[&#27; stays]]></system-out><!-- &#0; stays -->\x1b"
    result = repaired(doc(body))
    assert result.data == doc(body.replace("\x1b", "\\x1b"))
    assert (result.control_characters, result.character_references) == (1, 0)


def test_entity_like_text_is_not_touched() -> None:
    body = "<failure>&amp;#27; and &amp;#x1b; and &amp;lt;![CDATA[ and ]]&gt;</failure>\x07"
    result = repaired(doc(body))
    assert result.data == doc(body.replace("\x07", "\\x07"))
    assert result.total == 1


# --- rule: ']]>' in character data -------------------------------------------------------------


def test_brackets_in_text_are_escaped() -> None:
    result = repaired(doc("<failure>a ]]> b ]]]> c</failure>"))
    assert result.data == doc("<failure>a ]]&gt; b ]]]&gt; c</failure>")
    assert result.escaped_brackets == 2
    assert result.describe() == "repaired: 2 ']]>' in text"
    assert "a ]]> b ]]]> c" in text_of(result.data)


def test_brackets_in_attributes_and_split_cdata_are_kept() -> None:
    body = (
        '<failure message="a ]]> b"><![CDATA[x ]]]]><![CDATA[> y]]></failure>'
        "<system-out>\x1b</system-out>"
    )
    result = repaired(doc(body))
    assert result.data == doc(body.replace("\x1b", "\\x1b"))
    assert result.total == 1


# --- rule: a CDATA section ended early ---------------------------------------------------------


def test_unsplit_cdata_end_is_rejoined() -> None:
    result = repaired(doc("<failure><![CDATA[a ]]> b]]></failure>"))
    assert result.data == doc("<failure><![CDATA[a ]]]]><![CDATA[> b]]></failure>")
    assert result.cdata_sections == 1
    assert result.describe() == "repaired: 1 CDATA section"
    assert parse(result.data).find(".//failure").text == "a ]]> b"


def test_rejoined_section_may_hold_markup_like_text() -> None:
    body = (
        "<failure><![CDATA[msg ]]> tail\n    at Object.<anonymous> (a.js:1:2) & more]]></failure>"
    )
    result = repaired(doc(body))
    failure = parse(result.data).find(".//failure")
    assert failure.text == "msg ]]> tail\n    at Object.<anonymous> (a.js:1:2) & more"


def test_several_unsplit_ends_in_one_section_count_once() -> None:
    result = repaired(doc("<system-out><![CDATA[a]]>b ]]> c ]]>]]></system-out>"))
    assert parse(result.data).find(".//system-out").text == "a]]>b ]]> c ]]>"
    assert result.cdata_sections == 1


def test_section_ending_with_brackets_is_rejoined() -> None:
    result = repaired(doc("<system-out><![CDATA[ends with ]]>]]>\n</system-out>"))
    assert parse(result.data).find(".//system-out").text == "ends with ]]>\n"


def test_one_split_and_one_unsplit_end_as_cucumber_writes() -> None:
    body = "<failure><![CDATA[first ]]]]><![CDATA[> second ]]> third]]></failure>"
    result = repaired(doc(body))
    assert parse(result.data).find(".//failure").text == "first ]]> second ]]> third"
    assert result.cdata_sections == 1


def test_sections_joined_by_references_are_not_rejoined() -> None:
    # libtest writes one section per line, joined by &#xA;
    body = "<system-out><![CDATA[a]]>&#xA;<![CDATA[b\x1b]]>&#xA;<![CDATA[]]></system-out>"
    result = repaired(doc(body))
    assert result.data == doc(body.replace("\x1b", "\\x1b"))
    assert parse(result.data).find(".//system-out").text == "a\nb\\x1b\n"


def test_ambiguous_early_end_is_not_guessed() -> None:
    # the closing tag comes before the next ']]>': which one ends the section is unknown
    assert repair_xml(doc("<failure><![CDATA[a ]]> b</failure> c]]></failure>")) is None


@pytest.mark.parametrize(
    "body",
    [
        "<failure><![CDATA[a]]> x <![CDATA[b]]></failure>",
        "<failure><![CDATA[a]]> x <!-- ]]> --></failure>",
        "<failure><![CDATA[a]]> x </failure><system-out><![CDATA[b]]></system-out>",
    ],
)
def test_a_section_is_never_rejoined_across_markup(body: str) -> None:
    result = repaired(doc(body + "<system-err>\x1b</system-err>"))
    assert result.data == doc(body + "<system-err>\\x1b</system-err>")
    assert result.cdata_sections == 0


def test_unclosed_cdata_is_not_repaired() -> None:
    assert repair_xml(doc("<failure><![CDATA[a\x1b</failure>")) is None


# --- rule: text left outside a CDATA section (Criterion) -------------------------------------


def test_text_after_a_section_is_escaped() -> None:
    body = (
        '<failure type="assert"><![CDATA[f.c:1: first]]>&#10;'
        "        second & <third> ]]> x&#10;</failure>"
    )
    result = repaired(doc(body))
    assert result.data == doc(
        '<failure type="assert"><![CDATA[f.c:1: first]]>&#10;'
        "        second &amp; &lt;third> ]]&gt; x&#10;</failure>"
    )
    assert result.text_outside_cdata == 1
    assert result.describe() == "repaired: 1 text outside CDATA"
    assert parse(result.data).find(".//failure").text == (
        "f.c:1: first\n        second & <third> ]]> x\n"
    )


def test_text_outside_keeps_numeric_references_and_shows_controls() -> None:
    body = "<failure><![CDATA[a]]>&#10;b &amp; c & d &#27; \x1b <e>&#10;</failure>"
    result = repaired(doc(body))
    assert parse(result.data).find(".//failure").text == "a\nb &amp; c & d \\x1b \\x1b <e>\n"
    assert (result.text_outside_cdata, result.character_references) == (1, 1)
    assert result.control_characters == 1


def test_unsplit_end_in_the_first_line_then_text_outside() -> None:
    body = "<failure><![CDATA[f.c:1: a ]]> b]]>&#10;        c & <d>&#10;</failure>"
    result = repaired(doc(body))
    assert parse(result.data).find(".//failure").text == "f.c:1: a ]]> b\n        c & <d>\n"


def test_child_elements_after_a_section_are_kept() -> None:
    # well-formed content is not "text left outside", even where JUnit expects text only
    body = "<system-out><![CDATA[a]]><b>c</b></system-out><system-err>\x1b</system-err>"
    result = repaired(doc(body))
    assert result.data == doc(body.replace("\x1b", "\\x1b"))
    assert parse(result.data).find(".//system-out/b") is not None


def test_text_outside_is_only_repaired_in_text_only_elements() -> None:
    # in <testcase> the text could be anything, including a test case's children
    body = '<![CDATA[a]]> b & <c d="e"/>'
    assert repair_xml(doc(body)) is None


# --- documents that must not change --------------------------------------------------------------

VALID_CORPUS = sorted((FIXTURES / "raw").rglob("*.xml")) + sorted(
    (FIXTURES / "edge-cases").glob("*.xml")
)


@pytest.mark.parametrize("path", VALID_CORPUS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_valid_reports_are_not_repaired(path: Path) -> None:
    assert repair_xml(path.read_bytes()) is None


def test_valid_document_with_every_tricky_construct_is_left_alone() -> None:
    body = (
        '<failure message="]]> &amp;#27; &#10;"><![CDATA[a ]]]]><![CDATA[> b]]>&#10;tail</failure>'
        "<system-out><![CDATA[x]]><![CDATA[y]]></system-out><!-- ]]> -->"
    )
    parse(doc(body))
    assert repair_xml(doc(body)) is None


@pytest.mark.parametrize(
    "data",
    [
        doc("<failure>a & b \x1b</failure>"),  # a bare '&'
        doc("<failure>a < b \x1b</failure>"),  # a bare '<'
        doc("<failure>&nbsp; \x1b</failure>"),  # an entity no DTD declares
        doc("<failure>\x1b</failed>"),  # mismatched tags
        doc('<failure message="a\x1b>'),  # an attribute never closed
        doc("<failure>\x1b<!-- never closed</failure>"),
        b'<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY x "y">]>\n<testsuite>&x;\x1b</testsuite>',
        b"",
        b"not xml at all \x1b",
    ],
    ids=["ampersand", "less-than", "entity", "mismatch", "attribute", "comment", "doctype",
         "empty", "not-xml"],
)  # fmt: skip
def test_breakage_no_rule_covers_is_not_repaired(data: bytes) -> None:
    assert repair_xml(data) is None


def test_shared_malformed_fixtures_stay_malformed() -> None:
    for path in sorted((FIXTURES / "edge-cases" / "malformed").iterdir()):
        assert repair_xml(path.read_bytes()) is None, path.name


# --- encodings and limits ------------------------------------------------------------------------


def test_latin1_document_is_repaired_in_its_encoding() -> None:
    data = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        '<testsuite name="caf\u00e9"><testcase name="t"><failure>\u00e9t\u00e9 \x1b</failure>'
        "</testcase></testsuite>"
    ).encode("latin-1")
    result = repaired(data)
    assert result.data == data.replace(b"\x1b", b"\\x1b")
    assert b"\xe9t\xe9" in result.data
    assert result.encoding == "iso8859-1"


def test_encoding_given_by_the_caller_is_used() -> None:
    data = (
        "<?xml version='1.0' encoding='windows-1252'?>"
        "<testsuite><testcase name='\u00e9\u20ac'><failure>\x1b</failure></testcase></testsuite>"
    )
    result = repair_xml(data.encode("cp1252"), encoding="cp1252")
    assert result is not None
    assert result.data == data.replace("\x1b", "\\x1b").encode("cp1252")
    assert result.encoding == "cp1252"


def test_an_encoding_libxml2_would_not_read_gives_no_repair() -> None:
    # without a declaration libxml2 reads UTF-8: repaired Latin-1 bytes would still not parse
    data = "<testsuite><testcase name='\u00e9'><failure>\x1b</failure></testcase></testsuite>"
    assert repair_xml(data.encode("latin-1"), encoding="latin-1") is None


def test_utf8_byte_order_mark_is_kept() -> None:
    data = codecs.BOM_UTF8 + doc("<failure>\u00e9\x1b</failure>")
    result = repaired(data)
    assert result.data == codecs.BOM_UTF8 + doc("<failure>\u00e9\\x1b</failure>")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_are_left_alone(encoding: str) -> None:
    text = f'<?xml version="1.0" encoding="{encoding.upper()}"?><testsuite>\x1b</testsuite>'
    assert repair_xml(text.encode(encoding)) is None


@pytest.mark.parametrize("encoding", ["cp500", "utf-7", "iso-2022-jp", "no-such-codec"])
def test_encodings_that_are_not_ascii_compatible_are_left_alone(encoding: str) -> None:
    data = f'<?xml version="1.0" encoding="{encoding}"?><testsuite>\x1b</testsuite>'.encode()
    assert repair_xml(data) is None


def test_bytes_invalid_in_the_encoding_are_left_alone() -> None:
    assert repair_xml(doc("<failure>\x1b</failure>").replace(b"\x1b", b"\x1b\xff")) is None


def test_documents_over_the_limit_are_not_repaired(monkeypatch: pytest.MonkeyPatch) -> None:
    data = doc("<failure>\x1b</failure>")
    monkeypatch.setattr(repair_module, "MAX_REPAIR_BYTES", len(data) - 1)
    assert repair_xml(data) is None
    monkeypatch.setattr(repair_module, "MAX_REPAIR_BYTES", len(data))
    assert repair_xml(data) is not None


def test_input_bytes_are_not_modified() -> None:
    data = bytearray(doc("<failure>\x1b</failure>"))
    before = bytes(data)
    repair_xml(bytes(data))
    assert bytes(data) == before


PATHOLOGICAL = {
    "many unsplit ends": doc("<system-out><![CDATA[" + "]]> " * 200_000 + "]]></system-out>"),
    "unsplit ends never closed": doc("<system-out><![CDATA[" + "]]> " * 200_000),
    "many sections": doc("<failure>" + "<![CDATA[a]]> x " * 100_000 + "\x1b</failure>"),
    "many brackets": doc("<failure>" + "]" * 800_000 + "\x1b</failure>"),
    "many less-than": doc("<failure>\x1b" + "<" * 800_000 + "</failure>"),
    "many references": doc('<failure message="' + "&#27;" * 200_000 + '"/>'),
    "long tags": doc("<failure " + 'a="b" ' * 100_000 + ">\x1b</failure>"),
    "text outside, long": doc("<failure><![CDATA[a]]>" + "& < " * 200_000 + "</failure>"),
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_input_takes_linear_time(name: str) -> None:
    # about 1 MB each; a quadratic scan would take minutes
    start = time.perf_counter()
    repair_xml(PATHOLOGICAL[name])
    assert time.perf_counter() - start < 10


# --- Repair.describe ------------------------------------------------------------------------------


def test_describe_lists_every_kind_in_a_fixed_order() -> None:
    result = Repair(
        b"",
        control_characters=3,
        character_references=1,
        cdata_sections=1,
        escaped_brackets=2,
        text_outside_cdata=2,
    )
    assert result.describe() == (
        "repaired: 3 control characters, 1 forbidden character reference, 1 CDATA section, "
        "2 ']]>' in text, 2 texts outside CDATA"
    )
    assert result.total == 9
    assert Repair(b"", control_characters=1, cdata_sections=2).describe() == (
        "repaired: 1 control character, 2 CDATA sections"
    )


# --- describe_syntax_error ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"<a>x\x1by</a>", "a character XML does not allow (U+001B) at line 1, column 5"),
        (b"<a>x\x00y</a>", "a character XML does not allow (U+0000) at line 1, column 5"),
        ("<a>x\ufffe</a>".encode(), "a character XML does not allow (U+FFFE) at line 1, column 5"),
        (b'<a b="x\x1b"/>',
         "a character XML does not allow (U+001B) in an attribute value at line 1, column 8"),
        (b"<a><!-- \x1b --></a>",
         "a character XML does not allow (U+001B) in a comment at line 1, column 9"),
        (b"<a>&#27;</a>",
         "a character reference to a character XML does not allow (U+001B) at line 1, "
         "column 9"),
        (b"<a>&#x110000;</a>",
         "a character reference beyond Unicode (above U+10FFFF) at line 1, column 14"),
        (b"<a>\n<![CDATA[\x07]]></a>",
         "a character XML does not allow (U+0007) in a CDATA section at line 2, column 10"),
        (b"<a><![CDATA[never closed</a>",
         "a CDATA section that is not closed with ']]>', or holds a character XML does not "
         "allow at line 1, column 29"),
        (b"<a>]]></a>", "']]>' in text, which XML does not allow there (it must be written "
         "']]&gt;') at line 1, column 4"),
        ("<a>\u00e9\u00e9\x1b</a>".encode(),
         "a character XML does not allow (U+001B) at line 1, column 6"),
        (codecs.BOM_UTF8 + b"<a>\x1b</a>",
         "a character XML does not allow (U+001B) at line 1, column 4"),
    ],
)  # fmt: skip
def test_syntax_errors_are_named(data: bytes, expected: str) -> None:
    assert describe_syntax_error(parse_error(data), data=data) == expected


def test_without_the_document_the_message_stays_one_line() -> None:
    exc = parse_error(b"<a><![CDATA[\x1b]]></a>")
    assert describe_syntax_error(exc) == (
        "a CDATA section that is not closed with ']]>', or holds a character XML does not "
        "allow at line 1, column 13"
    )
    exc = parse_error(b'<a b="\x1b"/>')
    assert describe_syntax_error(exc) == (
        "a character XML does not allow in an attribute value at line 1, column 7"
    )


def test_multi_line_libxml2_messages_keep_their_first_line() -> None:
    exc = parse_error(b"<a><!-- never closed")
    message = describe_syntax_error(exc, with_position=False)
    assert "\n" not in message
    assert message == "a comment that is not closed with '-->'"


def test_unregistered_messages_are_named_from_the_error_code() -> None:
    exc = etree.XMLSyntaxError("Unregistered error message", 63, 3, 7)
    assert describe_syntax_error(exc) == (
        "a CDATA section that is not closed with ']]>', or holds a character XML does not "
        "allow at line 3, column 7"
    )
    exc = etree.XMLSyntaxError("Unregistered error message", 77, 3, 7)
    assert describe_syntax_error(exc) == (
        "XML error: tag not finished (libxml2 code 77) at line 3, column 7"
    )
    exc = etree.XMLSyntaxError("Unregistered error message", 99999, 0, 0)
    assert describe_syntax_error(exc) == "XML error (libxml2 code 99999)"


def test_control_characters_in_messages_are_shown() -> None:
    exc = etree.XMLSyntaxError("Opening and ending tag mismatch: a\x1b\nb", 76, 1, 2)
    assert describe_syntax_error(exc, with_position=False) == (
        "Opening and ending tag mismatch: a\\x1b"
    )


# the other libxml2 messages keep their text (validation's expected reasons rely on it)
SHARED_MALFORMED = {
    "invalid-xml-declaration.xml": "Unsupported version",
    "mismatched-tags.xml": "Opening and ending tag mismatch: testcase line 3 and testsute",
    "not-xml.txt": "Start tag expected, '<' not found",
    "unclosed-tag.xml": "Opening and ending tag mismatch: testcase line 3 and testsuite",
    "unescaped-ampersand.xml": "xmlParseEntityRef",
}


@pytest.mark.parametrize("name", sorted(SHARED_MALFORMED))
def test_other_messages_keep_libxml2_text(name: str) -> None:
    data = (FIXTURES / "edge-cases" / "malformed" / name).read_bytes()
    exc = parse_error(data)
    message = describe_syntax_error(exc, data=data, with_position=False)
    assert message.startswith(SHARED_MALFORMED[name])
    assert "\n" not in message
    assert "line" not in message.replace("testcase line 3", "")
