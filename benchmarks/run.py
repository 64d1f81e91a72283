"""Benchmark jux-submit against baselines measured in the same run; prints a table of ratios.

Every figure is the median over several runs of a separate process; the commands compared in
a row run interleaved (subject, baseline, subject, ...), and the verdict is always the ratio to
a baseline measured moments before or after on the same machine, never an absolute time.
Peak memory is the operating system's own accounting. Inputs are generated from fixed seeds
into a temporary folder, a sink server (nginx, else ``sink.py``) listens on 127.0.0.1, and
everything is removed at the end.

    python benchmarks/run.py                  # every row (3-5 minutes on 2 cores)
    python benchmarks/run.py --rows 1,2,3     # some rows only
    python benchmarks/run.py --smoke          # tiny sizes, one run each: checks the harness

Rows (``--rows`` takes these ids, a group name, or ``6`` for every row 6x):

    1   start-up: jux-submit --version                   vs python -c pass        <= 2.0x
    2   dry run of one small report                      vs python -c pass        <= 6.0x
    3   dry run of 600 Surefire reports                  vs an lxml parse loop    <= 2.0x
    4   raw submission of 2,000 reports to the sink      vs http.client, 4 threads <= 2.5x
    4b  the same                                         vs curl --parallel       (info)
    5   one 200 MB report (big system-out): peak RSS     vs the file size         <= 0.5x
    5b  one 200 MB report of 1.4 M small cases: wall     vs lxml iterparse        <= 3.0x
    6a-6h  the earlier rows: entrypoint and --help start-up, raw vs xargs/sequential curl,
        200 MB vs curl -T, package mode, --combine (their ratios, for regressions)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from generate import (  # noqa: E402
    surefire_report,
    write_large_report,
    write_many_cases_report,
    write_package_tree,
    write_surefire_tree,
)
from nginx_sink import NginxSink, install_nginx, nginx_version  # noqa: E402

CHILD_TIMEOUT = 300.0  # no single child may run longer than this
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
SUBMIT_PATH = "/api/v1/junit/submit"

#: row id -> (group that measures it, what it is)
ROWS: dict[str, tuple[str, str]] = {
    "1": ("startup", "start-up"),
    "2": ("startup", "dry run, one small report"),
    "3": ("dry-run", "dry run, {dry_files} reports"),
    "4": ("throughput", "raw {files} reports"),
    "4b": ("throughput", "raw {files} reports"),
    "5": ("large", "{large} report, peak RSS"),
    "5b": ("many", "{many} report, {cases} cases"),
    "6a": ("startup", "start-up"),
    "6b": ("startup", "start-up"),
    "6c": ("throughput", "raw {files} reports"),
    "6d": ("throughput", "raw {files} reports"),
    "6e": ("large", "{large} report, wall"),
    "6f": ("package", "package {packages} x {attachment_kb} KiB"),
    "6g": ("package", "package {packages} x {attachment_kb} KiB"),
    "6h": ("dry-run", "--combine, {dry_files} reports"),
}
GROUPS = ("startup", "dry-run", "throughput", "large", "many", "package")


@dataclass
class Sample:
    wall: float
    maxrss: int  # bytes
    cpu: float
    returncode: int
    check: str = ""  # why the sink's count of POSTs says this run is wrong, if it does


@dataclass
class Runner:
    """Runs one command as a child process and measures it with the OS's accounting."""

    env: dict[str, str]
    logs: Path
    verbose: bool = False

    def run(
        self, cmd: Sequence[str], *, shell: bool = False, label: str = "", memory: bool = True
    ) -> Sample:
        """Run ``cmd`` to completion; wall time, peak RSS and CPU time of it and its children.

        Linux records the high-water RSS of the address space a process had before ``exec``
        in its ``ru_maxrss``: spawned straight from this (larger) process, a small child would
        report at least our own peak. So when ``memory`` is wanted and GNU time is installed,
        the child runs under ``/usr/bin/time -f %M`` (a ~2 MB process) and that figure is
        used; otherwise ``wait4``'s figure (``RUSAGE_CHILDREN`` of the one child).
        """
        argv = ["bash", "-c", cmd[0]] if shell else list(cmd)
        rss_file: Path | None = None
        if memory and GNU_TIME:
            rss_file = self.logs / "maxrss.txt"
            argv = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv]
        log = self.logs / f"{label or 'child'}.log"
        err = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            started = time.perf_counter()
            pid = os.posix_spawnp(
                argv[0],
                argv,
                self.env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_DUP2, err, 2),
                ],
                setsid=True,
            )
            timer = threading.Timer(CHILD_TIMEOUT, _kill_group, (pid,))
            timer.start()
            try:
                _, status, usage = os.wait4(pid, 0)
            finally:
                timer.cancel()
            wall = time.perf_counter() - started
        finally:
            os.close(err)
        maxrss = usage.ru_maxrss * 1024  # kilobytes on Linux
        if rss_file is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                maxrss = int(rss_file.read_text().split()[-1]) * 1024
        return Sample(
            wall, maxrss, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)
        )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


