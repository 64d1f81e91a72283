"""The image built from the Dockerfile, started the way GitHub's runner and GitLab's docker
executor start it, submits the same reports as the pip-installed CLI."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from jux_submit import __version__
from jux_submit.settings import OPTIONS
from tests.jux_server import JuxServer
from tests.packaging.conftest import API_KEY, ROOT, run, submitted_runs

pytestmark = pytest.mark.packaging

SHA = "0123456789abcdef0123456789abcdef01234567"
GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "CI": "true",
    "HOME": "/github/home",
    "GITHUB_WORKSPACE": "/github/workspace",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_REPOSITORY_OWNER": "acme",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_SHA": SHA,
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_REF_NAME": "main",
    "GITHUB_REF_TYPE": "branch",
    "GITHUB_RUN_ID": "4242",
    "GITHUB_RUN_NUMBER": "17",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_JOB": "test",
    "GITHUB_WORKFLOW": "tests",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_OUTPUT": "/github/file_commands/set_output_1",
    "GITHUB_STEP_SUMMARY": "/github/file_commands/step_summary_1",
    "GITHUB_ENV": "/github/file_commands/set_env_1",
}
GITLAB_DIR = "/builds/acme/shop"
GITLAB_ENV = {
    "CI": "true",
    "GITLAB_CI": "true",
    "CI_PROJECT_DIR": GITLAB_DIR,
    "CI_PROJECT_PATH": "acme/shop",
    "CI_PROJECT_NAME": "shop",
    "CI_PROJECT_URL": "https://gitlab.example.com/acme/shop",
    "CI_SERVER_URL": "https://gitlab.example.com",
    "CI_COMMIT_SHA": SHA,
    "CI_COMMIT_BRANCH": "main",
    "CI_COMMIT_REF_NAME": "main",
    "CI_PIPELINE_ID": "1001",
    "CI_PIPELINE_IID": "7",
    "CI_PIPELINE_URL": "https://gitlab.example.com/acme/shop/-/pipelines/1001",
    "CI_PIPELINE_SOURCE": "push",
    "CI_JOB_ID": "555",
    "CI_JOB_NAME": "jux",
    "CI_JOB_URL": "https://gitlab.example.com/acme/shop/-/jobs/555",
    "GITLAB_USER_LOGIN": "dev",
}


def workspace(tmp_path: Path) -> Path:
    """A checkout holding the sample reports (no .git: detection comes from the CI vars)."""
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "examples" / "reports", ws / "test-results")
    return ws


def env_args(env: dict[str, str]) -> list[str]:
    # values reach podman through its environment, as the runner passes them (`-e NAME`)
    return [arg for name in env for arg in ("-e", name)]


def run_like_github(podman: str, image: str, server: JuxServer, ws: Path, fc: Path) -> str:
    """``docker run`` as actions/runner's ContainerActionHandler builds it, with every
    declared input set (the runner merges defaults: empty strings here)."""
    (fc / "home").mkdir(parents=True)
    inputs = {opt.input_env: "" for opt in OPTIONS if opt.has_input}
    inputs.update(
        {
            "INPUT_API-URL": server.url,
            "INPUT_API-KEY": API_KEY,
            "INPUT_REPORTS": "test-results/*.xml",
        }
    )
    env = {**inputs, **GITHUB_ENV, "JUX_JSON": "jux-results.json"}  # runs.env of action.yml
    done = run(
        [
            podman,
            "run",
            "--rm",
            "--network=host",
            "--workdir",
            "/github/workspace",
            *env_args(env),
            "-v",
            f"{fc}/home:/github/home",
            "-v",
            f"{fc}:/github/file_commands",
            "-v",
            f"{ws}:/github/workspace",
            image,
        ],
        env={**os.environ, "CONTAINERS_CONF": str(ROOT / ".ci" / "containers.conf"), **env},
        timeout=120,
    )
    return done.stdout + done.stderr


def test_container_runs_like_a_github_docker_action(
    podman: str, image: str, jux_server: JuxServer, tmp_path: Path
) -> None:
    ws, fc = workspace(tmp_path), tmp_path / "file_commands"
    log = run_like_github(podman, image, jux_server, ws, fc)

    runs = jux_server.runs
    assert len(runs) == 3
    for stored in runs:
        props = stored.properties
        assert props["ci:provider"] == "github-actions"
        assert props["git:branch"] == "main"
        assert props["git:commit"] == SHA
        assert props["ci:build_url"] == "https://github.com/acme/shop/actions/runs/4242"
        assert props["jux:submitter"] == f"jux-submit/{__version__}"
    ids = sorted(r.test_run_id for r in runs)

    outputs = (fc / "set_output_1").read_text()
    assert "submitted<<ghadelimiter_" in outputs
    values = parse_outputs(outputs)
    assert values["submitted"] == "3" and values["invalid"] == "0" and values["failed"] == "0"
    assert sorted(json.loads(values["test-run-ids"])) == ids
    assert values["results-file"] == "jux-results.json"
    result = json.loads((ws / "jux-results.json").read_text())
    assert result["schema_version"]

    summary = (fc / "step_summary_1").read_text()
    assert summary.startswith("## Jux: 3 reports — 3 submitted")
    assert f"({jux_server.url}/test_runs/{ids[0]})" in summary

    assert log.count(API_KEY) == 1 and f"::add-mask::{API_KEY}" in log
    assert API_KEY not in outputs + summary + json.dumps(result)


def parse_outputs(text: str) -> dict[str, str]:
    """Read GITHUB_OUTPUT the way the runner does (name<<DELIM ... DELIM)."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        name, delim = line.split("<<", 1)
        body = []
        for inner in lines:
            if inner == delim:
                break
            body.append(inner)
        values[name] = "\n".join(body)
    return values


