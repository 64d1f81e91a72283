"""The image built from the Dockerfile, started the way GitHub's runner and GitLab's docker
executor start it, submits the same reports as the pip-installed CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from jux_submit import __version__
from jux_submit.settings import OPTIONS
from tests.jux_server import JuxServer
from tests.packaging.conftest import (
    API_KEY,
    RELEASE_IMAGE,
    ROOT,
    run,
    submitted_runs,
    tool_env,
)

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


# --- as a non-root uid: the README's commands, the Jenkinsfile, an unwritable HOME -----------

AGENT_UID = 1000  # a Jenkins agent's usual user
OTHER_UID = 12345  # a uid the image has never heard of (no /etc/passwd entry)
REMOTE = "https://git.example.com/acme/shop.git"


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary folder other uids can reach: pytest's tmp_path sits under a 0700 folder."""
    path = Path(tempfile.mkdtemp(prefix="jux-uid-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def git_checkout(dest: Path, owner: int | None) -> str:
    """A git clone-alike at ``dest`` (branch main, ``origin`` = REMOTE) holding the sample
    reports in test-results/, made by root and then handed to ``owner`` (None: stays root's,
    readable by all). Returns HEAD."""
    shutil.copytree(ROOT / "examples" / "reports", dest / "test-results")
    git = ["git", "-c", "user.email=dev@example.com", "-c", "user.name=Dev"]
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "commit.gpgsign=false", "commit", "-q", "-m", "sample"],
        ["remote", "add", "origin", REMOTE],
    ):
        run([*git, *args], cwd=dest, env=tool_env())
    sha = run(["git", "rev-parse", "HEAD"], cwd=dest, env=tool_env()).stdout.strip()
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.lstat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))
        if owner is not None:
            os.lchown(path, owner, owner)
    return sha


def owners(root: Path) -> dict[str, int]:
    """The owning uid of ``root`` and of everything under it, by relative path."""
    found = {".": root.lstat().st_uid}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            found[str(path.relative_to(root))] = path.lstat().st_uid
    return found


def user_path(bin_dir: Path, uid: int, podman: str, image: str) -> str:
    """A PATH under which a CI snippet runs as written, as the user ``uid`` would run it:
    ``id -u`` and ``id -g`` answer ``uid`` (the tests run as root: podman needs root here), and
    ``docker`` is podman on the host network (the test server is on 127.0.0.1), running the
    image under test wherever the snippet names the release image."""
    bin_dir.mkdir(exist_ok=True)
    shims = {
        "id": f'case "$*" in -u|-g) echo {uid} ;; *) exec /usr/bin/id "$@" ;; esac\n',
        "docker": (
            "sub=$1; shift\n"
            f'for a do shift; [ "$a" = {RELEASE_IMAGE} ] && a={image}; set -- "$@" "$a"; done\n'
            f'exec {podman} "$sub" --network=host "$@"\n'
        ),
    }
    for name, body in shims.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    return f"{bin_dir}{os.pathsep}{tool_env()['PATH']}"


