"""GitLab CI output: collapsible log sections and the dotenv report with the test run ids.

The dotenv file (default ``jux-submit.env`` in ``CI_PROJECT_DIR``, or the path in
``JUX_DOTENV``) is what the template's ``artifacts: reports: dotenv`` picks up, so later jobs
get ``JUX_TEST_RUN_IDS``. A failed write is only a warning.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from jux_submit.models import RunSummary, Status
from jux_submit.report.escape import escape_dotenv_value, escape_gitlab_log, format_dotenv
from jux_submit.report.files import replace_file

if TYPE_CHECKING:
    from jux_submit.settings import Settings

LOG = logging.getLogger(__name__)

DEFAULT_DOTENV = "jux-submit.env"
DOTENV_VARIABLE = "JUX_DOTENV"
#: GitLab refuses a dotenv report over 5 KiB; keep the ids within a safe share of it.
MAX_DOTENV_BYTES = 4096
LOG_SECTION_TITLE = "jux-submit: finding, validating and submitting reports"
_SECTION_NAME_RE = re.compile(r"[^a-z0-9_.-]+")
_ESC = "\x1b"


def section_start(name: str, title: str, timestamp: int, *, collapsed: bool = True) -> str:
    """The line that opens a collapsible section (GitLab's ``section_start`` marker); the
    title is escaped for the job log, the name must already be safe (``section_name``)."""
    _check_section_name(name)
    options = "[collapsed=true]" if collapsed else ""
    title = escape_gitlab_log(title)
    return f"{_ESC}[0Ksection_start:{timestamp}:{name}{options}\r{_ESC}[0K{title}"


def section_end(name: str, timestamp: int) -> str:
    """The line that closes the section ``name``."""
    _check_section_name(name)
    return f"{_ESC}[0Ksection_end:{timestamp}:{name}\r{_ESC}[0K"


def _check_section_name(name: str) -> None:
    if not re.fullmatch(r"[a-z0-9_.-]+", name):
        raise ValueError(f"not a GitLab section name: {name!r}")


def section_name(title: str, index: int) -> str:
    """A section name GitLab accepts (lower-case letters, digits, ``_.-``), unique per run."""
    slug = _SECTION_NAME_RE.sub("_", title.lower()).strip("_")[:40] or "section"
    return f"jux_{index}_{slug}"


def dotenv_values(summary: RunSummary) -> dict[str, str]:
    """The variables later jobs receive, in a fixed order.

    ``JUX_TEST_RUN_IDS`` is comma-separated. When the ids would push the file past
    ``MAX_DOTENV_BYTES`` the list is cut and ``JUX_TEST_RUN_IDS_TRUNCATED=true`` is added.
    """
    failed = summary.count(Status.FAILED) + summary.count(Status.REJECTED)
    values = {
        "JUX_SUBMITTED": str(summary.count(Status.SUBMITTED)),
        "JUX_FAILED": str(failed),
        "JUX_INVALID": str(summary.count(Status.INVALID)),
        "JUX_NEW_FAILURES": "",
        "JUX_FIXED": "",
        "JUX_TEST_RUN_IDS": "",
    }
    c = summary.comparison
    if c is not None and c.is_compared:  # empty: not compared (off, no base, unavailable)
        values["JUX_NEW_FAILURES"] = str(len(c.new_failures))
        values["JUX_FIXED"] = str(len(c.fixed))
    flag_line = "JUX_TEST_RUN_IDS_TRUNCATED=true\n"
    budget = MAX_DOTENV_BYTES - len(format_dotenv(values)) - len(flag_line)
    ids: list[str] = []
    used = 0
    truncated = False
    for test_run_id in summary.test_run_ids:
        clean = escape_dotenv_value(test_run_id).replace(",", "")  # a comma separates ids
        if not clean:
            continue
        cost = len(clean.encode("utf-8")) + (1 if ids else 0)
        if used + cost > budget:
            truncated = True
            break
        ids.append(clean)
        used += cost
    values["JUX_TEST_RUN_IDS"] = ",".join(ids)
    if truncated:
        values["JUX_TEST_RUN_IDS_TRUNCATED"] = "true"
    return values


def render_dotenv(summary: RunSummary) -> str:
    """The dotenv report: one ``NAME=value`` line per variable, no quotes, no newlines."""
    return format_dotenv(dotenv_values(summary))


def dotenv_path(environ: Mapping[str, str], cwd: Path) -> Path:
    """``JUX_DOTENV`` if set, else ``jux-submit.env``; relative paths are taken from
    ``CI_PROJECT_DIR`` (where GitLab collects artifacts), else from ``cwd``."""
    base = Path(environ.get("CI_PROJECT_DIR", "").strip() or cwd)
    chosen = environ.get(DOTENV_VARIABLE, "").strip() or DEFAULT_DOTENV
    path = Path(chosen)
    return path if path.is_absolute() else base / path


class GitlabReporter:
    """Writes collapsible sections to ``stream`` and the dotenv report when the run ends."""

    def __init__(
        self,
        environ: Mapping[str, str],
        redact: Callable[[str], str] = str,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.time,
        cwd: Path | None = None,
    ) -> None:
        self.environ = environ
        self.redact = redact
        self.stream = stream if stream is not None else sys.stdout
        self.clock = clock
        self.cwd = cwd
        self._sections = 0
        self._open_section: str | None = None

    def _emit(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def start(self, settings: Settings) -> None:
        """Open a collapsed section for the run's log lines (closed by ``end_logs`` or
        ``finish``). GitLab masks secrets itself (masked CI/CD variables)."""
        self._sections += 1
        self._open_section = section_name(LOG_SECTION_TITLE, self._sections)
        self._emit(section_start(self._open_section, LOG_SECTION_TITLE, int(self.clock())))

    def end_logs(self) -> None:
        """Close the run's section (idempotent), so the summary after it stays visible."""
        if self._open_section:
            self._emit(section_end(self._open_section, int(self.clock())))
            self._open_section = None

    @contextmanager
    def log_group(self, title: str) -> Iterator[None]:
        """A collapsed section around the log lines written inside the block."""
        self._sections += 1
        name = section_name(title, self._sections)
        self._emit(section_start(name, self.redact(title), int(self.clock())))
        try:
            yield
        finally:
            self._emit(section_end(name, int(self.clock())))

    def finish(self, summary: RunSummary, settings: Settings, results_file: str | None) -> None:
        """Write the dotenv report (also in dry runs, so the variables always exist)."""
        self.end_logs()
        path = dotenv_path(self.environ, self.cwd or settings.working_directory)
        try:
            # a new file renamed into place: a link planted in the workspace is not followed
            replace_file(path, self.redact(render_dotenv(summary)))
        except OSError as exc:
            LOG.warning("could not write the dotenv report %s: %s", path, exc.strerror or exc)
