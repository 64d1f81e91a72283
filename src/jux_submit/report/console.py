"""The human summary on stdout: one line per file, then totals.

Every value from a report, the file system or the server goes through ``escape_console``, and
each finished line through ``guard_line``: one value is one line, and no line is a CI command.
"""

from __future__ import annotations

from dataclasses import replace

from jux_submit.models import CIContext, FileResult, RunSummary, Status
from jux_submit.report.changes import console_lines
from jux_submit.report.escape import escape_console as esc
from jux_submit.report.escape import guard_line

_LABELS = {
    Status.SUBMITTED: "submitted",
    Status.INVALID: "INVALID",
    Status.FAILED: "FAILED",
    Status.REJECTED: "REJECTED",
    Status.DRY_RUN: "dry-run",
    Status.SKIPPED: "skipped",
}


def _counts(result: FileResult) -> str:
    c = result.counts
    if c is None:
        return "-"
    return f"{c.tests} tests, {c.failures} failed, {c.errors} errors, {c.skipped} skipped"


def render_file_line(result: FileResult, *, verbose: bool = False) -> str:
    """``path  status  counts  id-or-reason`` for one file (more lines for notes and hints)."""
    return "\n".join(guard_line(line) for line in _file_lines(result, verbose=verbose))


#: a property's value, in a dry run's shared lines, when it is each report's own path
OWN_PATH = "each report's own path"


class _Shared:
    """What every dry-run result of a run would be sent with (the mode, and properties with
    the same value, or each report's own path): shown once below them instead of under each
    (600 reports would otherwise repeat the same seven lines 600 times)."""

    def __init__(self, results: list[FileResult]) -> None:
        first = results[0]
        reasons = {r.mode_reason for r in results}
        self.mode_reason = first.mode_reason if len(reasons) == 1 else None
        self.properties: list[tuple[str, str]] = []  # (name, value or OWN_PATH), in order
        for name, value in first.properties_added:
            if all((name, value) in r.properties_added for r in results):
                self.properties.append((name, value))
            elif value == first.path and all((name, r.path) in r.properties_added for r in results):
                self.properties.append((name, OWN_PATH))
        self._values = {(n, v) for n, v in self.properties if v is not OWN_PATH}
        self._own_path = {n for n, v in self.properties if v is OWN_PATH}

    def covers(self, result: FileResult, name: str, value: str) -> bool:
        return (name, value) in self._values or (name in self._own_path and value == result.path)

    def lines(self, count: int) -> list[str]:
        if self.mode_reason is None and not self.properties:
            return []
        lines = [f"each of the {count} reports above would be sent with (its own lines first):"]
        if self.mode_reason:
            lines.append(f"    mode: {esc(self.mode_reason)}")
        for name, value in self.properties:
            if value is OWN_PATH:  # not "= value": no value a report carries looks like it
                lines.append(f"    + {esc(name)}: {OWN_PATH}")
            else:
                lines.append(_property_line(name, value))
        return lines


def _property_line(name: str, value: str) -> str:
    shown = value if len(value) <= 120 else value[:117] + "..."
    return f"    + {esc(name)} = {esc(shown)}"


def _file_lines(result: FileResult, *, verbose: bool, shared: _Shared | None = None) -> list[str]:
    label = _LABELS[result.status]
    if result.status is Status.SUBMITTED:
        tail = f"test run {esc(result.test_run_id)}" if result.test_run_id else "accepted (no id)"
    elif result.status is Status.SKIPPED and result.error is None:
        # the journal says this very submission was accepted by an earlier run
        tail = esc(result.note or "already accepted by an earlier run; not sent again")
    elif result.status is Status.DRY_RUN:
        tail = (
            f"would send {result.size or 0:,} bytes as {result.mode or 'raw'} "
            f"to {esc(result.endpoint or 'None')}"
        )
    elif result.error is not None:
        tail = esc(result.error.message)
        if result.line is not None:
            column = f", column {result.column}" if result.column else ""
            tail = f"line {result.line}{column}: {tail}"
    else:
        tail = ""
    lines = [f"{esc(result.path)}  {label}  [{_counts(result)}]  {tail}".rstrip()]
    if result.note and result.status is not Status.SKIPPED:
        lines.append(f"    note: {esc(result.note)}")
    if result.error is not None and result.status is not Status.DRY_RUN:
        lines.extend(f"    hint: {esc(s)}" for s in result.error.suggestions)
    if result.outbox_path:
        lines.append(f"    kept in the outbox: {esc(result.outbox_path)}")
    if verbose or result.status is Status.DRY_RUN:
        is_own = result.status is Status.DRY_RUN and result.mode_reason
        if is_own and (shared is None or shared.mode_reason != result.mode_reason):
            lines.append(f"    mode: {esc(result.mode_reason or '')}")
        for name, value in result.properties_added:
            if shared is not None and shared.covers(result, name, value):
                continue
            lines.append(_property_line(name, value))
        for entry, size in result.entries:
            lines.append(f"    {esc(entry)}  {size:,} bytes")
    return lines


