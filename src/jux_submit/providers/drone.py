"""Drone and the two CIs that imitate its variables: Harness CI (sets ``DRONE_*`` too) and
Woodpecker (a Drone fork, ``CI_*`` names like GitLab's but without ``GITLAB_CI``).

Drone: https://docs.drone.io/pipeline/environment/reference/
Harness: https://developer.harness.io/docs/continuous-integration/troubleshoot-ci/ci-env-var
Woodpecker: https://woodpecker-ci.org/docs/usage/environment
"""

from __future__ import annotations

from jux_submit.models import CIContext
from jux_submit.providers.base import (
    Env,
    Provider,
    join_url,
    plain_branch,
    repository_path,
    tag_from_ref,
    workspace_from,
)


def is_harness(env: Env) -> bool:
    return env.has("HARNESS_BUILD_ID") or env.has("HARNESS_ACCOUNT_ID", "HARNESS_PIPELINE_ID")


def is_drone(env: Env) -> bool:
    return env.is_true("DRONE") and env.has("DRONE_BUILD_NUMBER")


def is_woodpecker(env: Env) -> bool:
    return "woodpecker" in (
        (env.get("CI") or "").lower(),
        (env.get("CI_SYSTEM_NAME") or "").lower(),
    )


def read_drone(env: Env, provider_id: str = "drone") -> CIContext:
    """The build described by Drone's variables.

    In a pull request build ``DRONE_BRANCH`` and ``DRONE_COMMIT_BRANCH`` hold the *target*
    branch; the source is ``DRONE_SOURCE_BRANCH``. Pull requests build their head commit.
    """
    branch = tag = source = target = None
    pull_request = env.number("DRONE_PULL_REQUEST")
    if pull_request:
        source = env.branch("DRONE_SOURCE_BRANCH")
        target = env.branch("DRONE_TARGET_BRANCH", "DRONE_BRANCH")
        branch = source
    elif env.get("DRONE_TAG") or tag_from_ref(env.get("DRONE_COMMIT_REF")):
        tag = env.get("DRONE_TAG") or tag_from_ref(env.get("DRONE_COMMIT_REF"))
    else:
        branch = env.branch("DRONE_SOURCE_BRANCH", "DRONE_BRANCH", "DRONE_COMMIT_BRANCH")

    proto, host = env.get("DRONE_SYSTEM_PROTO"), env.get("DRONE_SYSTEM_HOST")
    trigger = env.get("DRONE_BUILD_TRIGGER")
    repository_url = env.url("DRONE_REPO_LINK", "DRONE_GIT_HTTP_URL", "DRONE_REMOTE_URL")
    number = env.number("DRONE_BUILD_NUMBER")
    return CIContext(
        is_ci=True,
        provider=provider_id,
        branch=branch,
        tag=tag,
        commit=env.sha("DRONE_COMMIT_SHA", "DRONE_COMMIT", "DRONE_COMMIT_AFTER"),
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=number,
        build_number=number,
        build_url=env.url("DRONE_BUILD_LINK"),
        job_name=env.get("DRONE_STAGE_NAME"),
        repository=env.get("DRONE_REPO") or repository_path(repository_url),
        repository_url=repository_url,
        workspace=env.path("DRONE_WORKSPACE"),
        # DRONE_BUILD_TRIGGER is a user name, or @hook / @cron for automatic builds.
        actor=trigger
        if trigger and not trigger.startswith("@")
        else env.get("DRONE_COMMIT_AUTHOR"),
        event=env.get("DRONE_BUILD_EVENT"),
        server_url=f"{proto}://{host}" if proto and host else None,
    )


def read_harness(env: Env) -> CIContext:
    """Harness CI: Drone's variables for the source, ``HARNESS_*`` for the execution."""
    context = read_drone(env, "harness")
    number = env.number("HARNESS_BUILD_ID") or context.build_number
    return context.with_values(
        build_id=env.get("HARNESS_EXECUTION_ID") or number,
        build_number=number,
        build_url=env.url("CI_BUILD_LINK", "DRONE_BUILD_LINK"),
        job_name=env.get("HARNESS_STAGE_ID") or context.job_name,
        workspace=env.path("HARNESS_WORKSPACE", "DRONE_WORKSPACE"),
        server_url=None,
    )


def read_woodpecker(env: Env) -> CIContext:
    """The pipeline described by Woodpecker's ``CI_*`` variables (1.x/2.x names, and the
    ``CI_BUILD_*`` names of 0.15).

    In a pull request pipeline ``CI_COMMIT_BRANCH`` is the *target* branch; the source is
    ``CI_COMMIT_SOURCE_BRANCH``. Pull requests build their head commit.
    """
    ref = env.get("CI_COMMIT_REF")
    branch = tag = source = target = None
    pull_request = env.number("CI_COMMIT_PULL_REQUEST")
    if pull_request:
        source = env.branch("CI_COMMIT_SOURCE_BRANCH")
        target = env.branch("CI_COMMIT_TARGET_BRANCH", "CI_COMMIT_BRANCH")
        branch = source
    elif env.get("CI_COMMIT_TAG") or tag_from_ref(ref):
        tag = env.get("CI_COMMIT_TAG") or tag_from_ref(ref)
    else:
        branch = env.branch("CI_COMMIT_BRANCH") or plain_branch(ref)

    number = env.number("CI_PIPELINE_NUMBER", "CI_BUILD_NUMBER")
    server = env.url("CI_SYSTEM_URL", "CI_SYSTEM_LINK")
    repo_id = env.number("CI_REPO_ID")
    build_url = env.url("CI_PIPELINE_URL") or (
        join_url(server, "repos", repo_id, "pipeline", number) if repo_id else None
    )
    repository_url = env.url("CI_REPO_URL", "CI_REPO_LINK", "CI_REPO_CLONE_URL", "CI_REPO_REMOTE")
    return CIContext(
        is_ci=True,
        provider="woodpecker",
        branch=branch,
        tag=tag,
        commit=env.sha("CI_COMMIT_SHA"),
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=number,
        build_number=number,
        build_url=build_url,
        job_name=env.get("CI_WORKFLOW_NAME", "CI_STEP_NAME", "CI_JOB_NAME"),
        job_url=env.url("CI_STEP_URL"),
        repository=env.get("CI_REPO") or repository_path(repository_url),
        repository_url=repository_url,
        workspace=env.path("CI_WORKSPACE"),
        actor=env.get("CI_PIPELINE_AUTHOR", "CI_COMMIT_AUTHOR"),
        event=env.get("CI_PIPELINE_EVENT", "CI_BUILD_EVENT"),
        server_url=server,
    )


HARNESS = Provider(
    "harness", is_harness, read_harness, workspace_from("HARNESS_WORKSPACE", "DRONE_WORKSPACE")
)
WOODPECKER = Provider("woodpecker", is_woodpecker, read_woodpecker, workspace_from("CI_WORKSPACE"))
DRONE = Provider("drone", is_drone, read_drone, workspace_from("DRONE_WORKSPACE"))
