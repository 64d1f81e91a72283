"""The console summary of a dry run: what every report would be sent with is said once."""

from __future__ import annotations

from jux_submit.models import CIContext, Counts, FileResult, PayloadMode, RunSummary, Status
from jux_submit.report.console import OWN_PATH, render_text

RAW = "raw: no attachments found and no signing key"


def dry(path: str, *extra: tuple[str, str], reason: str = RAW) -> FileResult:
    return FileResult(
        path=path,
        status=Status.DRY_RUN,
        counts=Counts(2, 1, 0, 0, 0.5),
        mode=PayloadMode.RAW,
        mode_reason=reason,
        size=100,
        endpoint="/api/v1/junit/submit",
        properties_added=(
            ("project", "demo"),
            *extra,
            ("jux:timestamp", "2026-12-01T00:00:00Z"),
            ("jux:source_file", path),
        ),
    )


def summary(*files: FileResult) -> RunSummary:
    return RunSummary(files=files, context=CIContext(), server_root=None, dry_run=True)


def test_what_every_report_gets_is_listed_once_below_them() -> None:
    results = [dry(f"r{i}.xml") for i in range(50)]
    text = render_text(summary(*results))
    lines = text.splitlines()
    assert len(lines) == 50 + 1 + 4 + 1  # a line a report, the shared block, the totals
    assert lines[50] == "each of the 50 reports above would be sent with (its own lines first):"
    assert lines[51:55] == [
        f"    mode: {RAW}",
        "    + project = demo",
        "    + jux:timestamp = 2026-12-01T00:00:00Z",
        f"    + jux:source_file: {OWN_PATH}",
    ]
    assert text.count("+ project = demo") == 1


def test_what_differs_stays_under_its_report() -> None:
    results = [
        dry("a.xml"),
        dry("b.xml", ("jux:tags", "nightly")),
        dry("c.xml", reason="package: 1 attachment(s) found"),
    ]
    lines = render_text(summary(*results)).splitlines()
    b = lines.index(next(line for line in lines if line.startswith("b.xml")))
    # no mode common to all: each says its own
    assert lines[b + 1 : b + 3] == [f"    mode: {RAW}", "    + jux:tags = nightly"]
    c = lines.index(next(line for line in lines if line.startswith("c.xml")))
    assert lines[c + 1] == "    mode: package: 1 attachment(s) found"
    shared = lines[lines.index(next(ln for ln in lines if ln.startswith("each of the 3"))) :]
    assert not any(line.startswith("    mode:") for line in shared)
    assert "    + jux:tags = nightly" not in shared
    assert "    + project = demo" in shared


def test_one_report_and_verbose_runs_keep_every_line_under_the_report() -> None:
    one = render_text(summary(dry("a.xml"))).splitlines()
    assert one[1:5] == [
        f"    mode: {RAW}",
        "    + project = demo",
        "    + jux:timestamp = 2026-12-01T00:00:00Z",
        "    + jux:source_file = a.xml",
    ]
    verbose = render_text(summary(dry("a.xml"), dry("b.xml")), verbose=True)
    assert verbose.count("    + project = demo") == 2
    assert "each of the" not in verbose
    assert "each of the" not in render_text(summary(dry("a.xml"), dry("b.xml")), quiet=True)


def test_a_shared_hostile_value_is_one_escaped_line() -> None:
    hostile = ("jux:tags", "x\n::error::owned\x1b[31m")
    text = render_text(summary(dry("a.xml", hostile), dry("b.xml", hostile)))
    assert text.count("jux:tags") == 1
    assert not any(line.startswith("::") for line in text.splitlines())
    assert "\x1b" not in text


def test_a_name_given_twice_is_shared_with_both_values() -> None:
    twice = (("dup", "1"), ("dup", "2"))
    text = render_text(summary(dry("a.xml", *twice), dry("b.xml", *twice)))
    assert text.count("+ dup = 1") == 1 and text.count("+ dup = 2") == 1


def test_a_value_that_reads_like_the_own_path_line_is_shown_as_a_value() -> None:
    odd = ("jux:note", OWN_PATH)
    lines = render_text(summary(dry("a.xml", odd), dry("b.xml", odd))).splitlines()
    assert f"    + jux:note = {OWN_PATH}" in lines
    assert f"    + jux:source_file: {OWN_PATH}" in lines
