"""``jux-submit detect`` end to end: a separate ``python -m jux_submit`` process per planted
environment, its JSON checked against the snapshots, and its whole output scanned for
credentials planted in every URL variable."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_subprocess
from tests.unit.test_detect import SNAPSHOTS, load_snapshot

SHA = "1a954628a960aaef81d7b2d4521929579f3541e6"
# Every variable a provider reads a URL from, clone URLs first.
URL_VARIABLES = (
    "CI_REPOSITORY_URL",
    "GIT_URL",
    "GIT_URL_1",
    "BUILDKITE_REPO",
    "CIRCLE_REPOSITORY_URL",
    "BUILD_REPOSITORY_URI",
    "SYSTEM_PULLREQUEST_SOURCEREPOSITORYURI",
    "BITBUCKET_GIT_HTTP_ORIGIN",
    "DRONE_GIT_HTTP_URL",
    "DRONE_REMOTE_URL",
    "DRONE_REPO_LINK",
    "CI_REPO_CLONE_URL",
    "CI_REPO_URL",
    "CI_REPO_REMOTE",
    "CODEBUILD_SOURCE_REPO_URL",
    "bamboo_planRepository_repositoryUrl",
    "SEMAPHORE_GIT_URL",
    "_HEAD_REPO_URL",
    "GITHUB_SERVER_URL",
    "CI_SERVER_URL",
    "CI_PROJECT_URL",
    "CI_PIPELINE_URL",
    "CI_JOB_URL",
    "JENKINS_URL",
    "HUDSON_URL",
    "BUILD_URL",
    "JOB_URL",
    "CHANGE_URL",
    "BUILDKITE_BUILD_URL",
    "CIRCLE_BUILD_URL",
    "CIRCLE_PULL_REQUEST",
    "TRAVIS_BUILD_WEB_URL",
    "TRAVIS_JOB_WEB_URL",
    "APPVEYOR_URL",
    "SEMAPHORE_ORGANIZATION_URL",
    "CI_SYSTEM_URL",
    "CI_STEP_URL",
    "DRONE_BUILD_LINK",
    "CI_BUILD_LINK",
    "bamboo_resultsUrl",
    "bamboo_buildResultsUrl",
    "SYSTEM_COLLECTIONURI",
    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
    "CODEBUILD_PUBLIC_BUILD_URL",
)


def detect_env(env: dict[str, str], workdir: Path) -> dict[str, str]:
    """The planted environment plus what the process needs to start here."""
    return {**env, "JUX_WORKING_DIRECTORY": str(workdir), "PYTHONIOENCODING": "utf-8"}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "checkout"
    path.mkdir()
    return path


@pytest.mark.parametrize("path", SNAPSHOTS, ids=[p.stem for p in SNAPSHOTS])
def test_detect_json_gives_the_documented_answer(path: Path, tmp_path: Path, workdir: Path) -> None:
    data = load_snapshot(path, tmp_path)
    result = run_subprocess(["detect", "--json"], detect_env(data["env"], workdir), cwd=workdir)
    assert result.code == 0, result.stderr
    got = json.loads(result.stdout)
    expected = data["expected"]
    assert {k: got[k] for k in expected} == expected
    repository = expected["repository"]
    assert got["project"] == (repository.rsplit("/", 1)[-1] if repository else "checkout")


def test_overrides_from_environment_and_flags(tmp_path: Path, workdir: Path) -> None:
    data = load_snapshot(SNAPSHOTS[[p.stem for p in SNAPSHOTS].index("gitlab-ci-push")], tmp_path)
    env = detect_env(data["env"], workdir)
    env.update(JUX_PROJECT="billing", JUX_BRANCH="from-env", JUX_COMMIT_SHA=SHA.replace("1", "2"))
    result = run_subprocess(["detect", "--json", "--branch", "from-flag"], env, cwd=workdir)
    assert result.code == 0, result.stderr
    got = json.loads(result.stdout)
    assert (got["project"], got["branch"], got["commit"]) == (
        "billing",
        "from-flag",
        SHA.replace("1", "2"),
    )
    assert got["build_url"] == data["expected"]["build_url"]  # the rest stays detected


def _plant_tokens(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """``env`` with user:token@ in every URL variable (present or not), and the tokens."""
    planted = dict(env)
    tokens: list[str] = []
    for index, name in enumerate(URL_VARIABLES):
        token = f"tok{index:02d}SECRETx{abs(hash(name)) % 10**8:08d}"
        tokens.append(token)
        value = env.get(name) or "https://ci.example.com/acme/app.git"
        if value.startswith("git@"):
            value = value.replace("git@", f"user{index}:{token}@", 1)
        else:
            value = re.sub(r"^(\w+://)(?:[^/@]*@)?", rf"\1user{index}:{token}@", value)
        planted[name] = value
    return planted, tokens


@pytest.mark.parametrize("path", SNAPSHOTS, ids=[p.stem for p in SNAPSHOTS])
def test_no_output_contains_a_planted_credential(path: Path, tmp_path: Path, workdir: Path) -> None:
    data = load_snapshot(path, tmp_path)
    env, tokens = _plant_tokens(data["env"])
    # The git fallback sees a token in the remote too.
    subprocess.run(
        ["git", "init", "-q", str(workdir)],
        check=True,
        timeout=30,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    subprocess.run(
        [
            "git",
            "-C",
            str(workdir),
            "remote",
            "add",
            "origin",
            "https://gitbot:tokGITREMOTEsecret@git.example.com/acme/app.git",
        ],
        check=True,
        timeout=30,
    )
    tokens.append("tokGITREMOTEsecret")
    outputs = []
    for argv in (["detect", "--json"], ["detect"], ["detect", "--verbose"]):
        result = run_subprocess(argv, detect_env(env, workdir), cwd=workdir)
        assert result.code == 0, result.stderr
        outputs.append(result.output)
    text = "\n".join(outputs)
    assert text.strip()
    assert [t for t in tokens if t in text] == []
    assert not re.search(r"://[^/\s\"@]+:[^/\s\"@]+@", text), "no user:password@ in any URL"
