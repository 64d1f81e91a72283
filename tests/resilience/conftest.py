"""Helpers for the resilience suite (issue 6): runs with a token set and GitHub-like outputs,
and a scan that proves the token never shows up anywhere it does not belong."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRET, CliResult, make_environ, run_cli, write_junit
from tests.jux_server import JuxServer

TOKEN = SECRET
OUTBOX = ".jux-outbox"


@dataclass
class JuxRun:
    """One finished ``jux-submit`` run and everything it wrote."""

    code: int
    stdout: str
    stderr: str
    workdir: Path
    report: dict[str, Any] = field(default_factory=dict)
    step_summary: str = ""
    outputs: str = ""

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return {f["path"]: f for f in self.report.get("files", [])}

    def status_of(self, path: str) -> str:
        return str(self.files[path]["status"])

    @property
    def outbox(self) -> Path:
        return self.workdir / OUTBOX


def outbox_payloads(workdir: Path) -> list[Path]:
    """Pending payload files (what a resubmit would send)."""
    box = workdir / OUTBOX
    if not box.is_dir():
        return []
    return sorted(p for p in box.iterdir() if p.suffix in (".xml", ".jxz"))


def outbox_sidecars(workdir: Path) -> list[dict[str, Any]]:
    box = workdir / OUTBOX
    if not box.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(box.glob("*.json"))]


def ci_environ(workdir: Path, **extra: str) -> dict[str, str]:
    """A GitHub-like environment with the token set (job summary and outputs to files)."""
    meta = workdir.parent / "gh"
    meta.mkdir(exist_ok=True)
    env = make_environ(
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE=str(workdir),
        GITHUB_STEP_SUMMARY=str(meta / "summary.md"),
        GITHUB_OUTPUT=str(meta / "output.txt"),
        GITHUB_REPOSITORY="acme/shop",
        GITHUB_RUN_ID="42",
        GITHUB_SHA="0123456789abcdef0123456789abcdef01234567",
        GITHUB_REF_NAME="main",
        JUX_API_KEY=TOKEN,
    )
    env.update(extra)
    return env


def _collect(code: int, stdout: str, stderr: str, workdir: Path, json_path: Path) -> JuxRun:
    meta = workdir.parent / "gh"
    run = JuxRun(code, stdout, stderr, workdir)
    if json_path.is_file():
        run.report = json.loads(json_path.read_text())
    for name, attr in (("summary.md", "step_summary"), ("output.txt", "outputs")):
        path = meta / name
        if path.is_file():
            setattr(run, attr, path.read_text(errors="replace"))
            path.unlink()  # each run appends: keep them per run
    return run


def submit(
    url: str,
    workdir: Path,
    *args: str,
    command: Sequence[str] = (),
    env: dict[str, str] | None = None,
    subprocess_run: bool = False,
    timeout: float = 120,
) -> JuxRun:
    """``jux-submit [command] --api-url URL --working-directory W --json J args...``."""
    json_path = workdir.parent / "result.json"
    json_path.unlink(missing_ok=True)
    argv = [*command, "--api-url", url, "--working-directory", str(workdir)]
    if not command:
        argv += ["--json", str(json_path)]
    argv += list(args)
    environ = env if env is not None else ci_environ(workdir)
    if subprocess_run:
        done = subprocess.run(
            [sys.executable, "-m", "jux_submit", *argv],
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = CliResult(done.returncode, done.stdout, done.stderr)
    else:
        captured = io.StringIO()  # CI reporters write to sys.stdout itself
        with contextlib.redirect_stdout(captured):
            result = run_cli(argv, environ)
        result = CliResult(result.code, result.stdout + captured.getvalue(), result.stderr)
    return _collect(result.code, result.stdout, result.stderr, workdir, json_path)


def resubmit(url: str, workdir: Path, *args: str, **kw: Any) -> JuxRun:
    return submit(url, workdir, *args, command=("resubmit",), **kw)


def assert_no_token(run: JuxRun, server: JuxServer | None = None, *, token: str = TOKEN) -> None:
    """The token appears nowhere: stdout (except GitHub's own ``::add-mask::`` line), stderr,
    the JSON result, job summary, outputs, every outbox file, and every request the server saw
    outside its ``Authorization`` header."""
    stdout = "\n".join(
        line for line in run.stdout.splitlines() if not line.startswith("::add-mask::")
    )
    places = {
        "stdout": stdout,
        "stderr": run.stderr,
        "json result": json.dumps(run.report),
        "job summary": run.step_summary,
        "outputs": run.outputs,
    }
    for name, text in places.items():
        assert token not in text, f"the token leaked into {name}"
    if run.outbox.is_dir():
        for path in run.outbox.rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), f"the token leaked into {path}"
    if server is not None:
        with server.lock:
            requests = list(server.requests)
        for req in requests:
            headers = {k: v for k, v in req.headers.items() if k != "authorization"}
            assert token not in json.dumps(headers), f"token in headers of {req.path}"
            assert token.encode() not in req.body, f"token in the body sent to {req.path}"
            assert token not in req.path


@pytest.fixture
def server() -> Iterator[JuxServer]:
    """The contract server requiring the token (401 without, 403 wrong)."""
    with JuxServer(api_key=TOKEN) as srv:
        yield srv
    assert srv.violations == [], srv.violations


def write_reports(folder: Path, count: int, *, prefix: str = "TEST-") -> list[str]:
    """``count`` small distinct reports; returns their paths relative to ``folder``."""
    names = []
    for i in range(count):
        rel = f"reports/{prefix}{i:04d}.xml"
        write_junit(folder / rel, suite=f"Suite{i}", cases=2, failures=i % 2)
        names.append(rel)
    return names


def sources_stored(server: JuxServer) -> list[str]:
    """``jux:source_file`` of every stored run (one entry per stored copy)."""
    with server.lock:
        return sorted(r.properties.get("jux:source_file", "") for r in server.runs)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def send_signal_after(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    os.kill(proc.pid, sig)


def peak_rss_mb(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str, int]:
    """(exit code, output, peak RSS in MB) of ``argv``, run under a fresh wrapper process:
    RUSAGE_CHILDREN of the wrapper covers exactly that one child."""
    wrapper = (
        "import resource,subprocess,sys\n"
        "p=subprocess.run(sys.argv[1:],capture_output=True,text=True)\n"
        "sys.stderr.write(p.stderr)\n"
        "print(p.returncode,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.stdout.write(p.stdout)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    first, _, rest = done.stdout.partition("\n")
    code, kilobytes = first.split()
    return int(code), rest + done.stderr, int(kilobytes) // 1024
