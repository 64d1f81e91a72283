"""Google Cloud Build.

Build steps get ``BUILDER_OUTPUT`` from Cloud Build; the build's values (``BUILD_ID``,
``COMMIT_SHA``, ``BRANCH_NAME``, ``_PR_NUMBER``…) are substitutions, present in the environment
only when the build config maps them into ``env``/``options.env`` under the same names.
Substitutions: https://cloud.google.com/build/docs/configuring-builds/substitute-variable-values
"""

from __future__ import annotations

from jux_submit.models import CIContext
from jux_submit.providers.base import Env, Provider


def is_cloud_build(env: Env) -> bool:
    return env.has("BUILDER_OUTPUT") or (
        env.has("BUILD_ID", "PROJECT_ID", "LOCATION") and env.has("PROJECT_NUMBER")
    )


def read_cloud_build(env: Env) -> CIContext:
    """The build described by the substitutions mapped into the step's environment.

    The console link is not built: Cloud Build exports no URL for it.
    """
    branch = tag = source = target = None
    pull_request = env.number("_PR_NUMBER")
    if pull_request:
        source = env.branch("_HEAD_BRANCH")
        target = env.branch("_BASE_BRANCH")
        branch = source
    elif env.get("TAG_NAME"):
        tag = env.get("TAG_NAME")
    else:
        branch = env.branch("BRANCH_NAME")
    repository = env.get("REPO_FULL_NAME")
    return CIContext(
        is_ci=True,
        provider="google-cloud-build",
        branch=branch,
        tag=tag,
        commit=env.sha("COMMIT_SHA", "REVISION_ID"),
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=env.get("BUILD_ID"),
        job_name=env.get("TRIGGER_NAME"),
        repository=repository,
    )


CLOUD_BUILD = Provider("google-cloud-build", is_cloud_build, read_cloud_build, lambda env: None)
