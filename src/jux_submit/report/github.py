"""GitHub Actions output: log groups, the API-key mask, annotations, job summary, step outputs.

Pure ``render_*`` functions turn a ``RunSummary`` into text, escaped per channel by ``escape``;
``GithubReporter`` writes it to stdout and appends it to the files the runner names in
``GITHUB_STEP_SUMMARY`` and ``GITHUB_OUTPUT``. A failed write is only a warning.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from jux_submit.models import FileResult, RunSummary, Status
from jux_submit.report.changes import format_test_run_url, markdown_section
from jux_submit.report.escape import (
    escape_command_data,
    escape_link_destination,
    escape_markdown,
    escape_mask_value,
    format_code_span,
    format_command,
    format_outputs,
)
from jux_submit.report.files import append_text, replace_file

if TYPE_CHECKING:
    from jux_submit.settings import Settings

LOG = logging.getLogger(__name__)

#: GitHub rejects a step summary over 1 MiB (the runner's per-step limit is 1024 KiB);
#: stay well below it so the note about truncation always fits.
MAX_SUMMARY_BYTES = 1_000_000
#: Longest problem message shown in one table cell or annotation.
MAX_MESSAGE_CHARS = 500

STATUS_LABELS: Mapping[Status, str] = {
    Status.SUBMITTED: "✅ submitted",
    Status.DRY_RUN: "🔍 dry run",
    Status.INVALID: "❌ invalid",
    Status.REJECTED: "❌ rejected",
    Status.FAILED: "⚠️ not sent (outbox)",
    Status.SKIPPED: "⏭️ skipped",
}
LOG_GROUP_TITLE = "jux-submit: finding, validating and submitting reports"
OUTPUT_NAMES = ("submitted", "failed", "invalid", "test-run-ids", "results-file")


# --- annotations -------------------------------------------------------------------------


def _shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _problem(result: FileResult) -> str:
    if result.error is None:
        return result.status.value
    text = result.error.message
    if result.error.suggestions:
        text += " (" + "; ".join(result.error.suggestions) + ")"
    return text


def render_annotations(
    summary: RunSummary, path_prefix: str = "", no_reports_level: str | None = "warning"
) -> list[str]:
    """``::error``/``::warning`` lines for problem reports and run warnings, in file order.

    Invalid and rejected reports are errors; reports kept in the outbox (retryable) and
    per-file warnings are warnings. ``path_prefix`` turns paths relative to the working
    directory into paths relative to the repository root, which GitHub needs to link them.
    ``no_reports_level`` (``error``, ``warning`` or None) follows ``if-no-files-found``.
    """
    lines: list[str] = []
    not_sent = 0
    for result in summary.files:
        file_path = path_prefix + result.path
        if result.error is not None and result.error.kind == "not-sent":
            not_sent += 1  # one annotation for all of them, below
            continue
        props: dict[str, str] = {"file": file_path} if result.is_file else {}
        if result.status is Status.INVALID:
            if result.line is not None:
                props["line"] = str(result.line)
                if result.column is not None:
                    props["col"] = str(result.column)
            props["title"] = "Invalid JUnit report"
            lines.append(format_command("error", _shorten(_problem(result)), props))
        elif result.status is Status.REJECTED:
            props["title"] = "Report rejected by the Jux server"
            lines.append(format_command("error", _shorten(_problem(result)), props))
        elif result.status is Status.FAILED:
            props["title"] = "Report not submitted"
            message = _problem(result)
            if result.outbox_path:
                message += f"; kept in {result.outbox_path} for 'jux-submit resubmit'"
            lines.append(format_command("warning", _shorten(message), props))
        for warning in result.warnings:
            lines.append(
                format_command(
                    "warning", _shorten(warning), {"file": file_path} if result.is_file else {}
                )
            )
    if not_sent:
        message = (
            f"{not_sent} report(s) were not sent because the server could not be used; they "
            "were kept in the outbox for 'jux-submit resubmit'"
        )
        lines.append(format_command("warning", message, {"title": "Reports not submitted"}))
    if summary.no_reports and no_reports_level:
        patterns = ", ".join(summary.patterns) or "the default patterns"
        message = f"No JUnit XML report matched {patterns}"
        lines.append(format_command(no_reports_level, message, {"title": "No reports found"}))
    for warning in summary.warnings:
        lines.append(format_command("warning", _shorten(warning)))
    return lines


# --- job summary ---------------------------------------------------------------------------


def _headline(summary: RunSummary) -> str:
    parts: list[str] = []
    for status, word in (
        (Status.SUBMITTED, "submitted"),
        (Status.DRY_RUN, "checked (dry run)"),
        (Status.INVALID, "invalid"),
        (Status.REJECTED, "rejected"),
        (Status.FAILED, "not sent"),
        (Status.SKIPPED, "skipped"),
    ):
        n = summary.count(status)
        if n:
            parts.append(f"{n} {word}")
    total = len(summary.files)
    noun = "report" if total == 1 else "reports"
    return f"## Jux: {total} {noun}" + (" — " + ", ".join(parts) if parts else "")


def _row(result: FileResult, server_root: str | None) -> str:
    counts = result.counts
    numbers = (
        [str(counts.tests), str(counts.failures), str(counts.errors), str(counts.skipped)]
        if counts is not None and result.status is not Status.INVALID
        else ["", "", "", ""]
    )
    run = ""
    if result.test_run_id:
        url = format_test_run_url(server_root, result.test_run_id)
        target = escape_link_destination(url) if url else None
        run = (
            f"[{escape_markdown(result.test_run_id)}]({target})"
            if target
            else format_code_span(result.test_run_id, is_table_cell=True)
        )
    status = STATUS_LABELS.get(result.status, result.status.value)
    path = format_code_span(result.path, is_table_cell=True)
    return "| " + " | ".join([path, status, *numbers, run]) + " |"


def _problem_line(result: FileResult) -> str:
    where = ""
    if result.line is not None:
        where = f" (line {result.line}" + (f", column {result.column}" if result.column else "")
        where += ")"
    path = format_code_span(result.path, is_table_cell=False)
    return f"- {path}{where}: {escape_markdown(_shorten(_problem(result)))}"


def render_step_summary(summary: RunSummary, max_bytes: int = MAX_SUMMARY_BYTES) -> str:
    """The Markdown job summary: headline, one table row per report, totals, problems.

    Rows (then problem lines) are dropped from the end when the text would exceed
    ``max_bytes`` in UTF-8, and a note says how many were left out; Markdown stays valid.
    """
    server_root = None if summary.dry_run else summary.server_root
    head: list[str] = [_headline(summary), ""]
    if summary.dry_run:
        head += ["Dry run: nothing was sent to the server.", ""]
    if summary.no_reports:
        patterns = (
            ", ".join(format_code_span(p, is_table_cell=False) for p in summary.patterns)
            or "the default patterns"
        )
        head += [f"No JUnit XML report matched {patterns}.", ""]
    if summary.interrupted:
        head += ["The run was interrupted; the reports below were handled before it stopped.", ""]
    head += markdown_section(summary.comparison, server_root)

    table_head = [
        "| Report | Status | Tests | Failures | Errors | Skipped | Test run |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    rows = [_row(result, server_root) for result in summary.files]
    totals = summary.totals
    total_row = (
        f"| **Total** | | **{totals.tests}** | **{totals.failures}** | **{totals.errors}** "
        f"| **{totals.skipped}** | |"
    )
    problems = [
        _problem_line(r)
        for r in summary.files
        if r.status in (Status.INVALID, Status.REJECTED, Status.FAILED)
    ]
    warnings = [f"- {escape_markdown(_shorten(w))}" for w in summary.warnings]

    def assemble(n_rows: int, n_problems: int, dropped: int) -> str:
        lines = list(head)
        if summary.files:
            lines += [*table_head, *rows[:n_rows], total_row, ""]
        if problems[:n_problems]:
            lines += ["### Problems", "", *problems[:n_problems], ""]
        if warnings and not dropped:
            lines += ["### Warnings", "", *warnings, ""]
        if dropped:
            lines += [
                f"_Summary truncated: {dropped} more line(s) left out to stay under GitHub's "
                "1 MiB step-summary limit. The results file has every report._",
                "",
            ]
        return "\n".join(lines)

    text = assemble(len(rows), len(problems), 0)
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    # Too big: keep as many table rows as fit, then as many problem lines; the warnings
    # section goes. Computed from line sizes (linear), then checked on the real text.
    total_lines = len(rows) + len(problems) + len(warnings)
    budget = max_bytes - len(assemble(0, 0, total_lines).encode("utf-8"))
    budget -= len("### Problems\n\n\n")
    n_rows = n_problems = 0
    for row in rows:
        cost = len(row.encode("utf-8")) + 1
        if cost > budget:
            break
        budget -= cost
        n_rows += 1
    if n_rows == len(rows):
        for line in problems:
            cost = len(line.encode("utf-8")) + 1
            if cost > budget:
                break
            budget -= cost
            n_problems += 1
    while True:
        dropped = total_lines - n_rows - n_problems
        text = assemble(n_rows, n_problems, dropped)
        if len(text.encode("utf-8")) <= max_bytes or (n_rows == 0 and n_problems == 0):
            return text
        if n_problems:
            n_problems -= 1
        else:
            n_rows -= 1


# --- step outputs --------------------------------------------------------------------------


#: a comparison whose compact JSON is longer goes to a file, and the output is its path
COMPARISON_INLINE = 16 * 1024
COMPARISON_FILE = "jux-comparison.json"


def comparison_json(summary: RunSummary) -> str:
    """The comparison as compact JSON (empty without one)."""
    if summary.comparison is None:
        return ""
    # ASCII only: the output escaper would turn a raw DEL or C1 character into a backslash
    # sequence that is not JSON, and fromJSON() would fail
    return json.dumps(summary.comparison.to_dict(), separators=(",", ":"), ensure_ascii=True)


def output_values(
    summary: RunSummary, results_file: str, comparison_file: str | None = None
) -> dict[str, str]:
    """The Action's outputs, in declaration order (see action.yml). ``comparison_file``: the
    path the comparison was written to, when too big for an output."""
    failed = summary.count(Status.FAILED) + summary.count(Status.REJECTED)
    c = summary.comparison
    compared = c is not None and c.is_compared
    text = comparison_json(summary)
    return {
        "submitted": str(summary.count(Status.SUBMITTED)),
        "failed": str(failed),
        "invalid": str(summary.count(Status.INVALID)),
        "test-run-ids": json.dumps(list(summary.test_run_ids)),
        "results-file": results_file,
        "new-failures": str(len(c.new_failures)) if c is not None and compared else "",
        "fixed": str(len(c.fixed)) if c is not None and compared else "",
        "comparison-json": comparison_file
        if comparison_file is not None
        else (text if len(text) <= COMPARISON_INLINE else ""),
    }


def render_outputs(
    summary: RunSummary,
    results_file: str,
    delimiter: str = "",
    *,
    comparison_file: str | None = None,
) -> str:
    """``GITHUB_OUTPUT`` text using the ``name<<DELIMITER`` syntax for every output.

    The writer leaves the delimiter random; tests pass a fixed one (see ``format_outputs``).
    """
    return format_outputs(
        output_values(summary, results_file, comparison_file=comparison_file), delimiter
    )


# --- writer --------------------------------------------------------------------------------


def mask_values(settings: Settings) -> list[str]:
    """Every value to ``::add-mask::``: each secret of the run (``Settings.secrets``), a PEM
    signing key given inline line by line (the runner masks line by line); a signing key given
    as a file path is not a secret."""
    values: list[str] = []
    for secret in settings.secrets:
        if secret == settings.signing_key and "-----BEGIN" not in secret:
            continue  # a file path, not the key itself
        lines = [line.strip() for line in secret.splitlines() if line.strip()]
        values += [line for line in lines if not line.startswith("-----")]
    return values


def relative_to_workspace(path: Path, environ: Mapping[str, str]) -> str:
    """``path`` relative to ``GITHUB_WORKSPACE`` when inside it (valid in later steps too:
    a container action sees ``/github/workspace``, the steps after it the host path)."""
    workspace = environ.get("GITHUB_WORKSPACE", "").strip()
    if workspace:
        try:
            return path.resolve().relative_to(Path(workspace).resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def redact_summary(summary: RunSummary, redact: Callable[[str], str]) -> RunSummary:
    """A copy of ``summary`` with ``redact`` applied to every string in it (paths, messages,
    warnings, ids ...): escaping can split a secret (Markdown escapes ``_``, workflow commands
    ``%``) so that a redactor run on the finished text no longer finds it."""
    result: RunSummary = _redact_value(summary, redact)
    return result


def _redact_value(value: Any, redact: Callable[[str], str]) -> Any:
    if type(value) is str:  # a StrEnum member is left alone
        return redact(value)
    if isinstance(value, tuple):
        return tuple(_redact_value(item, redact) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _redact_value(getattr(value, f.name), redact)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    return value


class GithubReporter:
    """Writes GitHub's workflow commands to ``stream`` and the summary/output files."""

    def __init__(
        self,
        environ: Mapping[str, str],
        redact: Callable[[str], str] = str,
        stream: TextIO | None = None,
    ) -> None:
        self.environ = environ
        self.redact = redact
        self.stream = stream if stream is not None else sys.stdout
        self._group_open = False

    def _emit(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def start(self, settings: Settings) -> None:
        """Mask the secrets first, so the runner hides them in every later log line; then
        open a log group for the run's log lines (closed by ``end_logs`` or ``finish``)."""
        for value in mask_values(settings):
            # the one place a secret is printed: the runner consumes the line and masks it
            self._emit(f"::add-mask::{escape_mask_value(value)}")
        self._emit(f"::group::{LOG_GROUP_TITLE}")
        self._group_open = True

    def end_logs(self) -> None:
        """Close the run's log group (idempotent), so the summary after it stays visible."""
        if self._group_open:
            self._emit("::endgroup::")
            self._group_open = False

    @contextmanager
    def log_group(self, title: str) -> Iterator[None]:
        """A foldable ``::group::`` around the log lines written inside the block."""
        self._emit(f"::group::{escape_command_data(self.redact(title))}")
        try:
            yield
        finally:
            self._emit("::endgroup::")

    def finish(self, summary: RunSummary, settings: Settings, results_file: str | None) -> None:
        """Annotations to the log, then the job summary and outputs to the runner's files.

        Secrets are hidden in the summary's text before it is escaped (escaping could split a
        secret so the redactor no longer sees it), and in the escaped lines again."""
        self.end_logs()
        summary = redact_summary(summary, self.redact)
        prefix = relative_to_workspace(settings.working_directory, self.environ)
        prefix = "" if prefix in (".", "") or prefix.startswith("/") else prefix + "/"
        level = {"error": "error", "warn": "warning"}.get(str(settings.if_no_files_found))
        for line in render_annotations(summary, prefix, no_reports_level=level):
            self._emit(self.redact(line))
        results = relative_to_workspace(Path(results_file), self.environ) if results_file else ""
        results = self.redact(results)
        self._append("GITHUB_STEP_SUMMARY", render_step_summary(summary) + "\n")
        comparison_file = self._write_big_comparison(summary, results_file)
        self._append(
            "GITHUB_OUTPUT", render_outputs(summary, results, comparison_file=comparison_file)
        )

    def _write_big_comparison(self, summary: RunSummary, results_file: str | None) -> str | None:
        """A comparison too big for a step output goes to ``jux-comparison.json`` beside the
        results file (else in ``RUNNER_TEMP``); the output is then its path."""
        text = comparison_json(summary)
        if len(text) <= COMPARISON_INLINE:
            return None
        folder = Path(results_file).parent if results_file else None
        if folder is None and self.environ.get("RUNNER_TEMP", "").strip():
            folder = Path(self.environ["RUNNER_TEMP"].strip())
        if folder is None:
            LOG.warning("the comparison is too big for a step output and RUNNER_TEMP is not set")
            return ""
        path = folder / COMPARISON_FILE
        try:
            replace_file(path, self.redact(text) + "\n")
        except OSError as exc:
            LOG.warning("could not write %s: %s", path, exc.strerror or exc)
            return ""
        return self.redact(relative_to_workspace(path, self.environ))

    def _append(self, variable: str, text: str) -> None:
        target = self.environ.get(variable, "").strip()
        if not target:
            what = "job summary" if variable == "GITHUB_STEP_SUMMARY" else "step outputs"
            LOG.warning("%s is not set; skipping the %s", variable, what)
            return
        try:
            # the runner creates these files; still, never through a link planted at the name
            append_text(Path(target), self.redact(text))
        except OSError as exc:
            LOG.warning("could not write %s (%s): %s", variable, target, exc.strerror or exc)
