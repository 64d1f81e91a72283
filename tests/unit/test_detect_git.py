"""The git fallback of CI detection, against real temporary repositories."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from jux_submit.detect import detect_context, detect_git, run_git
from jux_submit.models import CIContext

TOKEN = "ghp_GitRemoteToken0123456789"
REAL_GIT = shutil.which("git")
pytestmark = pytest.mark.skipif(REAL_GIT is None, reason="git is not installed")


def git(cwd: Path, *args: str, committer: tuple[str, str] = ("Dev", "dev@example.com")) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": committer[0],
        "GIT_COMMITTER_EMAIL": committer[1],
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


def commit(repo: Path, name: str) -> str:
    (repo / name).write_text(name, encoding="utf-8")
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"add {name}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "app"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "remote", "add", "origin", f"https://ci-bot:{TOKEN}@git.example.com/acme/app.git")
    commit(path, "a.txt")
    return path


def test_git_reads_branch_commit_and_remote_without_credentials(repo: Path) -> None:
    context = detect_git(repo)
    assert context.branch == "main"
    assert context.commit == git(repo, "rev-parse", "HEAD")
    assert (context.repository, context.repository_url) == (
        "acme/app",
        "https://git.example.com/acme/app",
    )
    assert TOKEN not in repr(context)


def test_git_branch_with_slashes(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature/ümläut")
    assert detect_git(repo).branch == "feature/ümläut"


def test_detached_head_has_no_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    context = detect_git(repo)
    assert context.branch is None
    assert context.commit is not None


def test_subfolder_of_a_repository(repo: Path) -> None:
    sub = repo / "src" / "pkg"
    sub.mkdir(parents=True)
    assert detect_git(sub).branch == "main"


def test_not_a_repository_is_empty(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    assert detect_git(folder) == CIContext()


def test_repository_without_commits_is_tolerated(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    context = detect_git(tmp_path)
    assert (context.commit, context.branch) == (None, None)


def test_missing_folder_is_tolerated(tmp_path: Path) -> None:
    assert run_git(["rev-parse", "HEAD"], tmp_path / "absent") is None
    assert detect_git(tmp_path / "absent").commit is None


def test_missing_git_binary_is_tolerated(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    assert run_git(["rev-parse", "HEAD"], repo) is None
    context = detect_context({"CI": "true", "PATH": str(empty_bin)}, repo)
    assert (context.provider, context.commit, context.branch) == ("unknown", None, None)


def test_every_git_call_trusts_the_directory(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small stand-in for git that records its arguments and runs the real one: the
    # workspace of a container is often owned by another user, so safe.directory must be set.
    stub_bin = tmp_path / "stub-bin"
    stub_bin.mkdir()
    log = tmp_path / "git-args.log"
    stub = stub_bin / "git"
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{REAL_GIT}" "$@"\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{stub_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    context = detect_context({"CI": "true"}, repo)
    assert context.commit is not None
    calls = log.read_text().splitlines()
    assert calls, "git was called"
    assert all(call.startswith("-c safe.directory=* ") for call in calls)


# --- the fallback inside detect_context ------------------------------------------------------


def test_unknown_ci_gets_everything_from_git(repo: Path) -> None:
    context = detect_context({"CI": "1", "HOME": "/home/ci"}, repo)
    assert context.provider == "unknown"
    assert (context.branch, context.repository) == ("main", "acme/app")
    assert context.commit == git(repo, "rev-parse", "HEAD")


def test_git_fills_only_what_the_ci_leaves_empty(repo: Path) -> None:
    ci_sha = "d0941e68da8f38151ff86a61fc59f7c5cf9fcaa2"
    env = {
        "CI": "true",
        "TRAVIS": "true",
        "TRAVIS_JOB_ID": "1",
        "TRAVIS_BRANCH": "release",
        "TRAVIS_COMMIT": ci_sha,
        "TRAVIS_PULL_REQUEST": "false",
        "TRAVIS_REPO_SLUG": "acme/x",
    }
    context = detect_context(env, repo)
    assert (context.branch, context.commit, context.repository) == ("release", ci_sha, "acme/x")
    assert context.repository_url == "https://git.example.com/acme/app"  # Travis exports none


def test_commit_HEAD_is_replaced_by_git(repo: Path) -> None:
    env = {
        "BUILDKITE": "true",
        "BUILDKITE_BUILD_ID": "b",
        "BUILDKITE_COMMIT": "HEAD",
        "BUILDKITE_BRANCH": "main",
    }
    assert detect_context(env, repo).commit == git(repo, "rev-parse", "HEAD")


def test_git_branch_is_not_used_on_tag_builds(repo: Path) -> None:
    env = {"GITLAB_CI": "true", "CI_JOB_ID": "1", "CI_COMMIT_TAG": "v1.0"}
    context = detect_context(env, repo)
    assert (context.branch, context.tag) == (None, "v1.0")


def test_git_branch_is_not_used_for_pull_requests(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "PR-3")
    env = {
        "JENKINS_URL": "https://j/",
        "BUILD_URL": "https://j/job/x/1/",
        "JOB_NAME": "x",
        "CHANGE_ID": "3",
    }
    context = detect_context(env, repo)
    assert (context.branch, context.pull_request) == (None, "3")


def _merge_checkout(repo: Path) -> tuple[str, str, str]:
    """base ← main, head ← feature, HEAD = merge of feature into base (like refs/pull/N/merge)."""
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    head = commit(repo, "b.txt")
    git(repo, "checkout", "-q", "main")
    commit(repo, "c.txt")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    git(repo, "checkout", "-q", "--detach")
    return base, head, git(repo, "rev-parse", "HEAD")


def github_pr_env(merge_sha: str) -> dict[str, str]:
    return {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": "5",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_REF": "refs/pull/3/merge",
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_BASE_REF": "main",
        "GITHUB_SHA": merge_sha,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/app",
    }


def test_merge_commit_without_event_file_resolves_the_head_from_git(repo: Path) -> None:
    _, head, merge = _merge_checkout(repo)
    context = detect_context(github_pr_env(merge), repo)
    assert (context.commit, context.merge_commit) == (head, merge)


def test_merge_commit_is_never_reported_as_the_head(repo: Path) -> None:
    # The merge commit is not in this clone (shallow fetch of something else): head unknown.
    absent = "94efdd6f628eda9c1ae893467c9652808443ef3e"
    context = detect_context(github_pr_env(absent), repo)
    assert (context.commit, context.merge_commit) == (None, absent)


def jenkins_pr_env(**extra: str) -> dict[str, str]:
    return {
        "JENKINS_URL": "https://jenkins.example.com/",
        "JOB_NAME": "acme/app/PR-3",
        "BUILD_URL": "https://jenkins.example.com/job/acme/job/app/job/PR-3/1/",
        "BUILD_NUMBER": "1",
        "BRANCH_NAME": "PR-3",
        "CHANGE_ID": "3",
        "CHANGE_BRANCH": "feature",
        "CHANGE_TARGET": "main",
        **extra,
    }


def _jenkins_merge_checkout(repo: Path) -> tuple[str, str]:
    """Like the branch source plugins: check out the PR head, merge the target into it as
    ``Jenkins <nobody@nowhere>``."""
    git(repo, "checkout", "-q", "-b", "feature")
    head = commit(repo, "b.txt")
    git(repo, "checkout", "-q", "main")
    target = commit(repo, "c.txt")
    git(repo, "checkout", "-q", "--detach", head)
    git(
        repo,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        f"Merge commit '{target}' into HEAD",
        target,
        committer=("Jenkins", "nobody@nowhere"),
    )
    return head, git(repo, "rev-parse", "HEAD")


@pytest.mark.parametrize("exports_git_commit", [True, False])
def test_jenkins_pr_merge_build_reports_the_pr_head(repo: Path, exports_git_commit: bool) -> None:
    head, merge = _jenkins_merge_checkout(repo)
    env = jenkins_pr_env(GIT_COMMIT=merge) if exports_git_commit else jenkins_pr_env()
    context = detect_context(env, repo)
    assert (context.commit, context.merge_commit, context.branch) == (head, merge, "feature")


def test_jenkins_pr_whose_head_is_a_human_merge_is_left_alone(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "b.txt")
    git(repo, "checkout", "-q", "main")
    commit(repo, "c.txt")
    git(repo, "checkout", "-q", "feature")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge main into feature", "main")
    head = git(repo, "rev-parse", "HEAD")
    context = detect_context(jenkins_pr_env(GIT_COMMIT=head), repo)
    assert (context.commit, context.merge_commit) == (head, None)
    assert base != head
