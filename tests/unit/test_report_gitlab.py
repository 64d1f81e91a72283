"""GitLab reporter: collapsible sections and the dotenv report."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from jux_submit.models import CIContext, FileError, FileResult, RunSummary, Status
from jux_submit.redact import Redactor
from jux_submit.report.escape import escape_dotenv_value, format_dotenv
from jux_submit.report.files import replace_file
from jux_submit.report.gitlab import (
    MAX_DOTENV_BYTES,
    GitlabReporter,
    dotenv_path,
    dotenv_values,
    render_dotenv,
    section_end,
    section_name,
    section_start,
)
from jux_submit.settings import load_settings
from tests.unit.report_samples import check_golden, empty_summary, mixed_summary


def test_section_markers() -> None:
    assert section_start("jux_1_submit", "Submitting", 1700000000) == (
        "\x1b[0Ksection_start:1700000000:jux_1_submit[collapsed=true]\r\x1b[0KSubmitting"
    )
    assert section_start("n", "t", 1, collapsed=False) == "\x1b[0Ksection_start:1:n\r\x1b[0Kt"
    assert section_end("jux_1_submit", 1700000005) == (
        "\x1b[0Ksection_end:1700000005:jux_1_submit\r\x1b[0K"
    )


def test_section_titles_cannot_forge_markers_or_colours() -> None:
    title = "t\x1b[0Ksection_end:1:jux_1_x\r\x1b[0K\x1b[31mred\nnext"
    line = section_start("jux_2_t", title, 5)
    assert line.count("\x1b") == 2 and line.count("\r") == 1 and "\n" not in line
    assert line.count("section_") == 1  # ours; the title's is broken
    assert line.endswith("\\x1b[0Ksection\u200b_end:1:jux_1_x\\r\\x1b[0K\\x1b[31mred\\nnext")
    with pytest.raises(ValueError):
        section_end("x\r\x1b[0Kfake", 1)


def test_section_names_are_safe_and_unique() -> None:
    assert (
        section_name("Submitting 3 reports: TEST-*.xml", 2)
        == "jux_2_submitting_3_reports_test-_.xml"
    )
    assert section_name("???", 1) == "jux_1_section"


def test_log_group_emits_start_and_end() -> None:
    stream = io.StringIO()
    times = iter([100.0, 105.0])
    reporter = GitlabReporter({}, Redactor(), stream=stream, clock=lambda: next(times))
    with reporter.log_group("Validating"):
        stream.write("inside\n")
    assert stream.getvalue() == (
        "\x1b[0Ksection_start:100:jux_1_validating[collapsed=true]\r\x1b[0KValidating\n"
        "inside\n"
        "\x1b[0Ksection_end:105:jux_1_validating\r\x1b[0K\n"
    )


def test_dotenv_golden(update_golden: bool) -> None:
    check_golden("gitlab/jux-submit.env", render_dotenv(mixed_summary()), update_golden)


def test_dotenv_empty_run_golden(update_golden: bool) -> None:
    check_golden("gitlab/jux-submit-empty.env", render_dotenv(empty_summary()), update_golden)


def test_dotenv_values() -> None:
    values = dotenv_values(mixed_summary())
    assert values == {
        "JUX_SUBMITTED": "2",
        "JUX_FAILED": "2",
        "JUX_INVALID": "1",
        "JUX_NEW_FAILURES": "",
        "JUX_FIXED": "",
        "JUX_TEST_RUN_IDS": "run-101,run-102",
    }


def hostile_summary() -> RunSummary:
    ids = ("ok-1", "$CI_JOB_TOKEN", "a\nEVIL=1", "'q' \"d\" #c", "x,y", "\x1b[31m", " \n")
    files = tuple(
        FileResult(f"r{i}.xml", Status.SUBMITTED, test_run_id=run_id)
        for i, run_id in enumerate(ids)
    )
    invalid = FileResult("r.xml", Status.INVALID, error=FileError("invalid-xml", "x\nA=1"))
    return RunSummary(files=(*files, invalid), context=CIContext(), server_root=None, dry_run=False)


def test_dotenv_of_hostile_ids_golden(update_golden: bool) -> None:
    text = render_dotenv(hostile_summary())
    check_golden("gitlab/jux-submit-hostile.env", text, update_golden)
    lines = text.split("\n")
    assert lines[-1] == "" and [line.split("=", 1)[0] for line in lines[:-1]] == [
        "JUX_SUBMITTED",
        "JUX_FAILED",
        "JUX_INVALID",
        "JUX_NEW_FAILURES",
        "JUX_FIXED",
        "JUX_TEST_RUN_IDS",
    ]
    ids = dotenv_values(hostile_summary())["JUX_TEST_RUN_IDS"].split(",")
    assert ids == ["ok-1", "CI_JOB_TOKEN", "aEVIL1", "qdc", "xy", "31m"]  # empty ones left out


def test_dotenv_values_keep_only_safe_characters() -> None:
    assert escape_dotenv_value("a b\n$X'\"#=\\`c") == "abXc"
    assert escape_dotenv_value("550e8400-e29b-41d4-a716-446655440000") == (
        "550e8400-e29b-41d4-a716-446655440000"
    )
    with pytest.raises(ValueError):
        format_dotenv({"A\nB": "1"})


def test_dotenv_lines_are_plain_name_value_pairs() -> None:
    for line in render_dotenv(mixed_summary()).splitlines():
        name, _, value = line.partition("=")
        assert name.isidentifier() and name.isupper()
        assert "\n" not in value and '"' not in value


def test_dotenv_ids_are_cut_to_gitlabs_size_limit() -> None:
    files = tuple(
        FileResult(
            f"r{i}.xml", Status.SUBMITTED, test_run_id=f"{i:08d}-aaaa-bbbb-cccc-dddddddddddd"
        )
        for i in range(400)
    )
    summary = RunSummary(files=files, context=CIContext(), server_root=None, dry_run=False)
    text = render_dotenv(summary)
    assert len(text.encode()) <= MAX_DOTENV_BYTES < 5 * 1024
    values = dotenv_values(summary)
    assert values["JUX_TEST_RUN_IDS_TRUNCATED"] == "true"
    ids = values["JUX_TEST_RUN_IDS"].split(",")
    assert 50 < len(ids) < 400 and ids[0] == files[0].test_run_id


def test_dotenv_path(tmp_path: Path) -> None:
    assert dotenv_path({}, tmp_path) == tmp_path / "jux-submit.env"
    project = {"CI_PROJECT_DIR": "/builds/acme/shop"}
    assert dotenv_path(project, tmp_path) == Path("/builds/acme/shop/jux-submit.env")
    assert dotenv_path({**project, "JUX_DOTENV": "out/ids.env"}, tmp_path) == Path(
        "/builds/acme/shop/out/ids.env"
    )
    assert dotenv_path({"JUX_DOTENV": "/tmp/x.env"}, tmp_path) == Path("/tmp/x.env")


def test_finish_writes_the_dotenv_file(tmp_path: Path) -> None:
    environ = {"GITLAB_CI": "true", "CI_PROJECT_DIR": str(tmp_path), "JUX_API_KEY": "k" * 20}
    settings = load_settings(["--dry-run"], environ, cwd=tmp_path)
    reporter = GitlabReporter(environ, Redactor(["k" * 20]), stream=io.StringIO())
    reporter.start(settings)
    reporter.finish(mixed_summary(), settings, None)
    text = (tmp_path / "jux-submit.env").read_text()
    assert text == render_dotenv(mixed_summary())
    assert "k" * 20 not in text


def test_replace_file_never_writes_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "outside"
    target.write_text("KEEP")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OSError, match="symbolic link"):
        replace_file(tmp_path / "link", "x")
    (tmp_path / "dangling").symlink_to(tmp_path / "created-through-the-link")
    with pytest.raises(OSError, match="symbolic link"):
        replace_file(tmp_path / "dangling", "x")
    (tmp_path / "folder").mkdir()
    with pytest.raises(OSError):
        replace_file(tmp_path / "folder", "x")
    assert target.read_text() == "KEEP" and not (tmp_path / "created-through-the-link").exists()
    (tmp_path / "file").write_text("old")
    replace_file(tmp_path / "file", "new\n")
    replace_file(tmp_path / "fresh", "new\n")
    assert (tmp_path / "file").read_text() == (tmp_path / "fresh").read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dangling",
        "file",
        "folder",
        "fresh",
        "link",
        "outside",
    ]  # no temporary file left behind


def test_a_link_planted_at_the_dotenv_path_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "outside"
    target.write_text("KEEP")
    (tmp_path / "jux-submit.env").symlink_to(target)
    environ = {"CI_PROJECT_DIR": str(tmp_path)}
    settings = load_settings(["--dry-run"], environ, cwd=tmp_path)
    GitlabReporter(environ, Redactor(), stream=io.StringIO()).finish(
        mixed_summary(), settings, None
    )
    assert target.read_text() == "KEEP"
    assert "could not write the dotenv report" in caplog.text and "symbolic link" in caplog.text


def test_failed_write_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    environ = {"JUX_DOTENV": str(tmp_path / "missing" / "dir" / "x.env")}
    settings = load_settings(["--dry-run"], environ, cwd=tmp_path)
    GitlabReporter(environ, Redactor(), stream=io.StringIO()).finish(
        mixed_summary(), settings, None
    )
    assert "could not write the dotenv report" in caplog.text


def test_start_opens_a_section_that_finish_closes(tmp_path: Path) -> None:
    stream = io.StringIO()
    times = iter([10.0, 20.0])
    environ = {"CI_PROJECT_DIR": str(tmp_path)}
    settings = load_settings(["--dry-run"], environ, cwd=tmp_path)
    reporter = GitlabReporter(environ, Redactor(), stream=stream, clock=lambda: next(times))
    reporter.start(settings)
    reporter.finish(empty_summary(), settings, None)
    lines = stream.getvalue().rstrip("\n").split("\n")
    assert lines[0].startswith("\x1b[0Ksection_start:10:jux_1_jux-submit_")
    assert lines[1].startswith("\x1b[0Ksection_end:20:jux_1_jux-submit_")
    assert len(lines) == 2
