"""Worker processes for the per-report work of a big run (Linux only).

Validation, enrichment and building each request are Python and lxml work that holds the GIL:
threads cannot spread it over cores. ``run_forked(count, body, stop=...)`` runs
``body(index, flag, send)`` for each share of the run: share 0 in this process, the others in
``count - 1`` forked children that send back each item passed to ``send`` and what ``body``
returns; a thread of the parent reads their results and passes on interruptions.

- **When**: only where ``os.fork`` is safe, i.e. on Linux, in a process that runs no other
  thread yet (``can_fork``): forking a process with threads can copy a held lock. The caller
  decides how many processes pay off (``usable_cpus`` is the bound).
- **Interruption**: children ignore SIGINT/SIGTERM (a terminal or a CI runner signals the whole
  process group: each child would count every signal twice); the parent passes on each signal
  it received, by name, over a control pipe, and the child sets its own ``StopFlag`` just as
  its signal handler would have. When the parent dies, however it dies, the pipe closes: the
  child then stops at once (``hurry``), so everything in flight goes to the outbox.
- **Results**: length-prefixed pickled frames over each child's own pipe (one per item passed
  to ``send``, one for the final value), written as each item is sent (``batched``: at least
  every ``FLUSH_EVERY``, for work that can be done again) and decoded in the parent as they
  come (no pipe ever fills up). A child that dies first yields ``Outcome(value=None,
  ended=<how>, items=<what it had written>)``: the caller takes over what the child did not
  finish.
- **Output**: buffered stdout/stderr are flushed before forking (or the children would repeat
  them); a child flushes its log handlers before it ends with ``os._exit`` (no ``atexit``, no
  clean-up of objects that belong to the parent: the outbox lock, the parent's connections).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from jux_submit.interrupt import StopFlag

log = logging.getLogger("jux_submit")

T = TypeVar("T")

_POLL = 0.05
#: seconds the parent's reader waits after reading, for more results to come at once
_GATHER = 0.01
_CHUNK = 1 << 16
#: seconds a child's results may wait to be written (with less than ``_CHUNK`` of them): one
#: write, and one wake-up of the parent's reader thread, per report costs both processes more
#: than the report itself in a dry run
FLUSH_EVERY = 0.05


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one share's ``body`` returned (``value``; None when its child ended first, and
    then how in ``ended``), and what it passed to ``send`` on the way, in order."""

    value: T | None
    ended: str = ""
    items: tuple[Any, ...] = ()


# --- how many CPUs this process may use -------------------------------------------------------


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity), capped by a cgroup CPU quota (a container
    given ``--cpus 1.5`` on a 64-core host may use 2, not 64)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota - 0.05)))
    return max(1, count)


def cgroup_cpu_quota(proc: Path = Path("/proc/self")) -> float | None:
    """The tightest CPU quota (in CPUs) from this process's cgroup up to the root, in cgroup v2
    (``cpu.max``) or v1 (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``); None without one.

    The mount points come from ``mountinfo`` (hosts mount v1, v2 or both, not always under
    ``/sys/fs/cgroup``), the process's place in each hierarchy from ``cgroup``.
    """
    try:
        own = (proc / "cgroup").read_text().splitlines()
        mounts = (proc / "mountinfo").read_text().splitlines()
    except OSError:
        return None
    v2 = v1 = None
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or not tail:
            continue
        if tail[0] == "cgroup2" and v2 is None:
            v2 = Path(_unescape(fields[4]))
        elif tail[0] == "cgroup" and len(tail) >= 3 and "cpu" in tail[2].split(",") and not v1:
            v1 = Path(_unescape(fields[4]))
    best: float | None = None
    for line in own:
        hierarchy, controllers, rel = [*line.split(":", 2), "", ""][:3]
        if hierarchy == "0" and v2 is not None:
            base, reader = v2, _v2_quota
        elif "cpu" in controllers.split(",") and v1 is not None:
            base, reader = v1, _v1_quota
        else:
            continue
        folder = base / rel.lstrip("/")
        while True:
            value = reader(folder)
            if value is not None:
                best = value if best is None else min(best, value)
            if folder == base or base not in folder.parents:
                break
            folder = folder.parent
    return best


