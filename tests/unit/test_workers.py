"""workers.py: the CPU count a job may use, and forked children that send results back, die,
or are told of interruptions. Forking happens in a fresh interpreter (``python -c``): the test
process runs threads (pytest-xdist), and forking it could copy a held lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jux_submit.workers import cgroup_cpu_quota, usable_cpus

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux only")


def fake_proc(tmp_path: Path, cgroup: str, mounts: list[str], files: dict[str, str]) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    root = tmp_path / "sys"
    lines = [m.replace("{root}", str(root)) for m in mounts]
    (proc / "mountinfo").write_text("\n".join(lines) + "\n")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return proc


V2_MOUNT = "30 23 0:26 / {root}/cg2 rw,nosuid - cgroup2 cgroup2 rw"
V1_MOUNT = "31 23 0:27 / {root}/cpu rw,nosuid - cgroup cgroup rw,cpu,cpuacct"


def test_a_cgroup_v2_quota_is_read_from_the_process_own_group(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        "0::/ci/job\n",
        [V2_MOUNT],
        {"cg2/ci/job/cpu.max": "150000 100000\n", "cg2/ci/cpu.max": "max 100000\n"},
    )
    assert cgroup_cpu_quota(proc) == 1.5


def test_the_tightest_quota_on_the_way_up_wins(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        "0::/ci/job\n",
        [V2_MOUNT],
        {"cg2/ci/job/cpu.max": "max 100000\n", "cg2/ci/cpu.max": "50000 100000\n"},
    )
    assert cgroup_cpu_quota(proc) == 0.5


def test_a_cgroup_v1_quota_on_a_hybrid_host(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        "12:cpu,cpuacct:/docker/abc\n11:memory:/docker/abc\n0::/\n",
        [V1_MOUNT],  # no cgroup2 mount: the "0::" line has nowhere to be read
        {
            "cpu/docker/abc/cpu.cfs_quota_us": "200000\n",
            "cpu/docker/abc/cpu.cfs_period_us": "100000\n",
            "cpu/docker/cpu.cfs_quota_us": "-1\n",
            "cpu/docker/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cgroup_cpu_quota(proc) == 2.0


def test_odd_cgroup_files_give_no_quota_and_escaped_mount_points_are_read(
    tmp_path: Path,
) -> None:
    proc = fake_proc(tmp_path, "0::/\n", [V2_MOUNT], {"cg2/cpu.max": "100000 0\n"})
    assert cgroup_cpu_quota(proc) is None  # a zero period: no quota, no crash
    spaced = tmp_path / "spaced"
    spaced.mkdir()
    proc = fake_proc(
        spaced,
        "0::/job\n",
        ["30 23 0:26 / {root}/cg\\0402 rw - cgroup2 cgroup2 rw"],  # "cg 2" as mountinfo has it
        {"cg 2/job/cpu.max": "200000 100000\n"},
    )
    assert cgroup_cpu_quota(proc) == 2.0


def test_no_quota_or_no_proc_files_means_none(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, "0::/\n", [V2_MOUNT], {"cg2/cpu.max": "max 100000\n"})
    assert cgroup_cpu_quota(proc) is None
    assert cgroup_cpu_quota(tmp_path / "missing") is None


@linux_only
def test_usable_cpus_is_at_least_one_and_at_most_the_affinity() -> None:
    import os

    assert 1 <= usable_cpus() <= len(os.sched_getaffinity(0))


def run_script(body: str, timeout: float = 60) -> dict[str, object]:
    script = textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


@linux_only
def test_each_child_runs_its_share_and_large_results_come_back_whole() -> None:
    result = run_script(
        """
        import json, os
        from jux_submit.workers import can_fork, run_forked
        assert can_fork()
        parent = os.getpid()
        def body(index, flag, send):
            return {"index": index, "pid": os.getpid(), "blob": str(index) * 3_000_000}
        out = run_forked(3, body)
        print(json.dumps({
            "indexes": [o.value["index"] for o in out],
            "sizes": [len(o.value["blob"]) for o in out],
            "own": [o.value["pid"] == parent for o in out],
            "distinct": len({o.value["pid"] for o in out}),
            "ended": [o.ended for o in out],
        }))
        """
    )
    assert result["indexes"] == [0, 1, 2]
    assert result["sizes"] == [3_000_000] * 3  # far over a pipe's buffer: read as it comes
    assert result["own"] == [True, False, False] and result["distinct"] == 3  # 0: here
    assert result["ended"] == ["", "", ""]


@linux_only
def test_what_a_child_sent_before_it_died_is_kept() -> None:
    result = run_script(
        """
        import json, os, signal
        from jux_submit import workers
        from jux_submit.workers import run_forked
        workers.FLUSH_EVERY = 3600  # not batched: written as sent, whatever the interval
        def body(index, flag, send):
            send(f"{index}-a")
            send(f"{index}-b")
            if index == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            return "done"
        out = run_forked(2, body)
        print(json.dumps([[o.value, list(o.items), o.ended] for o in out]))
        """
    )
    assert result == [
        ["done", ["0-a", "0-b"], ""],
        [None, ["1-a", "1-b"], "the worker process was killed by SIGKILL"],
    ]


@linux_only
def test_batched_items_not_written_yet_die_with_the_child_and_the_outcome_says_so() -> None:
    result = run_script(
        """
        import json, os, signal
        from jux_submit import workers
        from jux_submit.workers import run_forked
        workers.FLUSH_EVERY = 3600
        def body(index, flag, send):
            for n in range(100):
                send(f"{index}-{n}")
            if index == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            return "done"
        out = run_forked(2, body, batched=True)
        print(json.dumps([[o.value, len(o.items), o.ended] for o in out]))
        """
    )
    assert result == [["done", 100, ""], [None, 0, "the worker process was killed by SIGKILL"]]


@linux_only
def test_a_child_that_fails_still_hands_back_what_it_sent_batched_or_not() -> None:
    result = run_script(
        """
        import json
        from jux_submit import workers
        from jux_submit.workers import run_forked
        workers.FLUSH_EVERY = 3600
        def body(index, flag, send):
            for n in range(3):
                send(f"{index}-{n}")
            if index == 1:
                raise RuntimeError("boom")
            return "done"
        out = [run_forked(2, body, batched=b)[1] for b in (False, True)]
        print(json.dumps([[o.value, list(o.items), o.ended] for o in out]))
        """
    )
    failed = [None, ["1-0", "1-1", "1-2"], "the worker process exited with status 70"]
    assert result == [failed, failed]


@linux_only
def test_a_child_that_dies_or_fails_is_reported_with_how_it_ended() -> None:
    result = run_script(
        """
        import json, os, signal
        from jux_submit.workers import run_forked
        def body(index, flag, send):
            if index == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            if index == 2:
                raise RuntimeError("boom")
            return "fine"
        out = run_forked(3, body)
        print(json.dumps([[o.value, o.ended] for o in out]))
        """
    )
    assert result == [
        ["fine", ""],
        [None, "the worker process was killed by SIGKILL"],
        [None, "the worker process exited with status 70"],
    ]


@linux_only
def test_an_exception_in_this_process_share_ends_the_children_and_propagates() -> None:
    result = run_script(
        """
        import json, os, time
        from jux_submit.workers import run_forked
        r, w = os.pipe()
        def body(index, flag, send):
            if index == 0:
                os.read(r, 100)  # until the child runs
                raise RuntimeError("boom")
            os.write(w, b"%d" % os.getpid())
            time.sleep(60)
        try:
            run_forked(2, body)
        except RuntimeError as exc:
            caught = str(exc)
        print(json.dumps(caught))
        """
    )
    assert result == "boom"  # and quickly: the child did not sleep its 60 s (timeout 60)


@linux_only
def test_the_parents_interruptions_reach_the_children_once_each() -> None:
    result = run_script(
        """
        import json, threading, time
        from jux_submit.interrupt import StopFlag
        from jux_submit.workers import run_forked
        stop = StopFlag()
        def body(index, flag, send):
            end = time.monotonic() + 20
            while not flag.is_set() and time.monotonic() < end:
                time.sleep(0.01)
            first = (flag.is_set(), flag.hurry.is_set(), flag.reason)
            while not flag.hurry.is_set() and time.monotonic() < end:
                time.sleep(0.01)
            return [first, flag.hurry.is_set()]
        def interrupt():
            time.sleep(0.3)
            stop.set("SIGTERM")
            time.sleep(0.3)
            stop.set("SIGTERM")
        # a sleeping timer thread holds no lock the children could inherit held
        threading.Timer(0, interrupt).start()
        out = run_forked(3, body, stop=stop)
        print(json.dumps([o.value for o in out]))
        """
    )
    assert result == [[[True, False, "SIGTERM"], True]] * 3


@linux_only
def test_children_stop_at_once_when_the_parent_is_gone() -> None:
    result = run_script(
        """
        import json, os, time
        from jux_submit.workers import run_forked
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # a parent that forks two workers and is then killed
            os.close(r)
            def body(index, flag, send):
                if index == 0:  # this process's own share: it is killed with it
                    time.sleep(60)
                os.write(w, b"%d\\n" % os.getpid())
                end = time.monotonic() + 30
                while not flag.hurry.is_set() and time.monotonic() < end:
                    time.sleep(0.01)
                os.write(w, b"done %s\\n" % flag.reason.encode())
                return None
            run_forked(3, body)
            os._exit(0)
        os.close(w)
        reader = os.fdopen(r)
        pids = [int(reader.readline()) for _ in range(2)]
        started = time.monotonic()
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        lines = [reader.readline().strip() for _ in range(2)]
        print(json.dumps({"lines": lines, "seconds": time.monotonic() - started}))
        """
    )
    assert result["lines"] == ["done the parent process ended"] * 2
    assert isinstance(result["seconds"], float) and result["seconds"] < 20  # not their 30 s


def test_no_fork_while_the_process_runs_threads() -> None:
    import threading

    from jux_submit.workers import can_fork

    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert can_fork() is False
    finally:
        release.set()
        thread.join()


@linux_only
def test_a_breaker_opened_in_a_worker_is_open_in_the_parent_and_says_why() -> None:
    result = run_script(
        """
        import json
        from jux_submit.deliver import Breaker
        from jux_submit.errors import ConnectionFailedError
        from jux_submit.workers import run_forked
        breaker = Breaker()
        breaker.share()
        def body(index, flag, send):
            if index == 0:  # this process's share records nothing
                return None
            for _ in range(3):
                breaker.record(ConnectionFailedError("connection refused by the server"))
            return breaker.event.is_set()
        opened_in_child = run_forked(2, body)[1].value
        before = breaker.event.is_set()  # the parent's own event was never set directly
        opened = breaker.is_open()
        error = breaker.open_error()
        print(json.dumps([opened_in_child, before, opened, error.message if error else None]))
        """
    )
    assert result == [
        True,
        False,
        True,
        "not sent: the server could not be used (connection refused by the server)",
    ]


@linux_only
def test_an_unshared_breaker_stays_closed_in_the_parent() -> None:
    result = run_script(
        """
        import json
        from jux_submit.deliver import Breaker
        from jux_submit.errors import ConnectionFailedError
        from jux_submit.workers import run_forked
        breaker = Breaker()
        def body(index, flag, send):
            if index == 0:
                return None
            for _ in range(3):
                breaker.record(ConnectionFailedError("refused"))
            return breaker.event.is_set()
        print(json.dumps([run_forked(2, body)[1].value, breaker.is_open()]))
        """
    )
    assert result == [True, False]  # so the test above can fail


@linux_only
def test_a_work_queue_gives_every_index_once_to_whichever_process_takes_it() -> None:
    result = run_script(
        """
        import json
        from jux_submit.workers import WorkQueue, run_forked
        queue = WorkQueue(100_001, 4)
        def body(index, flag, send):
            taken = []
            while (batch := queue.take()) is not None:
                taken.extend(batch)
            return taken
        out = run_forked(3, body)
        shares = [o.value for o in out]
        print(json.dumps({
            "all": sorted(i for share in shares for i in share),
            "after": queue.take() is None,
        }))
        """
    )
    assert result["all"] == list(range(100_001))  # each once, none lost, taken at once by 3
    assert result["after"] is True


def test_a_work_queue_grows_its_batches_to_fit_a_pipe() -> None:
    from jux_submit.workers import WorkQueue

    queue = WorkQueue(200_000, 4)
    try:
        assert queue.batch == 13  # 200,000 / 13 batches of 4 bytes fit in 64 KiB
        taken = []
        while (batch := queue.take()) is not None:
            taken.append(batch)
        assert sum(len(b) for b in taken) == 200_000
        assert taken[-1] == range(199_992, 200_000)
    finally:
        queue.close()


@linux_only
def test_a_work_queue_sizes_its_batches_to_a_small_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the user's pipe quota, Linux gives a new pipe a page: the queue must neither
    block nor lose work (its batches grow)."""
    import fcntl

    from jux_submit import workers

    real_pipe = os.pipe

    def small_pipe() -> tuple[int, int]:
        read, write = real_pipe()
        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)
        return read, write

    monkeypatch.setattr(workers.os, "pipe", small_pipe)
    queue = workers.WorkQueue(5000, 4)
    try:
        assert queue.batch == 5  # 1,000 batches of 4 bytes in 4 KiB
        taken = []
        while (batch := queue.take()) is not None:
            taken.extend(batch)
        assert taken == list(range(5000))
    finally:
        queue.close()
