"""The logging switches ``cli`` sets (no thread, process or caller lookup per record) change
nothing a run prints: every per-report line is there, whole and in order, in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import logging, sys
from jux_submit.cli import run
code = run(sys.argv[1:])
assert logging.logThreads is False and logging._srcfile is None
sys.exit(code)
"""


def test_each_report_logs_its_line(tmp_path: Path) -> None:
    names = [f"TEST-r{i}.xml" for i in range(3)]
    for name in names:
        (tmp_path / name).write_text('<testsuite name="s"><testcase name="a"/></testsuite>')
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            "--dry-run",
            "--working-directory",
            str(tmp_path),
            "--outbox",
            str(tmp_path / "ob"),
            "-v",  # a dry run's per-report lines are debug lines
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "would send" in line]
    assert [line.split(": ")[2] for line in lines] == names
    assert all(line.startswith("jux-submit: DEBUG: TEST-r") for line in lines)
