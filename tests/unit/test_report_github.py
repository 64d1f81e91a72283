"""GitHub reporter: escaping, annotations, job summary, outputs, masking and the writers."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from jux_submit.models import CIContext, Counts, FileError, FileResult, RunSummary, Status
from jux_submit.redact import Redactor
from jux_submit.report import escape, github
from jux_submit.report.console import render_text
from jux_submit.report.escape import escape_command_data as escape_data
from jux_submit.report.escape import escape_command_property as escape_property
from jux_submit.report.escape import format_command
from jux_submit.report.files import append_text
from jux_submit.report.github import (
    GithubReporter,
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


def test_command_data_shows_controls_and_breaks_old_style_commands() -> None:
    assert escape_data("a\x1b[31mb\x00") == "a\\x1b[31mb\\x00"
    assert escape_data("x ##[add-mask]y") == f"x ##{escape.BREAK}[add-mask]y"
    assert escape_property("f\n::error::x") == "f%0A%3A%3Aerror%3A%3Ax"
    assert "section_start:" not in escape_data("\x1b[0Ksection_start:1:x\r\x1b[0K")


def test_format_command_refuses_names_that_are_not_ours() -> None:
    with pytest.raises(ValueError):
        format_command("error::x", "m")
    with pytest.raises(ValueError):
        format_command("error", "m", {"file=x,title": "t"})


def test_mask_values_keep_the_exact_secret() -> None:
    # the runner masks what it unescapes: only the toolkit's rules, nothing broken
    assert escape.escape_mask_value("a%b##[c") == "a%25b##[c"


# --- the console and log lines the runner also reads ----------------------------------------


def test_console_values_stay_on_one_line_and_act_on_nothing() -> None:
    assert escape.escape_console("a\r\n\x1b[2J\x9b\u202e\t") == "a\\r\\n\\x1b[2J\\x9b\\u202e\\t"
    assert escape.escape_console("##[error]x") == f"##{escape.BREAK}[error]x"
    assert escape.escape_console("C:\\path\\x.xml") == "C:\\path\\x.xml"  # backslashes kept
    assert escape.escape_console("项目 αβγ") == "项目 αβγ"
    assert escape.guard_line(" \t::error::x") == f" \t:{escape.BREAK}:error::x"
    assert escape.guard_line("a ::b") == "a ::b"  # only a line start is a command
    assert escape.guard_line(escape.guard_line("::x::")) == escape.guard_line("::x::")


def test_console_summary_of_hostile_text_has_no_command(update_golden: bool) -> None:
    text = render_text(hostile_summary(), verbose=True)
    check_golden("console/hostile.txt", text, update_golden)
    commands, old_style = runner_view(text)
    assert commands == [] and old_style == []
    assert len(text.splitlines()) == len(re.split(r"\r\n|\r|\n", text.rstrip("\n")))
    assert "\x1b" not in text and "\r" not in text


def test_log_formatter_makes_one_record_one_line() -> None:
    formatter = escape.ConsoleLogFormatter(
        "jux-submit: %(levelname)s: %(message)s", Redactor([API_KEY])
    )
    record = logging.LogRecord(
        "jux_submit", logging.WARNING, __file__, 1, "%s: %s", ("a\n::error::x", API_KEY), None
    )
    line = formatter.format(record)
    assert line == "jux-submit: WARNING: a\\n::error::x: ***"
    try:
        raise ValueError(f"boom\n::add-mask::zzz\n##[error]x {API_KEY}")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("jux_submit", logging.ERROR, __file__, 1, "m", (), exc_info)
    text = formatter.format(record)
    assert text.startswith("jux-submit: ERROR: m\nTraceback")
    commands, old_style = runner_view(text)
    assert commands == [] and old_style == [] and API_KEY not in text


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


def test_annotations_of_hostile_text(update_golden: bool) -> None:
    lines = render_annotations(hostile_summary())
    check_golden("github/annotations_hostile.txt", "\n".join(lines) + "\n", update_golden)
    commands, old_style = runner_view("\n".join(lines))
    assert old_style == [] and len(commands) == len(lines)
    assert {name for name, _ in commands} == {"error", "warning"}
    files = {props.get("file") for _, props in commands} - {None}
    # the runner gets the path back as written, with other controls shown and ##[ broken
    assert len(files) == 4 and {"a\n::error::b.xml", "x``<img src=x>``|.xml"} <= files
    assert f"##{escape.BREAK}[add-mask]c.xml" in files


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


def test_step_summary_of_hostile_text(update_golden: bool) -> None:
    text = render_step_summary(hostile_summary())
    check_golden("github/step_summary_hostile.md", text, update_golden)
    tokens = list(walk(MarkdownIt("commonmark").enable("table").parse(text)))
    assert [t.content for t in tokens if t.type in ("html_inline", "html_block")] == []
    assert [t for t in tokens if t.type == "image"] == []
    links = [t.attrGet("href") for t in tokens if t.type == "link_open"]
    assert links == [
        "https://jux.example.com/test_runs/id%0A%7C%20x%20%7C%20y%20%7C%0A%21%5Bi%5D%28http%3A%2F%2Fe%29"
    ]
    assert sum(1 for t in tokens if t.type == "tr_open") == 1 + 4 + 1
    assert {sum(1 for _ in row) for row in table_rows(tokens)} == {7}
    spans = [t.content for t in tokens if t.type == "code_inline"]
    assert "x``<img src=x>``|.xml" in spans  # the name as written, inside one code span


@pytest.mark.parametrize(
    "text",
    [
        "<img src=x onerror=alert(1)>",
        "[l](http://e.example) ![i](http://e.example/i.png) <http://e.example>",
        "www.e.example and e@e.example and https://e.example",
        "*b* _i_ **s** ~~d~~ `c` $x$ &amp; &#60;",
        "- list",
        "+ list",
        "1. ordered",
        "12) ordered",
        "# heading",
        "> quote",
        "=== setext",
        "| a | b |",
        "\\| escaped pipe \\",
        "[x]: http://e.example",
        "<!-- comment -->",
        "line\nbreak\r\nand | pipe",
    ],
)
def test_markdown_text_renders_as_written(text: str) -> None:
    escaped = escape.escape_markdown(text)
    tokens = list(walk(MarkdownIt("commonmark").enable("table").parse(f"- {escaped}\n")))
    kinds = {t.type for t in tokens}
    assert not kinds & {"html_inline", "html_block", "link_open", "image", "em_open", "code_inline"}
    assert not kinds & {"heading_open", "blockquote_open", "ordered_list_open", "table_open"}
    shown = "".join(t.content for t in tokens if t.type == "text")
    assert shown == " ".join(text.replace("\r\n", "\n").split("\n")).strip()
    assert not re.search(r"(?<!\\)://|(?<![a-z0-9])www\.", escaped)  # GFM autolinks


@pytest.mark.parametrize(
    "text", ["a`b", "``x``", "`", " a ", "a|b", "<b>x</b>", "[l](u)", "a\nb", "", "x\\"]
)
@pytest.mark.parametrize("is_table_cell", [False, True])
def test_code_spans_hold_any_text(text: str, is_table_cell: bool) -> None:
    span = escape.format_code_span(text, is_table_cell=is_table_cell)
    source = f"| {span} |\n| --- |\n" if is_table_cell else f"{span}\n"
    tokens = list(walk(MarkdownIt("commonmark").enable("table").parse(source)))
    (code,) = [t.content for t in tokens if t.type == "code_inline"]
    assert code == (escape.escape_console(text) or " ")
    assert not {t.type for t in tokens} & {"html_inline", "link_open", "image"}


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
    assert format_test_run_url("https://j", "../a b") == "https://j/test_runs/..%2Fa%20b"


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
    assert list(values) == [
        "submitted",
        "failed",
        "invalid",
        "test-run-ids",
        "results-file",
        "new-failures",
        "fixed",
        "comparison-json",
    ]
    assert values["new-failures"] == values["fixed"] == values["comparison-json"] == ""
    assert values["submitted"] == "2"
    assert values["failed"] == "2"  # rejected + kept in the outbox
    assert values["invalid"] == "1"
    assert json.loads(values["test-run-ids"]) == ["run-101", "run-102"]


def test_outputs_stay_one_line_each() -> None:
    text = render_outputs(mixed_summary(), "a\nb<<EOF\r\nEOF", delimiter="ghadelimiter_TEST")
    lines = text.splitlines()
    at = lines.index("results-file<<ghadelimiter_TEST")
    assert lines[at : at + 3] == [
        "results-file<<ghadelimiter_TEST",
        "a\\nb<<EOF\\r\\nEOF",
        "ghadelimiter_TEST",
    ]
    with pytest.raises(ValueError):
        render_outputs(mixed_summary(), "x ghadelimiter_TEST", delimiter="ghadelimiter_TEST")


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
    assert sorted(mask_values(settings)) == sorted(
        [API_KEY, "pass phrase", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "AbCd"]
    )
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


def test_secrets_are_hidden_before_the_markdown_is_escaped(tmp_path: Path) -> None:
    # "jux_live_..." would become "jux\\_live\\_..." in Markdown, which a redactor run on the
    # finished text cannot find
    leaky = RunSummary(
        files=(FileResult(f"{API_KEY}.xml", Status.INVALID, error=FileError("x", API_KEY)),),
        context=CIContext(),
        server_root=None,
        dry_run=False,
        warnings=(f"warning {API_KEY}",),
    )
    summary_file, out = tmp_path / "summary", tmp_path / "out"
    stream = io.StringIO()
    environ = {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary_file)}
    GithubReporter(environ, Redactor([API_KEY]), stream=stream).finish(
        leaky, make_settings(tmp_path), None
    )
    written = summary_file.read_text() + stream.getvalue()
    assert "jux" not in written.replace("Jux", "").replace("jux-submit", "")
    assert written.count("\\*\\*\\*") == 2 and "`***.xml`" in written


def test_append_never_follows_a_link_nor_opens_a_fifo(tmp_path: Path) -> None:
    target = tmp_path / "outside"
    target.write_text("KEEP")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OSError, match="symbolic link"):
        append_text(tmp_path / "link", "x")
    (tmp_path / "dangling").symlink_to(tmp_path / "created-through-the-link")
    with pytest.raises(OSError):
        append_text(tmp_path / "dangling", "x")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError):
        append_text(tmp_path / "fifo", "x")  # no reader: fails at once instead of hanging
    assert target.read_text() == "KEEP" and not (tmp_path / "created-through-the-link").exists()
    append_text(tmp_path / "new", "a\n")
    append_text(tmp_path / "new", "b\n")
    assert (tmp_path / "new").read_text() == "a\nb\n"


def test_a_linked_output_file_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "outside"
    target.write_text("KEEP")
    (tmp_path / "out").symlink_to(target)
    summary_file = tmp_path / "summary"
    environ = {"GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(summary_file)}
    GithubReporter(environ, Redactor(), stream=io.StringIO()).finish(
        mixed_summary(), make_settings(tmp_path), None
    )
    assert target.read_text() == "KEEP"
    assert "could not write GITHUB_OUTPUT" in caplog.text and "symbolic link" in caplog.text
    assert summary_file.read_text().startswith("## Jux")


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


# --- hostile text and how the runner and a renderer read it ---------------------------------


def hostile_summary() -> RunSummary:
    """Every field a reporter shows carries an attack on some channel."""
    forged = "x\n::add-mask::zzz\r::stop-commands::tok ##[error]e \x1b[31mred\x1b[0m"
    return RunSummary(
        files=(
            FileResult(
                path="x``<img src=x>``|.xml",
                status=Status.SUBMITTED,
                counts=Counts(tests=1),
                test_run_id="id\n| x | y |\n![i](http://e)",
                warnings=(f"attachment not found in pkg.C.t{forged}",),
                properties_added=(("ci:branch", forged),),
                note="note " + forged,
            ),
            FileResult(
                path="a\n::error::b.xml",
                status=Status.INVALID,
                error=FileError("invalid-xml", "the root element is <a href=x>[l](http://e)"),
                line=1,
            ),
            FileResult(
                path="##[add-mask]c.xml",
                status=Status.REJECTED,
                counts=Counts(tests=2),
                error=FileError(
                    "rejected",
                    "HTTP 400: bad\n::stop-commands::tok " + forged,
                    suggestions=("![b](http://e/b.svg)", "hint\n::error::h"),
                ),
            ),
            FileResult(
                path="\x1b[0Ksection_start:1:s\r\x1b[0Kd.xml",
                status=Status.FAILED,
                counts=Counts(tests=3),
                error=FileError("server-error", "503 \x1b[0Ksection_end:1:s\r\x1b[0K"),
                outbox_path=".jux-outbox/0001\n::warning::w.json",
            ),
        ),
        context=CIContext(is_ci=True, provider="github"),
        server_root="https://jux.example.com",
        dry_run=False,
        warnings=("run warning " + forged + " *b* <i>x</i>",),
        notes=("note " + forged,),
        outbox=".jux-outbox\n::error::o",
        pending_earlier=1,
    )


def runner_view(text: str) -> tuple[list[tuple[str, dict[str, str]]], list[str]]:
    """(name, properties) of each workflow command the runner would see in ``text`` (a line
    starting with ``::`` after whitespace), and the lines holding ``##[``; lines end at CR/LF."""
    commands = []
    old_style = []
    for line in re.split(r"\r\n|\r|\n", text):
        if "##[" in line:
            old_style.append(line)
        start = line.lstrip()
        end = start.find("::", 2)
        if start.startswith("::") and end > 0:
            name, _, props = start[2:end].partition(" ")
            pairs = (p.partition("=") for p in props.split(",") if p)
            properties = {
                k: v.replace("%0A", "\n")
                .replace("%0D", "\r")
                .replace("%3A", ":")
                .replace("%2C", ",")
                .replace("%25", "%")
                for k, _, v in pairs
            }
            commands.append((name, properties))
    return commands, old_style


def walk(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from walk(token.children)


def table_rows(tokens: list[Token]) -> Iterator[list[Token]]:
    row: list[Token] | None = None
    for token in tokens:
        if token.type == "tr_open":
            row = []
        elif token.type in ("td_open", "th_open") and row is not None:
            row.append(token)
        elif token.type == "tr_close" and row is not None:
            yield row
            row = None
