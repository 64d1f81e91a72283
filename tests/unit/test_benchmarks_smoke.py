"""Smoke run of the benchmark harness with tiny sizes, so that it cannot rot.

It checks that every row runs end to end, baselines included (the lxml loops, the
``http.client`` and ``curl --parallel`` submissions, the ``iterparse`` loop), and produces a
row; it never asserts on timings or ratios (those belong to ``benchmarks/RESULTS.md``, not to
CI's pass/fail). ``--smoke`` uses the Python sink (``benchmarks/sink.py``) on 127.0.0.1 in a
child process, so neither nginx nor any network beyond loopback is needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VERDICTS = {"met", "MISSED", "info", "n/a", "pending"}
ROW_IDS = ["1", "2", "3", "4", "4b", "5", "5b", "6a", "6b", "6c", "6d", "6e", "6f", "6g", "6h"]


def test_benchmark_harness_runs_end_to_end_with_tiny_sizes(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    markdown = tmp_path / "results.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            "--smoke",
            "--sink",
            "python",
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
    data = json.loads(results.read_text(encoding="utf-8"))
    rows = data["rows"]
    assert [row["id"] for row in rows] == ROW_IDS, rows
    assert "Python sink" in data["sink"], data["sink"]
    assert any(line.startswith("machine:") for line in data["machine"]), data["machine"]
    assert {row["verdict"] for row in rows} <= VERDICTS, rows
    measured = [r for r in rows if r["verdict"] in ("met", "MISSED", "info")]
    assert measured
    for row in measured:
        for role in ("subject", "baseline"):
            if role in row:
                assert row[role]["samples"], row
                assert all(s["returncode"] == 0 and not s["check"] for s in row[role]["samples"])
    with_ratio = {r["id"] for r in rows if r["ratio"] is not None}
    # the baselines that need only Python and lxml always run (curl's may be missing)
    assert {"1", "2", "3", "4", "5", "5b", "6a", "6h"} <= with_ratio, with_ratio
    assert "| # | measure |" in markdown.read_text(encoding="utf-8")
    assert "ratio" in proc.stdout
    assert proc.stdout.startswith("machine:"), proc.stdout[:200]


def test_row_selector_runs_only_the_rows_asked_for(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            "--smoke",
            "--rows",
            "1,6b",
            "--runs",
            "1",
            "--json",
            str(results),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(results.read_text(encoding="utf-8"))["rows"]
    assert [row["id"] for row in rows] == ["1", "6b"], rows
    bad = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--rows", "7"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "unknown row" in bad.stderr


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
