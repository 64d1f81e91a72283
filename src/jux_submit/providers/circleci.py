"""CircleCI.

Variables: https://circleci.com/docs/reference/variables/#built-in-environment-variables
"""

from __future__ import annotations

from jux_submit.models import CIContext
from jux_submit.providers.base import (
    Env,
    Provider,
    pull_number_from_ref,
    repository_path,
    workspace_from,
)


def is_circleci(env: Env) -> bool:
    return env.is_true("CIRCLECI") and env.has("CIRCLE_BUILD_NUM")


def read_circleci(env: Env) -> CIContext:
    """The job described by CircleCI's variables.

    CircleCI exports no workflow or pipeline URL, only the job's (``CIRCLE_BUILD_URL``); it
    serves as both build and job link. Pull requests build their head commit.
    """
    branch = tag = pull_request = source = None
    # CIRCLE_PULL_REQUEST is the pull request's web URL; CIRCLE_PR_NUMBER is set for forks only.
    pr_url = env.get("CIRCLE_PULL_REQUEST")
    if env.get("CIRCLE_TAG"):
        tag = env.get("CIRCLE_TAG")
    else:
        # Fork pull requests build a branch named pull/42: env.branch rejects it.
        branch = env.branch("CIRCLE_BRANCH")
    if pr_url or env.number("CIRCLE_PR_NUMBER"):
        pull_request = env.number("CIRCLE_PR_NUMBER") or (
            pr_url.rstrip("/").rsplit("/", 1)[-1] if pr_url else None
        )
        if pull_request and not pull_request.isdigit():
            pull_request = pull_number_from_ref(env.get("CIRCLE_BRANCH"))
        source = branch

    owner, name = env.get("CIRCLE_PROJECT_USERNAME"), env.get("CIRCLE_PROJECT_REPONAME")
    repository_url = env.url("CIRCLE_REPOSITORY_URL")
    build_url = env.url("CIRCLE_BUILD_URL")
    return CIContext(
        is_ci=True,
        provider="circleci",
        branch=branch,
        tag=tag,
        commit=env.sha("CIRCLE_SHA1"),
        pull_request=pull_request,
        pr_source_branch=source,
        build_id=env.get("CIRCLE_WORKFLOW_ID"),
        build_number=env.number("CIRCLE_BUILD_NUM"),
        build_url=build_url,
        job_name=env.get("CIRCLE_JOB"),
        job_url=build_url,
        repository=f"{owner}/{name}" if owner and name else repository_path(repository_url),
        repository_url=repository_url,
        workspace=env.path("CIRCLE_WORKING_DIRECTORY"),
        actor=env.get("CIRCLE_USERNAME"),
        job_id=env.get("CIRCLE_WORKFLOW_JOB_ID") or env.number("CIRCLE_BUILD_NUM"),
    )


CIRCLECI = Provider(
    "circleci", is_circleci, read_circleci, workspace_from("CIRCLE_WORKING_DIRECTORY")
)
