"""The GitHub example workflow and the self-test workflows, run by act through podman's Docker
API, submit the sample reports to the test server on the host; later steps read the outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.jux_server import JuxServer
from tests.packaging.conftest import (
    API_KEY,
    BASE_IMAGE,
    cleanup_containers,
    make_checkout,
    require_tool,
    run,
    tool_env,
)

pytestmark = pytest.mark.packaging

REMOTE = "https://github.com/acme/shop.git"
FLAKE = "failed to copy content to container: Error response from daemon: the container doesn't"


def run_act(
    workflow: str,
    repo: Path,
    docker_host: str,
    server: JuxServer,
    tmp_path: Path,
    *extra: str,
) -> str:
    act = require_tool("act")
    args = [
        act,
        "push",
        "-W",
        workflow,
        "-P",
        f"ubuntu-latest={BASE_IMAGE}",
        "--pull=false",
        "--action-offline-mode",
        "--network",
        "host",  # job and action containers reach 127.0.0.1 on the host
        "--action-cache-path",
        str(tmp_path / "act-cache"),
        "--var",
        f"JUX_API_URL={server.url}",
        "-s",
        f"JUX_API_KEY={API_KEY}",
        *extra,
    ]
    env = tool_env(DOCKER_HOST=docker_host, HOME=str(tmp_path / "home"))
    done = run(args, cwd=repo, env=env, timeout=600, check=False)
    if done.returncode != 0 and FLAKE in done.stdout + done.stderr:
        # podman 4.3's API now and then loses a just-started container on act's first copy
        # into it ("container doesn't exists"); that is the engine, not the workflow: once more
        server.runs.clear()
        server.requests.clear()
        done = run(args, cwd=repo, env=env, timeout=600, check=False)
    assert done.returncode == 0, f"act failed:\n{done.stdout[-12000:]}\n{done.stderr[-6000:]}"
    return done.stdout + done.stderr


def check_submissions(server: JuxServer, sha: str) -> list[str]:
    runs = server.runs
    assert len(runs) == 3, [r.properties.get("jux:source_file") for r in runs]
    for stored in runs:
        props = stored.properties
        assert props["ci:provider"] == "github-actions"
        assert props["git:branch"] == "main"
        assert props["git:commit"] == sha
        assert props["ci:build_url"].startswith("https://github.com/acme/shop/actions/runs/")
        assert props["ci:repository"] == "acme/shop"
    return sorted(r.test_run_id for r in runs)


@pytest.fixture
def checkout(tmp_path: Path, podman: str) -> tuple[Path, str]:
    repo = tmp_path / "shop"
    sha = make_checkout(repo, REMOTE)
    yield repo, sha
    cleanup_containers(podman, "act-")


def test_example_workflow_submits_and_reads_the_outputs(
    checkout: tuple[Path, str],
    image: str,
    docker_host: str,
    jux_server: JuxServer,
    tmp_path: Path,
) -> None:
    repo, sha = checkout
    # `uses: jux/submit-action@v1` resolves to this checkout, as GitHub would fetch it
    log = run_act(
        "examples/github/workflow.yml",
        repo,
        docker_host,
        jux_server,
        tmp_path,
        "--local-repository",
        f"jux/submit-action@v1={repo}",
    )
    ids = check_submissions(jux_server, sha)
    match = re.search(r"Jux accepted 3 report\(s\); test runs (\[.*?\])", log)
    assert match, log[-5000:]
    assert sorted(json.loads(match.group(1))) == ids
    assert API_KEY not in log


@pytest.mark.usefixtures("image")
@pytest.mark.parametrize("kind", ["docker", "composite"])
def test_selftest_workflow(
    kind: str,
    checkout: tuple[Path, str],
    docker_host: str,
    jux_server: JuxServer,
    tmp_path: Path,
) -> None:
    repo, sha = checkout
    log = run_act(
        f".github/workflows/selftest-{kind}-action.yml", repo, docker_host, jux_server, tmp_path
    )
    ids = check_submissions(jux_server, sha)
    match = re.search(rf"SELFTEST-OK {kind} (\S+)", log)
    assert match, log[-5000:]
    assert match.group(1) in ids
    # the job summary went through the runner's file (act prints it)
    assert "Jux: 3 reports" in log
    assert API_KEY not in log
