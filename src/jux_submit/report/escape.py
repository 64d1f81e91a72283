"""Escaping per output channel: console and log lines, workflow commands, job-summary Markdown,
step outputs, the GitLab dotenv file and job log, JSON text. Applied where text leaves the program
(reporters and the log formatter call it), never where the text comes from.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from urllib.parse import quote

# --- shared pieces -----------------------------------------------------------------------

#: Inserted to break a sequence a CI would act on (``::`` at a line start, ``##[``, GitLab's
#: ``section_start:``): invisible when shown, and no runner treats it as whitespace.
BREAK = "\u200b"

#: C0 and C1 controls, DEL, the Unicode line/paragraph separators and the bidirectional
#: overrides ("Trojan Source"): characters that end a line, move the cursor, start an ANSI
#: escape or reorder what a reader sees. Shown as ``\n``, ``\x1b``, ``\u202e`` ...
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: What the GitHub runner acts on anywhere in a line (its v1 command syntax), and GitLab's
#: section markers (which also need ESC and CR, shown as text by ``_show_controls``).
_LOG_COMMANDS = re.compile(r"##\[|section_(?=(?:start|end):)")
#: A v2 workflow command: the line, after leading whitespace, starts with ``::``.
_LINE_COMMAND = re.compile(r"^(\s*):(?=:)")


# The fast paths below return text unchanged when no pattern can match. ``str.isprintable``
# is False for every character ``_CONTROLS`` matches (they are all in the Unicode categories
# Cc, Cf, Zl or Zp, which it treats as not printable; tests/unit/test_escape_fast.py checks
# every code point), and ``_LOG_COMMANDS`` and ``_LINE_COMMAND`` cannot match without ``##[``,
# ``section_`` or ``::``.


def _visible(char: str) -> str:
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def _show_controls(text: str, keep: str = "") -> str:
    return _CONTROLS.sub(lambda m: m.group(0) if m.group(0) in keep else _visible(m.group(0)), text)


def _break_log_commands(text: str) -> str:
    return _LOG_COMMANDS.sub(lambda m: m.group(0)[:-1] + BREAK + m.group(0)[-1], text)


# --- console and logs --------------------------------------------------------------------


def escape_console(text: str) -> str:
    """One untrusted value for a console or log line (stdout summary, stderr log).

    Controls (CR and LF included) are shown as ``\\r``, ``\\n``, ``\\x1b`` ..., so one value
    stays on one line and cannot colour or rewrite the terminal; ``##[``, ``section_start:``
    and ``section_end:`` are broken with an invisible ``BREAK``, since CI runners read these
    anywhere in a log line. Backslashes are left alone (Windows paths stay readable).
    """
    if text.isprintable() and "##[" not in text and "section_" not in text:
        return text  # nothing to show or break (the fast path, above)
    return _break_log_commands(_show_controls(text))


def guard_line(line: str) -> str:
    """A whole line that carries untrusted text, made unable to act as a CI command: a leading
    ``::`` (after whitespace) is broken, and so is every ``##[`` or section marker."""
    if "::" not in line and "##[" not in line and "section_" not in line:
        return line  # no pattern below can match: each needs one of these substrings
    return _break_log_commands(_LINE_COMMAND.sub(lambda m: m.group(1) + ":" + BREAK, line, 1))


def guard_text(text: str) -> str:
    """Text that keeps its line breaks (a traceback, an error listing several problems): every
    other control is shown as text and each line goes through ``guard_line``."""
    return "\n".join(guard_line(_show_controls(line)) for line in text.split("\n"))


def escape_gitlab_log(text: str) -> str:
    """One untrusted value for GitLab's job log (a section title, a log line): the console
    rules, since the job log is the console. ESC and CR become text, so neither a colour nor a
    ``section_start``/``section_end`` marker (which needs ``\\r\\e[0K``) can be forged."""
    return escape_console(text)


