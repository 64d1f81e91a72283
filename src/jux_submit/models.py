"""Frozen data passed between the pipeline stages, and the run summary the reporters render."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from operator import attrgetter
from pathlib import Path
from reprlib import recursive_repr
from typing import Any, TypeVar, dataclass_transform

from jux_submit.errors import InvalidPackageError, ReportRejectedError


class Record:
    """``==``, ``hash()`` and ``repr()`` of a frozen dataclass, written once for all of them.

    The value classes are declared with ``@record`` and inherit these, which behave exactly
    as the generated ones: equal when of the same class with equal ``compare`` fields, the
    hash of those fields, ``Name(field=value, ...)`` of the ``repr`` fields. Start-up is why:
    ``dataclasses`` compiles every method it generates from source when the module is
    imported (about 0.1 ms each, and a run imports some thirty classes).
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            key = _record_keys(self.__class__)[0]
            return key(self) == key(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(_record_keys(self.__class__)[1](self))

    @recursive_repr()
    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _record_keys(self.__class__)[2])
        return f"{self.__class__.__qualname__}({shown})"


_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, eq_default=False, field_specifiers=(field,))
def record(cls: type[_T]) -> type[_T]:
    """The dataclass decorator of the value classes (subclasses of ``Record``): frozen for the
    type checker, which refuses every assignment to a field (``mypy --strict`` checks the
    whole package on every change), a plain dataclass at run time.

    ``frozen=True`` would add a run-time guard that costs two more methods compiled from
    source per class at import (some 6 ms of a small run's ~90) and an ``__init__`` that
    stores each field through ``object.__setattr__``; the assignments it would stop are
    refused before the code runs (tests/unit/test_startup_imports.py checks that they are).
    """
    return dataclass(eq=False, repr=False)(cls)


_Key = Callable[[Any], tuple[Any, ...]]
_RECORD_KEYS: dict[type, tuple[_Key, _Key, tuple[str, ...]]] = {}


def _record_keys(cls: type) -> tuple[_Key, _Key, tuple[str, ...]]:
    """The compared fields' getter, the hashed fields' getter and the shown field names of a
    ``Record`` class (dataclasses' rules: ``hash`` unset follows ``compare``)."""
    found = _RECORD_KEYS.get(cls)
    if found is None:
        every = fields(cls)
        compared = [f.name for f in every if f.compare]
        hashed = [f.name for f in every if (f.compare if f.hash is None else f.hash)]
        found = (_getter(compared), _getter(hashed), tuple(f.name for f in every if f.repr))
        _RECORD_KEYS[cls] = found
    return found


def _getter(names: list[str]) -> _Key:
    """A function returning the tuple of the attributes ``names`` of an object."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


@record
class CIContext(Record):
    """Where a report came from: the CI run and the source under test.

    Every field is a string or None (``is_ci`` is a bool); numbers are strings. The first
    seventeen keys are the documented ``jux-submit detect --json`` contract; the rest feed the
    ``ci:*`` properties of CONTRACT.md.
    """

    is_ci: bool = False
    provider: str | None = None
    branch: str | None = None
    tag: str | None = None
    commit: str | None = None
    pull_request: str | None = None
    pr_source_branch: str | None = None
    pr_target_branch: str | None = None
    build_id: str | None = None
    build_number: str | None = None
    build_url: str | None = None
    job_name: str | None = None
    job_url: str | None = None
    repository: str | None = None
    repository_url: str | None = None
    workspace: str | None = None
    actor: str | None = None
    # extras
    job_id: str | None = None
    run_attempt: str | None = None
    event: str | None = None
    merge_commit: str | None = None
    server_url: str | None = None
    project: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_values(self, **changes: str | None) -> CIContext:
        """A copy with the given fields replaced (None values are applied too)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def fill_missing(self, other: CIContext) -> CIContext:
        """A copy where every empty field takes ``other``'s value (used for the git fallback)."""
        changes = {
            f.name: getattr(other, f.name)
            for f in fields(self)
            if f.name != "is_ci"
            and getattr(self, f.name) in (None, "")
            and getattr(other, f.name) not in (None, "")
        }
        return replace(self, **changes) if changes else self


class Status(StrEnum):
    """Outcome of one report file."""

    SUBMITTED = "submitted"
    INVALID = "invalid"
    FAILED = "failed"  # not accepted, for a reason a later attempt could fix (kept in the outbox)
    REJECTED = "rejected"  # refused by the server for its content (400, 413, 422)
    DRY_RUN = "dry-run"
    SKIPPED = "skipped"
    #: found by a default pattern, but not a test report (kept out of the results)
    IGNORED = "ignored"


class PayloadMode(StrEnum):
    RAW = "raw"
    PACKAGE = "package"


@record
class Endpoint(Record):
    """Where one kind of payload goes (CONTRACT.md): the path below the server root, the body's
    content type, the outbox file suffix and the error a 400 there means."""

    mode: PayloadMode
    path: str
    content_type: str
    suffix: str
    rejection: type[ReportRejectedError] | type[InvalidPackageError]

    @property
    def what(self) -> str:
        return "package" if self.mode is PayloadMode.PACKAGE else "report"


