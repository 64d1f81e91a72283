"""The traps of CI variables, one test each: truthy words, empty strings, look-alikes,
machine-wide Jenkins variables, refs that are not branches, credentials in URLs, broken files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jux_submit.detect import (
    apply_overrides,
    default_project,
    detect_context,
    detect_workspace,
    strip_credentials,
)
from jux_submit.models import CIContext
from jux_submit.providers.base import Env, plain_branch
from jux_submit.providers.teamcity import parse_properties

SHA = "1a954628a960aaef81d7b2d4521929579f3541e6"
OTHER_SHA = "d0941e68da8f38151ff86a61fc59f7c5cf9fcaa2"
BASE = {"PATH": "/usr/bin:/bin", "HOME": "/home/ci", "LANG": "C.UTF-8"}


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    path = tmp_path / "not-a-repo"
    path.mkdir()
    return path


def github_env(**extra: str) -> dict[str, str]:
    return {
        **BASE,
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "1",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": SHA,
        **extra,
    }


def gitlab_env(**extra: str) -> dict[str, str]:
    return {
        **BASE,
        "CI": "true",
        "GITLAB_CI": "true",
        "CI_SERVER_URL": "https://gitlab.example.com",
        "CI_PROJECT_PATH": "g/p",
        "CI_PROJECT_URL": "https://gitlab.example.com/g/p",
        "CI_PIPELINE_ID": "10",
        "CI_JOB_ID": "20",
        "CI_COMMIT_SHA": SHA,
        "CI_COMMIT_REF_NAME": "main",
        "CI_COMMIT_BRANCH": "main",
        **extra,
    }


def jenkins_env(**extra: str) -> dict[str, str]:
    return {
        **BASE,
        "JENKINS_URL": "https://jenkins.example.com/",
        "BUILD_URL": "https://jenkins.example.com/job/app/7/",
        "BUILD_NUMBER": "7",
        "JOB_NAME": "app",
        "GIT_COMMIT": SHA,
        "GIT_BRANCH": "origin/main",
        **extra,
    }


# --- CI and its truthy words ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "1", "yes", "codebuild", "drone"])
def test_ci_truthy_words_mean_ci(value: str, cwd: Path) -> None:
    context = detect_context({**BASE, "CI": value}, cwd)
    assert (context.is_ci, context.provider) == (True, "unknown")


@pytest.mark.parametrize("value", ["", "  ", "false", "False", "0", "no"])
def test_ci_falsy_words_mean_no_ci(value: str, cwd: Path) -> None:
    context = detect_context({**BASE, "CI": value}, cwd)
    assert (context.is_ci, context.provider) == (False, None)


def test_provider_without_ci_variable_is_still_ci(cwd: Path) -> None:
    env = jenkins_env()
    assert "CI" not in env
    assert detect_context(env, cwd).is_ci is True


# --- empty strings, "false", "HEAD" ---------------------------------------------------------


def test_empty_head_ref_on_push_is_no_pull_request(cwd: Path) -> None:
    context = detect_context(github_env(GITHUB_HEAD_REF="", GITHUB_BASE_REF=""), cwd)
    assert (context.branch, context.pull_request, context.pr_target_branch) == ("main", None, None)


def test_empty_tag_variable_is_no_tag(cwd: Path) -> None:
    context = detect_context(gitlab_env(CI_COMMIT_TAG=""), cwd)
    assert (context.branch, context.tag) == ("main", None)


def test_values_are_stripped(cwd: Path) -> None:
    context = detect_context(
        gitlab_env(CI_COMMIT_BRANCH="  main\n", CI_COMMIT_SHA=f" {SHA}\n"), cwd
    )
    assert (context.branch, context.commit) == ("main", SHA)


@pytest.mark.parametrize("value", ["false", "", "null", "PR", "42a"])
def test_number_rejects_words(value: str) -> None:
    assert Env({"N": value}).number("N") is None


@pytest.mark.parametrize("value", ["HEAD", "1a95462", "", "origin/main", SHA + "0", "z" * 40])
def test_sha_rejects_what_is_not_a_full_sha(value: str) -> None:
    assert Env({"S": value}).sha("S") is None


def test_sha_is_lower_cased() -> None:
    assert Env({"S": SHA.upper()}).sha("S") == SHA


# --- look-alikes and provider order ---------------------------------------------------------


def test_gitea_is_not_github(cwd: Path) -> None:
    assert detect_context(github_env(GITEA_ACTIONS="true"), cwd).provider == "gitea-actions"


def test_forgejo_is_reported_as_gitea_actions(cwd: Path) -> None:
    assert detect_context(github_env(FORGEJO_ACTIONS="true"), cwd).provider == "gitea-actions"


def test_harness_is_not_drone(cwd: Path) -> None:
    env = {
        **BASE,
        "CI": "true",
        "DRONE": "true",
        "DRONE_BUILD_NUMBER": "3",
        "HARNESS_BUILD_ID": "3",
    }
    assert detect_context(env, cwd).provider == "harness"


def test_woodpecker_ci_names_are_not_gitlab(cwd: Path) -> None:
    env = {
        **BASE,
        "CI": "woodpecker",
        "CI_COMMIT_SHA": SHA,
        "CI_JOB_ID": "4",
        "CI_COMMIT_BRANCH": "main",
        "CI_PIPELINE_NUMBER": "9",
    }
    context = detect_context(env, cwd)
    assert (context.provider, context.branch, context.build_number) == ("woodpecker", "main", "9")


def test_gitlab_needs_gitlab_ci(cwd: Path) -> None:
    env = gitlab_env()
    del env["GITLAB_CI"]
    assert detect_context(env, cwd).provider == "unknown"


# --- Jenkins-ish variables elsewhere ---------------------------------------------------------


@pytest.mark.parametrize(
    "noise",
    [
        {"BUILD_ID": "77", "BUILD_NUMBER": "77"},
        {"HUDSON_URL": "https://old.example.com/", "BUILD_NUMBER": "77", "JOB_NAME": "x"},
        {"JENKINS_URL": "https://j.example.com/", "BUILD_NUMBER": "77", "JOB_NAME": "x"},
        # a build URL that is not under the Jenkins root
        {
            "JENKINS_URL": "https://j.example.com/",
            "BUILD_URL": "https://other/build/1",
            "JOB_NAME": "x",
        },
    ],
)
def test_machine_wide_jenkins_variables_are_not_jenkins(noise: dict[str, str], cwd: Path) -> None:
    context = detect_context({**BASE, "CI": "true", **noise}, cwd)
    assert context.provider == "unknown"
    assert context.build_number is None


def test_fields_are_never_mixed_from_two_providers(cwd: Path) -> None:
    env = gitlab_env(
        **{k: v for k, v in jenkins_env(GIT_COMMIT=OTHER_SHA, GIT_BRANCH="origin/other").items()}
    )
    env["CI_COMMIT_SHA"] = SHA
    context = detect_context(env, cwd)
    assert context.provider == "gitlab-ci"
    assert (context.branch, context.commit, context.build_url) == (
        "main",
        SHA,
        "https://gitlab.example.com/g/p/-/pipelines/10",
    )
    assert context.server_url == "https://gitlab.example.com"


# --- branch names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("main", "main"),
        ("refs/heads/feature/x", "feature/x"),
        ("origin/feature/x", "feature/x"),
        ("refs/remotes/origin/release/1.x", "release/1.x"),
        ("remotes/origin/main", "main"),
        ("fix/ümläut", "fix/ümläut"),
        ("feature%2Fencoded", "feature%2Fencoded"),
        ("refs/pull/42/merge", None),
        ("refs/pull/42/head", None),
        ("pull/42", None),
        ("pull/42/merge", None),
        ("42/merge", None),
        ("refs/merge-requests/7/head", None),
        ("refs/tags/v1.0", None),
        ("detached", None),
        ("HEAD", None),
        ("<default>", None),
        ("", None),
        (None, None),
    ],
)
def test_plain_branch(value: str | None, expected: str | None) -> None:
    assert plain_branch(value) == expected


def test_jenkins_pr_branch_is_never_pr_number(cwd: Path) -> None:
    env = jenkins_env(
        BRANCH_NAME="PR-5",
        GIT_BRANCH="PR-5",
        CHANGE_ID="5",
        CHANGE_BRANCH="feat/y",
        CHANGE_TARGET="main",
    )
    context = detect_context(env, cwd)
    assert (context.branch, context.pull_request, context.pr_target_branch) == (
        "feat/y",
        "5",
        "main",
    )


def test_jenkins_freestyle_tag_ref_is_a_tag(cwd: Path) -> None:
    context = detect_context(jenkins_env(GIT_BRANCH="origin/tags/v9.1"), cwd)
    assert (context.branch, context.tag) == (None, "v9.1")


def test_azure_branch_is_never_the_last_segment_only(cwd: Path) -> None:
    env = {
        **BASE,
        "TF_BUILD": "True",
        "BUILD_BUILDID": "1",
        "BUILD_SOURCEBRANCH": "refs/heads/users/jane/fix",
        "BUILD_SOURCEBRANCHNAME": "fix",
    }
    assert detect_context(env, cwd).branch == "users/jane/fix"


# --- pull request trigger plugins on Jenkins ------------------------------------------------


def test_ghprb_null_texts_are_unset(cwd: Path) -> None:
    # ghprb writes String.valueOf(null): the text "null" names no branch and no login.
    env = jenkins_env(
        ghprbPullId="9",
        ghprbSourceBranch="null",
        ghprbTargetBranch="null",
        ghprbPullAuthorLogin="null",
        ghprbActualCommit=SHA,
    )
    context = detect_context(env, cwd)
    assert (context.pull_request, context.branch, context.pr_target_branch, context.actor) == (
        "9",
        None,
        None,
        None,
    )


def test_ghprb_unmergeable_pull_request_builds_its_head(cwd: Path) -> None:
    # Without a merge ref, sha1 is the head SHA and the Git plugin builds it: no merge commit.
    env = jenkins_env(
        ghprbPullId="5", ghprbSourceBranch="fix/x", sha1=SHA, GIT_COMMIT=SHA, GIT_BRANCH="detached"
    )
    context = detect_context(env, cwd)
    assert (context.pull_request, context.branch, context.commit, context.merge_commit) == (
        "5",
        "fix/x",
        SHA,
        None,
    )


def test_gitlab_plugin_pipeline_job_takes_the_plugins_merge_sha(cwd: Path) -> None:
    # A Pipeline job has no GIT_* variables: the merge SHA GitLab made is all that names one.
    env = jenkins_env(
        gitlabMergeRequestIid="7",
        gitlabMergeRequestId="48213",
        gitlabSourceBranch="feat/y",
        gitlabTargetBranch="main",
        gitlabMergeRequestLastCommit=SHA,
        gitlabMergeCommitSha=OTHER_SHA,
        gitlabMergeRequestState="merged",
        gitlabActionType="MERGE",
    )
    del env["GIT_COMMIT"], env["GIT_BRANCH"]
    context = detect_context(env, cwd)
    assert (context.pull_request, context.commit, context.merge_commit, context.event) == (
        "7",
        SHA,
        OTHER_SHA,
        "MERGE",
    )


def test_abbreviated_head_that_is_not_what_was_built_means_a_merge(cwd: Path) -> None:
    # Bitbucket Cloud names the head by 12 digits; "merge before build" built something else.
    env = jenkins_env(
        BITBUCKET_PULL_REQUEST_ID="31",
        BITBUCKET_SOURCE_BRANCH="bugfix/rounding",
        BITBUCKET_TARGET_BRANCH="develop",
        BITBUCKET_PULL_REQUEST_LATEST_COMMIT_FROM_SOURCE_BRANCH=OTHER_SHA[:12],
    )
    context = detect_context(env, cwd)
    # Not a git repository here: the head (the merge's second parent) stays unknown.
    assert (context.pull_request, context.commit, context.merge_commit) == ("31", None, SHA)


# --- Azure repository names ------------------------------------------------------------------


def azure_env(**extra: str) -> dict[str, str]:
    return {
        **BASE,
        "TF_BUILD": "True",
        "BUILD_BUILDID": "1",
        "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/",
        "SYSTEM_TEAMPROJECT": "Widgets Platform",
        "BUILD_REPOSITORY_PROVIDER": "TfsGit",
        "BUILD_SOURCEBRANCH": "refs/heads/main",
        **extra,
    }


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # The default repository: Azure leaves the project out of its URL.
        (
            {"BUILD_REPOSITORY_URI": "https://acme@dev.azure.com/acme/_git/Widgets%20Platform"},
            ("Widgets Platform/Widgets Platform", "Widgets Platform"),
        ),
        # A repository of another project than the pipeline's: the URL names its project.
        (
            {
                "SYSTEM_TEAMPROJECT": "Tools",
                "BUILD_REPOSITORY_NAME": "widgets",
                "BUILD_REPOSITORY_URI": "https://dev.azure.com/acme/Widgets%20Platform/_git/widgets",
            },
            ("Widgets Platform/widgets", "widgets"),
        ),
        # Azure DevOps Server: the collection path comes before the project.
        (
            {
                "SYSTEM_COLLECTIONURI": "https://tfs.corp.example/tfs/DefaultCollection/",
                "SYSTEM_TEAMPROJECT": "Shop",
                "BUILD_REPOSITORY_URI": "https://tfs.corp.example/tfs/DefaultCollection/Shop/_git/shop-web",
            },
            ("Shop/shop-web", "shop-web"),
        ),
        # No URL: the pipeline's project and the repository name.
        ({"BUILD_REPOSITORY_NAME": "widgets"}, ("Widgets Platform/widgets", "widgets")),
    ],
)
def test_azure_repos_repository_is_project_and_name_decoded(
    extra: dict[str, str], expected: tuple[str, str], cwd: Path
) -> None:
    context = detect_context(azure_env(**extra), cwd)
    assert (context.repository, default_project(context, cwd)) == expected


# --- GitHub merge queue ----------------------------------------------------------------------


def test_merge_queue_ref_of_a_sha256_repository(cwd: Path) -> None:
    queue = "gh-readonly-queue/main/pr-77-" + "ab" * 32
    env = github_env(GITHUB_EVENT_NAME="merge_group", GITHUB_REF=f"refs/heads/{queue}")
    context = detect_context(env, cwd)
    assert (context.branch, context.pull_request, context.pr_target_branch) == (
        queue,
        "77",
        "main",
    )


# --- credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://gitlab-ci-token:glcbt-SECRET@gitlab.com/g/p.git", "https://gitlab.com/g/p"),
        ("https://user:tok%40en@host.example:8443/x/y.git", "https://host.example:8443/x/y"),
        ("https://oauth2@github.com/o/r", "https://github.com/o/r"),
        ("git@github.com:o/r.git", "https://github.com/o/r"),
        ("ssh://git@git.example.com:2222/o/r.git", "https://git.example.com/o/r"),
        ("http://host:8080/jenkins/", "http://host:8080/jenkins"),
        ("https://h/p?private_token=SECRET#frag", "https://h/p"),
        ("not a url", None),
        ("", None),
        (None, None),
        ("file:///srv/repo.git", None),
    ],
)
def test_strip_credentials(url: str | None, expected: str | None) -> None:
    assert strip_credentials(url) == expected


def test_gitlab_token_in_repository_url_never_reaches_the_context(cwd: Path) -> None:
    token = "glcbt-64_VerySecretTokenValue"
    env = gitlab_env(
        CI_REPOSITORY_URL=f"https://gitlab-ci-token:{token}@gitlab.example.com/g/p.git"
    )
    del env["CI_PROJECT_URL"]
    context = detect_context(env, cwd)
    assert context.repository_url == "https://gitlab.example.com/g/p"
    assert token not in json.dumps(context.to_dict())


# --- files the CI points to ------------------------------------------------------------------


@pytest.mark.parametrize("content", [None, "", "[1, 2]", "{not json", "\udcff"])
def test_broken_event_file_falls_back_to_variables(
    content: str | None, tmp_path: Path, cwd: Path
) -> None:
    event = tmp_path / "event.json"
    if content is None:
        event.mkdir()  # a directory where the file should be: unreadable
    else:
        event.write_bytes(content.encode("utf-8", "surrogateescape"))
    env = github_env(
        GITHUB_EVENT_NAME="pull_request",
        GITHUB_EVENT_PATH=str(event),
        GITHUB_REF="refs/pull/9/merge",
        GITHUB_HEAD_REF="feat/z",
        GITHUB_BASE_REF="main",
    )
    context = detect_context(env, cwd)
    assert (context.pull_request, context.branch, context.commit, context.merge_commit) == (
        "9",
        "feat/z",
        None,
        SHA,
    )


def test_teamcity_properties_format() -> None:
    text = (
        "# comment\n! other comment\n\n"
        "teamcity.serverUrl=https\\://tc.example.com\\:8111/tc\n"
        "path = C\\:\\\\BuildAgent\\\\work\n"
        "multi=first \\\n    second\n"
        "unicode=caf\\u00e9\n"
        "colon: value\n"
        "empty=\n"
    )
    assert parse_properties(text) == {
        "teamcity.serverUrl": "https://tc.example.com:8111/tc",
        "path": "C:\\BuildAgent\\work",
        "multi": "first second",
        "unicode": "café",
        "colon": "value",
        "empty": "",
    }


# --- workspace -------------------------------------------------------------------------------


def test_workspace_tilde_uses_the_given_home_not_the_process_home() -> None:
    env = {
        **BASE,
        "HOME": "/custom/home",
        "CIRCLECI": "true",
        "CIRCLE_BUILD_NUM": "1",
        "CIRCLE_WORKING_DIRECTORY": "~/project",
    }
    assert detect_workspace(env) == "/custom/home/project"


def test_workspace_tilde_without_home_is_unknown() -> None:
    env = {"CIRCLECI": "true", "CIRCLE_BUILD_NUM": "1", "CIRCLE_WORKING_DIRECTORY": "~/project"}
    assert detect_workspace(env) is None


def test_relative_workspace_is_unknown() -> None:
    assert detect_workspace(jenkins_env(WORKSPACE="workspace/app")) is None


def test_no_workspace_outside_ci() -> None:
    assert detect_workspace({**BASE, "WORKSPACE": "/srv/x"}) is None


# --- overrides and project -------------------------------------------------------------------


def test_overrides_win_field_by_field(cwd: Path) -> None:
    context = detect_context(gitlab_env(), cwd)
    result = apply_overrides(context, project="billing", branch="release/9", commit=None)
    assert (result.project, result.branch, result.commit) == ("billing", "release/9", SHA)
    assert result.build_url == context.build_url


def test_blank_overrides_are_ignored() -> None:
    context = CIContext(branch="main", commit=SHA)
    assert apply_overrides(context, project=" ", branch="", commit=None) == context


def test_default_project_order(tmp_path: Path) -> None:
    folder = tmp_path / "my-folder"
    folder.mkdir()
    assert default_project(CIContext(project="explicit", repository="g/p"), folder) == "explicit"
    assert default_project(CIContext(repository="group/sub/project-x"), folder) == "project-x"
    assert default_project(CIContext(), folder) == "my-folder"


# --- speed -----------------------------------------------------------------------------------


def test_importing_detection_pulls_in_no_heavy_module() -> None:
    code = (
        "import sys, jux_submit.detect\n"
        "heavy = {'requests', 'urllib3', 'lxml', 'junitparser', 'yaml', 'jxz', 'xml'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"


# --- CodeBuild source versions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"CODEBUILD_SOURCE_VERSION": "pr/12"}, (None, None, "12")),
        ({"CODEBUILD_SOURCE_VERSION": "main"}, ("main", None, None)),
        ({"CODEBUILD_SOURCE_VERSION": "refs/heads/dev/x"}, ("dev/x", None, None)),
        ({"CODEBUILD_SOURCE_VERSION": "refs/tags/v2"}, (None, "v2", None)),
        ({"CODEBUILD_SOURCE_VERSION": SHA}, (None, None, None)),
        (
            {"CODEBUILD_WEBHOOK_TRIGGER": "tag/v3", "CODEBUILD_SOURCE_VERSION": SHA},
            (None, "v3", None),
        ),
        (
            {"CODEBUILD_WEBHOOK_TRIGGER": "branch/main", "CODEBUILD_SOURCE_VERSION": "pr/4"},
            ("main", None, None),
        ),
    ],
)
def test_codebuild_source_versions(
    extra: dict[str, str], expected: tuple[str | None, ...], cwd: Path
) -> None:
    env = {**BASE, "CODEBUILD_BUILD_ID": "p:1", "CODEBUILD_BUILD_ARN": "arn:p:1", **extra}
    context = detect_context(env, cwd)
    assert (context.branch, context.tag, context.pull_request) == expected