class ConsoleLogFormatter(logging.Formatter):
    """The stderr log format with the console rules applied: the message (and every value
    formatted into it) is redacted, then escaped, so a record is exactly one line; tracebacks
    keep their line breaks but each line is redacted and guarded."""

    def __init__(self, fmt: str, redact: Callable[[str], str] = str) -> None:
        super().__init__(fmt)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_console(self._redact(record.getMessage()))
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        parts = [guard_line(self.formatMessage(record))]
        if record.exc_info:
            parts.append(self.formatException(record.exc_info))
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join([parts[0], *(guard_text(self._redact(p)) for p in parts[1:])])


# --- GitHub workflow commands (actions/toolkit: command.ts) -----------------------------

# The patterns of the CI channels (commands, summaries, dotenv, JSON) are kept as text and
# compiled by ``re`` on first use (and cached there): a run that writes none of them, like a
# dry run on a workstation, compiles none.
_COMMAND_NAME = r"[a-z][a-z-]*"


def escape_mask_value(secret: str) -> str:
    """A secret for ``::add-mask::``: the toolkit's data rules only (``%``, CR, LF), so the
    runner masks the exact value. Secrets are the user's own settings, not untrusted text."""
    return secret.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_command_data(text: str) -> str:
    """The message of a workflow command: ``%``→``%25``, CR→``%0D``, LF→``%0A`` (the runner
    turns them back into a multi-line annotation), other controls shown as text, ``##[`` and
    section markers broken."""
    shown = _show_controls(text, keep="\r\n")
    return _break_log_commands(escape_mask_value(shown))


def escape_command_property(text: str) -> str:
    """A property value of a workflow command: the data rules plus ``:``→``%3A``, ``,``→``%2C``."""
    return escape_command_data(text).replace(":", "%3A").replace(",", "%2C")


def format_command(command: str, message: str, properties: Mapping[str, str] | None = None) -> str:
    """One ``::command prop=value,...::message`` line, escaped; empty properties are left out.
    ``command`` and the property names are ours (checked), values and message untrusted."""
    if not re.fullmatch(_COMMAND_NAME, command):
        raise ValueError(f"not a workflow command name: {command!r}")
    pairs = []
    for key, value in (properties or {}).items():
        if not re.fullmatch(_COMMAND_NAME, key):
            raise ValueError(f"not a workflow command property: {key!r}")
        if value:
            pairs.append(f"{key}={escape_command_property(value)}")
    props = ",".join(pairs)
    return f"::{command}{' ' + props if props else ''}::{escape_command_data(message)}"


# --- GitHub job summary (GitHub Flavored Markdown) --------------------------------------

#: Backslash-escaped wherever they appear: inline syntax (emphasis, code, links, images, raw
#: HTML, entities, strikethrough, table pipes, math), ``#`` and ``>`` (headings, quotes),
#: ``:`` (``http://`` autolinks, emoji) and ``@`` (mentions, e-mail autolinks). CommonMark
#: shows any backslash-escaped ASCII punctuation as the character itself.
_MARKDOWN_SPECIAL = r"([\\`*_\[\]<>&!|~$#:@])"
#: Only special at the start of a block (list items, ordered lists, setext underlines).
_MARKDOWN_LEADING = r"^([-+=]|\d+(?=[.)]))"
#: ``www.`` starts a GFM extended autolink without any scheme.
_MARKDOWN_WWW = r"(?i)(?<![a-z0-9])(www)\."


