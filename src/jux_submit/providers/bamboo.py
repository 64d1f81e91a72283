"""Atlassian Bamboo (variables exported as ``bamboo_<name>``, dots turned into underscores).

Variables: https://confluence.atlassian.com/bamboo/bamboo-variables-289277087.html
"""

from __future__ import annotations

from jux_submit.models import CIContext
from jux_submit.providers.base import Env, Provider, repository_path, workspace_from


def is_bamboo(env: Env) -> bool:
    return env.has("bamboo_buildKey", "bamboo_buildNumber")


def read_bamboo(env: Env) -> CIContext:
    """The plan result and job described by Bamboo's variables."""
    branch = tag = source = target = None
    pull_request = env.number("bamboo_repository_pr_key")
    if pull_request:
        source = env.branch("bamboo_repository_pr_sourceBranch")
        target = env.branch("bamboo_repository_pr_targetBranch")
        branch = source
    else:
        branch = env.branch(
            "bamboo_planRepository_branchName",
            "bamboo_planRepository_branch",
            "bamboo_repository_git_branch",
        )
    # The repository URL may embed credentials; env.url strips them.
    repository_url = env.url(
        "bamboo_planRepository_repositoryUrl", "bamboo_repository_git_repositoryUrl"
    )
    job_url = env.url("bamboo_buildResultsUrl")
    return CIContext(
        is_ci=True,
        provider="bamboo",
        branch=branch,
        tag=tag,
        commit=env.sha("bamboo_planRepository_revision", "bamboo_repository_revision_number"),
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=env.get("bamboo_buildResultKey"),
        build_number=env.number("bamboo_buildNumber"),
        build_url=env.url("bamboo_resultsUrl") or job_url,
        job_name=env.get("bamboo_shortJobName"),
        job_url=job_url,
        repository=repository_path(repository_url),
        repository_url=repository_url,
        workspace=env.path("bamboo_build_working_directory"),
        actor=env.get("bamboo_ManualBuildTriggerReason_userName"),
        job_id=env.get("bamboo_buildResultKey"),
    )


BAMBOO = Provider(
    "bamboo", is_bamboo, read_bamboo, workspace_from("bamboo_build_working_directory")
)
