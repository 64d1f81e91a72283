"""Interruption (issue 6, item 4 and "Done when"): SIGTERM and SIGKILL at random moments of a
200-file run, then the same command again and ``jux-submit resubmit``: every report is on the
server exactly once (with a server that honours Idempotency-Key; without one, at least once and
every possible duplicate reported)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.jux_server import JuxServer
from tests.resilience.conftest import (
    TOKEN,
    assert_no_token,
    ci_environ,
    outbox_payloads,
    outbox_sidecars,
    resubmit,
    sources_stored,
    submit,
    write_reports,
)

FILES = 200
ROUNDS = 3


def start(url: str, workdir: Path, *args: str) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "jux_submit",
        "--api-url",
        url,
        "--working-directory",
        str(workdir),
        "--parallel",
        "4",
        "--max-retry-wait",
        "1",
        *args,
    ]
    return subprocess.Popen(
        argv, env=ci_environ(workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_posts(server: JuxServer, count: int, limit: float = 30) -> None:
    end = time.monotonic() + limit
    while len(server.posts()) < count:
        assert time.monotonic() < end, "the run never got going"
        time.sleep(0.01)


def finish_and_check(server: JuxServer, workdir: Path, names: list[str]) -> list[str]:
    """Run the same command again, then resubmit; return the warnings both printed."""
    rerun = submit(server.url, workdir, "--parallel", "4", "--max-retry-wait", "1")
    assert rerun.code == 0, rerun.output
    again = resubmit(server.url, workdir, "--max-retry-wait", "1")
    assert again.code == 0, again.output
    assert outbox_payloads(workdir) == []  # nothing left pending
    warnings = [w for f in rerun.report["files"] for w in f.get("warnings", [])]
    warnings += [line for line in again.stdout.splitlines() if "stored twice" in line]
    assert_no_token(rerun, server)
    assert_no_token(again, server)
    return warnings


@pytest.fixture
def big_run(workdir: Path) -> list[str]:
    return write_reports(workdir, FILES)


def test_sigterm_mid_run_keeps_the_rest_and_exits_130(workdir: Path, big_run: list[str]) -> None:
    with JuxServer(api_key=TOKEN) as server:
        server.latency = 0.02
        server.honour_idempotency = True
        proc = start(server.url, workdir)
        wait_for_posts(server, 20)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "interrupted" in out and "total: 200 file(s)" in out
        stored = set(sources_stored(server))
        pending = {s["source_path"] for s in outbox_sidecars(workdir)}
        assert stored | pending == set(big_run)  # nothing lost: accepted, or kept
        assert 20 <= len(stored) < FILES and pending
        assert all(s["state"] in ("pending", "sending") for s in outbox_sidecars(workdir))
        finish_and_check(server, workdir, big_run)
        assert sources_stored(server) == sorted(big_run)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_random_interruptions_then_rerun_and_resubmit_store_each_report_once(
    tmp_path: Path, sig: signal.Signals
) -> None:
    rng = random.Random()
    for round_ in range(ROUNDS):
        workdir = tmp_path / f"round{round_}" / "ws"
        workdir.mkdir(parents=True)
        names = write_reports(workdir, FILES)
        with JuxServer(api_key=TOKEN) as server:
            server.latency = 0.01
            server.honour_idempotency = True
            proc = start(server.url, workdir)
            time.sleep(rng.uniform(0.2, 2.0))  # a random moment: start-up, discovery, sending
            proc.send_signal(sig)
            proc.communicate(timeout=60)
            if sig is signal.SIGTERM:
                assert proc.returncode in (130, -signal.SIGTERM, 0)
            finish_and_check(server, workdir, names)
            assert sources_stored(server) == sorted(names), f"round {round_}"


def test_sigkill_without_idempotency_support_reports_every_possible_duplicate(
    tmp_path: Path,
) -> None:
    rng = random.Random()
    for round_ in range(ROUNDS):
        workdir = tmp_path / f"round{round_}" / "ws"
        workdir.mkdir(parents=True)
        names = write_reports(workdir, FILES)
        with JuxServer(api_key=TOKEN) as server:
            server.latency = 0.01
            proc = start(server.url, workdir)
            wait_for_posts(server, rng.randint(1, FILES // 2))
            proc.kill()
            proc.communicate(timeout=60)
            warnings = finish_and_check(server, workdir, names)
            stored = sources_stored(server)
            assert set(stored) == set(names)  # nothing lost
            duplicates = len(stored) - len(set(stored))
            assert duplicates <= len(warnings), (duplicates, warnings)


def test_interrupted_resubmit_keeps_what_was_not_accepted(workdir: Path) -> None:
    names = write_reports(workdir, 30)
    with JuxServer(api_key=TOKEN) as server:
        server.faults.extend([])
        server.api_key = "another-key"  # 403 for everything: all 30 kept in the outbox
        first = submit(server.url, workdir, "--max-retry-wait", "1", "--retries", "0")
        assert {f["status"] for f in first.report["files"]} == {"failed"}
        assert len(outbox_payloads(workdir)) == 30
        server.api_key = TOKEN
        server.latency = 0.1
        before = len(server.posts())  # a few: the run stopped contacting a server refusing the key
        assert before < 30
        argv = [
            sys.executable,
            "-m",
            "jux_submit",
            "resubmit",
            "--api-url",
            server.url,
            "--working-directory",
            str(workdir),
            "--parallel",
            "1",
        ]
        proc = subprocess.Popen(
            argv, env=ci_environ(workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        wait_for_posts(server, before + 5)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        left = len(outbox_payloads(workdir))
        assert 0 < left < 30 and len(server.runs) + left == 30
        server.latency = 0
        done = resubmit(server.url, workdir)
        assert done.code == 0, done.output
        assert sources_stored(server) == sorted(names) and outbox_payloads(workdir) == []
        assert json.dumps(outbox_sidecars(workdir)) == "[]"
