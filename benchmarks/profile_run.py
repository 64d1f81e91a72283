"""Profile one jux-submit run in-process, worker threads included, with cProfile.

    python benchmarks/profile_run.py [--top N] [--sort tottime|cumulative] -- ARGS...

``ARGS`` are jux-submit's own arguments (for example ``--dry-run --working-directory DIR``).
Generate inputs first, e.g. ``python -c "import sys; sys.path.insert(0, 'benchmarks');
from generate import write_surefire_tree; from pathlib import Path;
write_surefire_tree(Path('/tmp/tree'), 2000)"``. Profiling slows Python code down several
times; read the shares, not the absolute times. ``profile_costs.py`` does the same for the
benchmark's dry run and raw submission, inputs and sink included, and prints costs per report.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import pstats
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any


def profile_cli(
    args: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> tuple[int, pstats.Stats, int, float]:
    """Run ``jux_submit.cli.run(args)`` under cProfile in this thread and in every thread it
    starts; returns (exit code, the merged statistics, worker threads profiled, wall time).
    ``environ`` replaces the process environment for the run when ``run`` accepts one."""
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start_in_thread(frame: FrameType, event: str, arg: Any) -> None:
        # threading.setprofile's hook runs first in each new thread: swap in a cProfile
        profile = cProfile.Profile(timer)
        with lock:
            profiles.append(profile)
        profile.enable()

    from jux_submit.cli import run

    kwargs: dict[str, Any] = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    if environ is not None and "environ" in inspect.signature(run).parameters:
        kwargs["environ"] = dict(environ)
    threading.setprofile(start_in_thread)
    main_profile = cProfile.Profile(timer)
    started = time.perf_counter()
    main_profile.enable()
    try:
        code = run(list(args), **kwargs)
    finally:
        main_profile.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    stats = pstats.Stats(main_profile)
    for profile in profiles:
        stats.add(profile)
    return code, stats, len(profiles), wall


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumulative"))
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    args = options.args[1:] if options.args[:1] == ["--"] else options.args

    code, stats, threads, _wall = profile_cli(args)
    print(f"jux-submit exit code {code}; {threads} worker thread(s) profiled")
    stats.sort_stats(options.sort).print_stats(options.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
