"""AWS CodeBuild.

Variables: https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-env-vars.html
"""

from __future__ import annotations

from jux_submit.models import CIContext
from jux_submit.providers.base import (
    Env,
    Provider,
    is_sha,
    plain_branch,
    repository_path,
    workspace_from,
)


def is_codebuild(env: Env) -> bool:
    return env.has("CODEBUILD_BUILD_ID") and env.has("CODEBUILD_BUILD_ARN")


def read_codebuild(env: Env) -> CIContext:
    """The build described by CodeBuild's variables and its webhook variables.

    ``CODEBUILD_WEBHOOK_TRIGGER`` is ``branch/x``, ``tag/x`` or ``pr/42``; a manual build's
    ``CODEBUILD_SOURCE_VERSION`` may be a branch, ``pr/42`` or a SHA. CodeBuild exports no
    console link except ``CODEBUILD_PUBLIC_BUILD_URL`` for public builds.
    """
    # The webhook trigger is authoritative; a manual build only has the source version.
    source_version = env.get("CODEBUILD_SOURCE_VERSION") or ""
    ref = env.get("CODEBUILD_WEBHOOK_TRIGGER") or source_version
    branch = tag = pull_request = source = target = None
    if ref.startswith("pr/"):
        pull_request = ref[3:] if ref[3:].isdigit() else None
        source = env.branch("CODEBUILD_WEBHOOK_HEAD_REF")
        target = env.branch("CODEBUILD_WEBHOOK_BASE_REF")
        branch = source
    elif ref.startswith("tag/"):
        tag = ref[4:] or None
    elif ref.startswith("refs/tags/"):
        tag = ref[len("refs/tags/") :] or None
    elif ref.startswith("branch/"):
        branch = plain_branch(ref[len("branch/") :])
    else:
        branch = env.branch("CODEBUILD_WEBHOOK_HEAD_REF") or (
            None if is_sha(ref.lower()) else plain_branch(ref)
        )

    build_id = env.get("CODEBUILD_BUILD_ID")
    repository_url = env.url("CODEBUILD_SOURCE_REPO_URL")
    return CIContext(
        is_ci=True,
        provider="aws-codebuild",
        branch=branch,
        tag=tag,
        commit=env.sha("CODEBUILD_RESOLVED_SOURCE_VERSION", "CODEBUILD_SOURCE_VERSION"),
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=build_id,
        build_number=env.number("CODEBUILD_BUILD_NUMBER"),
        build_url=env.url("CODEBUILD_PUBLIC_BUILD_URL"),
        job_name=env.get("CODEBUILD_BATCH_BUILD_IDENTIFIER")
        or (build_id.split(":", 1)[0] if build_id else None),
        repository=repository_path(repository_url),
        repository_url=repository_url,
        workspace=env.path("CODEBUILD_SRC_DIR"),
        actor=env.get("CODEBUILD_INITIATOR"),
        event=env.get("CODEBUILD_WEBHOOK_EVENT"),
    )


CODEBUILD = Provider(
    "aws-codebuild", is_codebuild, read_codebuild, workspace_from("CODEBUILD_SRC_DIR")
)
