"""The run's deadline (issue 6, item 3): after ``--deadline`` no request starts and no retry
waits; what is left goes to the outbox as a per-file result, never a crash."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from tests.jux_server import Fault, JuxServer
from tests.resilience.conftest import (
    TOKEN,
    assert_no_token,
    outbox_sidecars,
    resubmit,
    sources_stored,
    submit,
    write_reports,
)


def test_files_left_after_the_deadline_go_to_the_outbox(workdir: Path) -> None:
    names = write_reports(workdir, 6)
    with JuxServer(api_key=TOKEN) as server:
        server.latency = 0.8
        started = time.monotonic()
        run = submit(server.url, workdir, "--deadline", "2", "--parallel", "1")
        elapsed = time.monotonic() - started
        statuses = [run.status_of(n) for n in names]
        assert statuses[:2] == ["submitted", "submitted"]
        assert set(statuses[3:]) == {"failed"}
        late = [run.files[n] for n in names if run.status_of(n) == "failed"]
        assert {f["error"]["kind"] for f in late} == {"deadline"}
        assert all(f["attempts"] == 0 for f in late)  # never sent
        assert elapsed < 2 + 0.8 + 3  # the deadline, the request in flight, start-up
        assert {s["source_path"] for s in outbox_sidecars(workdir)} == {
            n for n in names if run.status_of(n) == "failed"
        }
        assert run.code == 0
        assert_no_token(run, server)
        server.latency = 0
        again = resubmit(server.url, workdir)
        assert again.code == 0 and sources_stored(server) == sorted(names)


def test_a_retry_wait_beyond_the_deadline_is_a_per_file_error(workdir: Path) -> None:
    names = write_reports(workdir, 2)
    with JuxServer(api_key=TOKEN) as server:
        server.faults.append(Fault.error(429, {"Retry-After": "30"}))
        started = time.monotonic()
        run = submit(server.url, workdir, "--deadline", "3", "--parallel", "1")
        assert time.monotonic() - started < 10  # did not sleep 30 s
        first = run.files[names[0]]
        assert first["status"] == "failed" and first["error"]["kind"] == "deadline"
        assert "deadline" in first["error"]["message"]
        assert run.code == 0 and len(outbox_sidecars(workdir)) >= 1
        assert_no_token(run, server)


def test_one_sender_per_outbox_and_leftovers_are_quarantined(workdir: Path) -> None:
    import fcntl
    import os
    import threading

    names = write_reports(workdir, 2)
    with JuxServer(api_key="another-key") as server:
        submit(server.url, workdir, "--retries", "0")
        box = workdir / ".jux-outbox"
        assert len(outbox_sidecars(workdir)) == 2
        server.api_key = TOKEN
        fd = os.open(box / ".lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # another run is sending from this outbox
            busy = resubmit(server.url, workdir, "--deadline", "1")
            assert busy.code == 1 and "busy until this run's deadline" in busy.stderr
            assert "waiting for it" in busy.stderr and server.runs == []
            # a run that waits gets the outbox once the other one lets go
            threading.Timer(0.5, os.close, (fd,)).start()
            waited = resubmit(server.url, workdir, "--deadline", "30")
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
        assert waited.code == 0 and sources_stored(server) == sorted(names)
        # a sidecar whose payload is gone, a payload without sidecar, a file we never wrote
        (box / "stale-0123456789abcdef.json").write_text('{"payload_file": "gone.xml"}')
        (box / "orphan-0123456789abcdef.xml").write_text("<testsuite/>")
        (box / "notes.txt").write_text("hello")
        done = resubmit(server.url, workdir)
        assert done.code == 0 and sources_stored(server) == sorted(names)
        assert "nothing to resubmit" in done.stdout
        assert sorted(p.name for p in box.iterdir() if not p.name.startswith(".")) == [
            "journal.jsonl",
            "quarantine",
        ]
        assert sorted(p.name for p in (box / "quarantine").iterdir()) == [
            "notes.txt",
            "orphan-0123456789abcdef.xml",
            "stale-0123456789abcdef.json",
        ]
        assert "quarantine" in done.stderr
