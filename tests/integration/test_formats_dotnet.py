"""The real CLI against the contract server: TRX, NUnit and xUnit.net reports are found, sniffed,
converted to JUnit, validated and submitted; ``--format junit`` turns that off."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import CliResult, run_cli
from tests.jux_server import JuxServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
TRX_NS = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"

#: (folder, file, glob, server counts); the counts follow from each file's own counters
#: (tests/fixtures/formats/*/SOURCES.md)
RUNS = [
    ("trx", "dotnet-trx.trx", "**/*.trx", (7, 3, 0, 1)),
    ("trx", "pickles-mstest.trx", "**/*.trx", (4, 1, 0, 0)),
    ("trx", "dotnet-trx-run-aborted.trx", "**/*.trx", (2, 0, 1, 0)),
    ("nunit", "dotnet-nunit.xml", "**/*.xml", (9, 2, 3, 1)),
    ("nunit", "mock-assembly-2.6.2.xml", "**/*.xml", (28, 1, 4, 5)),
    ("nunit", "pickles-nunit2.xml", "**/*.xml", (4, 1, 0, 0)),
    ("xunit", "jenkinsci-testcase1.xml", "**/*.xml", (3, 1, 0, 1)),
    ("xunit", "pickles-xunit-v1.xml", "**/*.xml", (4, 1, 0, 0)),
]


def place(workdir: Path, folder: str, name: str) -> Path:
    """Copy a fixture below the working directory, as a build would leave it."""
    target = workdir / "TestResults" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURES / folder / name, target)
    return target


def submit(server: JuxServer, workdir: Path, *args: str) -> CliResult:
    """Run ``jux-submit`` against ``server`` in ``workdir``, writing ``out.json`` there."""
    base = ["--api-url", server.url, "--working-directory", str(workdir)]
    return run_cli([*base, "--json", str(workdir / "out.json"), *args])


def files_of(report: Path) -> list[dict[str, object]]:
    files: list[dict[str, object]] = json.loads(report.read_text(encoding="utf-8"))["files"]
    return files


@pytest.mark.parametrize("sample", RUNS, ids=[r[1] for r in RUNS])
def test_a_dotnet_report_is_converted_and_submitted(
    jux_server: JuxServer, workdir: Path, sample: tuple[str, str, str, tuple[int, int, int, int]]
) -> None:
    folder, name, pattern, expected = sample
    place(workdir, folder, name)
    result = submit(jux_server, workdir, "--fail-on-error", pattern)
    assert result.code == 0, result.output
    assert len(jux_server.runs) == 1, result.output
    run = jux_server.runs[0]
    tests, failures, errors, skipped = expected
    assert run.counts == {
        "test_count": tests,
        "failure_count": failures,
        "error_count": errors,
        "skipped_count": skipped,
    }
    assert run.properties["jux:source_format"] == folder
    assert run.properties["jux:source_file"] == f"TestResults/{name}"
    etree.fromstring(run.body)  # what was sent is the converted JUnit, well-formed
    assert run.body.lstrip().startswith(b"<?xml") and b"<testsuites" in run.body[:200]
    [entry] = files_of(workdir / "out.json")
    assert entry["status"] == "submitted" and entry["source_format"] == folder


@pytest.mark.parametrize("sample", RUNS[::3], ids=[r[1] for r in RUNS[::3]])
def test_format_junit_refuses_a_dotnet_report_as_invalid(
    jux_server: JuxServer, workdir: Path, sample: tuple[str, str, str, tuple[int, int, int, int]]
) -> None:
    folder, name, pattern, _ = sample
    place(workdir, folder, name)
    result = submit(jux_server, workdir, "--fail-on-error", "--format", "junit", pattern)
    assert result.code == 1, result.output
    assert jux_server.runs == [] and jux_server.posts() == []
    [entry] = files_of(workdir / "out.json")
    assert entry["status"] == "invalid"
    assert "not a JUnit report" in str(entry["error"])


def test_a_forced_format_that_does_not_fit_is_invalid_and_says_why(
    jux_server: JuxServer, workdir: Path
) -> None:
    place(workdir, "trx", "dotnet-trx.trx")
    result = submit(jux_server, workdir, "--fail-on-error", "--format", "nunit", "**/*.trx")
    assert result.code == 1, result.output
    assert jux_server.runs == []
    assert f"the root element is <TestRun> (namespace {TRX_NS}), not <test-run>" in result.output


def test_a_report_with_a_doctype_is_never_sent(jux_server: JuxServer, workdir: Path) -> None:
    place(workdir, "nunit", "NUnit-sec1752-file.xml")
    (workdir / "TestResults" / "NUnit-sec1752-file.txt").write_text("secret", encoding="utf-8")
    result = submit(jux_server, workdir, "--fail-on-error", "**/*.xml")
    assert result.code == 1, result.output
    assert jux_server.runs == []
    assert "DOCTYPE" in result.output and "secret" not in result.output


def test_the_aborted_run_warning_reaches_the_user(jux_server: JuxServer, workdir: Path) -> None:
    place(workdir, "trx", "dotnet-trx-run-aborted.trx")
    result = submit(jux_server, workdir, "**/*.trx")
    assert result.code == 0, result.output
    [entry] = files_of(workdir / "out.json")
    assert "Test host process crashed" in json.dumps(entry["warnings"]), entry
    assert "Test host process crashed" in result.output
