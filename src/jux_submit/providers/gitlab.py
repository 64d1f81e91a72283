"""GitLab CI/CD, on gitlab.com or self-managed (any host, port and path prefix).

Variables: https://docs.gitlab.com/ci/variables/predefined_variables/
Merge request pipelines: https://docs.gitlab.com/ci/variables/predefined_variables/#predefined-variables-for-merge-request-pipelines
"""

from __future__ import annotations

from jux_submit.models import CIContext
from jux_submit.providers.base import Env, Provider, join_url, workspace_from


def is_gitlab(env: Env) -> bool:
    # Woodpecker and Harness also use CI_* names; only GitLab sets GITLAB_CI.
    return env.is_true("GITLAB_CI") and env.has("CI_JOB_ID")


def read_gitlab(env: Env) -> CIContext:
    """The pipeline and job described by GitLab's predefined variables."""
    server = env.url("CI_SERVER_URL")
    repository = env.get("CI_PROJECT_PATH")
    # CI_REPOSITORY_URL embeds the job token: only ever used through env.url (stripped).
    repository_url = env.url("CI_PROJECT_URL") or join_url(server, repository)
    pipeline_id = env.number("CI_PIPELINE_ID")
    job_id = env.number("CI_JOB_ID")
    head = env.sha("CI_COMMIT_SHA")

    branch = tag = pull_request = source = target = merge_commit = None
    commit = head
    if env.number("CI_MERGE_REQUEST_IID"):
        # IID is the number users see (!42); CI_MERGE_REQUEST_ID is instance-wide.
        pull_request = env.number("CI_MERGE_REQUEST_IID")
        source = env.branch("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
        target = env.branch("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
        branch = source
        # Merged-results and merge-train pipelines test a merge commit; the source SHA is
        # set there only (it exists but is empty in detached merge request pipelines).
        source_sha = env.sha("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA")
        if source_sha and source_sha != head:
            commit, merge_commit = source_sha, head
    elif env.number("CI_EXTERNAL_PULL_REQUEST_IID"):
        pull_request = env.number("CI_EXTERNAL_PULL_REQUEST_IID")
        source = env.branch("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME")
        target = env.branch("CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_NAME")
        branch = source
        commit = env.sha("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA") or head
    elif env.get("CI_COMMIT_TAG"):
        tag = env.get("CI_COMMIT_TAG")
    else:
        branch = env.branch("CI_COMMIT_BRANCH", "CI_COMMIT_REF_NAME")

    return CIContext(
        is_ci=True,
        provider="gitlab-ci",
        branch=branch,
        tag=tag,
        commit=commit,
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=pipeline_id,
        build_number=env.number("CI_PIPELINE_IID"),
        build_url=env.url("CI_PIPELINE_URL")
        or join_url(repository_url, "-/pipelines", pipeline_id),
        job_name=env.get("CI_JOB_NAME"),
        job_url=env.url("CI_JOB_URL") or join_url(repository_url, "-/jobs", job_id),
        repository=repository,
        repository_url=repository_url,
        workspace=env.path("CI_PROJECT_DIR"),
        actor=env.get("GITLAB_USER_LOGIN"),
        job_id=job_id,
        event=env.get("CI_PIPELINE_SOURCE"),
        merge_commit=merge_commit,
        server_url=server,
    )


GITLAB = Provider("gitlab-ci", is_gitlab, read_gitlab, workspace_from("CI_PROJECT_DIR"))