@dataclass
class Measured:
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def maxrss(self) -> int:
        return max(s.maxrss for s in self.samples)

    @property
    def failed(self) -> bool:
        return any(s.returncode != 0 or s.check for s in self.samples)

    @property
    def checks(self) -> list[str]:
        return [s.check for s in self.samples if s.check]

    def spread(self) -> str:
        """How far the fastest and slowest runs are from the median."""
        if len(self.samples) < 2:
            return "-"
        med = self.wall
        lo = min(s.wall for s in self.samples)
        hi = max(s.wall for s in self.samples)
        return f"-{(med - lo) / med * 100:.0f}/+{(hi - med) / med * 100:.0f}%"


@dataclass
class Row:
    id: str
    measure: str
    subject: Measured | None
    baseline: Measured | None
    ratio: float | None
    ratio_range: tuple[float, float] | None
    target: str
    verdict: str
    note: str = ""
    has_rss: bool = True


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def verdict(ratio: float | None, limit: float | None, *, at_least: bool = False) -> str:
    if ratio is None:
        return "n/a"
    if limit is None:
        return "info"
    ok = ratio >= limit if at_least else ratio <= limit
    return "met" if ok else "MISSED"


# --- sinks -------------------------------------------------------------------------------------


class PythonSink:
    """``sink.py`` in a child process: the fallback when nginx is not available."""

    counts_bytes = True

    def __init__(self, python: str, note: str = "") -> None:
        self.python = python
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.note = note

    def describe(self) -> str:
        return "Python sink (benchmarks/sink.py)" + (f"; {self.note}" if self.note else "")

    def start(self) -> str:
        self.proc = subprocess.Popen(
            [self.python, str(HERE / "sink.py"), "--max-seconds", "3600"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the sink did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self.url

    def stop(self) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def counts(self) -> tuple[int, int, int]:
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/_count", timeout=10) as resp:
            data = json.loads(resp.read())
        return int(data["posts"]), int(data.get("bytes", 0)), 0

    def wait_counts(self, expected: int, seconds: float = 3.0) -> tuple[int, int, int]:
        return self.counts()  # the sink counts a POST before it answers it


@dataclass
class Expect:
    """What the sink must have seen after one run of a command."""

    posts: int
    min_bytes: int = 0  # the bodies' total size at least (raw reports only grow)


def compare(
    runner: Runner,
    pairs: Sequence[tuple[str, Sequence[str], bool]],
    repeat: int,
    *,
    memory: bool = True,
    before: Callable[[str], None] | None = None,
    sink: NginxSink | PythonSink | None = None,
    expect: dict[str, Expect] | None = None,
) -> dict[str, Measured]:
    """Run each (name, command, shell) ``repeat`` times, interleaved so drift hits all alike;
    ``before(name)`` runs ahead of each (untimed). With ``expect``, the sink's counts after
    each run of a command named there must show its POSTs (each answered 201) and bytes."""
    results = {name: Measured(name) for name, _, _ in pairs}
    for _ in range(repeat):
        for name, cmd, shell in pairs:
            if before is not None:
                before(name)
            want = (expect or {}).get(name)
            start = sink.counts() if sink is not None and want is not None else (0, 0, 0)
            label = name.split()[0].replace("/", "_")
            sample = runner.run(cmd, shell=shell, label=label, memory=memory)
            if sink is not None and want is not None:
                posts, size, other = sink.wait_counts(start[0] + want.posts)
                posts, size, other = posts - start[0], size - start[1], other - start[2]
                if posts != want.posts or other:
                    sample.check = (
                        f"sink saw {posts} POSTs answered 201 (+{other} other), "
                        f"expected {want.posts}"
                    )
                elif sink.counts_bytes and size < want.min_bytes:
                    sample.check = f"sink got {size:,} bytes, expected >= {want.min_bytes:,}"
            results[name].samples.append(sample)
    return results


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, rows: set[str]) -> None:
        self.args = args
        self.work = work
        self.wanted = rows
        self.python = sys.executable
        script = Path(sys.executable).parent / "jux-submit"
        self.jux = str(script) if script.exists() else shutil.which("jux-submit") or ""
        self.curl = shutil.which("curl")
        self.rows: list[Row] = []
        logs = work / "logs"
        logs.mkdir()
        # A clean environment: no CI variables (no step summary writes, generic detection).
        env = {
            k: v
            for k, v in os.environ.items()
            if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")
        }
        self.runner = Runner(env, logs)
        self.outbox = work / "outbox"
        self.sink: NginxSink | PythonSink | None = None
        self.sink_note = ""
        self.url = ""
        self.labels = {
            "files": f"{args.files:,}",
            "dry_files": f"{args.dry_files:,}",
            "packages": str(args.packages),
            "attachment_kb": str(args.attachment_kb),
            "large": f"{args.large_mb} MB",
            "many": f"{args.many_mb} MB",
            "cases": "?",
        }

    # --- helpers ---------------------------------------------------------------------------

    def want(self, *ids: str) -> bool:
        return any(i in self.wanted for i in ids)

    def start_sink(self) -> None:
        if self.sink is not None:
            return
        nginx: str | None = None
        note = ""
        if self.args.sink == "nginx":
            nginx, note = install_nginx(self.runner.logs / "apt-get.log")
        if nginx:
            sink: NginxSink | PythonSink = NginxSink(
                nginx,
                self.work / "nginx",
                workers=self.args.nginx_workers,
                body=self.args.nginx_body,
                body_buffer=self.args.nginx_body_buffer,
            )
            self.sink_note = "nginx sink" + (f" ({note})" if note else "")
        else:
            sink = PythonSink(self.python, note)
            self.sink_note = "Python sink" + (f" ({note})" if note else "")
        self.url = sink.start()
        self.sink = sink
        print(f"[sink: {sink.describe()} at {self.url}]", file=sys.stderr, end=" ", flush=True)

    def stop_sink(self) -> None:
        if self.sink is not None:
            self.sink.stop()
            self.sink = None

    def fresh_outbox(self, name: str = "") -> None:
        """Forget earlier runs: jux-submit's journal (in the outbox folder) skips reports a
        server already accepted, so every timed submission must start without one."""
        shutil.rmtree(self.outbox, ignore_errors=True)

    def curl_cmd(self, body_arg: str) -> str:
        return (
            f"{self.curl} -sS -f -o /dev/null -H 'Content-Type: application/xml' "
            f"{self.url}{SUBMIT_PATH} {body_arg}"
        )

    def submit_cmd(self, folder: Path, *extra: str) -> list[str]:
        return [
            self.jux,
            "--api-url",
            self.url,
            "--working-directory",
            str(folder),
            "--outbox",
            str(self.outbox),
            "--fail-on-error",
            *extra,
        ]

    def add(
        self,
        row_id: str,
        subject: Measured | None,
        baseline: Measured | None,
        target: float | None,
        *,
        at_least: bool = False,
        note: str = "",
        ratio: float | None = None,
        ratio_range: tuple[float, float] | None = None,
        has_rss: bool = True,
    ) -> None:
        if row_id not in self.wanted:
            return
        ok = (
            subject is not None
            and subject.samples
            and not subject.failed
            and (baseline is None or (baseline.samples and not baseline.failed))
        )
        if ok and ratio is None and subject and baseline:
            ratio = subject.wall / baseline.wall
            pairs = list(zip(subject.samples, baseline.samples, strict=False))
            per_run = [a.wall / b.wall for a, b in pairs]
            if at_least:
                ratio = 1 / ratio
                per_run = [1 / r for r in per_run]
            ratio_range = (min(per_run), max(per_run))
        if not ok:
            ratio, ratio_range = None, None
        problems = []
        for m in (subject, baseline):
            if m is None or not m.failed:
                continue
            codes = sorted({s.returncode for s in m.samples if s.returncode})
            what = f"exit {','.join(map(str, codes))}" if codes else ""
            checks = m.checks
            if checks:
                what = (what + "; " if what else "") + checks[0]
            problems.append(f"{m.name}: {what} (see logs)")
        if problems:
            note = "FAILED: " + "; ".join(problems) + (f"; {note}" if note else "")
        target_text = (
            "" if target is None else (f">= {target:g}x" if at_least else f"<= {target:g}x")
        )
        self.rows.append(
            Row(
                row_id,
                ROWS[row_id][1].format(**self.labels),
                subject,
                baseline,
                ratio,
                ratio_range,
                target_text,
                "FAILED" if problems else verdict(ratio, target, at_least=at_least),
                note,
                has_rss,
            )
        )

    # --- groups ----------------------------------------------------------------------------

    def startup(self) -> None:
        one = self.work / "one"
        one.mkdir()
        (one / "r.xml").write_bytes(surefire_report(random.Random(3), "com.example.OneTest"))
        floor = ("python -c pass", [self.python, "-c", "pass"], False)
        pairs: list[tuple[str, Sequence[str], bool]] = [floor]
        if self.want("1"):
            pairs.append(("jux-submit --version", [self.jux, "--version"], False))
        if self.want("2"):
            dry = [
                self.jux,
                "--dry-run",
                "--working-directory",
                str(one),
                "--outbox",
                str(self.outbox),
                "r.xml",
            ]
            pairs.append(("jux-submit --dry-run r.xml", dry, False))
        if self.want("6a"):
            entry = [self.python, str(REPO / "entrypoint.py"), "--version"]
            pairs.append(("python entrypoint.py --version", entry, False))
        if self.want("6b"):
            pairs.append(("jux-submit --help", [self.jux, "--help"], False))
        for _name, cmd, shell in [] if self.args.smoke else pairs:  # warm the caches
            self.runner.run(cmd, shell=shell, label="warmup", memory=False)
        # Spawned directly (no GNU time in between, whose start-up would dilute the ratios).
        res = compare(self.runner, pairs, self.args.startup_runs, memory=False)
        base = res["python -c pass"]
        get = res.get
        self.add(
            "1",
            get("jux-submit --version"),
            base,
            2.0,
            note="console script, wrapper included",
            has_rss=False,
        )
        self.add(
            "2",
            get("jux-submit --dry-run r.xml"),
            base,
            6.0,
            note="one 20-case Surefire report",
            has_rss=False,
        )
        self.add(
            "6a",
            get("python entrypoint.py --version"),
            base,
            1.5,
            note="what the container runs",
            has_rss=False,
        )
        self.add(
            "6b",
            get("jux-submit --help"),
            base,
            None,
            note="builds the option table",
            has_rss=False,
        )

    def dry_run(self) -> None:
        tree = self.work / "dry"
        write_surefire_tree(tree, self.args.dry_files, cases=20)
        dry = [
            self.jux,
            "--dry-run",
            "--working-directory",
            str(tree),
            "--outbox",
            str(self.outbox),
        ]
        base = [self.python, str(HERE / "baselines.py"), "lxml-parse", str(tree)]
        pairs: list[tuple[str, Sequence[str], bool]] = [("lxml parse loop", base, False)]
        if self.want("3"):
            pairs.append(("jux-submit --dry-run", dry, False))
        expect: dict[str, Expect] = {}
        if self.want("6h"):
            self.start_sink()
            pairs.append(("jux-submit --combine", self.submit_cmd(tree, "--combine"), False))
            expect["jux-submit --combine"] = Expect(1)
        res = compare(
            self.runner,
            pairs,
            self.args.runs,
            before=self.fresh_outbox,
            sink=self.sink,
            expect=expect,
        )
        self.add(
            "3",
            res.get("jux-submit --dry-run"),
            res["lxml parse loop"],
            2.0,
            note="baseline: hardened lxml parser, same interpreter",
        )
        self.add(
            "6h",
            res.get("jux-submit --combine"),
            res["lxml parse loop"],
            None,
            note=f"one combined POST to the {self.sink_note}",
        )

    def throughput(self) -> None:
        self.start_sink()
        tree = self.work / "surefire"
        files = write_surefire_tree(tree, self.args.files)
        n = len(files)
        size = sum(p.stat().st_size for p in files)
        listing = self.work / "files.lst"
        listing.write_text("".join(f"{p}\n" for p in files), encoding="utf-8")
        zlisting = self.work / "files.zlst"
        zlisting.write_bytes(b"".join(b"@" + str(p).encode() + b"\0" for p in files))
        jux_name = "jux-submit (raw, defaults)"
        pairs: list[tuple[str, Sequence[str], bool]] = [(jux_name, self.submit_cmd(tree), False)]
        if self.want("4"):
            http = [self.python, str(HERE / "baselines.py"), "http-post"]
            http += [f"{self.url}{SUBMIT_PATH}", str(listing), "4"]
            pairs.append(("http.client x 4 threads", http, False))
        missing_curl = "curl not installed"
        if self.curl and self.want("4b"):
            config = self.work / "curl-parallel.cfg"
            groups = [
                f'url = "{self.url}{SUBMIT_PATH}"\n'
                f'data-binary = "@{p}"\n'
                'header = "Content-Type: application/xml"\n'
                'output = "/dev/null"\n'
                "fail\n"
                for p in files
            ]
            config.write_text("next\n".join(groups), encoding="utf-8")
            par = [self.curl, "-sS", "--parallel", "--parallel-max", "4", "-K", str(config)]
            pairs.append(("curl --parallel-max 4", par, False))
        if self.curl and self.want("6c"):
            xargs = f"xargs -0 -P 4 -n 1 -a {zlisting} {self.curl_cmd('--data-binary')}"
            pairs.append(("xargs -P 4 curl", [xargs], True))
        everyone = {name: Expect(n, size) for name, _, _ in pairs}
        res = compare(
            self.runner,
            pairs,
            self.args.runs,
            before=self.fresh_outbox,
            sink=self.sink,
            expect=everyone,
        )
        seq: Measured | None = None
        if self.curl and self.want("6d"):
            post = self.curl_cmd('--data-binary "@$f"')
            seq_cmd = f"while IFS= read -r f; do {post} || exit 1; done < {listing}"
            seq = compare(
                self.runner,
                [("curl loop", [seq_cmd], True)],
                self.args.seq_runs,
                sink=self.sink,
                expect={"curl loop": Expect(n, size)},
            )["curl loop"]
        subject = res[jux_name]
        runs = len(subject.samples)
        checked = f"{n:,} POSTs x {runs} runs confirmed in the {self.sink_note}"
        rate = f"{n / subject.wall:,.0f} files/s; " if not subject.failed else ""
        self.add("4", subject, res.get("http.client x 4 threads"), 2.5, note=rate + checked)
        self.add(
            "4b",
            subject,
            res.get("curl --parallel-max 4"),
            None,
            note="one curl, config file of url/data-binary pairs" if self.curl else missing_curl,
        )
        xargs_note = "" if self.curl else missing_curl
        self.add("6c", subject, res.get("xargs -P 4 curl"), 1.0, note=xargs_note)
        self.add(
            "6d",
            subject,
            seq,
            10.0,
            at_least=True,
            note="ratio = speed-up over the loop" if self.curl else missing_curl,
        )

    def large(self) -> None:
        self.start_sink()
        folder = self.work / "large"
        path = folder / "TEST-com.example.BigLogTest.xml"
        size = write_large_report(path, self.args.large_mb * 1_000_000)
        self.labels["large"] = _mb(size)
        jux_name = "jux-submit (raw, large)"
        pairs: list[tuple[str, Sequence[str], bool]] = [(jux_name, self.submit_cmd(folder), False)]
        if self.curl and self.want("6e"):
            pairs.append(("curl -T (streamed)", [self.curl_cmd(f"-X POST -T {path}")], True))
        res = compare(
            self.runner,
            pairs,
            self.args.large_runs,
            before=self.fresh_outbox,
            sink=self.sink,
            expect={name: Expect(1, size) for name, _, _ in pairs},
        )
        subject = res[jux_name]
        rss = [s.maxrss / size for s in subject.samples]
        self.add(
            "5",
            subject,
            None,
            0.5,
            ratio=max(rss) if not subject.failed else None,
            ratio_range=(min(rss), max(rss)) if not subject.failed else None,
            note=f"peak RSS {_mb(subject.maxrss)} / file size; 1 MB system-out blocks; "
            f"to the {self.sink_note}",
        )
        curl = res.get("curl -T (streamed)")
        self.add(
            "6e",
            subject,
            curl,
            None,
            note=f"wall time; curl peak RSS {_mb(curl.maxrss)}" if curl else "curl not installed",
        )

    def many(self) -> None:
        self.start_sink()
        folder = self.work / "many"
        path = folder / "TEST-com.example.ManyCases.xml"
        size, cases = write_many_cases_report(path, self.args.many_mb * 1_000_000)
        self.labels["many"] = _mb(size)
        self.labels["cases"] = f"{cases / 1e6:.2f} M" if cases >= 100_000 else f"{cases:,}"
        jux_name = "jux-submit (raw, many cases)"
        base = [self.python, str(HERE / "baselines.py"), "iterparse", str(path)]
        res = compare(
            self.runner,
            [(jux_name, self.submit_cmd(folder), False), ("lxml iterparse loop", base, False)],
            self.args.large_runs,
            before=self.fresh_outbox,
            sink=self.sink,
            expect={jux_name: Expect(1, size)},
        )
        subject, floor = res[jux_name], res["lxml iterparse loop"]
        self.add(
            "5b",
            subject,
            floor,
            3.0,
            note=f"wall time; peak RSS {_mb(subject.maxrss)} vs {_mb(floor.maxrss)}; "
            f"to the {self.sink_note}",
        )

    def package(self) -> None:
        folder = self.work / "package"
        write_package_tree(
            folder, self.args.packages, attachment_size=self.args.attachment_kb * 1024
        )
        out_jux = self.work / "package-out-jux"
        out_base = self.work / "package-out-base"
        jux = [
            self.jux,
            "package",
            "--working-directory",
            str(folder),
            "--output-dir",
            str(out_jux),
            "--mode",
            "package",
        ]
        base = [self.python, str(HERE / "baselines.py"), "jxz-build", str(folder), str(out_base)]
        probe = self.runner.run(jux, label="package-probe")
        if probe.returncode != 0:
            log = (self.runner.logs / "package-probe.log").read_text(errors="replace").strip()
            self.add("6f", None, None, 1.2, note="pending: " + (log.splitlines() or ["?"])[-1][:90])
            if self.rows and self.rows[-1].id == "6f":
                self.rows[-1].verdict = "pending"
            return
        pairs: list[tuple[str, Sequence[str], bool]] = [
            ("jux-submit package", jux, False),
            ("jxz.ContainerBuilder loop", base, False),
        ]
        expect: dict[str, Expect] = {}
        if self.want("6g"):
            self.start_sink()
            submit = self.submit_cmd(folder, "--mode", "package")
            pairs.append(("jux-submit --mode package", submit, False))
            # the containers carry the (incompressible) attachments: at least their size
            attached = self.args.packages * self.args.attachment_kb * 1024
            expect["jux-submit --mode package"] = Expect(self.args.packages, attached)
        res = compare(
            self.runner,
            pairs,
            self.args.runs,
            before=self.fresh_outbox,
            sink=self.sink,
            expect=expect,
        )
        floor = res["jxz.ContainerBuilder loop"]
        written = list(out_jux.rglob("*.jxz"))
        size = sum(p.stat().st_size for p in written)
        base_size = sum(p.stat().st_size for p in out_base.rglob("*.jxz"))
        self.add(
            "6f",
            res["jux-submit package"],
            floor,
            1.2,
            note=f"{len(written)} containers written, {_mb(size)} (baseline {_mb(base_size)})",
        )
        row = self.rows[-1] if self.rows and self.rows[-1].id == "6f" else None
        if row is not None and size < 0.9 * base_size:  # not the same work: attachments left out?
            row.verdict = "FAILED"
            row.note = "FAILED: containers much smaller than the baseline's; " + row.note
        self.add(
            "6g",
            res.get("jux-submit --mode package"),
            floor,
            None,
            note=f"submitted to the {self.sink_note}",
        )

    # --- output ------------------------------------------------------------------------------

    def table(self, *, markdown: bool = False) -> str:
        head = (
            "#",
            "measure",
            "subject",
            "median",
            "spread",
            "peak RSS",
            "baseline",
            "median",
            "spread",
            "ratio",
            "ratio range",
            "target",
            "verdict",
            "note",
        )
        rows = []
        for r in self.rows:
            s, b = r.subject, r.baseline
            rows.append(
                (
                    r.id,
                    r.measure,
                    s.name if s else "-",
                    _ms(s.wall) if s and s.samples else "-",
                    s.spread() if s and s.samples else "-",
                    _mb(s.maxrss) if s and s.samples and r.has_rss else "-",
                    b.name if b else ("file size" if r.id == "5" else "-"),
                    _ms(b.wall) if b and b.samples else "-",
                    b.spread() if b and b.samples else "-",
                    f"{r.ratio:.2f}x" if r.ratio is not None else "-",
                    f"{r.ratio_range[0]:.2f}-{r.ratio_range[1]:.2f}x"
                    if r.ratio_range and len(s.samples if s else []) > 1
                    else "-",
                    r.target or "-",
                    r.verdict,
                    r.note,
                )
            )
        if markdown:
            lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            return "\n".join(lines)
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
        out += [fmt.format(*row).rstrip() for row in rows]
        return "\n".join(out)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def describe_machine(curl: str | None, nginx: str | None) -> list[str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1_048_576:.0f} GiB RAM"
    load = ""
    with contextlib.suppress(OSError):
        load = f"; load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
    curl_version = "not installed"
    if curl:
        curl_version = " ".join(
            subprocess.run([curl, "--version"], capture_output=True, text=True, check=False)
            .stdout.split("\n", 1)[0]
            .split()[:2]
        )
    try:
        from lxml import etree

        libxml2 = ".".join(map(str, etree.LIBXML_VERSION))
    except ImportError:
        libxml2 = "?"
    return [
        f"machine: {platform.system()} {platform.release()} {platform.machine()}, {cpu}, "
        f"{os.cpu_count()} CPUs{mem}{load}",
        f"python: {platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable}); lxml {_version('lxml')} (libxml2 {libxml2}), "
        f"urllib3 {_version('urllib3')}, requests {_version('requests')}, "
        f"junitparser {_version('junitparser')}, jux-submit {_version('jux-submit')}",
        f"tools: {curl_version}; nginx {nginx_version(nginx) if nginx else 'not installed'}; "
        f"GNU time {'yes' if GNU_TIME else 'no (peak RSS from wait4)'}",
    ]


def select_rows(spec: str) -> set[str]:
    """Row ids from ``1,3,4b``, group names (``startup``, ``throughput``...), ``6`` (every
    6x row) or ``all``; raises ValueError for anything else."""
    chosen: set[str] = set()
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        if token == "all":
            chosen |= set(ROWS)
        elif token in ROWS:
            chosen.add(token)
        elif token in GROUPS:
            chosen |= {i for i, (g, _) in ROWS.items() if g == token}
        elif token.isdigit() and any(i.startswith(token) for i in ROWS):
            chosen |= {i for i in ROWS if i.rstrip("abcdefgh") == token}
        else:
            raise ValueError(token)
    return chosen


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark jux-submit against baselines measured in the same run.",
        epilog="rows: " + ", ".join(ROWS) + "; groups: " + ", ".join(GROUPS),
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run each")
    parser.add_argument(
        "--rows",
        "--only",
        default="all",
        help="comma-separated row ids (1,2,3,4,4b,5,5b,6a-6h; 6 = every 6x row), group "
        f"names ({','.join(GROUPS)}) or all",
    )
    parser.add_argument(
        "--runs", "--repeat", dest="runs", type=int, default=5, help="runs per measurement"
    )
    parser.add_argument("--startup-runs", "--startup-repeat", type=int, default=30)
    parser.add_argument(
        "--seq-runs", "--seq-repeat", type=int, default=3, help="runs of the sequential curl loop"
    )
    parser.add_argument(
        "--large-runs", "--large-repeat", type=int, default=3, help="runs of rows 5, 5b, 6e"
    )
    parser.add_argument("--files", type=int, default=2000, help="reports of rows 4, 4b, 6c, 6d")
    parser.add_argument("--dry-files", type=int, default=600, help="reports of rows 3 and 6h")
    parser.add_argument("--large-mb", type=int, default=200)
    parser.add_argument("--many-mb", type=int, default=200)
    parser.add_argument("--packages", type=int, default=200)
    parser.add_argument("--attachment-kb", type=int, default=1024)
    parser.add_argument(
        "--sink",
        choices=("nginx", "python"),
        default=None,
        help="server for the network rows (default nginx, installed with apt-get when missing "
        "and run as root; python with --smoke)",
    )
    parser.add_argument("--nginx-workers", default="1", help="nginx worker_processes")
    parser.add_argument(
        "--nginx-body",
        choices=("read", "discard"),
        default="",
        help="read each body before answering (echo module; default when installed), or "
        "answer at once and discard it",
    )
    parser.add_argument("--nginx-body-buffer", default="1m", help="client_body_buffer_size")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")
    parser.add_argument("--json", metavar="PATH", help="also write the raw samples as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the generated inputs and logs")
    args = parser.parse_args(argv)
    if args.sink is None:
        args.sink = "python" if args.smoke else "nginx"
    if args.smoke:
        args.runs = args.seq_runs = args.large_runs = 1
        args.startup_runs = 2
        args.files, args.dry_files, args.large_mb, args.many_mb = 10, 5, 1, 1
        args.packages, args.attachment_kb = 3, 16
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        wanted = select_rows(args.rows)
    except ValueError as exc:
        print(f"unknown row or group: {exc}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="jux-bench-"))
    bench = Bench(args, work, wanted)
    if not bench.jux:
        print("jux-submit is not installed in this environment", file=sys.stderr)
        return 2
    started = time.monotonic()
    from nginx_sink import find_nginx

    machine = describe_machine(bench.curl, find_nginx())
    print("\n".join(machine), flush=True)
    steps: dict[str, Callable[[], None]] = {
        "startup": bench.startup,
        "dry-run": bench.dry_run,
        "throughput": bench.throughput,
        "large": bench.large,
        "many": bench.many,
        "package": bench.package,
    }
    try:
        for group in GROUPS:
            if any(ROWS[i][0] == group for i in wanted):
                print(f"running {group} ...", file=sys.stderr, end=" ", flush=True)
                began = time.monotonic()
                steps[group]()
                print(f"{time.monotonic() - began:.1f} s", file=sys.stderr, flush=True)
    finally:
        sink = bench.sink.describe() if bench.sink else "none"
        bench.stop_sink()
        if args.keep:
            print(f"inputs and logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    order = list(ROWS)
    bench.rows.sort(key=lambda r: order.index(r.id))
    print()
    print(bench.table())
    summary = (
        f"total {elapsed:.0f} s; medians of {args.runs} runs ({args.startup_runs} for rows 1, "
        f"2, 6a, 6b; {args.large_runs} for 5, 5b, 6e; {args.seq_runs} for 6d), interleaved; "
        "spread = fastest and slowest run against the median; ratio range = the ratios of "
        "the runs taken side by side; peak RSS = the largest of the runs"
    )
    print(f"\nsink: {sink}\n{summary}")
    if args.markdown:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = "; ".join(machine)
        Path(args.markdown).write_text(
            f"Measured {stamp}. {lines}. Sink: {sink}.\n\n{bench.table(markdown=True)}\n\n"
            f"{summary}\n",
            encoding="utf-8",
        )
    if args.json:
        data = [
            {
                "id": r.id,
                "scenario": r.measure,
                "target": r.target,
                "verdict": r.verdict,
                "ratio": r.ratio,
                "ratio_range": r.ratio_range,
                "note": r.note,
                **{
                    role: {"name": m.name, "samples": [s.__dict__ for s in m.samples]}
                    for role, m in (("subject", r.subject), ("baseline", r.baseline))
                    if m is not None
                },
            }
            for r in bench.rows
        ]
        Path(args.json).write_text(
            json.dumps({"machine": machine, "sink": sink, "rows": data}, indent=2),
            encoding="utf-8",
        )
    return 1 if any(r.verdict == "FAILED" for r in bench.rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