RAW_ENDPOINT = Endpoint(
    PayloadMode.RAW, "/api/v1/junit/submit", "application/xml", ".xml", ReportRejectedError
)
PACKAGE_ENDPOINT = Endpoint(
    PayloadMode.PACKAGE,
    "/api/v1/reports/package",
    "application/vnd.jux.report+zip",
    ".jxz",
    InvalidPackageError,
)
#: The closed set of endpoints: an outbox entry names its kind, never a URL or a path.
ENDPOINTS: dict[PayloadMode, Endpoint] = {e.mode: e for e in (RAW_ENDPOINT, PACKAGE_ENDPOINT)}


@record
class Counts(Record):
    """Test counts of a report or a run (``time`` in seconds)."""

    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    time: float = 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.tests + other.tests,
            self.failures + other.failures,
            self.errors + other.errors,
            self.skipped + other.skipped,
            round(self.time + other.time, 6),
        )


@record
class ReportFile(Record):
    """A file found by discovery: absolute path and path relative to the working directory."""

    path: Path
    relpath: str
    size: int = 0


@record
class ValidationProblem(Record):
    """Why a file is not a valid JUnit report (a value, not an exception)."""

    message: str
    line: int | None = None
    column: int | None = None
    #: well-formed, but another kind of document (a build file, coverage, IDE settings)
    is_not_a_report: bool = False

    def __str__(self) -> str:
        where = ""
        if self.line is not None:
            where = f"line {self.line}" + (f", column {self.column}" if self.column else "") + ": "
        return where + self.message


@record
class ValidReport(Record):
    """A report that parsed as JUnit XML, with its counts and what enrichment needs to know."""

    file: ReportFile
    counts: Counts
    encoding: str = "UTF-8"
    is_signed: bool = False
    #: the JUnit XML later stages use instead of the file (converted from another format, or
    #: re-encoded as UTF-8); None: the file itself
    converted: bytes | None = field(default=None, repr=False, compare=False)


@record
class Attachment(Record):
    """A file to carry in a package: where it is, its name inside ``attachments/``, its test.

    ``root`` is the working directory it was found beneath and ``identity`` the (device, inode)
    seen when it was checked: the bytes are read later by walking from ``root`` again, and only
    from that same file. ``origin`` says where it was named (a marker, a property, a glob).
    """

    path: Path
    name: str
    attachment_for: str | None = None
    root: Path | None = None
    identity: tuple[int, int] | None = None
    origin: str = ""


@record
class Payload(Record):
    """What will be sent for one report (or one combined run).

    ``body`` holds the bytes in memory, or ``body_path`` names a file on disk holding them
    (large reports are streamed from there; ``is_stored`` when that file is an outbox entry,
    opened without following links). ``properties_added`` is what enrichment wrote.
    """

    mode: PayloadMode
    mode_reason: str
    size: int
    body: bytes | None = None
    body_path: Path | None = None
    body_offset: int = 0
    body_prefix: bytes = b""
    properties_added: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    entries: tuple[tuple[str, int], ...] = ()  # package entries and sizes, for dry runs
    sha256: str = ""
    is_stored: bool = False

    @property
    def target(self) -> Endpoint:
        return ENDPOINTS[self.mode]

    @property
    def endpoint(self) -> str:
        """The path relative to the server root, e.g. ``/api/v1/junit/submit``."""
        return ENDPOINTS[self.mode].path

    @property
    def content_type(self) -> str:
        return ENDPOINTS[self.mode].content_type


@record
class FileError(Record):
    """A per-file failure: kind (stable), message, suggestions. Never contains a secret."""

    kind: str
    message: str
    suggestions: tuple[str, ...] = ()


@record
class FileResult(Record):
    """The outcome for one report found (or one combined submission)."""

    path: str  # relative to the working directory
    status: Status
    counts: Counts | None = None
    mode: PayloadMode | None = None
    mode_reason: str | None = None
    size: int | None = None
    endpoint: str | None = None
    test_run_id: str | None = None
    http_status: int | None = None
    attempts: int = 0
    error: FileError | None = None
    warnings: tuple[str, ...] = ()
    properties_added: tuple[tuple[str, str], ...] = ()
    entries: tuple[tuple[str, int], ...] = ()
    outbox_path: str | None = None
    duration: float = 0.0
    is_file: bool = True  # False for a combined submission ("combined (N reports)")
    line: int | None = None  # for annotations: where the problem is in the file
    column: int | None = None
    #: what the user should know beyond the status (a dry run's journal check, a stored copy
    #: sent as it was built)
    note: str | None = None
    #: report files this result stands for (a combined submission: all it merged)
    source_count: int = 1
    #: the format the report was converted from (None: it was JUnit XML)
    source_format: str | None = None
    #: what was repaired in memory before sending (e.g. "repaired: 2 control characters")
    repaired: str | None = None
    #: properties set on purpose that could not be applied (a signed report): with
    #: --fail-on-error, such a report counts as not accepted
    unapplied: tuple[str, ...] = ()

    def with_status(self, status: Status, **changes: Any) -> FileResult:
        return replace(self, status=status, **changes)


