"""Jenkins: freestyle and Pipeline jobs (Git plugin variables, pull request trigger plugins) and
Multibranch (``BRANCH_NAME``, ``CHANGE_*``, ``TAG_NAME``).

Core variables: https://www.jenkins.io/doc/book/pipeline/jenkinsfile/#using-environment-variables
Git plugin: https://plugins.jenkins.io/git/#plugin-content-environment-variables
Multibranch: https://www.jenkins.io/doc/book/pipeline/multibranch/#additional-environment-variables
GitHub Pull Request Builder: https://plugins.jenkins.io/ghprb/ ("Environment Variables"), and
https://github.com/jenkinsci/ghprb-plugin (GhprbTrigger.startJob sets them)
GitLab plugin: https://github.com/jenkinsci/gitlab-plugin#defined-variables
Bitbucket Push and Pull Request:
https://github.com/jenkinsci/bitbucket-push-and-pull-request-plugin#environment-variables
Bitbucket Branch Source: https://github.com/jenkinsci/bitbucket-branch-source-plugin/pull/949
"""

from __future__ import annotations

import re
from pathlib import Path

from jux_submit.models import CIContext, Record, record
from jux_submit.providers.base import (
    Env,
    Provider,
    head_and_merge,
    plain_branch,
    repository_path,
    strip_credentials,
)
from jux_submit.providers.git import head_commit_info

# GitHub/Bitbucket/GitLab branch sources build a pull request merged with its target by making
# this merge themselves, as this committer, on top of the pull request head (first parent).
_JENKINS_MERGE_COMMITTER = "nobody@nowhere"
_TAG_BRANCH_RE = re.compile(r"^(?:refs/tags/|(?:refs/remotes/)?origin/tags/)(.+)$")
_SHORT_SHA_RE = re.compile(r"^[0-9a-f]{7,39}$")
_PULL_LINK_RE = re.compile(r"^(.+)/pull/\d+/?$")


@record
class PullRequestTrigger(Record):
    """The variables a pull request trigger plugin sets on the freestyle and Pipeline jobs it
    starts (Multibranch jobs get ``CHANGE_*`` instead).

    ``head`` names the pull request head (first full SHA wins), ``merge`` the merge SHA where
    the plugin knows one, ``repository`` the target repository's ``owner/name``,
    ``repository_url`` its URL and ``pull_link`` the pull request's page (``<repository>/pull/N``).
    """

    number: str
    source: str
    target: str
    head: tuple[str, ...]
    actor: str
    merge: str | None = None
    event: str | None = None
    repository: str | None = None
    repository_url: str | None = None
    pull_link: str | None = None


# Tried in this order, after Multibranch's CHANGE_*. These jobs build whatever their Git settings
# say (origin/pr/128/merge, merge-requests/7, a "merge before build"): GIT_BRANCH and GIT_COMMIT
# tell what was built, the plugin's variables which request it was built for.
PULL_REQUEST_TRIGGERS: tuple[PullRequestTrigger, ...] = (
    # GitHub Pull Request Builder (ghprb). sha1 is origin/pr/N/merge when GitHub's merge ref is
    # built, else the head SHA. ghprbAuthorRepoGitUrl is the fork the head comes from: the report
    # belongs to the target repository, never to that fork. Unset values are the text "null".
    PullRequestTrigger(
        number="ghprbPullId",
        source="ghprbSourceBranch",
        target="ghprbTargetBranch",
        head=("ghprbActualCommit", "sha1"),
        actor="ghprbPullAuthorLogin",
        repository="ghprbGhRepository",
        pull_link="ghprbPullLink",
    ),
    # GitLab plugin. The IID is the number users see (!7); gitlabMergeRequestId is instance-wide.
    # gitlabMergeCommitSha is set once GitLab has merged the request. The user is whoever acted
    # (opened, updated, commented): the plugin names no author login.
    PullRequestTrigger(
        number="gitlabMergeRequestIid",
        source="gitlabSourceBranch",
        target="gitlabTargetBranch",
        head=("gitlabMergeRequestLastCommit",),
        actor="gitlabUserUsername",
        merge="gitlabMergeCommitSha",
        event="gitlabActionType",
        repository_url="gitlabTargetRepoHttpUrl",
    ),
    # Bitbucket Push and Pull Request. Bitbucket Cloud's payloads carry 12-digit abbreviated
    # hashes; Bitbucket Server's are full.
    PullRequestTrigger(
        number="BITBUCKET_PULL_REQUEST_ID",
        source="BITBUCKET_SOURCE_BRANCH",
        target="BITBUCKET_TARGET_BRANCH",
        head=("BITBUCKET_PULL_REQUEST_LATEST_COMMIT_FROM_SOURCE_BRANCH",),
        actor="BITBUCKET_ACTOR",
        event="BITBUCKET_X_EVENT",
    ),
)


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