def template_variables() -> dict[str, str]:
    job = yaml.safe_load((ROOT / ".gitlab-ci-template.yml").read_text())[".jux-submit"]
    return {k: str(v) for k, v in job["variables"].items()}


def run_like_gitlab(podman: str, image: str, server: JuxServer, ws: Path) -> str:
    """The template job as GitLab's docker executor runs it: the image with its entrypoint
    cleared, the checkout at CI_PROJECT_DIR, the job's variables, then the script in a shell."""
    job = yaml.safe_load((ROOT / ".gitlab-ci-template.yml").read_text())[".jux-submit"]
    env = {
        **template_variables(),
        **GITLAB_ENV,
        "JUX_REPORTS": "test-results/*.xml",
        "JUX_API_URL": server.url,
        "JUX_API_KEY": API_KEY,
    }
    script = "\n".join(job["script"])
    done = run(
        [
            podman,
            "run",
            "--rm",
            "--network=host",
            "--entrypoint",
            "",
            "--workdir",
            GITLAB_DIR,
            *env_args(env),
            "-v",
            f"{ws}:{GITLAB_DIR}",
            image,
            "sh",
            "-c",
            script,
        ],
        env={**os.environ, "CONTAINERS_CONF": str(ROOT / ".ci" / "containers.conf"), **env},
        timeout=120,
    )
    return done.stdout + done.stderr


def test_container_runs_like_the_gitlab_template_job(
    podman: str, image: str, jux_server: JuxServer, tmp_path: Path
) -> None:
    ws = workspace(tmp_path)
    log = run_like_gitlab(podman, image, jux_server, ws)
    runs = jux_server.runs
    assert len(runs) == 3
    for stored in runs:
        props = stored.properties
        assert props["ci:provider"] == "gitlab-ci"
        assert props["git:branch"] == "main"
        assert props["git:commit"] == SHA
        assert props["ci:build_url"] == GITLAB_ENV["CI_PIPELINE_URL"]
    dotenv = dict(line.split("=", 1) for line in (ws / "jux-submit.env").read_text().splitlines())
    assert sorted(dotenv["JUX_TEST_RUN_IDS"].split(",")) == sorted(r.test_run_id for r in runs)
    assert dotenv["JUX_SUBMITTED"] == "3"
    assert (ws / "jux-results.json").is_file()  # the template's JUX_JSON
    assert "section_start:" in log  # collapsible sections
    assert API_KEY not in log + (ws / "jux-submit.env").read_text()


def run_pip_cli(server: JuxServer, ws: Path, env: dict[str, str], cwd: Path) -> None:
    """The pip-installed CLI (this checkout's package) with the same environment."""
    run(
        [sys.executable, "-m", "jux_submit"],
        cwd=cwd,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), **env},
    )


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_container_and_pip_cli_submit_the_same(
    ci: str, podman: str, image: str, tmp_path: Path
) -> None:
    with JuxServer(api_key=API_KEY) as container_server:
        ws = workspace(tmp_path / "container")
        if ci == "github":
            run_like_github(podman, image, container_server, ws, tmp_path / "fc")
        else:
            run_like_gitlab(podman, image, container_server, ws)
        from_container = submitted_runs(container_server)

    with JuxServer(api_key=API_KEY) as cli_server:
        ws = workspace(tmp_path / "cli")
        fc = tmp_path / "fc-cli"
        fc.mkdir()
        if ci == "github":
            env = {
                **{opt.input_env: "" for opt in OPTIONS if opt.has_input},
                **GITHUB_ENV,
                "INPUT_API-URL": cli_server.url,
                "INPUT_API-KEY": API_KEY,
                "INPUT_REPORTS": "test-results/*.xml",
                "JUX_JSON": "jux-results.json",
                "GITHUB_WORKSPACE": str(ws),
                "HOME": str(fc),
                "GITHUB_OUTPUT": str(fc / "out"),
                "GITHUB_STEP_SUMMARY": str(fc / "summary"),
                "GITHUB_ENV": str(fc / "env"),
            }
        else:
            env = {
                **template_variables(),
                **GITLAB_ENV,
                "CI_PROJECT_DIR": str(ws),
                "JUX_REPORTS": "test-results/*.xml",
                "JUX_API_URL": cli_server.url,
                "JUX_API_KEY": API_KEY,
            }
        run_pip_cli(cli_server, ws, env, ws)
        from_cli = submitted_runs(cli_server)

    assert len(from_container) == 3
    assert from_container == from_cli


def test_docker_run_example_script(podman: str, image: str, tmp_path: Path) -> None:
    """examples/docker-run.sh (any CI with Docker), with podman standing in for docker."""
    from tests.packaging.conftest import make_checkout, tool_env

    repo = tmp_path / "shop"
    repo.mkdir()
    shutil.copytree(ROOT / "examples" / "reports", repo / "test-results")
    sha = make_checkout(repo, "https://git.example.com/acme/shop.git")
    with JuxServer(api_key=API_KEY) as server:
        env = tool_env(
            DOCKER="podman",
            DOCKER_RUN_ARGS="--network=host",
            JUX_API_URL=server.url,
            JUX_API_KEY=API_KEY,
            JUX_REPORTS="test-results/*.xml",
        )
        for name in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL"):
            env.pop(name, None)
        done = run(["sh", str(ROOT / "examples" / "docker-run.sh")], cwd=repo, env=env, timeout=120)
        runs = server.runs
        assert len(runs) == 3, done.stdout + done.stderr
        for stored in runs:
            assert stored.properties["git:branch"] == "main"
            assert stored.properties["git:commit"] == sha
    assert API_KEY not in done.stdout + done.stderr
