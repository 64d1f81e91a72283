"""Fixtures for the packaging checks: the tools, the image built with podman, podman's Docker
API for act, a Jux test server, and throw-away git checkouts of the project's CI files.

Tools come from ``bash .ci/install-packaging-tools.sh`` (under $JUX_CI_TOOLS, default
/opt/jux-ci-tools). A missing tool skips its test, except when CI=true: then it fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.integration.test_compare import write_report
from tests.jux_server import JuxServer

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("JUX_CI_TOOLS", "/opt/jux-ci-tools"))
TOOL_PATH = os.pathsep.join(
    [
        str(TOOLS / "venv" / "bin"),
        str(TOOLS / "npm" / "node_modules" / ".bin"),
        os.environ.get("PATH", ""),
    ]
)
CONTAINERS_CONF = ROOT / ".ci" / "containers.conf"
BASE_IMAGE = "docker.io/library/python:3.12-slim"
LOCAL_IMAGE = "localhost/jux-submit:packaging-test"
RELEASE_IMAGE = "ghcr.io/jux-tools/submit-action:v1"
API_KEY = "jux_test_key_8c1f5a7e93d2"
#: the comparison checks: the base branch (main) failed test_a and test_b; the pull/merge
#: request's own report (written by its workflow/pipeline) fixes test_a, still fails test_b
#: and fails test_c anew
BASE_TESTS = {"test_a": "failed", "test_b": "error", "test_c": "passed"}
BASE_SHA = "a" * 40
LOCK = Path("/tmp/jux-packaging-image.lock")
#: what a throw-away checkout holds (the CI files, the examples, and what pip needs)
SAMPLE_FILES = (
    "action.yml",
    "composite",
    ".github",
    "examples",
    ".gitlab-ci-template.yml",
    "templates",
    "pyproject.toml",
    "README.md",
    "src",
    "docker",
    "Dockerfile",
    ".dockerignore",
)


def require_tool(name: str) -> str:
    """The tool's path; skips (or fails when CI=true) if it is not installed."""
    found = shutil.which(name, path=TOOL_PATH)
    if found:
        return found
    message = f"{name} is not installed; run: bash .ci/install-packaging-tools.sh"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: packaging checks must not be skipped)")
    pytest.skip(message)


def tool_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = TOOL_PATH
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    env.update(extra)
    return env