@record
class RunSummary(Record):
    """Everything a reporter needs: the results, in the order the files were found."""

    files: tuple[FileResult, ...]
    context: CIContext
    server_root: str | None
    dry_run: bool
    duration: float = 0.0
    warnings: tuple[str, ...] = ()
    no_reports: bool = False
    interrupted: bool = False
    server_version: str | None = None
    patterns: tuple[str, ...] = field(default_factory=tuple)

    #: the outbox folder; entries of earlier runs still pending there (a submit run), or every
    #: entry still pending after the run (``resubmit``: None for a submit run)
    outbox: str | None = None
    pending_earlier: int = 0
    pending_after: int | None = None
    #: run-level notes (the server was unreachable, entries quarantined ...)
    notes: tuple[str, ...] = ()
    #: outbox entries of earlier runs this run sent as they were stored (not files it found)
    earlier: tuple[FileResult, ...] = ()
    #: files a default pattern found that are not test reports (pom.xml, coverage ...)
    ignored: tuple[str, ...] = ()
    #: this run against its base run (None: not compared: --compare off, a dry run, resubmit)
    comparison: Comparison | None = None

    def count(self, status: Status) -> int:
        return sum(1 for f in self.files if f.status is status)

    def files_by_status(self) -> dict[str, int]:
        """Report files per status; the numbers add up to the files found (a combined
        submission counts every report it merged)."""
        out = {s.value: 0 for s in Status}
        for result in self.files:
            out[result.status.value] += result.source_count
        return out

    @property
    def totals(self) -> Counts:
        total = Counts()
        for result in self.files:
            if result.counts is not None and result.status is not Status.INVALID:
                total = total + result.counts
        return total

    @property
    def test_run_ids(self) -> tuple[str, ...]:
        return tuple(f.test_run_id for f in self.files if f.test_run_id)

    @property
    def has_failures(self) -> bool:
        bad = (Status.INVALID, Status.FAILED, Status.REJECTED)
        return any(f.status in bad or f.unapplied for f in self.files)


# --- comparison with the base run (compare.py) ----------------------------------------------


@record
class TestKey(Record):
    """A test as the comparison identifies it: its suite's name, its class name, its name.

    Ordered as the tuple of the three (``order=True`` would generate the four comparisons at
    import; they are written here, with the same meaning)."""

    __test__ = False  # not a test class for pytest

    suite: str
    classname: str
    name: str

    def to_dict(self) -> dict[str, str]:
        return {"suite": self.suite, "classname": self.classname, "name": self.name}

    def __lt__(self, other: TestKey) -> bool:
        if other.__class__ is self.__class__:
            return _test_key(self) < _test_key(other)
        return NotImplemented

    def __le__(self, other: TestKey) -> bool:
        if other.__class__ is self.__class__:
            return _test_key(self) <= _test_key(other)
        return NotImplemented

    def __gt__(self, other: TestKey) -> bool:
        if other.__class__ is self.__class__:
            return _test_key(self) > _test_key(other)
        return NotImplemented

    def __ge__(self, other: TestKey) -> bool:
        if other.__class__ is self.__class__:
            return _test_key(self) >= _test_key(other)
        return NotImplemented


_test_key: Callable[[TestKey], tuple[str, str, str]] = attrgetter("suite", "classname", "name")


class ComparisonStatus(StrEnum):
    COMPARED = "compared"
    NO_BASE = "no-base"  # nothing to compare with (first run of a branch, no branch known)
    UNAVAILABLE = "unavailable"  # the query API failed, is missing, or was too slow
    SKIPPED = "skipped"  # nothing of this run was accepted


@record
class Comparison(Record):
    """This run's reports against the base run's results on the Jux server.

    ``note`` is the one line the console shows when there is nothing to list. The lists are
    sorted; ``new_tests``/``removed_tests`` are counted per suite (tests in a suite beyond the
    base's count of that suite, and the other way round).
    """

    status: ComparisonStatus
    note: str
    base_branch: str | None = None
    base_run_id: str | None = None
    base_run_ids: tuple[str, ...] = ()
    base_commit: str | None = None
    new_failures: tuple[TestKey, ...] = ()
    fixed: tuple[TestKey, ...] = ()
    still_failing: tuple[TestKey, ...] = ()
    new_tests: int = 0
    removed_tests: int = 0

    @property
    def is_compared(self) -> bool:
        return self.status is ComparisonStatus.COMPARED

    @property
    def has_changes(self) -> bool:
        return bool(self.new_failures or self.fixed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "note": self.note,
            "base_run_id": self.base_run_id,
            "base_run_ids": list(self.base_run_ids),
            "base_branch": self.base_branch,
            "base_commit": self.base_commit,
            "new_failures": [k.to_dict() for k in self.new_failures],
            "fixed": [k.to_dict() for k in self.fixed],
            "still_failing": [k.to_dict() for k in self.still_failing],
            "new_tests": self.new_tests,
            "removed_tests": self.removed_tests,
        }
