"""The fast paths of ``escape_console`` and ``guard_line`` (plain text returned as is) against
the full escaping they skip, on every code point and on many hostile and plain strings."""

from __future__ import annotations

import random
import sys

import pytest

from jux_submit.report import escape
from jux_submit.report.escape import BREAK, escape_console, guard_line


def _slow_console(text: str) -> str:
    return escape._break_log_commands(escape._show_controls(text))


def _slow_guard(line: str) -> str:
    return escape._break_log_commands(
        escape._LINE_COMMAND.sub(lambda m: m.group(1) + ":" + BREAK, line, 1)
    )


def test_every_control_the_escaping_shows_is_not_printable() -> None:
    # the premise of the fast path: str.isprintable() is False for each of them
    missed = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if escape._CONTROLS.match(chr(code)) and chr(code).isprintable()
    ]
    assert missed == []


HOSTILE = [
    "",
    "plain text",
    "module-00/sub-3/target/surefire-reports/TEST-com.example.Test.xml",
    "line\nbreak",
    "carriage\rreturn",
    "tab\there",
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;http://evil\x07link\x1b]8;;\x07",
    "::error::forged",
    "  ::add-mask::secret",
    "\t::set-output name=x::y",
    "\u3000::warning::ideographic space",
    "\x1c::file separator is whitespace to re",
    "text ::not at start",
    "a::b",
    "::",
    ":",
    "##[error]forged",
    "x ##[group]",
    "#\x00#[",
    "section_start:1234:name\r\x1b[0Kshown",
    "section_end:1:x",
    "section_other:not a marker",
    "section_",
    "\u202eevil\u202c",
    "\u2066isolate\u2069",
    "\u200e\u200f marks",
    "zero\u200bwidth",
    "\u2028line separator\u2029",
    "\x85next line (C1)",
    "\x9bCSI (C1)",
    "\x7f delete",
    "\x00 nul",
    "\udcff surrogate escape",
    "\ufeff bom",
    "caf\u00e9 \u65e5\u672c \U0001f600",
    "C:\\path\\to\\file.xml",
    "\u00a0no-break space",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_the_fast_paths_match_the_full_escaping(text: str) -> None:
    assert escape_console(text) == _slow_console(text)
    assert guard_line(text) == _slow_guard(text)
    assert guard_line(escape_console(text)) == _slow_guard(_slow_console(text))


_PIECES = [
    *HOSTILE,
    *"#[]:_ \t\n\r\x1b\x07\x85\u2028\u202e\u200b\u3000",
    "section",
    "start:",
    "end:",
    "##",
    "[",
    "abc",
]


def test_the_fast_paths_match_the_full_escaping_on_random_strings() -> None:
    rng = random.Random(7)
    for _ in range(20000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 6)))
        if rng.random() < 0.2:
            text += chr(rng.randint(0, 0x3000))
        assert escape_console(text) == _slow_console(text), repr(text)
        assert guard_line(text) == _slow_guard(text), repr(text)
