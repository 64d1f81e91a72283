"""Bitbucket Pipelines (Bitbucket Cloud).

Variables: https://support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/
"""

from __future__ import annotations

from jux_submit.models import CIContext
from jux_submit.providers.base import Env, Provider, join_url, quote_segment, workspace_from


def is_bitbucket(env: Env) -> bool:
    return env.has("BITBUCKET_BUILD_NUMBER", "BITBUCKET_COMMIT")


def read_bitbucket(env: Env) -> CIContext:
    """The pipeline described by Bitbucket's default variables.

    Pull request pipelines merge the destination into the clone, but ``BITBUCKET_COMMIT`` stays
    the source head, and ``BITBUCKET_BRANCH`` the source branch.
    """
    origin = env.url("BITBUCKET_GIT_HTTP_ORIGIN")
    if origin and origin.startswith("http://"):
        # Bitbucket exports the origin as http://; its web UI is served over https.
        origin = "https://" + origin[len("http://") :]
    build_number = env.number("BITBUCKET_BUILD_NUMBER")
    pull_request = env.number("BITBUCKET_PR_ID")
    tag = env.get("BITBUCKET_TAG")
    branch = None if tag else env.branch("BITBUCKET_BRANCH")
    step = env.get("BITBUCKET_STEP_UUID")
    build_url = join_url(origin, "pipelines/results", build_number)
    return CIContext(
        is_ci=True,
        provider="bitbucket-pipelines",
        branch=branch,
        tag=tag,
        commit=env.sha("BITBUCKET_COMMIT"),
        pull_request=pull_request,
        pr_source_branch=branch if pull_request else None,
        pr_target_branch=env.branch("BITBUCKET_PR_DESTINATION_BRANCH") if pull_request else None,
        build_id=env.get("BITBUCKET_PIPELINE_UUID"),
        build_number=build_number,
        build_url=build_url,
        job_url=join_url(build_url, "steps", quote_segment(step)) if step else None,
        repository=env.get("BITBUCKET_REPO_FULL_NAME"),
        repository_url=origin,
        workspace=env.path("BITBUCKET_CLONE_DIR"),
        actor=env.get("BITBUCKET_STEP_TRIGGERER_UUID"),
        job_id=step,
    )


BITBUCKET = Provider(
    "bitbucket-pipelines", is_bitbucket, read_bitbucket, workspace_from("BITBUCKET_CLONE_DIR")
)
