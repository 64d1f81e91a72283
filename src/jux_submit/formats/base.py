"""What a report format is: how it is recognised and how it becomes JUnit XML."""

from __future__ import annotations

from collections.abc import Callable

from jux_submit.models import Record, record


class ConversionError(ValueError):
    """The input looks like the format but cannot be converted; the message says where and
    why (one line)."""


@record
class Conversion(Record):
    """A report turned into JUnit XML (UTF-8), with what the user should know about it."""

    xml: bytes
    source_format: str
    warnings: tuple[str, ...] = ()


@record
class ReportFormat(Record):
    """One format: ``sniff`` looks at the first bytes (up to 64 KiB) and the file name and says
    whether they are this format; ``convert`` turns the whole input into JUnit XML, raising
    ``ConversionError``."""

    name: str  # the --format value, e.g. "trx"
    title: str  # for messages and the README, e.g. "Visual Studio TRX"
    sniff: Callable[[bytes, str], bool]
    convert: Callable[[bytes], Conversion]
