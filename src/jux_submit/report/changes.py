"""The comparison with the base run, as each channel shows it: console lines, the Markdown
section of the job summary, and the pull/merge-request comment (built from the same section).

Test names come from reports and from the server: untrusted. The console escapes them with
``escape_console``; Markdown shows each test as a code span (no link, mention, HTML or
formatting can come out of it). Long names are shortened; long lists are capped with
"and N more".
"""

from __future__ import annotations

from jux_submit.models import Comparison, RunSummary, Status, TestKey
from jux_submit.report.escape import (
    escape_console,
    escape_link_destination,
    escape_markdown,
    format_code_span,
    quote_path_segment,
)

CONSOLE_LISTED = 10
MARKDOWN_LISTED = 25
#: the most characters of a test's description that are shown
NAME_LIMIT = 300
#: GitHub refuses a comment body over 65,536 characters (GitLab's limit is 1,000,000)
GITHUB_COMMENT_LIMIT = 65_536
GITLAB_COMMENT_LIMIT = 1_000_000
SEPARATOR = " › "


def format_test_run_url(server_root: str | None, test_run_id: str) -> str | None:
    """The web page of a test run: ``{server_root}/test_runs/{id}``.

    Assumption: the Jux web UI serves test runs at ``/test_runs/<id>`` under the server root
    (the API lives under ``/api/v1`` of the same root).
    """
    if not server_root:
        return None
    return f"{server_root.rstrip('/')}/test_runs/{quote_path_segment(test_run_id)}"


def describe(key: TestKey) -> str:
    """``suite › class › name``, leaving out empty parts and a class named like its suite."""
    parts = [key.suite]
    if key.classname and key.classname != key.suite:
        parts.append(key.classname)
    parts.append(key.name)
    text = SEPARATOR.join(p for p in parts if p) or "(unnamed test)"
    return text if len(text) <= NAME_LIMIT else text[: NAME_LIMIT - 1] + "…"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def totals_text(c: Comparison) -> str:
    """``1 new failure, 2 fixed, 3 still failing; 4 new tests, 0 removed``."""
    text = (
        f"{_plural(len(c.new_failures), 'new failure')}, {len(c.fixed)} fixed, "
        f"{len(c.still_failing)} still failing"
    )
    if c.new_tests or c.removed_tests:
        text += f"; {_plural(c.new_tests, 'new test')}, {c.removed_tests} removed"
    return text


def base_text(c: Comparison) -> str:
    """``main (test run ID)``, the base as plain text."""
    return f"{c.base_branch} (test run {c.base_run_id})"


# --- console ------------------------------------------------------------------------------


def console_lines(
    c: Comparison | None, *, listed: int = CONSOLE_LISTED, quiet: bool = False
) -> list[str]:
    """One line per new failure (at most ``listed``, then "and N more"), then the total;
    ``quiet``: only when there are new failures (no note about a missing comparison)."""
    if c is None or (quiet and not c.new_failures):
        return []
    if not c.is_compared:
        return [escape_console(c.note)]
    lines = [f"new failure: {escape_console(describe(k))}" for k in c.new_failures[:listed]]
    if len(c.new_failures) > listed:
        lines.append(f"... and {len(c.new_failures) - listed} more new failure(s)")
    lines.append(f"changes since {escape_console(base_text(c))}: {totals_text(c)}")
    return lines


# --- Markdown -----------------------------------------------------------------------------


def _base_link(c: Comparison, server_root: str | None) -> str:
    branch = format_code_span(c.base_branch or "", is_table_cell=False)
    return f"{branch} (test run {_run_reference(c.base_run_id or '', server_root)})"


def _listing(title: str, keys: tuple[TestKey, ...], listed: int) -> list[str]:
    if not keys:
        return []
    lines = [f"**{title}** ({len(keys)})", ""]
    lines += [f"- {format_code_span(describe(k), is_table_cell=False)}" for k in keys[:listed]]
    if len(keys) > listed:
        lines.append(f"- _and {len(keys) - listed} more_")
    return [*lines, ""]


def markdown_section(
    c: Comparison | None,
    server_root: str | None,
    *,
    heading: str = "###",
    listed: int = MARKDOWN_LISTED,
) -> list[str]:
    """The "Changes since <base>" section: new failures first, then fixed (each capped),
    still failing as a count. Lines of Markdown (empty without a comparison)."""
    if c is None:
        return []
    if not c.is_compared:
        return [f"{heading} Changes", "", escape_markdown(c.note), ""]
    lines = [f"{heading} Changes since {_base_link(c, server_root)}", ""]
    if not c.has_changes:
        lines += ["No new failures and nothing fixed.", ""]
    lines += _listing("New failures", c.new_failures, listed)
    lines += _listing("Fixed", c.fixed, listed)
    lines += [escape_markdown(totals_text(c)[0].upper() + totals_text(c)[1:]) + ".", ""]
    return lines


def render_comment(summary: RunSummary, marker: str, *, limit: int, job: str | None = None) -> str:
    """The pull/merge-request comment: the hidden marker, the changes section, and where the
    run's results are; at most ``limit`` characters (lists shortened until it fits)."""
    c = summary.comparison
    accepted = [r for r in summary.files if r.status in (Status.SUBMITTED, Status.SKIPPED)]
    runs = [r.test_run_id for r in accepted if r.test_run_id]
    footer = []
    if runs:
        shown = [_run_reference(run, summary.server_root) for run in runs[:10]]
        more = f" and {len(runs) - 10} more" if len(runs) > 10 else ""
        footer.append(f"Test runs: {', '.join(shown)}{more}")
    if job:
        footer.append(f"From the job {format_code_span(job, is_table_cell=False)}.")
    listed = MARKDOWN_LISTED
    while True:
        section = markdown_section(c, summary.server_root, heading="###", listed=listed)
        project = format_code_span(summary.context.project or "", is_table_cell=False)
        title = f"## Jux: test results of {project}"
        body = "\n".join([marker, title, "", *section, *footer]) + "\n"
        if len(body) <= limit or listed == 0:
            return body if len(body) <= limit else body[:limit]
        listed //= 2


def _run_reference(run: str, server_root: str | None) -> str:
    url = format_test_run_url(server_root, run)
    target = escape_link_destination(url) if url else None
    if target:
        return f"[{escape_markdown(run)}]({target})"
    return format_code_span(run, is_table_cell=False)
