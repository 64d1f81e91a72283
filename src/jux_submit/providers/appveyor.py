"""AppVeyor, hosted or self-hosted (``APPVEYOR_URL``).

Variables: https://www.appveyor.com/docs/environment-variables/
"""

from __future__ import annotations

from jux_submit.models import CIContext
from jux_submit.providers.base import Env, Provider, head_and_merge, join_url, workspace_from


def is_appveyor(env: Env) -> bool:
    # AppVeyor sets APPVEYOR=True and CI=True (capitalised).
    return env.is_true("APPVEYOR") and env.has("APPVEYOR_BUILD_ID")


def read_appveyor(env: Env) -> CIContext:
    """The build and job described by AppVeyor's variables.

    Pull request builds test the merge GitHub made: ``APPVEYOR_REPO_COMMIT`` is that merge and
    ``APPVEYOR_REPO_BRANCH`` the *target*; the head is ``APPVEYOR_PULL_REQUEST_HEAD_COMMIT``.
    """
    branch = tag = source = target = merge_commit = None
    commit = env.sha("APPVEYOR_REPO_COMMIT")
    pull_request = env.number("APPVEYOR_PULL_REQUEST_NUMBER")
    if pull_request:
        source = env.branch("APPVEYOR_PULL_REQUEST_HEAD_REPO_BRANCH")
        target = env.branch("APPVEYOR_REPO_BRANCH")
        branch = source
        head = env.sha("APPVEYOR_PULL_REQUEST_HEAD_COMMIT")
        commit, merge_commit = head_and_merge(commit, head)
    elif env.is_true("APPVEYOR_REPO_TAG"):
        # On tag builds APPVEYOR_REPO_BRANCH holds the tag name, not a branch.
        tag = env.get("APPVEYOR_REPO_TAG_NAME")
    else:
        branch = env.branch("APPVEYOR_REPO_BRANCH")

    server = env.url("APPVEYOR_URL")
    account, slug = env.get("APPVEYOR_ACCOUNT_NAME"), env.get("APPVEYOR_PROJECT_SLUG")
    project_url = join_url(server, "project", account, slug)
    build_id, job_id = env.number("APPVEYOR_BUILD_ID"), env.get("APPVEYOR_JOB_ID")
    if pull_request:
        event = "pull_request"
    elif env.is_true("APPVEYOR_SCHEDULED_BUILD"):
        event = "schedule"
    elif env.is_true("APPVEYOR_RE_BUILD"):
        event = "rebuild"
    elif env.is_true("APPVEYOR_FORCED_BUILD"):
        event = "manual"
    else:
        event = "push"
    return CIContext(
        is_ci=True,
        provider="appveyor",
        branch=branch,
        tag=tag,
        commit=commit,
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=build_id,
        build_number=env.number("APPVEYOR_BUILD_NUMBER"),
        build_url=join_url(project_url, "builds", build_id),
        job_name=env.get("APPVEYOR_JOB_NAME"),
        job_url=join_url(project_url, "build/job", job_id),
        repository=env.get("APPVEYOR_REPO_NAME"),
        workspace=env.path("APPVEYOR_BUILD_FOLDER"),
        job_id=job_id,
        event=event,
        merge_commit=merge_commit,
        server_url=server,
    )


APPVEYOR = Provider("appveyor", is_appveyor, read_appveyor, workspace_from("APPVEYOR_BUILD_FOLDER"))