def render_context(context: CIContext) -> str:
    """``jux-submit detect`` as text: one ``key: value`` line per known field."""
    width = max(len(k) for k in context.to_dict())
    return "\n".join(
        guard_line(f"{k.ljust(width)}  {'' if v is None else esc(str(v))}")
        for k, v in context.to_dict().items()
    )


#: reports not sent because the server was down: the first few are listed, then a count
NOT_SENT_SHOWN = 3


def render_text(summary: RunSummary, *, verbose: bool = False, quiet: bool = False) -> str:
    """The whole summary as text (ends with a newline)."""
    lines: list[str] = []
    if summary.no_reports:
        patterns = ", ".join(esc(p) for p in summary.patterns)
        lines.append(f"no JUnit reports found (patterns: {patterns})")
    not_sent = 0
    dry = [r for r in summary.files if r.status is Status.DRY_RUN]
    shared = _Shared(dry) if len(dry) > 1 and not verbose and not quiet else None
    for result in summary.files:
        if quiet and result.status in (Status.SUBMITTED, Status.DRY_RUN):
            continue
        if result.error is not None and result.error.kind == "not-sent":
            not_sent += 1
            if not_sent > NOT_SENT_SHOWN:
                continue  # one message for all of them, below
            where = "kept in the outbox" if result.outbox_path else "NOT kept"
            lines.append(f"{esc(result.path)}  {_LABELS[result.status]}  not sent, {where}")
            continue
        lines.extend(_file_lines(result, verbose=verbose, shared=shared))
    if shared is not None:
        lines.extend(shared.lines(len(dry)))
    if not_sent > NOT_SENT_SHOWN:
        lines.append(
            f"... and {not_sent - NOT_SENT_SHOWN} more report(s) not sent, kept in the outbox"
        )
    if summary.earlier:
        lines.append(f"earlier submissions from the outbox ({len(summary.earlier)}):")
        lines.extend(
            "  " + render_file_line(replace(r, note=None), verbose=verbose).replace("\n", "\n  ")
            for r in summary.earlier
        )
    if summary.ignored:
        if verbose:
            lines.extend(f"{esc(path)}  ignored: not a test report" for path in summary.ignored)
        else:
            lines.append(
                f"{len(summary.ignored)} other file(s) matched a default pattern but are not "
                "test reports (-v lists them)"
            )
    lines.extend(f"note: {esc(note)}" for note in summary.notes)
    outbox = esc(str(summary.outbox))
    if summary.pending_after is not None:
        lines.append(f"outbox: {summary.pending_after} report(s) still pending in {outbox}")
    elif summary.pending_earlier:
        lines.append(
            f"outbox: {summary.pending_earlier} submission(s) of earlier runs are still pending "
            f"in {outbox}: 'jux-submit resubmit' sends them"
        )
    t = summary.totals
    parts = [f"{summary.count(s)} {s.value}" for s in Status if summary.count(s)]
    lines.append(
        f"total: {len(summary.files)} file(s): {', '.join(parts) or 'nothing to do'}; "
        f"{t.tests} tests, {t.failures} failed, {t.errors} errors, {t.skipped} skipped"
        + (" (dry run: nothing was sent)" if summary.dry_run else "")
    )
    lines.extend(console_lines(summary.comparison, quiet=quiet))
    if summary.interrupted:
        lines.append("interrupted: reports not yet accepted were kept in the outbox")
    return "\n".join(guard_line(line) for line in "\n".join(lines).split("\n")) + "\n"
