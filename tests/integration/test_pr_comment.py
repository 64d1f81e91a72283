"""One comment per pull request (GitHub) or merge request (GitLab), through the real CLI
against the contract server and loopback servers of the platforms' REST APIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.integration.test_compare import (
    BASE_SHA,
    PR_SHA,
    PROJECT,
    github_env,
    pr_reports,
    write_report,
)
from tests.integration.test_compare import gitlab_env as compare_gitlab_env
from tests.jux_server import JuxServer
from tests.platform_api.github import DEFAULT_TOKEN as GITHUB_TOKEN
from tests.platform_api.github import GithubApi
from tests.platform_api.gitlab import DEFAULT_TOKEN as GITLAB_TOKEN
from tests.platform_api.gitlab import GitlabApi

PR = 7
MARKER = "<!-- jux-submit:changes project="


@pytest.fixture
def github() -> object:
    with GithubApi(owner="acme", repo="shop", issues=(PR,)) as api:
        yield api
    assert api.violations == [], api.violations


@pytest.fixture
def gitlab() -> object:
    with GitlabApi(project_id=123, project_path="acme/shop", merge_requests=(3,)) as api:
        yield api
    assert api.violations == [], api.violations


def submit_base(server: JuxServer, tmp_path: Path) -> None:
    base = tmp_path / "base"
    write_report(
        base / "reports" / "cart.xml", {"test_a": "failed", "test_b": "error", "test_c": "passed"}
    )
    env = github_env(tmp_path, server, sha=BASE_SHA, run_id="1")
    assert run_cli(["reports/*.xml"], env, cwd=base).code == 0


def pr_env(
    tmp_path: Path, server: JuxServer, api: GithubApi, run_id: str, **extra: str
) -> dict[str, str]:
    env = github_env(tmp_path, server, sha=PR_SHA, pr=PR, run_id=run_id)
    env.update(GITHUB_API_URL=api.url, JUX_PR_COMMENT="always", GITHUB_TOKEN=GITHUB_TOKEN)
    env.update(extra)
    return env


def test_one_comment_per_pull_request_updated_on_a_rerun(
    jux_server: JuxServer, github: GithubApi, workdir: Path, tmp_path: Path
) -> None:
    submit_base(jux_server, tmp_path)
    github.seed_comment(PR, "LGTM, but what about the tests?")
    pr_reports(workdir)
    first = run_cli(["reports/*.xml"], pr_env(tmp_path, jux_server, github, "2"), cwd=workdir)
    assert first.code == 0, first.output
    ours = [c for c in github.comments(PR) if c["body"].startswith(MARKER)]
    assert len(ours) == 1, first.output
    body = ours[0]["body"]
    assert "### Changes since `main`" in body
    assert body.index("**New failures** (1)") < body.index("`Cart › shop.Cart › test_c`")
    assert body.index("**Fixed** (1)") < body.index("`Cart › shop.Cart › test_a`")
    assert GITHUB_TOKEN not in body
    assert "added a comment on pull request #7 of acme/shop" in first.output

    # a new attempt (after one more fix) updates the same comment
    write_report(
        workdir / "reports" / "cart.xml",
        {"test_a": "passed", "test_b": "passed", "test_c": "failed", "test_e": "passed"},
    )
    env = pr_env(tmp_path, jux_server, github, "2", GITHUB_RUN_ATTEMPT="2")
    second = run_cli(["reports/*.xml"], env, cwd=workdir)
    assert second.code == 0, second.output
    comments = github.comments(PR)
    ours_now = [c for c in comments if c["body"].startswith(MARKER)]
    assert len(comments) == 2 and [c["id"] for c in ours_now] == [ours[0]["id"]]
    assert "**Fixed** (2)" in ours_now[0]["body"]
    assert "updated the comment on pull request #7" in second.output
    patches = [r for r in github.requests if r.method == "PATCH"]
    assert len(patches) == 1


def test_a_read_only_token_is_one_warning_naming_the_permission(
    jux_server: JuxServer, github: GithubApi, workdir: Path, tmp_path: Path
) -> None:
    submit_base(jux_server, tmp_path)
    github.deny_writes = 403
    pr_reports(workdir)
    result = run_cli(
        ["--fail-on-error", "reports/*.xml"], pr_env(tmp_path, jux_server, github, "2"), cwd=workdir
    )
    assert result.code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "could not comment" in line]
    assert len(warnings) == 1
    assert "pull-requests: write" in warnings[0] and "HTTP 403" in warnings[0]
    assert github.comments(PR) == []


def test_changes_mode_comments_only_when_something_changed(
    jux_server: JuxServer, github: GithubApi, workdir: Path, tmp_path: Path
) -> None:
    submit_base(jux_server, tmp_path)
    write_report(
        workdir / "reports" / "cart.xml",
        {"test_a": "failed", "test_b": "error", "test_c": "passed"},
    )
    env = pr_env(tmp_path, jux_server, github, "2", JUX_PR_COMMENT="changes")
    result = run_cli(["reports/*.xml"], env, cwd=workdir)
    assert result.code == 0, result.output
    assert github.comments(PR) == []
    assert [r.method for r in github.requests] == ["GET"]  # looked for one to keep current
    pr_reports(workdir)
    result = run_cli(["reports/*.xml"], env | {"GITHUB_RUN_ID": "3"}, cwd=workdir)
    assert len(github.comments(PR)) == 1


def test_a_planted_marker_comment_that_cannot_be_edited_gets_a_new_comment(
    jux_server: JuxServer, github: GithubApi, workdir: Path, tmp_path: Path
) -> None:
    submit_base(jux_server, tmp_path)
    pr_reports(workdir)
    run_cli(["reports/*.xml"], pr_env(tmp_path, jux_server, github, "2"), cwd=workdir)
    marker = github.comments(PR)[0]["body"].splitlines()[0]
    planted = github.seed_comment(
        PR, marker + "\nclick [here](https://evil.example)", login="mallory"
    )
    run_cli(
        ["reports/*.xml"],
        pr_env(tmp_path, jux_server, github, "2", GITHUB_RUN_ATTEMPT="2"),
        cwd=workdir,
    )
    # the bot's own comment is preferred to the newer planted one; nothing was added
    assert github.comment(planted)["body"].endswith("(https://evil.example)")  # type: ignore[index]
    assert len(github.comments(PR)) == 2


def test_no_comment_without_a_token_or_outside_a_pull_request(
    jux_server: JuxServer, github: GithubApi, workdir: Path, tmp_path: Path
) -> None:
    pr_reports(workdir)
    env = pr_env(tmp_path, jux_server, github, "2")
    del env["GITHUB_TOKEN"]
    result = run_cli(["reports/*.xml"], env, cwd=workdir)
    assert "no pull-request comment: no GitHub token" in result.output
    push = github_env(tmp_path, jux_server, sha=PR_SHA, run_id="3")
    push.update(GITHUB_API_URL=github.url, JUX_PR_COMMENT="always", GITHUB_TOKEN=GITHUB_TOKEN)
    result = run_cli(["reports/*.xml", "--force"], push, cwd=workdir)
    assert "no pull-request comment: this build is not for a pull request" in result.output
    assert github.requests == []


def gitlab_env(workdir: Path, server: JuxServer, api: GitlabApi, **extra: str) -> dict[str, str]:
    return compare_gitlab_env(
        workdir,
        server,
        CI_API_V4_URL=api.api_url,
        CI_PROJECT_ID="123",
        JUX_PR_COMMENT="always",
        JUX_GITLAB_TOKEN=GITLAB_TOKEN,
        **extra,
    )


def test_one_note_per_merge_request_updated_on_a_retry(
    jux_server: JuxServer, gitlab: GitlabApi, workdir: Path, tmp_path: Path
) -> None:
    submit_base(jux_server, tmp_path)
    pr_reports(workdir)
    first = run_cli(["reports/*.xml"], gitlab_env(workdir, jux_server, gitlab), cwd=workdir)
    assert first.code == 0, first.output
    ours = [n for n in gitlab.notes(3, system=False) if n["body"].startswith(MARKER)]
    assert len(ours) == 1 and "`Cart › shop.Cart › test_c`" in ours[0]["body"]
    assert GITLAB_TOKEN not in first.output
    retry = gitlab_env(workdir, jux_server, gitlab, CI_JOB_ID="67")
    write_report(
        workdir / "reports" / "cart.xml",
        {"test_a": "passed", "test_b": "passed", "test_c": "failed"},
    )
    second = run_cli(["reports/*.xml"], retry, cwd=workdir)
    assert second.code == 0, second.output
    now = [n for n in gitlab.notes(3, system=False) if n["body"].startswith(MARKER)]
    assert [n["id"] for n in now] == [ours[0]["id"]] and "**Fixed** (2)" in now[0]["body"]
    assert [r.method for r in gitlab.requests].count("PUT") == 1
    dotenv = (workdir / "jux-submit.env").read_text(encoding="utf-8")
    assert "JUX_FIXED=2" in dotenv


def test_a_gitlab_token_without_the_api_scope_is_one_warning(
    jux_server: JuxServer, gitlab: GitlabApi, workdir: Path, tmp_path: Path
) -> None:
    submit_base(jux_server, tmp_path)
    gitlab.deny_writes = 403
    pr_reports(workdir)
    result = run_cli(["reports/*.xml"], gitlab_env(workdir, jux_server, gitlab), cwd=workdir)
    assert result.code == 0
    warnings = [line for line in result.output.splitlines() if "could not comment" in line]
    assert len(warnings) == 1 and "'api' scope" in warnings[0]
    assert json.dumps(gitlab.notes(3, system=False)) == "[]"


def test_a_marker_pasted_by_someone_else_is_never_edited(
    jux_server: JuxServer, github: GithubApi, workdir: Path, tmp_path: Path
) -> None:
    from jux_submit.review import marker_for

    submit_base(jux_server, tmp_path)
    pasted = marker_for(PROJECT) + "\nI (a contributor) pasted this"
    theirs = github.seed_comment(PR, pasted, login="mallory", author_association="CONTRIBUTOR")
    pr_reports(workdir)
    result = run_cli(["reports/*.xml"], pr_env(tmp_path, jux_server, github, "2"), cwd=workdir)
    assert "added a comment on pull request #7" in result.output
    assert github.comment(theirs)["body"] == pasted  # type: ignore[index]
    assert [r.method for r in github.requests].count("PATCH") == 0
    assert len(github.comments(PR)) == 2


@pytest.mark.parametrize("token", ["ghs_abc€defghijkl", "gh_tok12\nsecret99", "two words"])
def test_a_token_that_cannot_be_a_header_is_one_warning_never_shown(
    jux_server: JuxServer, github: GithubApi, workdir: Path, tmp_path: Path, token: str
) -> None:
    submit_base(jux_server, tmp_path)
    pr_reports(workdir)
    env = pr_env(tmp_path, jux_server, github, "2", GITHUB_TOKEN=token)
    result = run_cli(["--json", "out.json", "reports/*.xml"], env, cwd=workdir)
    assert result.code == 0, result.output
    assert (
        json.loads((workdir / "out.json").read_text(encoding="utf-8"))["totals"]["submitted"] == 1
    )
    warnings = [
        line for line in result.output.splitlines() if "no comment: the GitHub token" in line
    ]
    assert len(warnings) == 1
    for part in token.split():
        assert part not in result.output
    assert github.requests == []


def test_changes_mode_keeps_an_existing_comment_current_without_a_comparison(
    jux_server: JuxServer, github: GithubApi, workdir: Path, tmp_path: Path
) -> None:
    submit_base(jux_server, tmp_path)
    pr_reports(workdir)
    env = pr_env(tmp_path, jux_server, github, "2", JUX_PR_COMMENT="changes")
    assert run_cli(["reports/*.xml"], env, cwd=workdir).code == 0
    (ours,) = github.comments(PR)
    assert "**New failures** (1)" in ours["body"]
    jux_server.query_api = False  # the next run cannot compare: the comment must not stay stale
    result = run_cli(["reports/*.xml"], env | {"GITHUB_RUN_ATTEMPT": "2"}, cwd=workdir)
    assert "updated the comment" in result.output
    (now,) = github.comments(PR)
    assert now["id"] == ours["id"] and "New failures" not in now["body"]
    assert "no comparison\\: the server has no query API" in now["body"]  # Markdown-escaped
