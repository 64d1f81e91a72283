"""``interrupt.run_all`` on its own: order, errors, and what a stop does (no sockets)."""

from __future__ import annotations

import threading
import time

import pytest

from jux_submit.interrupt import StopFlag, run_all


def test_results_keep_the_input_order_and_parallel_is_a_ceiling() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01 * (n % 3))
        with lock:
            running -= 1
        return n * n

    out = run_all(
        list(range(40)), work, parallel=3, stop=StopFlag(), grace=1, on_abandon=lambda n, s: -1
    )
    assert out == [n * n for n in range(40)] and 1 < peak <= 3


def test_an_unexpected_error_reaches_the_caller() -> None:
    def work(n: int) -> int:
        if n == 5:
            raise RuntimeError("boom")
        return n

    with pytest.raises(RuntimeError, match="boom"):
        run_all(list(range(10)), work, parallel=2, stop=StopFlag(), grace=1, on_abandon=max)


def test_after_a_stop_the_rest_is_processed_and_stuck_items_are_abandoned() -> None:
    stop = StopFlag()
    release = threading.Event()

    def work(n: int) -> str:
        if n == 0:
            stop.set("SIGTERM")
            release.wait(10)  # in flight, and slower than the grace period
            return "late"
        return "offline" if stop.is_set() else "sent"

    started = time.monotonic()
    out = run_all(
        list(range(6)),
        work,
        parallel=1,
        stop=stop,
        grace=0.3,
        on_abandon=lambda n, was_started: f"abandoned:{was_started}",
    )
    release.set()
    assert time.monotonic() - started < 3
    assert out == ["abandoned:True", *["offline"] * 5]
    assert stop.reason == "SIGTERM" and not stop.hurry.is_set()
    stop.set("SIGTERM")
    assert stop.hurry.is_set()  # a second signal
