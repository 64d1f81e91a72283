"""Big runs in worker processes (``--processes``): the same results as one process, every
report stored once, and nothing lost when a worker or the parent dies; the breaker and
interruptions reach every worker. Real CLI in a subprocess, real contract server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.jux_server import JuxServer
from tests.resilience.conftest import (
    TOKEN,
    assert_no_token,
    ci_environ,
    outbox_payloads,
    sources_stored,
    submit,
    write_reports,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux only")

FORKED = "the reports go to 2 worker processes"


def comparable(run_files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A run's results without what differs between two runs (times, ids, attempts)."""
    varying = {"duration", "test_run_id", "attempts", "http_status", "outbox_path"}
    kept = [{k: v for k, v in f.items() if k not in varying} for f in run_files]
    for f in kept:
        f["properties_added"] = {
            k: v for k, v in (f.get("properties_added") or {}).items() if k != "jux:timestamp"
        }
    return kept


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start(url: str, workdir: Path, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "jux_submit", "--api-url", url]
    argv += ["--working-directory", str(workdir), "--max-retry-wait", "1", *args]
    return subprocess.Popen(
        argv, env=ci_environ(workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_until(condition: Any, what: str, limit: float = 30) -> None:
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, what
        time.sleep(0.01)


def test_workers_store_every_report_once_with_the_results_of_one_process(
    tmp_path: Path,
) -> None:
    runs = {}
    for processes in ("1", "2"):
        workdir = tmp_path / f"p{processes}" / "ws"
        workdir.mkdir(parents=True)
        names = write_reports(workdir, 120)
        for i in (7, 50, 111):  # broken ones among them: their own result, in their place
            (workdir / names[i]).write_text("<testsuite><testcase name='x'></testsuite>")
        with JuxServer(api_key=TOKEN) as server:
            run = submit(
                server.url,
                workdir,
                "--processes",
                processes,
                "--verbose",
                "--fail-on-error",
                subprocess_run=True,
            )
            assert (FORKED in run.stderr) is (processes == "2"), run.stderr[-2000:]
            assert run.code == 1, run.output  # the three invalid reports
            valid = sorted(n for i, n in enumerate(names) if i not in (7, 50, 111))
            assert sources_stored(server) == valid  # each once
            journal = (run.outbox / "journal.jsonl").read_text().splitlines()
            assert len(journal) == 117
            assert_no_token(run, server)
            again = submit(server.url, workdir, "--processes", processes, subprocess_run=True)
            assert [f["status"] for f in again.report["files"]].count("skipped") == 117
            assert sources_stored(server) == valid  # nothing sent twice
            assert not list(run.outbox.glob(".inflight-*"))  # every worker removed its slots
        runs[processes] = run
    one, two = runs["1"].report["files"], runs["2"].report["files"]
    assert [f["path"] for f in two] == [f["path"] for f in one]
    assert comparable(two) == comparable(one)
    totals = [{**runs[p].report["totals"], "test_run_ids": None} for p in ("1", "2")]
    assert totals[0] == totals[1]


def test_a_killed_worker_loses_nothing_the_main_process_finishes_its_share(
    workdir: Path,
) -> None:
    names = write_reports(workdir, 80)
    result = workdir.parent / "killed.json"
    with JuxServer(api_key=TOKEN) as server:
        # quick answers: a worker's results must reach the parent as each is done, not in
        # batches (a result still in the worker when it dies would be "already accepted")
        server.latency = 0.01
        server.honour_idempotency = True
        argv = ("--processes", "2", "--parallel", "2", "--fail-on-error", "--json", str(result))
        proc = start(server.url, workdir, *argv)
        wait_until(lambda: len(server.posts()) >= 20, "the run never got going")
        workers = children_of(proc.pid)
        assert len(workers) == 1, workers  # worker 0 is the process itself
        os.kill(workers[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "killed by SIGKILL; its" in err and "handled by the main process" in err
        import json

        report = json.loads(result.read_text())
        assert {f["status"] for f in report["files"]} == {"submitted"}, out
        assert report["totals"]["tests"] == 160  # every report's counts, none lost
        # each report stored once: a copy the worker had in flight went again with its
        # key (the server honours it) and the same report already accepted was not resent
        assert sources_stored(server) == sorted(names)
        assert outbox_payloads(workdir) == []
        assert not list((workdir / ".jux-outbox").glob(".inflight-*"))
        rerun = submit(server.url, workdir, "--processes", "2", subprocess_run=True)
        assert {f["status"] for f in rerun.report["files"]} == {"skipped"}


def test_the_parent_killed_stops_its_workers_and_keeps_what_was_in_flight(
    workdir: Path,
) -> None:
    names = write_reports(workdir, 80)
    with JuxServer(api_key=TOKEN) as server:
        server.latency = 0.2
        server.honour_idempotency = True
        proc = start(server.url, workdir, "--processes", "2", "--parallel", "4")
        wait_until(lambda: len(server.posts()) >= 4, "the run never got going")
        workers = children_of(proc.pid)
        assert len(workers) == 1, workers
        proc.kill()
        proc.communicate(timeout=30)
        wait_until(
            lambda: not any(is_alive(p) for p in workers), "workers outlived the parent", limit=15
        )
        assert len(server.posts()) < 80  # they stopped, they did not finish the run
        server.latency = 0
        rerun = submit(server.url, workdir, "--processes", "2", subprocess_run=True)
        assert rerun.code == 0, rerun.output
        assert sources_stored(server) == sorted(names)


def test_the_breaker_opens_in_every_worker(workdir: Path) -> None:
    write_reports(workdir, 100)
    with JuxServer(api_key="another-key") as server:  # 403 for all: a server-level failure
        run = submit(
            server.url,
            workdir,
            *("--processes", "2", "--parallel", "2", "--retries", "0", "--verbose"),
            subprocess_run=True,
        )
        assert FORKED in run.stderr
        assert {f["status"] for f in run.report["files"]} == {"failed"}
        # three in a row open it in one worker; the other sees it before its next report
        # (its third may be in flight by then: the sharing itself is tested in test_workers.py)
        assert len(server.posts()) <= 3 + 3, len(server.posts())
        assert len(outbox_payloads(workdir)) == 100  # every report kept
        notes = run.report["notes"]
        not_sent = f"{100 - len(server.posts())} report(s) were not sent"
        assert len(notes) == 1 and not_sent in notes[0], notes


def test_a_dry_run_in_workers_prints_what_one_process_prints(workdir: Path) -> None:
    names = write_reports(workdir, 250)
    (workdir / names[100]).write_text("<testsuite><testcase name='x'></testsuite>")
    outputs = {}
    for processes in ("1", "2"):
        run = submit(
            "http://127.0.0.1:9",
            workdir,
            *("--dry-run", "--processes", processes, "--verbose"),
            subprocess_run=True,
        )
        assert (FORKED in run.stderr) is (processes == "2"), run.stderr[-2000:]
        lines = [ln for ln in run.stdout.splitlines() if "jux:timestamp" not in ln]
        outputs[processes] = (run.code, lines, run.report["totals"])
    assert outputs["2"] == outputs["1"]
    assert "total: 250 file(s): 1 invalid, 249 dry-run;" in "\n".join(outputs["2"][1])


def test_a_dry_run_cancelled_leaves_no_worker_behind(workdir: Path) -> None:
    write_reports(workdir, 4000)
    proc = start("http://127.0.0.1:9", workdir, "--dry-run", "--processes", "2", "-v")
    workers: list[int] = []

    def forked() -> bool:
        workers[:] = children_of(proc.pid)
        return bool(workers)

    wait_until(forked, "the dry run never forked")
    proc.send_signal(signal.SIGTERM)  # a dry run installs no handler: the default, it ends
    _out, err = proc.communicate(timeout=30)  # until every writer of stderr is gone
    assert proc.returncode == -signal.SIGTERM
    wait_until(lambda: not any(is_alive(p) for p in workers), "a worker outlived the run", 10)
    # the worker saw its control pipe close and stopped at its next batch, without a word:
    # left alone with the queue, it would have gone on through nearly all of the 4,000
    sent = set(re.findall(r"TEST-(\d{4})\.xml: would send", err))
    assert len(sent) < 3000, len(sent)
    assert not re.search(r"(WARNING|ERROR): .*worker process", err), err[-2000:]


def test_a_dry_run_worker_killed_leaves_no_report_out(workdir: Path) -> None:
    write_reports(workdir, 4000)
    result = workdir.parent / "dry.json"
    argv = ("--dry-run", "--processes", "2", "--json", str(result))
    proc = start("http://127.0.0.1:9", workdir, *argv)
    workers: list[int] = []

    def forked() -> bool:
        workers[:] = children_of(proc.pid)
        return bool(workers)

    wait_until(forked, "the dry run never forked")
    os.kill(workers[0], signal.SIGKILL)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "killed by SIGKILL; the reports it had taken and not done are handled" in err, err
    import json

    files = json.loads(result.read_text())["files"]
    assert sorted(f["path"] for f in files) == sorted(
        f"reports/TEST-{n:04d}.xml" for n in range(4000)
    )
    assert {f["status"] for f in files} == {"dry-run"}