def escape_markdown(text: str) -> str:
    """Untrusted text as plain Markdown text (a table cell, a list item, link text): shown as
    written, never as a link, image, HTML element or formatting. Line breaks become spaces
    (a table row is one line), other controls are shown as text."""
    flat = " ".join(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip()
    flat = _show_controls(flat)
    flat = re.sub(_MARKDOWN_SPECIAL, r"\\\1", flat)
    flat = re.sub(_MARKDOWN_WWW, r"\1\\.", flat)
    match = re.match(_MARKDOWN_LEADING, flat)
    if match:  # "- x" or "+ x" (a list), "=" (an underline), "1." or "1)": escape the mark
        at = match.end() if match.group(1)[0].isdigit() else 0
        flat = flat[:at] + "\\" + flat[at:]
    return flat


def format_code_span(text: str, *, is_table_cell: bool) -> str:
    """Untrusted text as an inline code span: nothing inside is parsed (no HTML, no links);
    the fence is longer than any run of backticks inside. Controls are shown as text; in a
    table cell ``|`` is escaped (GFM splits cells before it reads code spans)."""
    inner = _show_controls(text)
    if is_table_cell:
        inner = inner.replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", inner)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if "`" in inner or (inner.startswith(" ") and inner.endswith(" ")) else ""
    return f"{fence}{pad}{inner or ' '}{pad}{fence}"


def escape_link_destination(url: str) -> str | None:
    """``url`` as a Markdown link destination, or None unless it is ``http(s)``: spaces,
    controls, quotes, brackets, parentheses and backslashes percent-encoded."""
    if not url.lower().startswith(("http://", "https://")):
        return None
    return quote(url, safe="/:?#@!$&*+,;=%~-._")


def quote_path_segment(text: str) -> str:
    """``text`` as one URL path segment (every reserved character percent-encoded)."""
    return quote(text, safe="")


# --- GitHub step outputs -----------------------------------------------------------------


def escape_output_value(text: str) -> str:
    """A step output value, kept on one line (controls, CR and LF shown as text)."""
    return _show_controls(text)


def format_outputs(values: Mapping[str, str], delimiter: str = "") -> str:
    """``GITHUB_OUTPUT`` text: ``name<<DELIMITER``, the value, ``DELIMITER`` for each output.

    Values are escaped to one line; the delimiter is random (``ghadelimiter_<uuid4>``, the
    toolkit's form) and drawn again in the unlikely case a value contains it. A fixed
    ``delimiter`` (tests) that occurs in a value raises ``ValueError``.
    """
    import uuid  # only where outputs are written

    lines = {name: escape_output_value(value) for name, value in values.items()}
    chosen = delimiter or f"ghadelimiter_{uuid.uuid4()}"
    while any(chosen in value for value in lines.values()):
        if delimiter:
            raise ValueError(f"an output contains the delimiter {delimiter!r}")
        chosen = f"ghadelimiter_{uuid.uuid4()}"
    out: list[str] = []
    for name, value in lines.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
            raise ValueError(f"not an output name: {name!r}")
        out += [f"{name}<<{chosen}", value, chosen]
    return "\n".join(out) + "\n"


# --- GitLab dotenv -----------------------------------------------------------------------

#: GitLab's dotenv report has no escape syntax: a line break ends the value, quotes are
#: stripped, ``#`` may start a comment, ``$`` may be expanded in later jobs. Values keep only
#: these characters (ids, numbers, ``true``, comma-separated lists).
_DOTENV_UNSAFE = r"[^A-Za-z0-9_.,:+~/@%-]"
_DOTENV_NAME = r"[A-Z_][A-Z0-9_]*"


def escape_dotenv_value(text: str) -> str:
    """A dotenv value that cannot break the format: every other character is dropped."""
    return re.sub(_DOTENV_UNSAFE, "", text)


def format_dotenv(values: Mapping[str, str]) -> str:
    """One ``NAME=value`` line per variable (names checked, values escaped), no quotes."""
    lines = []
    for name, value in values.items():
        if not re.fullmatch(_DOTENV_NAME, name):
            raise ValueError(f"not a dotenv variable name: {name!r}")
        lines.append(f"{name}={escape_dotenv_value(value)}\n")
    return "".join(lines)


# --- JSON text ---------------------------------------------------------------------------

_JSON_UNSAFE = "[\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"


def guard_json_text(text: str) -> str:
    """Serialized JSON made safe to print to a CI log, with the same value: C1 controls, line
    separators and bidi overrides (left raw by ``ensure_ascii=False``) become ``\\uXXXX`` and
    ``##[`` becomes ``#\\u0023[`` (``#`` only occurs inside strings, so both are exact)."""
    text = re.sub(_JSON_UNSAFE, lambda m: f"\\u{ord(m.group(0)):04x}", text)
    return text.replace("##[", "#\\u0023[")
