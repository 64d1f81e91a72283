"""A dead server: how long a run over many reports takes against a closed port, and how much
it prints. Target: 200 reports in under 10 s with at most a screenful (50 lines) of output,
every report kept in the outbox. Beside it, the time of a run over the same reports with
--dry-run (no network), measured in the same session, as the ratio's baseline.

    python benchmarks/dead_server.py             # 200 reports, 3 runs, medians
    python benchmarks/dead_server.py --files 20 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import write_surefire_tree  # noqa: E402

TARGET_SECONDS = 10.0
TARGET_LINES = 50


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_once(jux: str, tree: Path, outbox: Path, extra: list[str]) -> tuple[float, int, int, int]:
    """(seconds, output lines, exit code, outbox entries) of one run."""
    shutil.rmtree(outbox, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV")}
    env["JUX_API_KEY"] = "benchmark-key-0123456789"
    argv = [jux, "--working-directory", str(tree), "--outbox", str(outbox), *extra]
    started = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    seconds = time.monotonic() - started
    lines = done.stdout.count("\n") + done.stderr.count("\n")
    entries = len(list(outbox.glob("*.json"))) if outbox.is_dir() else 0
    return seconds, lines, done.returncode, entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    script = Path(sys.executable).parent / "jux-submit"
    jux = str(script) if script.exists() else shutil.which("jux-submit") or ""
    work = Path(tempfile.mkdtemp(prefix="jux-dead-"))
    try:
        tree = work / "reports"
        write_surefire_tree(tree, args.files)
        outbox = work / "outbox"
        dead, dry = [], []
        for _ in range(args.repeat):
            url = f"http://127.0.0.1:{closed_port()}"
            dead.append(run_once(jux, tree, outbox, ["--api-url", url]))
            dry.append(run_once(jux, tree, outbox, ["--dry-run"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = statistics.median(s for s, _, _, _ in dead)
    lines = max(n for _, n, _, _ in dead)
    kept = min(e for _, _, _, e in dead)
    baseline = statistics.median(s for s, _, _, _ in dry)
    is_met = seconds < TARGET_SECONDS and lines <= TARGET_LINES and kept == args.files
    print(f"{args.files} reports against a closed port (median of {args.repeat}):")
    print(f"  wall time     {seconds:7.2f} s   (target < {TARGET_SECONDS:g} s)")
    print(f"  output lines  {lines:7d}     (target <= {TARGET_LINES})")
    print(f"  kept          {kept:7d}     of {args.files} reports in the outbox")
    print(f"  dry run       {baseline:7.2f} s   ratio {seconds / baseline:.2f}x the dry run")
    print("  verdict       " + ("met" if is_met else "MISSED"))
    if args.json:
        figures = {
            "files": args.files,
            "seconds": seconds,
            "lines": lines,
            "kept": kept,
            "dry_run_seconds": baseline,
            "verdict": "met" if is_met else "MISSED",
        }
        Path(args.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    failed = any(code not in (0, 1) for _, _, code, _ in dead)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
