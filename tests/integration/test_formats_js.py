"""The real CLI against the local Jux server with the JavaScript ecosystem's JSON reports: each
is recognised, converted and submitted with the counts its producer printed
(``tests/fixtures/formats/<format>/counts.json``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.jux_server import JuxServer

FORMATS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
MINE = ("jest", "mocha", "cucumber", "ctrf", "playwright")


def producer_counts() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for name in MINE:
        table = json.loads((FORMATS_DIR / name / "counts.json").read_text(encoding="utf-8"))
        found.extend((name, fixture, entry) for fixture, entry in sorted(table.items()))
    return found


def submit(server: JuxServer, wd: Path, *extra: str) -> str:
    result = run_cli(["--api-url", server.url, "--working-directory", str(wd), *extra, "*.json"])
    return f"exit {result.code}\n{result.output}"


def workdir_with(tmp_path: Path, name: str, fixture: str) -> Path:
    """A fresh working directory holding only the one report (its journal starts empty)."""
    wd = tmp_path / "ws"
    wd.mkdir()
    shutil.copy(FORMATS_DIR / name / fixture, wd / f"{name}-{fixture}")
    return wd


@pytest.mark.parametrize(("name", "fixture", "entry"), producer_counts())
def test_each_report_is_submitted_with_the_producers_counts(
    jux_server: JuxServer, tmp_path: Path, name: str, fixture: str, entry: dict[str, Any]
) -> None:
    wd = workdir_with(tmp_path, name, fixture)
    output = submit(jux_server, wd)
    assert len(jux_server.runs) == 1, output
    run = jux_server.runs[0]
    assert run.counts == entry["counts"], entry["printed"]
    assert run.properties["jux:source_format"] == name
    assert run.properties["jux:source_file"] == f"{name}-{fixture}"
    assert run.properties["project"]  # enriched like any JUnit report
    assert run.body.startswith(b"<?xml")


@pytest.mark.parametrize(
    ("name", "fixture"), [("jest", "report.json"), ("playwright", "report.json")]
)
def test_format_junit_refuses_them_as_invalid(
    jux_server: JuxServer, tmp_path: Path, name: str, fixture: str
) -> None:
    wd = workdir_with(tmp_path, name, fixture)
    output = submit(jux_server, wd, "--format", "junit")
    assert jux_server.runs == [], output
    assert "INVALID" in output


def test_format_jest_forces_a_report_the_sniffer_does_not_know(
    jux_server: JuxServer, tmp_path: Path
) -> None:
    # Jest's shape without the counters and describe titles the sniffer looks for
    report = {
        "testResults": [
            {
                "name": "/ci/app/src/a.test.js",
                "assertionResults": [
                    {"title": "works", "status": "passed", "duration": 3},
                    {"title": "breaks", "status": "failed", "failureMessages": ["Error: no"]},
                ],
            }
        ]
    }
    wd = tmp_path / "ws"
    wd.mkdir()
    (wd / "results.json").write_text(json.dumps(report), encoding="utf-8")
    auto = submit(jux_server, wd)
    assert jux_server.runs == [] and "INVALID" in auto
    forced = submit(jux_server, wd, "--format", "jest")
    assert len(jux_server.runs) == 1, forced
    run = jux_server.runs[0]
    assert run.counts == {"test_count": 2, "failure_count": 1, "error_count": 0, "skipped_count": 0}
    assert run.properties["jux:source_format"] == "jest"


def test_format_jest_on_another_format_says_what_is_wrong(
    jux_server: JuxServer, tmp_path: Path
) -> None:
    wd = workdir_with(tmp_path, "mocha", "report.json")
    output = submit(jux_server, wd, "--format", "jest")
    assert jux_server.runs == [], output
    assert "the Jest JSON report is not shaped like Jest's: testResults should be a list" in output
