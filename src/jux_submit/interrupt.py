"""Cancellation: SIGTERM/SIGINT set a stop flag, and ``run_all`` runs work items in parallel
while honouring it (issue 6, "Interruption").

After the first signal no new request starts: the remaining items are still processed (the
pipeline then writes them to the outbox instead of sending), in-flight requests get a short
grace period, and the run returns normally so the summary is printed and the exit code is 130.
A second signal ends the grace period at once; a third one kills the process.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from jux_submit.settings import Settings

log = logging.getLogger("jux_submit")

T = TypeVar("T")
R = TypeVar("R")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_POLL = 0.05


class StopFlag:
    """Set once the run must stop starting requests; ``hurry`` once it must stop waiting."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.hurry = threading.Event()
        self.reason = ""

    def is_set(self) -> bool:
        return self.event.is_set()

    def set(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()
        else:
            self.hurry.set()


@contextlib.contextmanager
def catch_signals(flag: StopFlag | None = None) -> Iterator[StopFlag]:
    """Turn SIGTERM/SIGINT into ``flag.set`` while the block runs (main thread only; elsewhere
    the flag is simply never set by a signal). The previous handlers come back afterwards."""
    flag = flag or StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    count = 0

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal count
        count += 1
        name = signal.Signals(signum).name
        if count == 1:
            log.warning("%s received: no new submissions; unsent reports go to the outbox", name)
        elif count == 2:
            log.warning("%s received again: not waiting for requests in flight", name)
        else:
            for sig in _SIGNALS:  # the next one ends the process the default way
                signal.signal(sig, signal.SIG_DFL)
        flag.set(name)

    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        signal.signal(sig, handle)
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_all(
    items: Sequence[T],
    work: Callable[[T], R],
    *,
    parallel: int,
    stop: StopFlag,
    grace: float,
    on_abandon: Callable[[T, bool], R],
) -> list[R]:
    """``[work(item) for item in items]`` on up to ``parallel`` daemon threads, in order.

    Once ``stop`` is set, the calling thread also takes unstarted items (``work`` is expected
    to be quick then: no network), and waits at most ``grace`` seconds for items in flight;
    those still running afterwards get ``on_abandon(item, True)``, items never started (only
    after a second signal) ``on_abandon(item, False)``. Worker threads are daemons, so one stuck
    in a request cannot keep the process alive once the summary is printed.
    """
    n = len(items)
    results: list[R | None] = [None] * n
    done = [False] * n
    claimed = [False] * n
    lock = threading.Condition()
    next_index = 0
    closed = False
    finished = 0  # how many of ``done`` are True (kept so waking up is O(1), not O(n))
    failures: list[Exception] = []

    def claim() -> int | None:
        nonlocal next_index
        with lock:
            if closed or next_index >= n:
                return None
            index = next_index
            next_index += 1
            claimed[index] = True
            return index

    def finish(index: int, result: R) -> None:
        nonlocal finished
        with lock:
            if not closed and not done[index]:
                results[index] = result
                done[index] = True
                finished += 1
            if finished == n:
                # only the last one wakes the calling thread (it looks every _POLL anyway):
                # waking it for each item made it take the GIL from the workers each time
                lock.notify_all()

    def worker() -> None:
        while (index := claim()) is not None:
            try:
                result = work(items[index])
            except Exception as exc:  # re-raised in the calling thread, as pool.map would
                with lock:
                    failures.append(exc)
                    lock.notify_all()
                return
            finish(index, result)

    threads = [
        threading.Thread(target=worker, name=f"jux-{i}", daemon=True)
        for i in range(max(1, min(parallel, n)))
    ]
    for thread in threads:
        thread.start()

    stopped_at: float | None = None
    while True:
        with lock:
            if failures:
                closed = True
                raise failures[0]
            if finished == n or (not any(t.is_alive() for t in threads) and next_index >= n):
                break
        if stop.is_set():
            stopped_at = stopped_at or time.monotonic()
            index = claim()
            if index is not None:
                finish(index, work(items[index]))
                continue
            if stop.hurry.is_set() or time.monotonic() - stopped_at >= grace:
                break
        with lock:
            if finished < n:
                lock.wait(_POLL)

    with lock:
        closed = True
        out: list[R] = []
        for index, item in enumerate(items):
            result = results[index]
            if done[index] and result is not None:
                out.append(result)
            else:
                out.append(on_abandon(item, claimed[index]))
    return out


def interrupt_grace(settings: Settings) -> float:
    """How long in-flight requests may finish after SIGTERM/SIGINT (CI runners send SIGKILL
    some seconds later: GitHub after 7.5 s + 2.5 s)."""
    return min(settings.timeout, 5.0)