def _unescape(field: str) -> str:
    """A mountinfo path: the kernel writes space, tab, newline and backslash as octal."""
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _v2_quota(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def can_fork() -> bool:
    """Linux, and no other thread in this process (Python's nor a library's)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    if threading.active_count() != 1:
        return False
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    threads = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("Threads:")), "")
    return threads == "1"


# --- work taken as it goes ----------------------------------------------------------------


class WorkQueue:
    """The indexes ``0 .. count-1`` in batches, taken by whichever process is free: for work
    whose cost varies between processes (a forked child pays for the pages it copies), so
    that none sits idle while another still has a share to do.

    The batches are written into a pipe before forking, each as 4 bytes (its first index),
    and the write end is closed: a read of 4 bytes then takes exactly one batch, whichever
    process reads (reads from a pipe are serialized, and what it holds is a whole number of
    batches), and end of file says that none is left. Batches grow so that all of them fit in
    the pipe (16,384 in the usual 64 KiB).
    """

    _SIZE = 4

    def __init__(self, count: int, batch: int) -> None:
        """Raises ``OSError`` when the pipe cannot be made or filled (the caller then deals
        out fixed shares)."""
        import fcntl

        self.count = count
        self._read, write = os.pipe()
        try:
            # 64 KiB, or as little as a page once the user's pipes use more than their
            # share (pipe-user-pages-soft): what it holds decides the batches' size
            capacity = fcntl.fcntl(write, fcntl.F_GETPIPE_SZ) // self._SIZE
            self.batch = max(batch, -(-count // capacity), 1)
            data = b"".join(
                start.to_bytes(self._SIZE, "big") for start in range(0, count, self.batch)
            )
            os.set_blocking(write, False)  # never wait for a reader: there is none yet
            if os.write(write, data) != len(data):
                raise BlockingIOError("the work queue's pipe is full")
        except OSError:
            os.close(self._read)
            raise
        finally:
            os.close(write)

    def take(self) -> range | None:
        """The next batch of indexes, or None when every batch is taken."""
        chunk = os.read(self._read, self._SIZE)
        if len(chunk) < self._SIZE:
            return None
        start = int.from_bytes(chunk, "big")
        return range(start, min(start + self.batch, self.count))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._read)


# --- the children --------------------------------------------------------------------------


@dataclass
class _Child:
    pid: int
    results: int  # read end
    control: int  # write end
    data: bytearray  # what was read and not decoded yet (a frame cut short, so far)
    open: bool = True
    status: int | None = None
    items: list[Any] = field(default_factory=list)
    final: list[Any] = field(default_factory=list)  # [the body's value] once it came
    problem: str = ""


Body = Callable[[int, "StopFlag", Callable[[object], None]], T]


def run_forked(
    count: int, body: Body[T], *, stop: StopFlag | None = None, batched: bool = False
) -> list[Outcome[T]]:
    """``[body(i, flag, send) for i in range(count)]``: ``body(0, ...)`` in this process, the
    others each in a child process; see the module docstring. ``send(item)`` hands an item
    back at once (a child that dies later has still reported it), or with ``batched`` within
    ``FLUSH_EVERY`` (items a dead child had not written yet are lost: for work that can
    simply be done again). ``stop`` (this process's flag, set by its signal handler) is what
    ``body(0, ...)`` gets, and is passed on to the children's flags while they run. An
    exception from ``body(0, ...)`` ends the children and propagates."""
    import gc

    from jux_submit.interrupt import StopFlag

    flag = stop if stop is not None else StopFlag()
    _flush_output()
    # objects made so far are left out of the children's collections: a collection touches
    # every object it tracks, and each page it touches is copied into the child
    gc.freeze()
    children: list[_Child] = []
    try:
        for index in range(1, count):
            results_r, results_w = os.pipe()
            control_r, control_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(results_r)
                os.close(control_w)
                for other in children:
                    os.close(other.results)
                    os.close(other.control)
                _child_main(index, body, StopFlag(), results_w, control_r, batched=batched)
            os.close(results_w)
            os.close(control_r)
            children.append(_Child(pid, results_r, control_w, bytearray()))
        collector = threading.Thread(
            target=_collect, args=(children, stop), name="jux-workers", daemon=True
        )
        collector.start()
        sent: list[object] = []
        try:
            mine = body(0, flag, sent.append)
        except BaseException:
            for child in children:  # none is left behind; the collector sees them end
                with contextlib.suppress(OSError):
                    os.kill(child.pid, 9)
            raise
        finally:
            collector.join()
    finally:
        gc.unfreeze()  # what was frozen for the children is this process's to collect again
        for child in children:
            for fd in (child.results, child.control):
                with contextlib.suppress(OSError):
                    os.close(fd)
            if child.status is None:  # forking failed part of the way: no collector ran
                with contextlib.suppress(OSError):
                    os.kill(child.pid, 9)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(child.pid, 0)
    outcomes: list[Outcome[T]] = [Outcome(mine, items=tuple(sent))]
    for child in children:
        if child.data and not child.problem:  # the child died while writing a frame
            child.problem = "the worker process ended while reporting"
        how = _how_it_ended(child.status)
        if child.final and not how:
            outcomes.append(Outcome(child.final[0], items=tuple(child.items)))
        else:
            ended = how or child.problem or "the worker process ended before it finished"
            outcomes.append(Outcome(None, ended, tuple(child.items)))
    return outcomes


_HEAD = 5  # a frame: its kind (b"I" an item, b"F" the final value), 4 bytes of length, pickle


def _decode(child: _Child) -> None:
    """Take the complete frames out of what was read from ``child`` so far (as they come:
    the reader thread decodes while the work goes on, not all at the end)."""
    import pickle

    data, at = child.data, 0
    while not child.problem and at + _HEAD <= len(data):
        kind, size = data[at : at + 1], int.from_bytes(data[at + 1 : at + _HEAD], "big")
        if at + _HEAD + size > len(data):
            break  # the rest of this frame is still to come
        body = data[at + _HEAD : at + _HEAD + size]
        try:
            # written by our own fork over a pipe only it and this process hold
            value = pickle.loads(body)  # noqa: S301
        except Exception as exc:
            child.problem = f"the worker's results were unreadable ({exc})"
            break
        (child.final if kind == b"F" else child.items).append(value)
        at += _HEAD + size
    del data[:at]


def _collect(children: Sequence[_Child], stop: StopFlag | None) -> None:
    """Read every child's results to EOF while passing on the parent's interruptions."""
    import selectors

    told = 0  # how many signals the children were told of
    with selectors.DefaultSelector() as selector:
        for child in children:
            selector.register(child.results, selectors.EVENT_READ, child)
        while any(c.open for c in children):
            if stop is not None:
                told = _pass_on(children, stop, told)
            ready = selector.select(_POLL)
            for key, _ in ready:
                child = key.data
                chunk = os.read(child.results, _CHUNK)
                if chunk:
                    child.data += chunk
                    _decode(child)
                    continue
                selector.unregister(child.results)
                child.open = False
                _, child.status = os.waitpid(child.pid, 0)
            if ready and any(c.open and not c.final for c in children):
                # let a few results gather in the pipes (they are safe there): waking up for
                # each one took the GIL from this process's own work each time (~10 % of a
                # submission's CPU); a child that sent its final value is read to EOF at once
                time.sleep(_GATHER)
        if stop is not None:
            _pass_on(children, stop, told)


def _pass_on(children: Sequence[_Child], stop: StopFlag, told: int) -> int:
    seen = 2 if stop.hurry.is_set() else 1 if stop.is_set() else 0
    while told < seen:
        told += 1
        line = (stop.reason or "SIGTERM").encode("ascii", "replace") + b"\n"
        for child in children:
            if child.open:
                with contextlib.suppress(OSError):
                    os.write(child.control, line)
    return told


def _how_it_ended(status: int | None) -> str:
    if status is None or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
        return ""
    if os.WIFSIGNALED(status):
        import signal

        try:
            name = signal.Signals(os.WTERMSIG(status)).name
        except ValueError:
            name = f"signal {os.WTERMSIG(status)}"
        return f"the worker process was killed by {name}"
    return f"the worker process exited with status {os.WEXITSTATUS(status)}"


def _child_main(
    index: int, body: Body[T], flag: StopFlag, out: int, control: int, *, batched: bool
) -> None:
    import pickle
    import signal

    lock = threading.Lock()
    pending = bytearray()
    flushed = [time.monotonic()]

    def write_pending() -> None:  # lock held
        view = memoryview(pending)
        while view:
            view = view[os.write(out, view[:_CHUNK]) :]
        view.release()
        pending.clear()

    def frame(kind: bytes, value: object) -> None:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        with lock:  # frames from the worker's threads never interleave
            pending.extend(kind + len(data).to_bytes(4, "big") + data)
            now = time.monotonic()
            is_due = len(pending) >= _CHUNK or now - flushed[0] >= FLUSH_EVERY
            if not batched or kind == b"F" or is_due:
                write_pending()
                flushed[0] = now

    code = 0
    orphaned = threading.Event()
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        threading.Thread(
            target=_listen, args=(control, flag, orphaned), name="jux-control", daemon=True
        ).start()
        frame(b"F", body(index, flag, lambda item: frame(b"I", item)))
    except BaseException as exc:  # nothing may escape into the parent's code path
        code = 70
        # a broken results pipe means the parent is gone (its control pipe may not have told
        # yet): nobody reads, nobody needs to know
        if not orphaned.is_set() and not isinstance(exc, BrokenPipeError):
            with contextlib.suppress(Exception):
                log.error("worker process %d failed: %s: %s", index, type(exc).__name__, exc)
            with contextlib.suppress(Exception), lock:  # the items sent before the failure
                write_pending()
    finally:
        with contextlib.suppress(Exception):
            for handler in logging.getLogger("jux_submit").handlers:
                handler.flush()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _listen(control: int, flag: StopFlag, orphaned: threading.Event) -> None:
    """Set ``flag`` once for each signal the parent passes on; at EOF (the parent is gone,
    or done with this child) stop at once."""
    pending = b""
    while True:
        try:
            chunk = os.read(control, 256)
        except OSError:
            chunk = b""
        if not chunk:
            orphaned.set()
            flag.set("the parent process ended")
            flag.set("the parent process ended")  # the second call: hurry
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            flag.set(line.decode("ascii", "replace") or "SIGTERM")


def _flush_output() -> None:
    for handler in logging.getLogger("jux_submit").handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
