"""GitLab reporter: collapsible sections and the dotenv report."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from jux_submit.models import CIContext, FileResult, RunSummary, Status
from jux_submit.redact import Redactor
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
        "JUX_TEST_RUN_IDS": "run-101,run-102",
    }


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
