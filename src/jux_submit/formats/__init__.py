"""Report formats beyond JUnit XML, converted to JUnit XML before validation and enrichment.

The Jux server takes only JUnit XML, so the conversion is ours. Each format is one module of
this package exposing ``FORMAT`` (a ``base.ReportFormat``), named in ``NAMES``; ``sniff_file``
recognises a file's format from its first bytes (a JUnit report, the usual case, is known from
its root element at the cost of one small read), ``convert_file`` converts it. Converters write
their JUnit with ``junit.write_junit``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from jux_submit.formats.base import Conversion, ConversionError, ReportFormat
from jux_submit.models import Record, record

__all__ = [
    "NAMES",
    "Conversion",
    "ConversionError",
    "Converted",
    "ReportFormat",
    "convert_file",
    "get_format",
    "read_report",
]

#: every format, in the order their sniffers are tried (the most specific first)
NAMES = (
    "trx",
    "nunit",
    "xunit",
    "ctrf",
    "playwright",
    "jest",
    "mocha",
    "cucumber",
    "rspec",
    "dart",
    "gotest",
    "tap",
)
SNIFF_BYTES = 64 * 1024
#: the largest report converted (read whole into memory)
MAX_CONVERTED = 512 * 1024 * 1024
_JUNIT_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?testsuites?[\s/>]")
_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*)*", re.DOTALL)


def get_format(name: str) -> ReportFormat:
    """The format called ``name``. Raises ``KeyError`` for an unknown one."""
    if name not in NAMES:
        raise KeyError(name)
    module = importlib.import_module(f"jux_submit.formats.{name}")
    found: ReportFormat = module.FORMAT
    return found


def available() -> tuple[ReportFormat, ...]:
    """The formats whose converters are installed, in sniffing order."""
    out = []
    for name in NAMES:
        try:
            out.append(get_format(name))
        except ImportError:
            continue
    return tuple(out)


def is_junit(head: bytes) -> bool:
    """True when the first element is ``<testsuites>`` or ``<testsuite>`` (any encoding that
    is ASCII-compatible; UTF-16 reports are left to the parser)."""
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    prolog = _PROLOG.match(text)
    start = prolog.end() if prolog else 0
    return bool(_JUNIT_ROOT.match(text, start))


def _as_utf8(head: bytes) -> bytes:
    """The start of a UTF-16 head as UTF-8 (for the JUnit check); other heads unchanged."""
    if not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return b""
    text = head[: len(head) - len(head) % 2].decode("utf-16", "replace")
    return text.encode("utf-8")


def sniff(head: bytes, name: str) -> ReportFormat | None:
    """The format of a report whose first bytes are ``head`` (None: JUnit or unknown, left to
    JUnit validation, which says what is wrong)."""
    if is_junit(head) or is_junit(_as_utf8(head)):
        return None
    for candidate in available():
        if candidate.sniff(head, name):
            return candidate
    return None


@record
class Converted(Record):
    """A report converted to JUnit: the XML, the hash of the original file, the format."""

    conversion: Conversion
    source_sha256: str


def convert_file(path: Path, name: str, forced: str | None = None) -> Converted | None:
    """Convert the report at ``path`` when it is in another format than JUnit (``forced``
    names the format, from ``--format``; ``"junit"`` turns conversion off). Returns None for
    a JUnit report. Raises ``ConversionError`` or ``OSError``."""
    return read_report(path, name, forced)[0]


def read_report(
    path: Path, name: str, forced: str | None = None
) -> tuple[Converted | None, bytes | None]:
    """``convert_file``, plus the bytes read to sniff the format when they are the whole file
    (a JUnit report under ``SNIFF_BYTES``; else None): validation can take them
    (``validate_report(..., data=...)``) instead of opening the file again."""
    if forced == "junit":
        return None, None
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
        found = get_format(forced) if forced else sniff(head, name)
        if found is None:
            return None, head if len(head) < SNIFF_BYTES else None
        rest = handle.read(MAX_CONVERTED + 1 - len(head)) if len(head) == SNIFF_BYTES else b""
    data = head + rest
    if len(data) > MAX_CONVERTED:
        raise ConversionError(
            f"the {found.title} report is over {MAX_CONVERTED // 2**20} MiB, the most "
            "jux-submit converts; split it, or write JUnit XML directly"
        )
    conversion = found.convert(data)
    import hashlib  # OpenSSL's start-up: only for a report that is converted

    return Converted(conversion, hashlib.sha256(data).hexdigest()), None
