"""The real CLI against the contract server: go test -json, TAP, RSpec and Dart reports are
converted, submitted as JUnit, and counted by the server as their producers counted them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.jux_server import JuxServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"

#: (fixture, pattern, format, (tests, failures, errors, skipped)): SOURCES.md has the derivation
SUBMITTED = [
    ("gotest/gotest-combined.json", "*.json", "gotest", (17, 4, 1, 2)),
    ("gotest/gotest-crash.json", "*.json", "gotest", (4, 0, 2, 0)),
    ("tap/node.tap", "*.tap", "tap", (9, 2, 0, 2)),
    ("tap/perl-merged.tap", "*.tap", "tap", (9, 2, 0, 2)),
    ("tap/bats-report.tap", "*.tap", "tap", (5, 1, 0, 1)),
    ("rspec/rspec.json", "*.json", "rspec", (10, 3, 0, 3)),
    ("rspec/rspec-load-error.json", "*.json", "rspec", (1, 0, 1, 0)),
    ("dart/enricomi-dart-code-metrics.json", "*.json", "dart", (20, 1, 2, 1)),
]


def server_counts(expected: tuple[int, int, int, int]) -> dict[str, int]:
    keys = ("test_count", "failure_count", "error_count", "skipped_count")
    return dict(zip(keys, expected, strict=True))


def submit(
    server: JuxServer, workdir: Path, *patterns: str, extra: tuple[str, ...] = ()
) -> tuple[int, str, dict[str, Any]]:
    report = workdir.parent / "result.json"  # outside the working directory: never discovered
    result = run_cli(
        [
            "--api-url",
            server.url,
            "--working-directory",
            str(workdir),
            "--json",
            str(report),
            *extra,
            *patterns,
        ]
    )
    return result.code, result.output, json.loads(report.read_text(encoding="utf-8"))


@pytest.mark.parametrize("sample", SUBMITTED, ids=[s[0] for s in SUBMITTED])
def test_converted_report_is_submitted_with_its_producers_counts(
    jux_server: JuxServer, workdir: Path, sample: tuple[str, str, str, tuple[int, int, int, int]]
) -> None:
    fixture, pattern, name, expected = sample
    shutil.copy(FIXTURES / fixture, workdir / Path(fixture).name)
    code, output, report = submit(jux_server, workdir, pattern)
    assert code == 0, output
    assert len(jux_server.runs) == 1, output
    run = jux_server.runs[0]
    assert run.counts == server_counts(expected)
    assert run.properties["jux:source_format"] == name
    assert run.properties["jux:source_file"] == Path(fixture).name
    assert run.body.startswith(b"<?xml")  # the server got JUnit XML
    (entry,) = report["files"]
    assert (entry["status"], entry["source_format"]) == ("submitted", name)


def test_every_format_in_one_run(jux_server: JuxServer, workdir: Path) -> None:
    for fixture, *_ in SUBMITTED:
        target = workdir / fixture.replace("/", "-")
        shutil.copy(FIXTURES / fixture, target)
    code, output, report = submit(jux_server, workdir, "*.json", "*.tap")
    assert code == 0, output
    by_file = {run.properties["jux:source_file"]: run for run in jux_server.runs}
    assert len(by_file) == len(SUBMITTED)
    for fixture, _, name, expected in SUBMITTED:
        run = by_file[fixture.replace("/", "-")]
        assert (run.properties["jux:source_format"], run.counts) == (name, server_counts(expected))
    assert {f["status"] for f in report["files"]} == {"submitted"}


def test_format_junit_refuses_a_converted_format(jux_server: JuxServer, workdir: Path) -> None:
    shutil.copy(FIXTURES / "rspec" / "rspec.json", workdir / "rspec.json")
    _, output, report = submit(jux_server, workdir, "*.json", extra=("--format", "junit"))
    assert jux_server.runs == []
    (entry,) = report["files"]
    assert entry["status"] == "invalid", output


def test_format_tap_forces_a_stream_that_is_not_sniffed(
    jux_server: JuxServer, workdir: Path
) -> None:
    # a log that starts with other text: not recognised as TAP, so read (and refused) as JUnit
    text = "Running the suite on host ci-7\n" + (FIXTURES / "tap" / "bats.tap").read_text()
    (workdir / "suite.log").write_text(text, encoding="utf-8")
    _, output, report = submit(jux_server, workdir, "*.log")
    assert jux_server.runs == []
    assert report["files"][0]["status"] == "invalid", output

    code, output, report = submit(jux_server, workdir, "*.log", extra=("--format", "tap"))
    assert code == 0, output
    (run,) = jux_server.runs
    assert run.counts == server_counts((5, 1, 0, 1))
    assert run.properties["jux:source_format"] == "tap"


def test_a_report_that_looks_like_a_format_but_is_broken_is_invalid_and_not_sent(
    jux_server: JuxServer, workdir: Path
) -> None:
    good = (FIXTURES / "gotest" / "gotest.json").read_text(encoding="utf-8")
    cut = good[: good.index("\n", len(good) // 2) - 5]  # a stream cut in the middle of a line
    (workdir / "cut.json").write_text(cut, encoding="utf-8")
    _, output, report = submit(jux_server, workdir, "*.json")
    assert jux_server.runs == []
    (entry,) = report["files"]
    assert entry["status"] == "invalid"
    assert "not valid JSON" in output
