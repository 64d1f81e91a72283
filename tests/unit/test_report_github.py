"""GitHub reporter: escaping, annotations, job summary, outputs, masking and the writers."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

import pytest

from jux_submit.models import CIContext, Counts, FileError, FileResult, RunSummary, Status
from jux_submit.redact import Redactor
from jux_submit.report import github
from jux_submit.report.github import (
    GithubReporter,
    escape_data,
    escape_property,
    format_command,
    format_test_run_url,
    mask_values,
    output_values,
    render_annotations,
    render_outputs,
    render_step_summary,
)
from jux_submit.settings import load_settings
from tests.unit.report_samples import check_golden, empty_summary, many_summary, mixed_summary

API_KEY = "jux_live_0123456789abcdef"


def make_settings(tmp_path: Path, **env: str):
    environ = {"JUX_API_URL": "https://jux.example.com", "JUX_API_KEY": API_KEY, **env}
    return load_settings([], environ, cwd=tmp_path)


# --- escaping ------------------------------------------------------------------------------


def test_escape_data_follows_the_toolkit_rules() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_data("a:b,c") == "a:b,c"  # only properties escape : and ,


def test_escape_property_also_escapes_colon_and_comma() -> None:
    assert escape_property("C:\\x, y%\n") == "C%3A\\x%2C y%25%0A"


def test_format_command_skips_empty_properties() -> None:
    line = format_command("error", "boom", {"file": "a,b.xml", "line": "", "title": "T: x"})
    assert line == "::error file=a%2Cb.xml,title=T%3A x::boom"
    assert format_command("warning", "w") == "::warning::w"


# --- annotations ---------------------------------------------------------------------------


def test_annotations_golden(update_golden: bool) -> None:
    text = "\n".join(render_annotations(mixed_summary())) + "\n"
    check_golden("github/annotations.txt", text, update_golden)


def test_annotations_one_line_each_and_kinds() -> None:
    lines = render_annotations(mixed_summary())
    assert all("\n" not in line and "\r" not in line for line in lines)
    kinds = [line.split(" ", 1)[0].split("::")[1] for line in lines]
    # invalid + rejected are errors; outbox, per-file warning and run warning are warnings
    assert kinds.count("error") == 2
    assert kinds.count("warning") == 3
    invalid = next(line for line in lines if "Invalid JUnit report" in line)
    assert "file=reports/broken%2C really.xml,line=12,col=5" in invalid
    assert "100%25 broken%0Asecond line" in invalid


def test_annotations_prefix_paths_with_the_working_directory() -> None:
    lines = render_annotations(mixed_summary(), path_prefix="service/")
    assert "file=service/reports/huge.xml" in lines[2]


def test_no_reports_annotation_follows_if_no_files_found() -> None:
    assert render_annotations(empty_summary(), no_reports_level=None) == []
    (line,) = render_annotations(empty_summary(), no_reports_level="error")
    assert line.startswith("::error title=No reports found::No JUnit XML report matched")


# --- job summary ---------------------------------------------------------------------------


def test_step_summary_golden(update_golden: bool) -> None:
    check_golden("github/step_summary.md", render_step_summary(mixed_summary()), update_golden)


def test_step_summary_empty_run_golden(update_golden: bool) -> None:
    check_golden(
        "github/step_summary_empty.md", render_step_summary(empty_summary()), update_golden
    )


def test_step_summary_links_test_runs_and_escapes_cells() -> None:
    text = render_step_summary(mixed_summary())
    assert "[run-101](https://jux.example.com/test_runs/run-101)" in text
    assert "`reports/pytest\\|junit.xml`" in text  # a pipe would split the table row
    assert "| **Total** | | **9012** | **1** | **1** | **2** | |" in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows and all(len(re.split(r"(?<!\\)\|", line)) == 9 for line in rows)


def test_step_summary_dry_run_has_no_links() -> None:
    summary = RunSummary(
        files=(FileResult("a.xml", Status.DRY_RUN, counts=Counts(tests=1)),),
        context=CIContext(),
        server_root="https://jux.example.com",
        dry_run=True,
    )
    text = render_step_summary(summary)
    assert "Dry run: nothing was sent" in text
    assert "test_runs" not in text


def test_test_run_url_needs_a_server_root() -> None:
    assert format_test_run_url(None, "1") is None
    assert format_test_run_url("https://j.example/", "7") == "https://j.example/test_runs/7"


def test_step_summary_is_truncated_below_the_limit() -> None:
    summary = many_summary(12000)
    full = render_step_summary(summary, max_bytes=10**9)
    assert len(full.encode()) > github.MAX_SUMMARY_BYTES  # the case is real
    text = render_step_summary(summary)
    assert len(text.encode("utf-8")) <= github.MAX_SUMMARY_BYTES < 1024 * 1024
    assert "_Summary truncated:" in text
    match = re.search(r"truncated: (\d+) more line", text)
    assert match and int(match.group(1)) > 0
    assert text.splitlines()[-1].startswith("_Summary truncated")
    # the table stays well formed: header, rows, then the totals row
    assert "| **Total** |" in text


def test_step_summary_small_limit_keeps_markdown_valid() -> None:
    text = render_step_summary(mixed_summary(), max_bytes=700)
    assert len(text.encode()) <= 700
    assert "| Report | Status |" in text and "| **Total** |" in text


# --- outputs -------------------------------------------------------------------------------


def test_outputs_golden(update_golden: bool) -> None:
    text = render_outputs(mixed_summary(), "jux-results.json", delimiter="ghadelimiter_TEST")
    check_golden("github/outputs.txt", text, update_golden)


def test_output_values() -> None:
    values = output_values(mixed_summary(), "")
    assert list(values) == ["submitted", "failed", "invalid", "test-run-ids", "results-file"]
    assert values["submitted"] == "2"
    assert values["failed"] == "2"  # rejected + kept in the outbox
    assert values["invalid"] == "1"
    assert json.loads(values["test-run-ids"]) == ["run-101", "run-102"]


def test_outputs_use_a_fresh_random_delimiter() -> None:
    first = render_outputs(mixed_summary(), "")
    second = render_outputs(mixed_summary(), "")
    delim = first.splitlines()[0].split("<<", 1)[1]
    assert delim.startswith("ghadelimiter_") and delim not in second


# --- the writer ----------------------------------------------------------------------------


def test_start_masks_the_api_key_once(tmp_path: Path) -> None:
    stream = io.StringIO()
    reporter = GithubReporter({}, Redactor([API_KEY]), stream=stream)
    reporter.start(make_settings(tmp_path))
    assert stream.getvalue() == (f"::add-mask::{API_KEY}\n::group::{github.LOG_GROUP_TITLE}\n")
    reporter.end_logs()
    reporter.end_logs()  # idempotent
    assert stream.getvalue().endswith(f"{github.LOG_GROUP_TITLE}\n::endgroup::\n")
    assert stream.getvalue().count(API_KEY) == 1


def test_mask_values_cover_inline_pem_lines_not_paths(tmp_path: Path) -> None:
    pem = (
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nAbCd\n"
        "-----END PRIVATE KEY-----"
    )
    settings = make_settings(tmp_path, JUX_SIGNING_KEY=pem, JUX_SIGNING_KEY_PASSWORD="pass phrase")
    assert mask_values(settings) == [
        API_KEY,
        "pass phrase",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        "AbCd",
    ]
    settings = make_settings(tmp_path, JUX_SIGNING_KEY="keys/signing.pem")
    assert mask_values(settings) == [API_KEY]


def test_finish_writes_summary_outputs_and_annotations(tmp_path: Path) -> None:
    workspace = tmp_path
    summary_file = tmp_path / "step_summary"
    output_file = tmp_path / "set_output"
    summary_file.write_text("earlier step content\n")
    environ = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_STEP_SUMMARY": str(summary_file),
        "GITHUB_OUTPUT": str(output_file),
    }
    (workspace / "svc").mkdir()
    settings = make_settings(tmp_path, JUX_WORKING_DIRECTORY=str(workspace / "svc"))
    stream = io.StringIO()
    reporter = GithubReporter(environ, Redactor([API_KEY]), stream=stream)
    reporter.start(settings)
    reporter.finish(mixed_summary(), settings, str(workspace / "svc" / "jux-results.json"))

    written = summary_file.read_text()
    assert written.startswith("earlier step content\n## Jux: 5 reports")  # appended
    outputs = output_file.read_text()
    assert "\nsvc/jux-results.json\n" in outputs  # relative to the workspace
    log = stream.getvalue()
    assert "file=svc/reports/huge.xml" in log
    everything = written + outputs + log.replace(f"::add-mask::{API_KEY}\n", "", 1)
    assert API_KEY not in everything


def test_finish_redacts_a_secret_that_leaks_into_a_message(tmp_path: Path) -> None:
    leaky = RunSummary(
        files=(FileResult("a.xml", Status.INVALID, error=FileError("x", f"bad token {API_KEY}")),),
        context=CIContext(),
        server_root=None,
        dry_run=False,
    )
    out = tmp_path / "out"
    summary_file = tmp_path / "summary"
    stream = io.StringIO()
    reporter = GithubReporter(
        {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary_file)},
        Redactor([API_KEY]),
        stream=stream,
    )
    reporter.finish(leaky, make_settings(tmp_path), None)
    assert API_KEY not in stream.getvalue() + summary_file.read_text() + out.read_text()
    assert "***" in stream.getvalue()


def test_failed_writes_are_only_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "file"
    environ = {"GITHUB_OUTPUT": str(missing), "GITHUB_STEP_SUMMARY": str(missing)}
    reporter = GithubReporter(environ, Redactor(), stream=io.StringIO())
    reporter.finish(mixed_summary(), make_settings(tmp_path), None)
    assert [r.levelname for r in caplog.records].count("WARNING") == 2


def test_unset_files_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reporter = GithubReporter({}, Redactor(), stream=io.StringIO())
    reporter.finish(mixed_summary(), make_settings(tmp_path), None)
    assert "GITHUB_STEP_SUMMARY is not set" in caplog.text


def test_log_group_wraps_lines() -> None:
    stream = io.StringIO()
    reporter = GithubReporter({}, Redactor(), stream=stream)
    with reporter.log_group("Submitting 3 reports"):
        stream.write("inside\n")
    assert stream.getvalue() == "::group::Submitting 3 reports\ninside\n::endgroup::\n"


def test_combined_result_has_no_file_property() -> None:
    base = mixed_summary()
    combined = FileResult(
        path="combined (3 reports)",
        status=Status.REJECTED,
        is_file=False,
        error=FileError("package-too-large", "too big"),
        warnings=("a warning",),
    )
    lines = github.render_annotations(dataclasses.replace(base, files=(combined,), warnings=()))
    assert lines and all("file=" not in line for line in lines)
