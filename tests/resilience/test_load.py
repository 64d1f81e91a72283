"""Load (issue 6, item 3): many ``jux-submit`` processes against one rate-limited server.

Full size (the issue's numbers): 8 processes x 50 files against 100 requests/minute, which the
limit lets finish in (ceil(400 / 100) - 1) x 60 s = 180 s; run it with
``JUX_LOAD_FULL=1 .venv/bin/python -m pytest tests/resilience/test_load.py`` (about 4 minutes).
CI runs the same shape sized down: 8 processes x 10 files against 20 requests / 10 s (30 s
allowed). Either way: every file stored exactly once, nothing in any outbox, ``--parallel``
never exceeded, and the total within 1.3x of what the limit allows.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.jux_server import JuxServer
from tests.resilience.conftest import TOKEN, ci_environ, outbox_payloads, sources_stored

FULL = os.environ.get("JUX_LOAD_FULL") == "1"
PROCESSES = 8
FILES = 50 if FULL else 10
LIMIT, WINDOW = (100, 60.0) if FULL else (20, 10.0)
PARALLEL = 4


def test_eight_processes_against_a_rate_limited_server(tmp_path: Path) -> None:
    from tests.conftest import write_junit

    workdirs = []
    for p in range(PROCESSES):
        workdir = tmp_path / f"job{p}" / "ws"
        for i in range(FILES):
            write_junit(workdir / f"job{p}" / f"TEST-{i:03d}.xml", suite=f"J{p}S{i}")
        workdirs.append(workdir)
    total = PROCESSES * FILES
    allowed = (math.ceil(total / LIMIT) - 1) * WINDOW

    with JuxServer(api_key=TOKEN, rate_limit=(LIMIT, WINDOW)) as server:
        in_flight: dict[str, int] = {}
        peak: dict[str, int] = {}
        lock = threading.Lock()
        original = server.handlers["/api/v1/junit/submit"]

        def counting(srv, req):  # type: ignore[no-untyped-def]
            # concurrency per process, keyed by the job folder in the source path
            job = req.body.split(b"jux:source_file", 1)[-1][:40]
            name = job.split(b"/", 1)[0].split(b'"')[-1].decode()
            with lock:
                in_flight[name] = in_flight.get(name, 0) + 1
                peak[name] = max(peak.get(name, 0), in_flight[name])
            try:
                time.sleep(0.05)  # long enough for a process's requests to overlap
                return original(srv, req)
            finally:
                with lock:
                    in_flight[name] -= 1

        server.handlers["/api/v1/junit/submit"] = counting
        started = time.monotonic()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jux_submit",
                    "--api-url",
                    server.url,
                    "--working-directory",
                    str(w),
                    "--parallel",
                    str(PARALLEL),
                    "--retries",
                    "10",
                    "--max-retry-wait",
                    str(WINDOW + 5),
                    "-q",
                ],
                env=ci_environ(w),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for w in workdirs
        ]
        outputs = [p.communicate(timeout=allowed * 3 + 60) for p in procs]
        elapsed = time.monotonic() - started
        for proc, (out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, out + err
            assert TOKEN not in out.replace(f"::add-mask::{TOKEN}", "") + err
        stored = sources_stored(server)
        expected = sorted(
            f"job{p}/TEST-{i:03d}.xml" for p in range(PROCESSES) for i in range(FILES)
        )
        assert stored == expected  # every file exactly once
        assert all(outbox_payloads(w) == [] for w in workdirs)
        assert max(peak.values()) <= PARALLEL, peak
        limited = sum(1 for r in server.requests if r.status == 429)
        assert limited > 0  # the limit really was hit
    assert elapsed <= 1.3 * allowed, f"{elapsed:.1f} s for {total} files; limit allows {allowed} s"
