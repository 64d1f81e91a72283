"""Travis CI.

Variables: https://docs.travis-ci.com/user/environment-variables/#default-environment-variables
"""

from __future__ import annotations

from jux_submit.models import CIContext
from jux_submit.providers.base import Env, Provider, head_and_merge, workspace_from


def is_travis(env: Env) -> bool:
    return env.is_true("TRAVIS") and env.has("TRAVIS_JOB_ID")


def read_travis(env: Env) -> CIContext:
    """The build and job described by Travis's variables.

    In a pull request build ``TRAVIS_BRANCH`` is the *target* branch and ``TRAVIS_COMMIT``
    the merge commit GitHub made; the source is ``TRAVIS_PULL_REQUEST_BRANCH`` and the head
    ``TRAVIS_PULL_REQUEST_SHA``. In a tag build ``TRAVIS_BRANCH`` holds the tag name.
    """
    branch = tag = source = target = merge_commit = None
    commit = env.sha("TRAVIS_COMMIT")
    pull_request = env.number("TRAVIS_PULL_REQUEST")
    if pull_request:
        source = env.branch("TRAVIS_PULL_REQUEST_BRANCH")
        target = env.branch("TRAVIS_BRANCH")
        branch = source
        head = env.sha("TRAVIS_PULL_REQUEST_SHA")
        commit, merge_commit = head_and_merge(commit, head)
    elif env.get("TRAVIS_TAG"):
        tag = env.get("TRAVIS_TAG")
    else:
        branch = env.branch("TRAVIS_BRANCH")
    return CIContext(
        is_ci=True,
        provider="travis-ci",
        branch=branch,
        tag=tag,
        commit=commit,
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=env.number("TRAVIS_BUILD_ID"),
        build_number=env.number("TRAVIS_BUILD_NUMBER"),
        build_url=env.url("TRAVIS_BUILD_WEB_URL"),
        job_name=env.get("TRAVIS_JOB_NAME", "TRAVIS_JOB_NUMBER"),
        job_url=env.url("TRAVIS_JOB_WEB_URL"),
        repository=env.get("TRAVIS_REPO_SLUG"),
        workspace=env.path("TRAVIS_BUILD_DIR"),
        job_id=env.number("TRAVIS_JOB_ID"),
        event=env.get("TRAVIS_EVENT_TYPE"),
        merge_commit=merge_commit,
    )


TRAVIS = Provider("travis-ci", is_travis, read_travis, workspace_from("TRAVIS_BUILD_DIR"))