def run(
    args: Sequence[str],
    *,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure, the assertion shows its output."""
    started = time.monotonic()
    done = subprocess.run(
        list(args),
        cwd=cwd,
        env=dict(env) if env is not None else tool_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    took = time.monotonic() - started
    if check:
        assert done.returncode == 0, (
            f"$ {' '.join(args)}\nexit {done.returncode} after {took:.1f}s\n"
            f"--- stdout ---\n{done.stdout[-12000:]}\n--- stderr ---\n{done.stderr[-12000:]}"
        )
    return done


@contextlib.contextmanager
def image_lock() -> Iterator[None]:
    """One image build at a time, across pytest-xdist workers."""
    with LOCK.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def podman() -> str:
    path = require_tool("podman")
    require_tool("runc")
    return path


@pytest.fixture(scope="session")
def image(podman: str) -> str:
    """The image built from the Dockerfile, also tagged as the release image the action uses.

    The base (python:3.12-slim) comes from Docker Hub where reachable; otherwise
    .ci/make-base-image.sh builds a local stand-in from Debian once.
    """
    with image_lock():
        if run([podman, "image", "exists", BASE_IMAGE], check=False).returncode != 0:
            require_tool("debootstrap")
            run(["bash", str(ROOT / ".ci" / "make-base-image.sh"), BASE_IMAGE], timeout=900)
        old = run(
            [podman, "image", "inspect", "--format", "{{.Id}}", LOCAL_IMAGE], check=False
        ).stdout.strip()
        run([podman, "build", "--pull=never", "-t", LOCAL_IMAGE, str(ROOT)], timeout=900)
        run([podman, "tag", LOCAL_IMAGE, RELEASE_IMAGE])
        new = run([podman, "image", "inspect", "--format", "{{.Id}}", LOCAL_IMAGE]).stdout
        if old and old != new.strip():
            run([podman, "rmi", old], check=False)  # the previous build, now untagged
    return LOCAL_IMAGE


@pytest.fixture(scope="session")
def docker_host(podman: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """podman's Docker-compatible API on a private socket (act speaks the Docker API)."""
    sock = tmp_path_factory.mktemp("podman") / "podman.sock"
    log = (sock.parent / "service.log").open("w")
    proc = subprocess.Popen(
        [podman, "system", "service", "--time=0", f"unix://{sock}"],
        env=tool_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None, (sock.parent / "service.log").read_text()
            assert time.monotonic() < deadline, "podman system service did not start"
            time.sleep(0.1)
        wait_for_api(sock, deadline)
        yield f"unix://{sock}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_for_api(sock: Path, deadline: float) -> None:
    """Until the service answers the Docker API's ping and a container listing."""
    import http.client
    import socket

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(sock))

    for path in ("/_ping", "/containers/json?all=1"):
        while True:
            try:
                conn = UnixConnection("localhost", timeout=5)
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"podman API not answering {path}"
            time.sleep(0.2)


@pytest.fixture
def jux_server() -> Iterator[JuxServer]:
    """A Jux test server on 127.0.0.1 that requires ``API_KEY``."""
    with JuxServer(api_key=API_KEY) as server:
        yield server


def make_checkout(dest: Path, remote: str) -> str:
    """A git repository at ``dest`` holding the project's CI files, with ``origin`` set to
    ``remote`` (act and gitlab-ci-local read the project name from it). Returns HEAD."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for rel in SAMPLE_FILES:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / rel)
    git = [
        "git",
        "-c",
        "user.email=dev@example.com",
        "-c",
        "user.name=Dev",
        "-c",
        "commit.gpgsign=false",
    ]
    env = tool_env()
    run([*git, "init", "-q", "-b", "main"], cwd=dest, env=env)
    run([*git, "add", "-A"], cwd=dest, env=env)
    run([*git, "commit", "-q", "-m", "sample"], cwd=dest, env=env)
    run([*git, "remote", "add", "origin", remote], cwd=dest, env=env)
    # a clone has refs/remotes/origin/HEAD; tools fall back noisily without it
    run([*git, "update-ref", "refs/remotes/origin/main", "HEAD"], cwd=dest, env=env)
    run(
        [*git, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"],
        cwd=dest,
        env=env,
    )
    return run(["git", "rev-parse", "HEAD"], cwd=dest, env=env).stdout.strip()


def submitted_runs(server: JuxServer) -> list[dict[str, object]]:
    """What the server stored, without the values that differ between two runs, sorted."""
    volatile = {"jux:timestamp", "jux:hostname"}
    runs = [
        {
            "source": run.properties.get("jux:source_file"),
            "counts": run.counts,
            "properties": {k: v for k, v in run.properties.items() if k not in volatile},
        }
        for run in server.runs
    ]
    return sorted(runs, key=lambda r: str(r["source"]))


def cleanup_containers(podman: str, label_or_prefix: str) -> None:
    """Remove containers and volumes a tool left behind, by name prefix (never all)."""
    names = run([podman, "ps", "-a", "--format", "{{.Names}}"], check=False).stdout.split()
    ours = [n for n in names if n.startswith(label_or_prefix)]
    if ours:
        run([podman, "rm", "-f", *ours], check=False)
    volumes = run([podman, "volume", "ls", "--format", "{{.Name}}"], check=False).stdout.split()
    mine = [v for v in volumes if v.startswith(label_or_prefix)]
    if mine:
        run([podman, "volume", "rm", "-f", *mine], check=False)


def submit_base_run(server: JuxServer, workdir: Path, env: Mapping[str, str]) -> str:
    """Submit the base branch's run (``BASE_TESTS``, suite Cart) in-process with the CI
    variables ``env``; returns its test run id."""
    write_report(workdir / "reports" / "cart.xml", BASE_TESTS)
    environ = {**env, "JUX_API_URL": server.url, "JUX_API_KEY": API_KEY}
    done = run_cli(["reports/*.xml"], environ, cwd=workdir)
    assert done.code == 0, done.output
    assert len(server.runs) == 1, done.output
    return server.runs[0].test_run_id


def comment_marker(project: str) -> str:
    """The hidden first line of the change comment: the project named by a digest."""
    digest = hashlib.sha256(project.encode()).hexdigest()[:16]
    return f"<!-- jux-submit:changes project={digest} -->"
