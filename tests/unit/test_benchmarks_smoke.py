"""Smoke run of the benchmark harness with tiny sizes, so that it cannot rot.

It checks that every scenario runs end to end and produces a row; it never asserts on timings
or ratios (those belong to ``benchmarks/RESULTS.md``, not to CI's pass/fail). The harness starts
its own sink server on 127.0.0.1 in a child process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VERDICTS = {"met", "MISSED", "info", "n/a", "pending"}


def test_benchmark_harness_runs_end_to_end_with_tiny_sizes(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    markdown = tmp_path / "results.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            "--smoke",
            "--json",
            str(results),
            "--markdown",
            str(markdown),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(results.read_text(encoding="utf-8"))
    scenarios = " ".join(row["scenario"] for row in rows)
    for name in ("start-up", "raw 20 files", "dry run 20 files", "MB report", "package"):
        assert name in scenarios, scenarios
    assert {row["verdict"] for row in rows} <= VERDICTS, rows
    measured = [r for r in rows if r["verdict"] in ("met", "MISSED", "info")]
    assert measured
    for row in measured:
        assert row["subject"]["samples"], row
        assert all(s["returncode"] == 0 for s in row["subject"]["samples"]), row
    assert "| scenario |" in markdown.read_text(encoding="utf-8")
    assert "ratio" in proc.stdout


def test_dead_server_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    figures = tmp_path / "dead.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "dead_server.py"),
            "--files",
            "5",
            "--repeat",
            "1",
            "--json",
            str(figures),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(figures.read_text(encoding="utf-8"))
    assert data["files"] == 5 and data["kept"] == 5  # every report kept in the outbox
    assert data["verdict"] in VERDICTS
