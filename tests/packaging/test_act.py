"""The GitHub example workflow and the self-test workflows, run by act through podman's Docker
API, submit the sample reports to the test server on the host; later steps read the outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import make_environ
from tests.jux_server import JuxServer
from tests.packaging.conftest import (
    API_KEY,
    BASE_IMAGE,
    BASE_SHA,
    cleanup_containers,
    comment_marker,
    make_checkout,
    require_tool,
    run,
    submit_base_run,
    tool_env,
)
from tests.platform_api.github import DEFAULT_TOKEN as GITHUB_TOKEN
from tests.platform_api.github import GithubApi

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
    event: str = "push",
) -> str:
    act = require_tool("act")
    args = [
        act,
        event,
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
    runs_before, requests_before = len(server.runs), len(server.requests)
    done = run(args, cwd=repo, env=env, timeout=600, check=False)
    if done.returncode != 0 and FLAKE in done.stdout + done.stderr:
        # podman 4.3's API now and then loses a just-started container on act's first copy
        # into it ("container doesn't exists"); that is the engine, not the workflow: once more
        # (what the server held before this run, e.g. a base run, stays)
        del server.runs[runs_before:]
        del server.requests[requests_before:]
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


PR = 7


def github_base_env(tmp_path: Path) -> dict[str, str]:
    """A push to main of acme/shop, as the runner describes it (the project is detected from
    GITHUB_REPOSITORY, as in the workflow run)."""
    return make_environ(
        GITHUB_ACTIONS="true",
        CI="true",
        GITHUB_REPOSITORY="acme/shop",
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_RUN_ID="1",
        GITHUB_RUN_NUMBER="1",
        GITHUB_RUN_ATTEMPT="1",
        GITHUB_JOB="test",
        GITHUB_SHA=BASE_SHA,
        GITHUB_EVENT_NAME="push",
        GITHUB_REF="refs/heads/main",
        GITHUB_REF_NAME="main",
        GITHUB_STEP_SUMMARY=str(tmp_path / "base-summary.md"),
        GITHUB_OUTPUT=str(tmp_path / "base-output.txt"),
    )


@pytest.mark.usefixtures("image")
def test_pull_request_comment_is_added_then_updated_on_a_rerun(
    checkout: tuple[Path, str],
    docker_host: str,
    jux_server: JuxServer,
    tmp_path: Path,
) -> None:
    """A pull_request run of the docker action compares with main's run on the server, writes
    the comparison outputs and one comment; a rerun updates that comment, adding none."""
    repo, sha = checkout
    base_dir = tmp_path / "base"
    base_id = submit_base_run(jux_server, base_dir, github_base_env(tmp_path))
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "action": "synchronize",
                "number": PR,
                "pull_request": {
                    "number": PR,
                    "head": {"ref": "feature", "sha": sha},
                    "base": {"ref": "main", "sha": BASE_SHA},
                },
            }
        )
    )
    marker = comment_marker("shop")
    workflow = ".github/workflows/selftest-pr-comment.yml"
    with GithubApi(owner="acme", repo="shop", issues=(PR,)) as github:
        common = (
            "-e",
            str(event),
            "-s",
            f"JUX_GH_TOKEN={GITHUB_TOKEN}",
            # act sets GITHUB_API_URL itself (https://api.github.com) unless --env gives it
            "--env",
            f"GITHUB_API_URL={github.url}",
        )
        first = run_act(
            workflow, repo, docker_host, jux_server, tmp_path, *common, event="pull_request"
        )
        assert "SELFTEST-OK pr-comment new=1 fixed=1" in first, first[-5000:]
        assert f"added a comment on pull request #{PR} of acme/shop" in first, first[-5000:]
        # the job summary has the section (act prints the summary file)
        assert "### Changes since `main`" in first, first[-5000:]
        comments = github.comments(PR)
        assert len(comments) == 1, comments
        added = comments[0]
        body = added["body"]
        assert body.splitlines()[0] == marker
        assert body.index("**New failures** (1)") < body.index("`Cart › shop.Cart › test_c`")
        assert body.index("**Fixed** (1)") < body.index("`Cart › shop.Cart › test_a`")
        assert base_id in body

        # a rerun of the same workflow run: the same comment is updated
        second = run_act(
            workflow,
            repo,
            docker_host,
            jux_server,
            tmp_path,
            *common,
            "--env",
            "GITHUB_RUN_ATTEMPT=2",
            event="pull_request",
        )
        assert "SELFTEST-OK pr-comment new=1 fixed=1" in second, second[-5000:]
        assert f"updated the comment on pull request #{PR} of acme/shop" in second, second[-5000:]
        comments = github.comments(PR)
        ours = [c for c in comments if c["body"].startswith(marker)]
        assert len(comments) == 1 and len(ours) == 1, comments
        assert ours[0]["id"] == added["id"]
        assert ours[0]["updated_at"] != added["updated_at"]
        assert ours[0]["body"] != body  # it names the rerun's test run
        assert "`Cart › shop.Cart › test_c`" in ours[0]["body"]
        assert [r.method for r in github.requests].count("POST") == 1
        assert [r.method for r in github.requests].count("PATCH") == 1
        assert github.violations == [], github.violations

    assert jux_server.violations == [], jux_server.violations
    runs = jux_server.runs
    assert len(runs) == 3, [r.properties for r in runs]
    for stored in runs[1:]:
        props = stored.properties
        assert props["ci:provider"] == "github-actions"
        assert props["git:branch"] == "feature"
        assert props["git:commit"] == sha
        assert props["ci:pull_request"] == str(PR)
        assert props["ci:pr_target_branch"] == "main"
    assert not runs[1].properties["ci:build_url"].endswith("/attempts/2")
    assert runs[2].properties["ci:build_url"].endswith("/attempts/2")
    for log in (first, second):
        assert GITHUB_TOKEN not in log and API_KEY not in log