def readme_container_commands() -> list[str]:
    """Every ``docker run`` command the README shows outside the example files: fenced
    blocks that start with ``docker run`` and inline ``docker run ...`` spans."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```(?:sh|bash|console)?\n(docker run .*?)^```", readme, re.M | re.S)
    inline = re.findall(r"`(docker run [^`\n]+)`", readme)
    commands = [c.strip() for c in [*blocks, *inline]]
    assert commands, "README.md shows no docker run command"
    return commands


def assert_labelled(server: JuxServer, sha: str, count: int = 3) -> None:
    runs = server.runs
    assert len(runs) == count
    for stored in runs:
        labels = {k: stored.properties.get(k) for k in ("project", "git:branch", "git:commit")}
        assert labels == {"project": "shop", "git:branch": "main", "git:commit": sha}


def test_docker_run_example_script(podman: str, image: str, open_tmp: Path) -> None:
    """examples/docker-run.sh (any CI with Docker) as the agent user runs it in its checkout,
    with podman standing in for docker: the runs carry the branch and commit, and every file
    left in the checkout belongs to the user."""
    ws = open_tmp / "shop"
    sha = git_checkout(ws, AGENT_UID)
    with JuxServer(api_key=API_KEY) as server:
        env = tool_env(
            PATH=user_path(open_tmp / "bin", AGENT_UID, podman, image),
            DOCKER="podman",
            DOCKER_RUN_ARGS="--network=host",
            JUX_IMAGE=image,
            JUX_API_URL=server.url,
            JUX_API_KEY=API_KEY,
            JUX_REPORTS="test-results/*.xml",
        )
        for name in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL"):
            env.pop(name, None)
        done = run(["sh", str(ROOT / "examples" / "docker-run.sh")], cwd=ws, env=env, timeout=120)
        assert_labelled(server, sha)
    found = owners(ws)
    assert ".jux-outbox/journal.jsonl" in found, sorted(found)
    assert {p: uid for p, uid in found.items() if uid != AGENT_UID} == {}
    assert API_KEY not in done.stdout + done.stderr


README_COMMANDS = readme_container_commands()


@pytest.mark.parametrize("owner", ["user", "root"], ids=["own-checkout", "root-checkout"])
@pytest.mark.parametrize(
    "command", README_COMMANDS, ids=[f"readme-{n + 1}" for n in range(len(README_COMMANDS))]
)
def test_readme_container_command_as_a_non_root_user(
    command: str, owner: str, podman: str, image: str, open_tmp: Path
) -> None:
    """The README's `docker run`, typed by uid OTHER_UID in a checkout it owns and in one
    owned by root: the runs carry the project, branch and commit (git in the image), and
    whatever jux-submit wrote belongs to the user."""
    ws = open_tmp / "shop"
    sha = git_checkout(ws, OTHER_UID if owner == "user" else None)
    with JuxServer(api_key=API_KEY) as server:
        path = user_path(open_tmp / "bin", OTHER_UID, podman, image)
        env = tool_env(PATH=path, JUX_API_URL=server.url, JUX_API_KEY=API_KEY)
        for name in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL"):
            env.pop(name, None)
        done = run(["sh", "-ec", command], cwd=ws, env=env, timeout=120)
        assert_labelled(server, sha)
    assert "was detected" not in done.stderr and "dubious" not in done.stderr
    found = owners(ws)
    if owner == "user":
        assert ".jux-outbox/journal.jsonl" in found, sorted(found)
        assert {p: uid for p, uid in found.items() if uid != OTHER_UID} == {}
    else:
        assert set(found.values()) == {0}  # nothing new: the user may not write there
    assert API_KEY not in done.stdout + done.stderr


@pytest.mark.parametrize("scm_vars", [True, False], ids=["checkout-scm", "no-git-variables"])
def test_jenkinsfile_run_leaves_no_root_owned_file(
    scm_vars: bool, podman: str, image: str, open_tmp: Path
) -> None:
    """The Jenkinsfile's `sh` step as the agent user (uid AGENT_UID) runs it in its workspace:
    every file there still belongs to the agent afterwards, so the next checkout can clean
    it. With `checkout scm` Jenkins exports GIT_*; an inline Pipeline using the `git` step
    exports none, and the labels then come from git in the image."""
    jenkinsfile = (ROOT / "examples" / "jenkins" / "Jenkinsfile").read_text()
    steps = re.findall(r"sh '''\n(.*?)'''", jenkinsfile, re.S)
    script = next(s for s in steps if "docker run" in s)
    ws = open_tmp / "workspace" / "shop"
    ws.parent.mkdir()
    ws.parent.chmod(0o755)
    sha = git_checkout(ws, AGENT_UID)
    jenkins = {
        "JENKINS_URL": "https://jenkins.example.com/",
        "BUILD_URL": "https://jenkins.example.com/job/shop/42/",
        "JOB_URL": "https://jenkins.example.com/job/shop/",
        "JOB_NAME": "shop",
        "BUILD_ID": "42",
        "BUILD_NUMBER": "42",
        "NODE_NAME": "agent-1",
        "WORKSPACE": str(ws),
        "JUX_REPORTS": "test-results/*.xml",
    }
    if scm_vars:
        jenkins.update(GIT_BRANCH="origin/main", GIT_COMMIT=sha, GIT_URL=REMOTE)
    with JuxServer(api_key=API_KEY) as server:
        path = user_path(open_tmp / "bin", AGENT_UID, podman, image)
        env = tool_env(**jenkins, PATH=path, JUX_API_URL=server.url, JUX_API_KEY=API_KEY)
        for name in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BRANCH_NAME", "GIT_LOCAL_BRANCH"):
            env.pop(name, None)
        # Jenkins runs a `sh` step with `sh -xe`
        done = run(["sh", "-xec", script], cwd=ws, env=env, timeout=120)
        assert_labelled(server, sha)
        assert {r.properties.get("ci:provider") for r in server.runs} == {"jenkins"}
    found = owners(ws)
    assert ".jux-outbox/journal.jsonl" in found, sorted(found)
    assert {p: uid for p, uid in found.items() if uid != AGENT_UID} == {}
    assert API_KEY not in done.stdout + done.stderr


@pytest.mark.parametrize("owner", ["user", "root"], ids=["own-checkout", "root-checkout"])
def test_image_runs_as_any_uid_with_an_unwritable_home(
    owner: str, podman: str, image: str, open_tmp: Path
) -> None:
    """An arbitrary uid, HOME pointing nowhere, and a read-only root filesystem with no tmpfs:
    nothing the image needs writes outside the workspace (no pip or bytecode cache, no git
    config), and git reads a checkout owned by another uid through the system-wide
    safe.directory, with no `-c` of its own."""
    ws = open_tmp / "shop"
    sha = git_checkout(ws, OTHER_UID if owner == "user" else None)
    base = [
        podman,
        "run",
        "--rm",
        "--network=host",
        "--read-only",
        "--read-only-tmpfs=false",
        "-u",
        f"{OTHER_UID}:{OTHER_UID}",
        "-e",
        "HOME=/nonexistent",
        "-v",
        f"{ws}:{ws}",
        "-w",
        str(ws),
    ]
    env = tool_env()
    git = run([*base, "--entrypoint", "git", image, "rev-parse", "HEAD"], env=env, timeout=60)
    assert git.stdout.strip() == sha, git.stderr
    with JuxServer(api_key=API_KEY) as server:
        env.update(JUX_API_URL=server.url, JUX_API_KEY=API_KEY)
        done = run(
            [*base, "-e", "JUX_API_URL", "-e", "JUX_API_KEY", image, "test-results/*.xml"],
            env=env,
            timeout=120,
        )
        assert_labelled(server, sha)
    log = done.stdout + done.stderr
    assert "nonexistent" not in log and "Read-only file system" not in log, log
    if owner == "user":
        assert "WARNING" not in log, log
        assert {p: uid for p, uid in owners(ws).items() if uid != OTHER_UID} == {}
