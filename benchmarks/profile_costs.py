"""Where the time goes per report: cProfile of the benchmark's dry run (row 3) and raw
submission (row 4), in-process, worker threads included, as costs per report.

    python benchmarks/profile_costs.py                       # both, 600 and 2,000 reports
    python benchmarks/profile_costs.py --what raw --files 500 --top 40 --sort tottime
    python benchmarks/profile_costs.py --clock cpu           # thread CPU time, not wall

The inputs are the benchmark's (``generate.py``, same seeds); the raw submission goes to the
same fast sink as ``run.py`` (nginx, else ``sink.py``), started in a temporary folder. Each
table lists the top functions by cumulative time (or ``--sort tottime``) with, per report:
calls, own time and cumulative time in µs, and the share of the profiled total (all threads
added up). ``--clock wall`` (the default) counts a thread's waits (locks, sockets) as time;
``--clock cpu`` uses each thread's CPU clock (``time.thread_time``), which leaves waits out but
costs more per call. Profiling slows Python code down several times: quote the shares and the
order, not the absolute times; the unprofiled figures are ``run.py``'s.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import write_surefire_tree  # noqa: E402
from nginx_sink import NginxSink, find_nginx  # noqa: E402
from profile_run import profile_cli  # noqa: E402

KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")


def _where(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":  # built-in
        return name
    parts = Path(filename).parts
    for anchor in ("jux_submit", "site-packages", "lib"):
        if anchor in parts:
            idx = len(parts) - 1 - parts[::-1].index(anchor)
            short = "/".join(parts[idx + 1 :] if anchor != "jux_submit" else parts[idx:])
            return f"{short}:{line}({name})"
    return f"{Path(filename).name}:{line}({name})"


def report(title: str, stats: pstats.Stats, reports: int, top: int, sort: str) -> str:
    raw = stats.stats  # type: ignore[attr-defined]  # {func: (cc, nc, tt, ct, callers)}
    total = sum(v[2] for v in raw.values()) or 1e-9
    key = 3 if sort == "cumulative" else 2
    rows = sorted(raw.items(), key=lambda item: item[1][key], reverse=True)[:top]
    lines = [
        title,
        f"profiled total (all threads) {total:.2f} s = {total / reports * 1e6:,.0f} µs per report",
        f"{'calls/rep':>9}  {'own µs/rep':>10}  {'cum µs/rep':>10}  {'cum %':>6}  function",
    ]
    for func, (_cc, nc, tt, ct, _callers) in rows:
        lines.append(
            f"{nc / reports:9.2f}  {tt / reports * 1e6:10.1f}  {ct / reports * 1e6:10.1f}  "
            f"{ct / total * 100:5.1f}%  {_where(func)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--what", default="dry-run,raw", help="dry-run, raw or both")
    parser.add_argument("--dry-files", type=int, default=600)
    parser.add_argument("--files", type=int, default=2000, help="reports for the raw run")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative", choices=("cumulative", "tottime"))
    parser.add_argument("--clock", default="wall", choices=("wall", "cpu"))
    parser.add_argument("--sink", default="nginx", choices=("nginx", "python"))
    args = parser.parse_args(argv)
    what = {w.strip() for w in args.what.split(",") if w.strip()}
    if not what <= {"dry-run", "raw"}:
        parser.error("--what takes dry-run, raw or both")
    timer = time.thread_time if args.clock == "cpu" else time.perf_counter
    env = {k: v for k, v in os.environ.items() if k in KEEP_ENV}
    work = Path(tempfile.mkdtemp(prefix="jux-profile-"))
    outbox = work / "outbox"
    try:
        if "dry-run" in what:
            tree = work / "dry"
            n = len(write_surefire_tree(tree, args.dry_files))
            argv_ = ["--dry-run", "--working-directory", str(tree), "--outbox", str(outbox)]
            code, stats, threads, wall = profile_cli(argv_, environ=env, timer=timer)
            title = (
                f"== dry run of {n} reports: exit {code}, profiled wall {wall:.2f} s "
                f"({wall / n * 1e6:,.0f} µs per report), {threads} worker thread(s), "
                f"{args.clock} clock"
            )
            print(report(title, stats, n, args.top, args.sort), end="\n\n", flush=True)
        if "raw" in what:
            tree = work / "raw"
            n = len(write_surefire_tree(tree, args.files))
            nginx = find_nginx() if args.sink == "nginx" else None
            if nginx:
                sink = NginxSink(nginx, work / "nginx")
                url = sink.start()
                sink_name = "nginx"
            else:
                from run import PythonSink

                sink = PythonSink(sys.executable)  # type: ignore[assignment]
                url = sink.start()
                sink_name = "Python sink" + ("" if args.sink == "python" else " (no nginx)")
            try:
                argv_ = ["--api-url", url, "--working-directory", str(tree)]
                argv_ += ["--outbox", str(outbox), "--fail-on-error"]
                code, stats, threads, wall = profile_cli(argv_, environ=env, timer=timer)
                posts = sink.counts()[0]
            finally:
                sink.stop()
            title = (
                f"== raw submission of {n} reports to {sink_name}: exit {code}, {posts} POSTs, "
                f"profiled wall {wall:.2f} s ({wall / n * 1e6:,.0f} µs per report), "
                f"{threads} worker thread(s), {args.clock} clock"
            )
            print(report(title, stats, n, args.top, args.sort), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
