"""Shared pytest options and fixtures."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files under tests/golden/ instead of comparing with them",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run should rewrite golden files (review the diff afterwards)."""
    return bool(request.config.getoption("--update-golden"))


# --- shared factories ---------------------------------------------------------------------

import io  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator, Mapping, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

from tests.jux_server import JuxServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: Copies of what the tests use from ``../shared`` (see SOURCES.md there; test_vendored.py
#: checks them against the originals when ``../shared`` sits beside the repository).
SHARED = REPO / "tests" / "fixtures" / "shared"
FIXTURES = SHARED / "fixtures" / "jux-test-fixtures"
SECRET = "jux-s3cret-T0KEN-0123456789abcdef"

#: CI variables of the machine running the tests must not leak into runs under test.
_CI_PREFIXES = (
    "GITHUB_",
    "GITLAB_",
    "CI_",
    "JENKINS",
    "BUILD_",
    "JOB_",
    "JUX_",
    "INPUT_",
    "RUNNER_",
    "BUILDKITE",
    "CIRCLE",
    "TRAVIS",
    "DRONE",
    "WOODPECKER",
    "APPVEYOR",
    "CODEBUILD",
    "BAMBOO",
    "SEMAPHORE",
    "HARNESS",
    "GITEA",
    "TEAMCITY",
    "SYSTEM_",
    "BITBUCKET",
    "AGENT_",
    "TF_BUILD",
    "GIT_",
    "WORKSPACE",
    "HUDSON",
    "CHANGE_",
)


def make_environ(**extra: str) -> dict[str, str]:
    """A clean environment: PATH/HOME/locale kept, every CI and JUX variable dropped."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(_CI_PREFIXES) and k not in ("CI",)
    }
    env.update(extra)
    return env


def write_junit(
    path: Path,
    *,
    suite: str = "Suite",
    cases: int = 2,
    failures: int = 0,
    properties: Sequence[tuple[str, str]] = (),
    extra: str = "",
    encoding: str = "UTF-8",
) -> Path:
    """Write a small JUnit report and return its path."""
    props = ""
    if properties:
        props = (
            "  <properties>\n"
            + "".join(f'    <property name="{n}" value="{v}"/>\n' for n, v in properties)
            + "  </properties>\n"
        )
    body = "".join(
        f'  <testcase classname="pkg.{suite}" name="test_{i}" time="0.01">'
        + ('<failure message="boom">trace</failure>' if i < failures else "")
        + "</testcase>\n"
        for i in range(cases)
    )
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        f'<testsuite name="{suite}" tests="{cases}" failures="{failures}">\n'
        f"{props}{body}{extra}</testsuite>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    argv: Sequence[str], environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> CliResult:
    """Run the real CLI in-process (``cli.run``) with a clean environment."""
    from jux_submit.cli import run

    out, err = io.StringIO(), io.StringIO()
    env = dict(environ) if environ is not None else make_environ()
    previous = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        code = run(list(argv), environ=env, stdout=out, stderr=err)
    finally:
        os.chdir(previous)
    return CliResult(code, out.getvalue(), err.getvalue())


def run_subprocess(
    argv: Sequence[str],
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> CliResult:
    """Run ``python -m jux_submit`` as a separate process."""
    env = dict(environ) if environ is not None else make_environ()
    done = subprocess.run(
        [sys.executable, "-m", "jux_submit", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def jux_server() -> Iterator[JuxServer]:
    """A fresh contract server on 127.0.0.1 (no auth)."""
    with JuxServer() as server:
        yield server
    assert server.violations == [], server.violations


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working directory for a run."""
    path = tmp_path / "ws"
    path.mkdir()
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/packaging carries the ``packaging`` marker (run on its own)."""
    for item in items:
        if "tests/packaging/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.packaging)