def _value(env: Env, name: str | None) -> str | None:
    """The value of ``name`` (None for no name, and for ``null``: Java's ``String.valueOf``)."""
    value = env.get(name) if name else None
    return None if value is None or value.lower() == "null" else value


def _pull_request_commits(
    env: Env, trigger: PullRequestTrigger, built: str | None
) -> tuple[str | None, str | None]:
    """(commit, merge_commit) of a build that ``trigger`` started for a pull request.

    ``built`` is what the Git plugin built (GIT_COMMIT), else the merge SHA the plugin gives.
    The head is the pull request's, by the rule of ``head_and_merge``. An abbreviated head tells
    whether ``built`` is the head (it starts with it) or a merge, whose head git finds.
    """
    tested = built or (env.sha(trigger.merge) if trigger.merge else None)
    head = env.sha(*trigger.head)
    if head is None:
        short = _abbreviated_sha(env, trigger.head)
        if short is None or tested is None or tested.startswith(short):
            # Nothing says that what was built is not the head.
            return tested, None
    return head_and_merge(tested, head)


def _abbreviated_sha(env: Env, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` holding an abbreviated commit SHA (7 to 39 hex digits), lowered."""
    for name in names:
        value = (_value(env, name) or "").lower()
        if _SHORT_SHA_RE.match(value):
            return value
    return None


def _target_repository_url(env: Env, trigger: PullRequestTrigger) -> str | None:
    """The target repository's URL as ``trigger`` names it, without credentials."""
    link = _PULL_LINK_RE.match(_value(env, trigger.pull_link) or "")
    if link:
        return strip_credentials(link.group(1))
    return env.url(trigger.repository_url) if trigger.repository_url else None


def _bitbucket_repository(env: Env) -> str | None:
    """``owner/slug`` from Bitbucket Branch Source (Multibranch and Team/Project jobs).

    It names the target repository; its clone URL on Bitbucket Server
    (``/scm/key/slug.git``) has a path that is no repository name.
    """
    owner, slug = env.get("BITBUCKET_OWNER"), env.get("BITBUCKET_REPOSITORY")
    return f"{owner}/{slug}" if owner and slug else None


def read_jenkins(env: Env) -> CIContext:
    """The build described by Jenkins, Git plugin, Multibranch and trigger plugin variables."""
    branch = tag = pull_request = source = target = merge_commit = event = None
    commit = env.sha("GIT_COMMIT")
    actor = env.get("CHANGE_AUTHOR", "BUILD_USER_ID")
    # GIT_URL may embed user:token@; only ever used through env.url (stripped).
    repository_url = env.url("GIT_URL", "GIT_URL_1")
    repository = _bitbucket_repository(env) or repository_path(repository_url)
    trigger = next((t for t in PULL_REQUEST_TRIGGERS if env.number(t.number)), None)
    if env.get("CHANGE_ID"):
        # Multibranch pull request: BRANCH_NAME is PR-42, GIT_BRANCH too; CHANGE_* is the truth.
        pull_request = env.number("CHANGE_ID")
        source = env.branch("CHANGE_BRANCH")
        target = env.branch("CHANGE_TARGET")
        branch = source
    elif trigger is not None:
        # Freestyle/Pipeline job started by a pull request trigger plugin: reported like the
        # pull request builds of other CIs (branch = source branch, commit = head).
        pull_request = env.number(trigger.number)
        source = plain_branch(_value(env, trigger.source))
        target = plain_branch(_value(env, trigger.target))
        branch = source
        commit, merge_commit = _pull_request_commits(env, trigger, commit)
        actor = _value(env, trigger.actor) or env.get("BUILD_USER_ID")
        event = _value(env, trigger.event)
        target_url = _target_repository_url(env, trigger)
        if target_url:
            repository_url, repository = target_url, repository_path(target_url)
        repository = _value(env, trigger.repository) or repository
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

    return CIContext(
        is_ci=True,
        provider="jenkins",
        branch=branch,
        tag=tag,
        commit=commit,
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
        repository=repository,
        repository_url=repository_url,
        workspace=env.path("WORKSPACE"),
        actor=actor,
        event=event,
        merge_commit=merge_commit,
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
