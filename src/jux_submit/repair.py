"""Exact, local repair of the malformed XML that known JUnit producers write, and one-line
messages for XML syntax errors. Works on bytes in memory; files on disk are never touched.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

from jux_submit.models import Record, record

#: larger documents are not repaired: the repair holds the bytes, the text and the result in
#: memory at once (about four times the size); validation reports them as not well-formed
MAX_REPAIR_BYTES = 64 * 1024 * 1024

# Characters XML 1.0 forbids (https://www.w3.org/TR/xml/#charsets): C0 controls other than
# tab, LF and CR, lone surrogates, and U+FFFE/U+FFFF. C1 controls (U+0080-U+009F) are allowed.
_FORBIDDEN_CLASS = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
_FORBIDDEN = re.compile(f"[{_FORBIDDEN_CLASS}]")
_CHAR_REF = re.compile(r"&#(?:([0-9]+)|x([0-9a-fA-F]+));")
#: what may follow '&' in text: a character reference or one of the five predefined entities
_REFERENCE = re.compile(r"&(?:#[0-9]+|#x[0-9a-fA-F]+|amp|lt|gt|quot|apos);")
#: the places in character data where a repair may be needed
_CONTENT_SPECIAL = re.compile(f"[<&\\]{_FORBIDDEN_CLASS}]")
#: forbidden characters and character references in an attribute value, comment or PI
_VALUE_SPECIAL = re.compile(f"&#(?:[0-9]+|x[0-9a-fA-F]+);|[{_FORBIDDEN_CLASS}]")
#: what has to change in text that a producer left outside its CDATA section
_LOOSE_TEXT_SPECIAL = re.compile(f"[<&]|\\]\\]>|[{_FORBIDDEN_CLASS}]")
_NAME = re.compile(r"[^\s/>=<\"'&!?\x00-\x1f][^\s/>=<\"'&\x00-\x1f]*")
_SPACE = re.compile(r"[ \t\r\n]+")
_END_TAG = re.compile(r"</([^\s/>=<\"'&\x00-\x1f]+)[ \t\r\n]*>")
# a start tag whose attribute values need nothing: the common case, matched in one step
# (each part is deterministic, so a failed match costs no more than the tag's length)
_CLEAN_START_TAG = re.compile(
    r"<([^\s/>=<\"'&!?\x00-\x1f][^\s/>=<\"'&\x00-\x1f]*)"
    r"(?:[ \t\r\n]+[^\s/>=<\"'&\x00-\x1f]+[ \t\r\n]*=[ \t\r\n]*"
    f"(?:\"[^\"<&{_FORBIDDEN_CLASS}]*\"|'[^'<&{_FORBIDDEN_CLASS}]*'))*"
    r"[ \t\r\n]*(/?)>"
)
#: elements whose content JUnit schemas define as text only: text a producer left beside a
#: CDATA section inside one of them can only be text
_TEXT_ONLY = frozenset({"failure", "error", "skipped", "system-out", "system-err"})
_CDATA_OPEN = "<![CDATA["
_CDATA_CLOSE = "]]>"
_CDATA_SPLIT = "]]]]><![CDATA[>"  # the standard way to write ']]>' inside CDATA

_DECLARED_ENCODING = re.compile(
    rb"<\?xml[ \t\r\n][^>]{0,200}?encoding[ \t\r\n]*=[ \t\r\n]*[\"']([A-Za-z][A-Za-z0-9._-]*)[\"']"
)
#: markup characters an ASCII-compatible codec must encode as ASCII does
_ASCII_PROBE = '<?xml version="1.0" encoding=\'x\'?><a b="c">&#10;]]>+-~\\ \t\r\n\x1b</a>'


@record
class Repair(Record):
    """A repaired document and how many of each repair were made."""

    data: bytes
    #: the codec the text was read and written with (Python's name, e.g. ``iso8859-1``)
    encoding: str = "utf-8"
    #: raw characters XML forbids (ESC, BEL, NUL...), now visible escapes such as ``\x1b``
    control_characters: int = 0
    #: references to characters XML forbids (``&#27;``, ``&#x1b;``), now visible escapes
    character_references: int = 0
    #: CDATA sections that an unsplit ``]]>`` ended early, rejoined
    cdata_sections: int = 0
    #: ``]]>`` in character data, escaped as ``]]&gt;``
    escaped_brackets: int = 0
    #: runs of text a producer wrote outside its CDATA section, escaped so they stay text
    text_outside_cdata: int = 0

    @property
    def total(self) -> int:
        """The number of repairs of every kind."""
        return (
            self.control_characters
            + self.character_references
            + self.cdata_sections
            + self.escaped_brackets
            + self.text_outside_cdata
        )

    def describe(self) -> str:
        """One line, e.g. ``repaired: 3 control characters, 1 CDATA section``."""
        kinds = (
            (self.control_characters, "control character", "control characters"),
            (
                self.character_references,
                "forbidden character reference",
                "forbidden character references",
            ),
            (self.cdata_sections, "CDATA section", "CDATA sections"),
            (self.escaped_brackets, "']]>' in text", "']]>' in text"),
            (self.text_outside_cdata, "text outside CDATA", "texts outside CDATA"),
        )
        parts = [f"{n} {one if n == 1 else many}" for n, one, many in kinds if n]
        return "repaired: " + ", ".join(parts)


def repair_xml(data: bytes, encoding: str | None = None) -> Repair | None:
    """Repair the breakage known producers write, exactly and locally.

    ``encoding`` is the document's encoding when the caller knows it (the repaired bytes must
    parse as they are, so it has to be the one libxml2 reads); None reads the byte order mark
    or the XML declaration, else UTF-8. The repaired bytes keep that encoding and any UTF-8
    byte order mark.

    Returns None when there is nothing to repair (the document parses, or no rule applies) or
    when it cannot be repaired: it is still not well-formed after repair (every other kind of
    breakage, such as a bare ``&`` or mismatched tags, is left for validation to report), has
    a DOCTYPE, is UTF-16/UTF-32, stateful or not ASCII-compatible, does not decode, or is
    larger than ``MAX_REPAIR_BYTES``. Never raises for bad input.

    The rules, each applied only where it is the one reading of the bytes:

    * a character XML 1.0 forbids, raw or as a character reference (``&#27;``, ``&#x1b;``,
      ``&#0;``), in text, CDATA, attribute values, comments or processing instructions
      becomes the visible text ``\\xNN`` (``\\uNNNN`` above U+00FF), as Python and C write
      it: an ANSI colour code reads ``\\x1b[31m``; a reference above U+10FFFF is kept as its
      own text (``&amp;#x110000;``). References inside CDATA and comments are plain text and
      are left alone;
    * ``]]>`` in character data becomes ``]]&gt;``;
    * a CDATA section ended early by an unsplit ``]]>`` is rejoined (``]]]]><![CDATA[>``):
      a ``]]>`` is early when it is followed by neither the closing tag of the element (after
      optional white space), nor another CDATA section, nor a character reference, and
      another ``]]>`` comes before that closing tag with no CDATA section, comment or
      closing tag in between (read as markup, that text would hold ``]]>``, which XML
      forbids);
    * text after a CDATA section, up to the closing tag of a text-only element (``failure``,
      ``error``, ``skipped``, ``system-out``, ``system-err``), that is not well-formed as
      content (a raw ``<`` or ``&``) is escaped so it stays text, as written: only numeric
      character references in it (Criterion ends each line with ``&#10;``) stay references,
      so ``&amp;`` there shows as ``&amp;``.

    Nothing else is changed, and lxml's ``recover`` mode (which drops content) is never used.
    """
    if not data or len(data) > MAX_REPAIR_BYTES:
        return None
    decoded = _decode(data, encoding)
    if decoded is None:
        return None
    text, codec, bom = decoded
    scanner = _Scanner(text)
    try:
        repaired = scanner.run()
    except _UnrepairableError:
        return None
    if scanner.total == 0:
        return None
    if _parses(data):
        return None  # well-formed already: never rewrite a valid document
    try:
        out = bom + repaired.encode(codec)
    except UnicodeError:
        return None
    if not _parses(out):
        return None
    return Repair(
        out,
        codec,
        control_characters=scanner.control_characters,
        character_references=scanner.character_references,
        cdata_sections=scanner.cdata_sections,
        escaped_brackets=scanner.escaped_brackets,
        text_outside_cdata=scanner.text_outside_cdata,
    )


def _make_check_parser() -> etree.XMLParser:
    # only well-formedness is judged here: no entities, DTD or network; no size limit, since
    # the input is bounded by MAX_REPAIR_BYTES and validation applies its own limits
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,
        collect_ids=False,
    )


def _parses(data: bytes) -> bool:
    try:
        etree.fromstring(data, _make_check_parser())
    except etree.XMLSyntaxError:
        return False
    return True


def _decode(data: bytes, encoding: str | None) -> tuple[str, str, bytes] | None:
    """The text, the codec to write it back with and the byte order mark to keep; None for
    UTF-16/UTF-32, unknown or non-ASCII-compatible encodings, or undecodable bytes."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"<\x00", b"\x00<")):
        return None  # UTF-16 or UTF-32: left alone
    bom = b""
    if data.startswith(codecs.BOM_UTF8):
        bom, data = codecs.BOM_UTF8, data[len(codecs.BOM_UTF8) :]
        encoding = encoding or "utf-8"
    if encoding is None:
        declared = _DECLARED_ENCODING.match(data, 0, 1024)
        encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        return None
    if codec.startswith("iso2022"):
        return None  # stateful: re-encoding could change bytes far from a repair
    if bom and codec != "utf-8":
        return None
    try:
        if _ASCII_PROBE.encode(codec) != _ASCII_PROBE.encode("ascii"):
            return None
        text = data.decode(codec)
    except (UnicodeError, LookupError):
        return None
    if codec != "utf-8":
        # a codec that does not give the same bytes back would change text nobody asked to
        # change (UTF-8 in strict mode always does)
        try:
            if text.encode(codec) != data:
                return None
        except UnicodeError:
            return None
    return text, codec, bom


def _skip_space(text: str, pos: int) -> int:
    found = _SPACE.match(text, pos)
    return found.end() if found is not None else pos


def _visible(char: str) -> str:
    """The text shown for a character XML forbids: ``\\x1b``, ``\\ufffe``."""
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _is_allowed(code: int) -> bool:
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _reference_repair(reference: str) -> str | None:
    """The visible escape for a reference to a forbidden character; None if it is allowed."""
    match = _CHAR_REF.fullmatch(reference)
    if match is None:
        return None
    decimal, hexadecimal = match.groups()
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if _is_allowed(code):
        return None
    if code > 0x10FFFF:
        return "&amp;" + reference[1:]  # no character at all: keep the reference as text
    return _visible(chr(code))


class _UnrepairableError(Exception):
    """The scan met breakage no rule covers: the document stays as it is."""


class _Scanner:
    """One pass over the text: a small XML tokenizer that rewrites only what a rule covers.

    Unchanged text is copied in spans; every look-ahead is bounded by the next ``]]>`` or
    CDATA section, so the total work stays linear in the size of the document.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.mark = 0  # start of the text not yet copied to ``out``
        self.stack: list[str] = []  # names of the open elements
        self.control_characters = 0
        self.character_references = 0
        self.cdata_sections = 0
        self.escaped_brackets = 0
        self.text_outside_cdata = 0

    @property
    def total(self) -> int:
        return (
            self.control_characters
            + self.character_references
            + self.cdata_sections
            + self.escaped_brackets
            + self.text_outside_cdata
        )

    def replace(self, start: int, end: int, new: str) -> None:
        self.out.append(self.text[self.mark : start])
        self.out.append(new)
        self.mark = end

    def run(self) -> str:
        """The repaired text.

        Raises ``_UnrepairableError`` at the first breakage no rule covers (a bare ``<`` or
        ``&``, mismatched tags, an unclosed section, a DOCTYPE): the final parse would fail
        there anyway, and stopping early keeps garbage input cheap.
        """
        text = self.text
        stack = self.stack
        size = len(text)
        pos = 0
        while pos < size:
            found = _CONTENT_SPECIAL.search(text, pos)
            if found is None:
                break
            i = found.start()
            char = text[i]
            if char == "<":
                # the common tags first, inline: this loop runs once per tag
                if (clean := _CLEAN_START_TAG.match(text, i)) is not None:
                    if not clean.group(2):
                        stack.append(clean.group(1))
                    pos = clean.end()
                elif (end := _END_TAG.match(text, i)) is not None:
                    if not stack or stack.pop() != end.group(1):
                        raise _UnrepairableError
                    pos = end.end()
                else:
                    pos = self.markup(i)
            elif char == "&":
                pos = self.reference(i)
            elif char == "]":
                if text.startswith(_CDATA_CLOSE, i):
                    self.replace(i, i + 3, "]]&gt;")
                    self.escaped_brackets += 1
                    pos = i + 3
                else:
                    pos = i + 1
            else:
                self.replace(i, i + 1, _visible(char))
                self.control_characters += 1
                pos = i + 1
        self.out.append(text[self.mark :])
        return "".join(self.out)

    def reference(self, i: int) -> int:
        match = _CHAR_REF.match(self.text, i)
        if match is None:
            if _REFERENCE.match(self.text, i) is None:
                raise _UnrepairableError  # a bare '&', or an entity no DTD declares
            return i + 1
        new = _reference_repair(match.group())
        if new is not None:
            self.replace(i, match.end(), new)
            self.character_references += 1
        return match.end()

    def markup(self, i: int) -> int:
        text = self.text
        if text.startswith(_CDATA_OPEN, i):
            return self.cdata(i + len(_CDATA_OPEN))
        if text.startswith("<!--", i):
            return self.opaque(i + 4, "-->")
        if text.startswith("<?", i):
            return self.opaque(i + 2, "?>")
        if text.startswith(("<!", "</"), i):
            # a DOCTYPE (refused by validation) or a malformed closing tag
            raise _UnrepairableError
        return self.start_tag(i)

    def opaque(self, start: int, terminator: str) -> int:
        """A comment or processing instruction: only raw forbidden characters change."""
        end = self.text.find(terminator, start)
        if end == -1:
            raise _UnrepairableError
        self.fix_forbidden(start, end)
        return end + len(terminator)

    def fix_forbidden(self, start: int, end: int) -> None:
        for found in _FORBIDDEN.finditer(self.text, start, end):
            self.replace(found.start(), found.end(), _visible(found.group()))
            self.control_characters += 1

    def fix_value(self, start: int, end: int) -> None:
        """An attribute value: forbidden characters and references to them."""
        for found in _VALUE_SPECIAL.finditer(self.text, start, end):
            token = found.group()
            if token.startswith("&"):
                new = _reference_repair(token)
                if new is not None:
                    self.replace(found.start(), found.end(), new)
                    self.character_references += 1
            else:
                self.replace(found.start(), found.end(), _visible(token))
                self.control_characters += 1

    def start_tag(self, i: int) -> int:
        """A start tag whose attribute values may need repairs (clean ones are read in ``run``)."""
        text = self.text
        name = _NAME.match(text, i + 1)
        if name is None:
            raise _UnrepairableError  # a bare '<'
        pos = name.end()
        while True:
            pos = _skip_space(text, pos)
            if text.startswith(">", pos):
                self.stack.append(name.group())
                return pos + 1
            if text.startswith("/>", pos):
                return pos + 2
            attribute = _NAME.match(text, pos)
            if attribute is None:
                raise _UnrepairableError
            pos = _skip_space(text, attribute.end())
            if not text.startswith("=", pos):
                raise _UnrepairableError
            pos = _skip_space(text, pos + 1)
            quote = text[pos : pos + 1]
            end = text.find(quote, pos + 1) if quote in ('"', "'") else -1
            if end == -1 or "<" in text[pos + 1 : end]:
                raise _UnrepairableError
            self.fix_value(pos + 1, end)
            pos = end + 1

    def cdata(self, start: int) -> int:
        """A CDATA section starting at ``start`` (just after ``<![CDATA[``)."""
        text = self.text
        is_rejoined = False
        while True:
            end = text.find(_CDATA_CLOSE, start)
            if end == -1:
                raise _UnrepairableError  # never closed
            self.fix_forbidden(start, end)
            after = end + len(_CDATA_CLOSE)
            if not self.is_early_end(after):
                break
            self.replace(end, after, _CDATA_SPLIT)
            is_rejoined = True
            start = after
        if is_rejoined:
            self.cdata_sections += 1
        return self.loose_text(after)

    def close_tag_at(self, name: str, pos: int) -> bool:
        tag = "</" + name
        if not self.text.startswith(tag, pos):
            return False
        follower = self.text[pos + len(tag) : pos + len(tag) + 1]
        return follower == ">" or follower.isspace()

    def is_early_end(self, after: int) -> bool:
        """Whether the ``]]>`` just before ``after`` ends its CDATA section too soon."""
        if not self.stack:
            return False
        text = self.text
        name = self.stack[-1]
        if text.startswith(_CDATA_OPEN, after) or _CHAR_REF.match(text, after):
            return False  # the standard split, or a producer joining sections with references
        if self.close_tag_at(name, _skip_space(text, after)):
            return False
        following = text.find(_CDATA_CLOSE, after)
        if following == -1:
            return False
        return (
            text.find(_CDATA_OPEN, after, following) == -1
            and text.find("<!--", after, following) == -1
            and text.find("</" + name, after, following) == -1
        )

    def loose_text(self, after: int) -> int:
        """Escape text a producer left after a CDATA section inside a text-only element."""
        if not self.stack or self.stack[-1] not in _TEXT_ONLY:
            return after
        text = self.text
        name = self.stack[-1]
        following = text.find(_CDATA_OPEN, after)
        limit = following if following != -1 else len(text)
        close = text.find("</" + name, after, limit)
        while close != -1 and not self.close_tag_at(name, close):
            close = text.find("</" + name, close + 2, limit)
        if close in (-1, after):
            return after
        loose = text[after:close]
        if "<" not in loose and all(
            _REFERENCE.match(loose, m.start()) for m in re.finditer("&", loose)
        ):
            return after  # plain text: the ordinary rules cover it
        if _parses(("<r>" + _FORBIDDEN.sub("?", loose) + "</r>").encode()):
            return after  # well-formed content (child elements): not text left outside
        self.out.append(text[self.mark : after])
        self.out.append(self.escape_loose(loose))
        self.mark = close
        self.text_outside_cdata += 1
        return close

    def escape_loose(self, loose: str) -> str:
        """Text as a producer that escapes nothing wrote it: only its numeric character
        references (Criterion ends each line with ``&#10;``) stay references."""
        parts: list[str] = []
        pos = 0
        for found in _LOOSE_TEXT_SPECIAL.finditer(loose):
            i = found.start()
            if i < pos:
                continue  # inside a reference already copied
            piece = found.group()
            parts.append(loose[pos:i])
            pos = found.end()
            if piece == "<":
                parts.append("&lt;")
            elif piece == "]]>":
                parts.append("]]&gt;")
            elif piece == "&":
                reference = _CHAR_REF.match(loose, i)
                if reference is None:
                    parts.append("&amp;")
                else:
                    new = _reference_repair(reference.group())
                    if new is None:
                        parts.append(reference.group())
                    else:
                        parts.append(new)
                        self.character_references += 1
                    pos = reference.end()
            else:
                parts.append(_visible(piece))
                self.control_characters += 1
        parts.append(loose[pos:])
        return "".join(parts)


# --- one-line messages for XML syntax errors ------------------------------------------------

_ERROR_NAMES: dict[int, str] = {
    value: name
    for name, value in vars(etree.ErrorTypes).items()
    if isinstance(value, int) and name.startswith(("ERR_", "WAR_"))
}
#: readable text for codes whose libxml2 message is missing, obscure or multi-line
_MESSAGES: dict[int, str] = {
    getattr(etree.ErrorTypes, name): text
    for name, text in (
        ("ERR_INVALID_HEX_CHARREF", "a malformed hexadecimal character reference"),
        ("ERR_INVALID_DEC_CHARREF", "a malformed decimal character reference"),
        ("ERR_INVALID_CHARREF", "a malformed character reference"),
        ("ERR_INVALID_CHAR", "a character XML does not allow"),
        (
            "ERR_MISPLACED_CDATA_END",
            "']]>' in text, which XML does not allow there (it must be written ']]&gt;')",
        ),
        (
            "ERR_CDATA_NOT_FINISHED",
            "a CDATA section that is not closed with ']]>', or holds a character XML does "
            "not allow",
        ),
        ("ERR_COMMENT_NOT_FINISHED", "a comment that is not closed with '-->'"),
    )
}
_POSITION_TAIL = re.compile(r",? line \d+, column \d+$")
_VALUE = re.compile(r"\bvalue (\d+)\b|\bChar 0x([0-9a-fA-F]+)\b")


def describe_syntax_error(
    exc: etree.XMLSyntaxError, *, data: bytes | None = None, with_position: bool = True
) -> str:
    """One line saying what is wrong, e.g. ``a character XML does not allow (U+001B) at line
    3, column 7``.

    Never says "Unregistered error message" and never holds a newline or a control
    character. ``data`` (the document) lets a message name the character at the error when
    libxml2 does not; ``with_position=False`` leaves out "at line L, column C" for callers
    that show the position themselves.
    """
    code = getattr(exc, "code", 0)  # lxml-stubs omit it
    code = code if isinstance(code, int) else 0
    raw = (exc.msg or str(exc) or "").strip()
    first = raw.split("\n", 1)[0].strip()
    first = _POSITION_TAIL.sub("", first).strip()
    line, column = exc.position if exc.position else (0, 0)
    message = _MESSAGES.get(code, "")
    if code == etree.ErrorTypes.ERR_INVALID_CHAR:
        message = _invalid_char_message(first, data, line, column)
    elif code == etree.ErrorTypes.ERR_CDATA_NOT_FINISHED:
        char = _char_at(data, line, column) if data is not None else None
        if char is not None and not _is_allowed(ord(char)):
            message = f"a character XML does not allow (U+{ord(char):04X}) in a CDATA section"
    if not message:
        if first and "Unregistered error message" not in first:
            message = first
        else:
            name = _ERROR_NAMES.get(code, "")
            readable = name.split("_", 1)[-1].replace("_", " ").lower() if name else ""
            message = (
                f"XML error: {readable} (libxml2 code {code})"
                if readable
                else f"XML error (libxml2 code {code})"
            )
    message = _FORBIDDEN.sub(lambda m: _visible(m.group()), message)
    if with_position and line:
        message += f" at line {line}" + (f", column {column}" if column else "")
    return message


def _invalid_char_message(first: str, data: bytes | None, line: int, column: int) -> str:
    found = _VALUE.search(first)
    code: int | None = None
    if found is not None:
        code = int(found.group(1)) if found.group(1) else int(found.group(2), 16)
    is_reference = first.startswith("xmlParseCharRef")
    if "out of bounds" in first:
        return "a character reference beyond Unicode (above U+10FFFF)"
    if code is None and data is not None and not is_reference:
        char = _char_at(data, line, column)
        if char is not None and not _is_allowed(ord(char)):
            code = ord(char)
    where = ""
    if "attribute" in first:
        where = " in an attribute value"
    elif first.startswith("xmlParseComment"):
        where = " in a comment"
    if code is None:
        return "a character XML does not allow" + where
    if is_reference:
        return f"a character reference to a character XML does not allow (U+{code:04X})"
    return f"a character XML does not allow (U+{code:04X}){where}"


def _char_at(data: bytes | None, line: int, column: int) -> str | None:
    """The character libxml2 points at (1-based line, 1-based column in characters)."""
    if data is None or line < 1 or column < 1:
        return None
    decoded_encoding = "utf-8"
    declared = _DECLARED_ENCODING.match(data, 0, 1024)
    if declared is not None:
        decoded_encoding = declared.group(1).decode("ascii")
    start = 0
    for _ in range(line - 1):
        start = data.find(b"\n", start) + 1
        if start == 0:
            return None
    end = data.find(b"\n", start)
    # a character takes at most 4 bytes in an ASCII-compatible encoding worth decoding here
    chunk = data[start : min(end if end != -1 else len(data), start + 4 * column + 4)]
    try:
        text = chunk.decode(decoded_encoding, "replace")
    except LookupError:
        return None
    if start == 0 and text.startswith("\ufeff"):
        text = text[1:]
    return text[column - 1] if len(text) >= column else None
