"""Buildkite.

Variables: https://buildkite.com/docs/pipelines/configure/environment-variables
"""

from __future__ import annotations

from jux_submit.models import CIContext
from jux_submit.providers.base import Env, Provider, repository_path, workspace_from


def is_buildkite(env: Env) -> bool:
    return env.is_true("BUILDKITE") and env.has("BUILDKITE_BUILD_ID")


def read_buildkite(env: Env) -> CIContext:
    """The build described by Buildkite's variables.

    ``BUILDKITE_COMMIT`` may be ``HEAD`` (builds started without a SHA) and
    ``BUILDKITE_PULL_REQUEST`` is ``"false"`` outside pull requests; both are not values.
    """
    tag = env.get("BUILDKITE_TAG")
    branch = None if tag else env.branch("BUILDKITE_BRANCH")
    pull_request = env.number("BUILDKITE_PULL_REQUEST")
    build_url = env.url("BUILDKITE_BUILD_URL")
    job_id = env.get("BUILDKITE_JOB_ID")
    # BUILDKITE_REPO is the clone URL; it may carry credentials (stripped by env.url).
    repository_url = env.url("BUILDKITE_REPO")
    return CIContext(
        is_ci=True,
        provider="buildkite",
        branch=branch,
        tag=tag,
        commit=env.sha("BUILDKITE_COMMIT"),
        pull_request=pull_request,
        pr_source_branch=branch if pull_request else None,
        pr_target_branch=env.branch("BUILDKITE_PULL_REQUEST_BASE_BRANCH") if pull_request else None,
        build_id=env.get("BUILDKITE_BUILD_ID"),
        build_number=env.number("BUILDKITE_BUILD_NUMBER"),
        build_url=build_url,
        job_name=env.get("BUILDKITE_LABEL", "BUILDKITE_STEP_KEY"),
        job_url=f"{build_url}#{job_id}" if build_url and job_id else None,
        repository=repository_path(repository_url),
        repository_url=repository_url,
        workspace=env.path("BUILDKITE_BUILD_CHECKOUT_PATH"),
        actor=env.get("BUILDKITE_BUILD_CREATOR", "BUILDKITE_BUILD_AUTHOR"),
        job_id=job_id,
        run_attempt=_attempt(env.number("BUILDKITE_RETRY_COUNT")),
        event=env.get("BUILDKITE_SOURCE"),
    )


def _attempt(retries: str | None) -> str | None:
    return str(int(retries) + 1) if retries is not None else None


BUILDKITE = Provider(
    "buildkite", is_buildkite, read_buildkite, workspace_from("BUILDKITE_BUILD_CHECKOUT_PATH")
)
