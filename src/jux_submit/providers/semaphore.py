"""Semaphore (2.0).

Variables: https://docs.semaphoreci.com/reference/env-vars
"""

from __future__ import annotations

from jux_submit.models import CIContext
from jux_submit.providers.base import Env, Provider, head_and_merge, join_url, repository_path


def is_semaphore(env: Env) -> bool:
    return env.is_true("SEMAPHORE") and env.has("SEMAPHORE_WORKFLOW_ID")


def read_semaphore_workspace(env: Env) -> str | None:
    """SEMAPHORE_GIT_DIR is the checkout folder, relative to the job's home directory."""
    folder = env.expand_home(env.get("SEMAPHORE_GIT_DIR"))
    if folder and not folder.startswith("/"):
        home = env.get("HOME")
        folder = f"{home.rstrip('/')}/{folder}" if home else None
    return folder


def read_semaphore(env: Env) -> CIContext:
    """The workflow and job described by Semaphore's variables.

    For pull requests ``SEMAPHORE_GIT_BRANCH`` is the *target* branch and ``SEMAPHORE_GIT_SHA``
    the merge commit; the source is ``SEMAPHORE_GIT_PR_BRANCH``, the head ``SEMAPHORE_GIT_PR_SHA``.
    """
    ref_type = env.get("SEMAPHORE_GIT_REF_TYPE")
    branch = tag = pull_request = source = target = merge_commit = None
    commit = env.sha("SEMAPHORE_GIT_SHA")
    if ref_type == "pull-request" or env.number("SEMAPHORE_GIT_PR_NUMBER"):
        pull_request = env.number("SEMAPHORE_GIT_PR_NUMBER")
        source = env.branch("SEMAPHORE_GIT_PR_BRANCH")
        target = env.branch("SEMAPHORE_GIT_BRANCH")
        branch = source
        head = env.sha("SEMAPHORE_GIT_PR_SHA")
        commit, merge_commit = head_and_merge(commit, head)
    elif ref_type == "tag" or env.get("SEMAPHORE_GIT_TAG_NAME"):
        tag = env.get("SEMAPHORE_GIT_TAG_NAME")
    else:
        branch = env.branch("SEMAPHORE_GIT_BRANCH")

    organization = env.url("SEMAPHORE_ORGANIZATION_URL")
    workflow_id, job_id = env.get("SEMAPHORE_WORKFLOW_ID"), env.get("SEMAPHORE_JOB_ID")
    repository_url = env.url("SEMAPHORE_GIT_URL")
    if env.is_true("SEMAPHORE_WORKFLOW_TRIGGERED_BY_SCHEDULE"):
        event = "schedule"
    elif env.is_true("SEMAPHORE_WORKFLOW_TRIGGERED_BY_API"):
        event = "api"
    elif env.is_true("SEMAPHORE_WORKFLOW_TRIGGERED_BY_MANUAL_RUN"):
        event = "manual"
    elif env.is_true("SEMAPHORE_WORKFLOW_TRIGGERED_BY_HOOK"):
        event = "hook"
    else:
        event = None
    return CIContext(
        is_ci=True,
        provider="semaphore",
        branch=branch,
        tag=tag,
        commit=commit,
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=workflow_id,
        build_number=env.number("SEMAPHORE_WORKFLOW_NUMBER"),
        build_url=join_url(organization, "workflows", workflow_id),
        job_name=env.get("SEMAPHORE_JOB_NAME"),
        job_url=join_url(organization, "jobs", job_id),
        repository=env.get("SEMAPHORE_GIT_REPO_SLUG") or repository_path(repository_url),
        repository_url=repository_url,
        workspace=read_semaphore_workspace(env),
        job_id=job_id,
        event=event,
        merge_commit=merge_commit,
        server_url=organization,
    )


SEMAPHORE = Provider("semaphore", is_semaphore, read_semaphore, read_semaphore_workspace)
