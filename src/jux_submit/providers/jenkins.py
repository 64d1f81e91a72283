"""Jenkins: freestyle and Pipeline jobs (Git plugin variables) and Multibranch (``BRANCH_NAME``,
``CHANGE_*``, ``TAG_NAME``).

Core variables: https://www.jenkins.io/doc/book/pipeline/jenkinsfile/#using-environment-variables
Git plugin: https://plugins.jenkins.io/git/#plugin-content-environment-variables
Multibranch: https://www.jenkins.io/doc/book/pipeline/multibranch/#additional-environment-variables
"""

from __future__ import annotations

import re
from pathlib import Path

from jux_submit.models import CIContext
from jux_submit.providers.base import Env, Provider, plain_branch, repository_path
from jux_submit.providers.git import head_commit_info

# GitHub/Bitbucket/GitLab branch sources build a pull request merged with its target by making
# this merge themselves, as this committer, on top of the pull request head (first parent).
_JENKINS_MERGE_COMMITTER = "nobody@nowhere"
_TAG_BRANCH_RE = re.compile(r"^(?:refs/tags/|(?:refs/remotes/)?origin/tags/)(.+)$")


def is_jenkins(env: Env) -> bool:
    """A Jenkins build: a root URL, a build URL under it and a job name.

    ``BUILD_ID``, ``BUILD_NUMBER`` or ``HUDSON_URL`` alone are set machine-wide on some agents
    and by other CIs for compatibility, so they are not enough.
    """
    root = env.get("JENKINS_URL", "HUDSON_URL")
    build_url = env.get("BUILD_URL")
    return bool(
        root
        and build_url
        and env.has("JOB_NAME")
        and build_url.rstrip("/").startswith(root.rstrip("/"))
    )


def read_jenkins(env: Env) -> CIContext:
    """The build described by Jenkins, Git plugin and Multibranch variables."""
    branch = tag = pull_request = source = target = None
    if env.get("CHANGE_ID"):
        # Multibranch pull request: BRANCH_NAME is PR-42, GIT_BRANCH too; CHANGE_* is the truth.
        pull_request = env.number("CHANGE_ID")
        source = env.branch("CHANGE_BRANCH")
        target = env.branch("CHANGE_TARGET")
        branch = source
    elif env.get("TAG_NAME"):
        # Multibranch tag job: BRANCH_NAME holds the tag name.
        tag = env.get("TAG_NAME")
    elif env.get("BRANCH_NAME"):
        branch = plain_branch(env.get("BRANCH_NAME"))
    elif match := _TAG_BRANCH_RE.match(env.get("GIT_BRANCH") or ""):
        # Freestyle job building refs/tags/*: GIT_BRANCH is refs/tags/v1 or origin/tags/v1.
        tag = match.group(1)
    else:
        # Freestyle/Pipeline: GIT_BRANCH is origin/x, or "detached" when a SHA was built.
        branch = env.branch("GIT_LOCAL_BRANCH", "GIT_BRANCH")

    # GIT_URL may embed user:token@; only ever used through env.url (stripped).
    repository_url = env.url("GIT_URL", "GIT_URL_1")
    return CIContext(
        is_ci=True,
        provider="jenkins",
        branch=branch,
        tag=tag,
        commit=env.sha("GIT_COMMIT"),
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=env.get("BUILD_ID") or env.number("BUILD_NUMBER"),
        build_number=env.number("BUILD_NUMBER"),
        build_url=env.url("BUILD_URL"),
        # JOB_NAME is the full job path (folder/repo/branch, %2F-encoded by old Multibranch);
        # it is reported as Jenkins shows it in URLs and never read for the branch.
        job_name=env.get("JOB_NAME"),
        job_url=env.url("JOB_URL"),
        repository=repository_path(repository_url),
        repository_url=repository_url,
        workspace=env.path("WORKSPACE"),
        actor=env.get("CHANGE_AUTHOR", "BUILD_USER_ID"),
        server_url=env.url("JENKINS_URL", "HUDSON_URL"),
    )


def refine_jenkins(context: CIContext, cwd: Path) -> CIContext:
    """For pull requests built merged with their target, report the pull request head.

    The branch source plugins make that merge locally (committer ``Jenkins
    <nobody@nowhere>``, first parent = the pull request head) and ``GIT_COMMIT`` names the
    merge; no variable holds the head, so it is read from git.
    """
    if not context.pull_request:
        return context
    info = head_commit_info(cwd)
    if info is None:
        return context
    sha, parents, committer = info
    is_jenkins_merge = len(parents) == 2 and committer == _JENKINS_MERGE_COMMITTER
    if not is_jenkins_merge or context.commit not in (None, sha):
        return context
    return context.with_values(commit=parents[0], merge_commit=sha)


JENKINS = Provider(
    "jenkins",
    is_jenkins,
    read_jenkins,
    lambda env: env.path("WORKSPACE"),
    refine_jenkins,
)
