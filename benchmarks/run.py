"""Benchmark jux-submit against baselines measured in the same run; prints a table of medians.

Every figure is the median over several runs of a separate process; the verdict is always the
ratio to a baseline measured moments before or after on the same machine, never an absolute
time. Peak memory is the operating system's own accounting (``ru_maxrss`` from ``wait4`` of
each child). Inputs are generated from fixed seeds into a temporary folder, a sink server
(``sink.py``) listens on 127.0.0.1, and everything is removed at the end.

    python benchmarks/run.py              # the full run (a few minutes on 2 cores)
    python benchmarks/run.py --smoke      # tiny sizes, one repetition: checks the harness
    python benchmarks/run.py --only startup,dry-run --markdown out.md
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
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

from generate import write_large_report, write_package_tree, write_surefire_tree  # noqa: E402

SCENARIOS = ("startup", "throughput", "dry-run", "large", "package")
CHILD_TIMEOUT = 300.0  # no single child may run longer than this
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


@dataclass
class Sample:
    wall: float
    maxrss: int  # bytes
    cpu: float
    returncode: int


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
        used; otherwise ``wait4``'s figure, with ``floor`` recording how much of it may be ours.
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
        return any(s.returncode != 0 for s in self.samples)


@dataclass
class Row:
    scenario: str
    subject: Measured | None
    baseline: Measured | None
    ratio: float | None
    target: str
    verdict: str
    note: str = ""
    has_rss: bool = True


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def compare(
    runner: Runner,
    pairs: Sequence[tuple[str, Sequence[str], bool]],
    repeat: int,
    *,
    memory: bool = True,
    before: Callable[[str], None] | None = None,
) -> dict[str, Measured]:
    """Run each (name, command, shell) ``repeat`` times, interleaved so drift hits all alike;
    ``before(name)`` runs ahead of each (untimed)."""
    results = {name: Measured(name) for name, _, _ in pairs}
    for _ in range(repeat):
        for name, cmd, shell in pairs:
            if before is not None:
                before(name)
            label = name.split()[0].replace("/", "_")
            sample = runner.run(cmd, shell=shell, label=label, memory=memory)
            results[name].samples.append(sample)
    return results


def verdict(ratio: float | None, limit: float | None, *, at_least: bool = False) -> str:
    if ratio is None:
        return "n/a"
    if limit is None:
        return "info"
    ok = ratio >= limit if at_least else ratio <= limit
    return "met" if ok else "MISSED"


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
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
        self.sink: subprocess.Popen[bytes] | None = None
        self.url = ""

    # --- helpers ---------------------------------------------------------------------------

    def start_sink(self) -> None:
        if self.sink is not None:
            return
        self.sink = subprocess.Popen(
            [self.python, str(HERE / "sink.py"), "--max-seconds", "1200"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.sink.stdout is not None
        line = self.sink.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the sink did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def stop_sink(self) -> None:
        if self.sink is None:
            return
        assert self.sink.stdin is not None
        self.sink.stdin.close()
        try:
            self.sink.wait(10)
        except subprocess.TimeoutExpired:
            self.sink.kill()
            self.sink.wait()
        self.sink = None

    def posts(self) -> int:
        """How many POSTs the sink has answered so far."""
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/_count", timeout=10) as resp:
            return int(json.loads(resp.read())["posts"])

    def check_posts(self, before: int, expected: int, rows: int) -> None:
        """Mark the scenario's last rows FAILED unless the sink saw every expected POST (a
        run that skipped or lost files must not look fast)."""
        seen = self.posts() - before
        if seen != expected:
            for row in self.rows[-rows:]:
                row.verdict = "FAILED"
                row.note = f"sink saw {seen} POSTs, expected {expected}; " + row.note

    def fresh_outbox(self, name: str = "") -> None:
        """Forget earlier runs: jux-submit's journal (in the outbox folder) skips reports a
        server already accepted, so every timed submission must start without one."""
        shutil.rmtree(self.outbox, ignore_errors=True)

    def curl_cmd(self, body_arg: str) -> str:
        return (
            f"{self.curl} -sS -f -o /dev/null -H 'Content-Type: application/xml' "
            f"{self.url}/api/v1/junit/submit {body_arg}"
        )

    def add(
        self,
        scenario: str,
        subject: Measured | None,
        baseline: Measured | None,
        target: float | None,
        *,
        at_least: bool = False,
        note: str = "",
        ratio: float | None = None,
    ) -> None:
        if ratio is None and subject and baseline and not subject.failed and not baseline.failed:
            ratio = subject.wall / baseline.wall
            if at_least:
                ratio = baseline.wall / subject.wall
        failed = [m.name for m in (subject, baseline) if m is not None and m.failed]
        if failed:
            note = f"FAILED: {', '.join(failed)} (see logs) " + note
        target_text = (
            "" if target is None else (f">= {target:g}x" if at_least else f"<= {target:g}x")
        )
        self.rows.append(
            Row(
                scenario,
                subject,
                baseline,
                ratio,
                target_text,
                "FAILED" if failed else verdict(ratio, target, at_least=at_least),
                note,
            )
        )

    # --- scenarios -------------------------------------------------------------------------

    def startup(self) -> None:
        reps = self.args.startup_repeat
        pairs = [
            ("python -c pass", [self.python, "-c", "pass"], False),
            ("jux-submit --version", [self.jux, "--version"], False),
            (
                "python entrypoint.py --version",
                [self.python, str(REPO / "entrypoint.py"), "--version"],
                False,
            ),
            ("jux-submit --help", [self.jux, "--help"], False),
        ]
        for _name, cmd, shell in pairs[:3]:  # warm the page cache and bytecode caches
            self.runner.run(cmd, shell=shell, label="warmup", memory=False)
        # Spawned directly (no GNU time in between, whose start-up would dilute the ratios).
        res = compare(self.runner, pairs, reps, memory=False)
        floor = res["python -c pass"]
        self.add(
            "start-up",
            res["jux-submit --version"],
            floor,
            2.0,
            note="console script, wrapper included",
        )
        self.add(
            "start-up",
            res["python entrypoint.py --version"],
            floor,
            1.5,
            note="what the container runs",
        )
        self.add("start-up", res["jux-submit --help"], floor, None, note="builds the option table")
        for row in self.rows[-3:]:
            row.has_rss = False

    def throughput(self, tree: Path, files: list[Path]) -> None:
        self.start_sink()
        listing = self.work / "files.lst"
        listing.write_bytes(b"".join(b"@" + str(p).encode() + b"\0" for p in files))
        n = len(files)
        jux = [
            self.jux,
            "--api-url",
            self.url,
            "--working-directory",
            str(tree),
            "--outbox",
            str(self.outbox),
            "--fail-on-error",
        ]
        pairs: list[tuple[str, Sequence[str], bool]] = [("jux-submit (raw, defaults)", jux, False)]
        if self.curl:
            pairs.append(
                (
                    "xargs -P 4 curl",
                    [f"xargs -0 -P 4 -n 1 -a {listing} {self.curl_cmd('--data-binary')}"],
                    True,
                )
            )
        posts = self.posts()
        res = compare(self.runner, pairs, self.args.repeat, before=self.fresh_outbox)
        seq: Measured | None = None
        if self.curl:
            post = self.curl_cmd('--data-binary "$f"')
            seq_cmd = f"while IFS= read -r -d '' f; do {post} || exit 1; done < {listing}"
            seq = compare(self.runner, [("curl loop", [seq_cmd], True)], self.args.seq_repeat)[
                "curl loop"
            ]
        subject = res["jux-submit (raw, defaults)"]
        rate = f"{n / subject.wall:,.0f} files/s" if not subject.failed else ""
        if self.curl:
            self.add(f"raw {n} files", subject, res["xargs -P 4 curl"], 1.0, note=rate)
            self.add(
                f"raw {n} files",
                subject,
                seq,
                10.0,
                at_least=True,
                note="ratio = speed-up over the loop",
            )
        else:
            self.add(f"raw {n} files", subject, None, None, note=rate + "; curl not installed")
        runs = self.args.repeat * len(pairs) + (self.args.seq_repeat if self.curl else 0)
        self.check_posts(posts, n * runs, 2 if self.curl else 1)

    def dry_run(self, tree: Path) -> None:
        pairs = [
            (
                "jux-submit --dry-run",
                [
                    self.jux,
                    "--dry-run",
                    "--working-directory",
                    str(tree),
                    "--outbox",
                    str(self.outbox),
                ],
                False,
            ),
            (
                "lxml parse loop",
                [self.python, str(HERE / "baselines.py"), "lxml-parse", str(tree)],
                False,
            ),
        ]
        res = compare(self.runner, pairs, self.args.repeat, before=self.fresh_outbox)
        self.add(
            f"dry run {self.args.files} files",
            res["jux-submit --dry-run"],
            res["lxml parse loop"],
            2.0,
        )

    def large(self) -> None:
        self.start_sink()
        folder = self.work / "large"
        path = folder / "TEST-com.example.BigLogTest.xml"
        size = write_large_report(path, self.args.large_mb * 1_000_000)
        jux = [
            self.jux,
            "--api-url",
            self.url,
            "--working-directory",
            str(folder),
            "--outbox",
            str(self.outbox),
            "--fail-on-error",
        ]
        pairs: list[tuple[str, Sequence[str], bool]] = [("jux-submit (raw, large)", jux, False)]
        if self.curl:
            pairs.append(("curl -T (streamed)", [self.curl_cmd(f"-X POST -T {path}")], True))
        posts = self.posts()
        res = compare(self.runner, pairs, self.args.large_repeat, before=self.fresh_outbox)
        subject = res["jux-submit (raw, large)"]
        label = f"{_mb(size)} report"
        if not subject.failed:
            self.add(
                label,
                subject,
                None,
                2.0,
                ratio=subject.maxrss / size,
                note=f"peak RSS {_mb(subject.maxrss)} / file size",
            )
        else:
            self.add(label, subject, None, 2.0)
        if self.curl:
            curl = res["curl -T (streamed)"]
            self.add(
                label, subject, curl, None, note=f"wall time; curl peak RSS {_mb(curl.maxrss)}"
            )
        self.check_posts(posts, self.args.large_repeat * len(pairs), 2 if self.curl else 1)

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
        label = f"package {self.args.packages} x {self.args.attachment_kb} KiB"
        if probe.returncode != 0:
            log = (self.runner.logs / "package-probe.log").read_text(errors="replace").strip()
            self.add(
                label, None, None, 1.2, note="pending: " + (log.splitlines() or ["?"])[-1][:90]
            )
            self.rows[-1].verdict = "pending"
            return
        res = compare(
            self.runner,
            [("jux-submit package", jux, False), ("jxz.ContainerBuilder loop", base, False)],
            self.args.repeat,
        )
        self.add(
            label,
            res["jux-submit package"],
            res["jxz.ContainerBuilder loop"],
            1.2,
            note=f"{len(list(out_jux.rglob('*.jxz')))} containers written",
        )
        # For information: the same packages submitted to the sink.
        self.start_sink()
        submit = [
            self.jux,
            "--mode",
            "package",
            "--api-url",
            self.url,
            "--working-directory",
            str(folder),
            "--outbox",
            str(self.outbox),
            "--fail-on-error",
        ]
        posts = self.posts()
        sent = compare(
            self.runner,
            [("jux-submit --mode package", submit, False)],
            self.args.repeat,
            before=self.fresh_outbox,
        )["jux-submit --mode package"]
        self.add(label, sent, res["jxz.ContainerBuilder loop"], None, note="submitted to the sink")
        self.check_posts(posts, self.args.packages * self.args.repeat, 1)

    # --- output ------------------------------------------------------------------------------

    def table(self, *, markdown: bool = False) -> str:
        head = (
            "scenario",
            "subject",
            "median",
            "peak RSS",
            "baseline",
            "median",
            "peak RSS",
            "ratio",
            "target",
            "verdict",
            "note",
        )
        rows = []
        for r in self.rows:
            rows.append(
                (
                    r.scenario,
                    r.subject.name if r.subject else "-",
                    _ms(r.subject.wall) if r.subject and r.subject.samples else "-",
                    _mb(r.subject.maxrss) if r.subject and r.subject.samples and r.has_rss else "-",
                    r.baseline.name if r.baseline else "-",
                    _ms(r.baseline.wall) if r.baseline and r.baseline.samples else "-",
                    _mb(r.baseline.maxrss)
                    if r.baseline and r.baseline.samples and r.has_rss
                    else "-",
                    f"{r.ratio:.2f}x" if r.ratio is not None else "-",
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
        out += [fmt.format(*row) for row in rows]
        return "\n".join(out)


def describe_machine(curl: str | None) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1_048_576:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    curl_version = "not installed"
    if curl:
        curl_version = subprocess.run(
            [curl, "--version"], capture_output=True, text=True, check=False
        ).stdout.split("\n", 1)[0]
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, "
        f"{os.cpu_count()} CPUs{mem}; Python {platform.python_version()}; {curl_version}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark jux-submit against baselines.")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios out of {','.join(SCENARIOS)}",
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--startup-repeat", type=int, default=30)
    parser.add_argument(
        "--seq-repeat", type=int, default=3, help="runs of the sequential curl loop"
    )
    parser.add_argument("--large-repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--large-mb", type=int, default=200)
    parser.add_argument("--packages", type=int, default=200)
    parser.add_argument("--attachment-kb", type=int, default=1024)
    parser.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")
    parser.add_argument("--json", metavar="PATH", help="also write the raw samples as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the generated inputs and logs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeat = args.seq_repeat = args.large_repeat = 1
        args.startup_repeat = 3
        args.files, args.large_mb, args.packages, args.attachment_kb = 20, 2, 3, 16
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="jux-bench-"))
    bench = Bench(args, work)
    if not bench.jux:
        print("jux-submit is not installed in this environment", file=sys.stderr)
        return 2
    machine = describe_machine(bench.curl)
    started = time.monotonic()
    print(f"machine: {machine}", file=sys.stderr)
    steps: dict[str, Callable[[], None]] = {}
    tree = work / "surefire"
    files: list[Path] = []
    if {"throughput", "dry-run"} & set(wanted):
        files = write_surefire_tree(tree, args.files)
    steps = {
        "startup": bench.startup,
        "throughput": lambda: bench.throughput(tree, files),
        "dry-run": lambda: bench.dry_run(tree),
        "large": bench.large,
        "package": bench.package,
    }
    try:
        for name in SCENARIOS:
            if name in wanted:
                print(f"running {name} ...", file=sys.stderr, flush=True)
                steps[name]()
    finally:
        bench.stop_sink()
        if args.keep:
            print(f"inputs and logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(bench.table())
    print(
        f"\n{machine}\ntotal {elapsed:.0f} s; medians of {args.repeat} runs "
        f"({args.startup_repeat} for start-up); peak RSS is the largest ru_maxrss seen"
    )
    if args.markdown:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        Path(args.markdown).write_text(
            f"Measured {stamp} on {machine}.\n\n{bench.table(markdown=True)}\n", encoding="utf-8"
        )
    if args.json:
        data = [
            {
                "scenario": r.scenario,
                "target": r.target,
                "verdict": r.verdict,
                "ratio": r.ratio,
                "note": r.note,
                **{
                    role: {"name": m.name, "samples": [s.__dict__ for s in m.samples]}
                    for role, m in (("subject", r.subject), ("baseline", r.baseline))
                    if m is not None
                },
            }
            for r in bench.rows
        ]
        Path(args.json).write_text(json.dumps(data, indent=2), encoding="utf-8")
    return 1 if any(r.verdict == "FAILED" for r in bench.rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
