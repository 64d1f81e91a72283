"""The CI providers jux-submit recognises, in the order they are tried.

Look-alikes come before what they imitate (Gitea sets ``GITHUB_ACTIONS``, Harness sets
``DRONE_*``, Woodpecker uses GitLab-like ``CI_*`` names); Jenkins, whose variable names other
CIs and agents also set, comes last and needs a run-specific combination.
"""

from __future__ import annotations

from jux_submit.providers.appveyor import APPVEYOR
from jux_submit.providers.azure import AZURE
from jux_submit.providers.bamboo import BAMBOO
from jux_submit.providers.base import Env, Provider
from jux_submit.providers.bitbucket import BITBUCKET
from jux_submit.providers.buildkite import BUILDKITE
from jux_submit.providers.circleci import CIRCLECI
from jux_submit.providers.cloudbuild import CLOUD_BUILD
from jux_submit.providers.codebuild import CODEBUILD
from jux_submit.providers.drone import DRONE, HARNESS, WOODPECKER
from jux_submit.providers.github import GITEA, GITHUB
from jux_submit.providers.gitlab import GITLAB
from jux_submit.providers.jenkins import JENKINS
from jux_submit.providers.semaphore import SEMAPHORE
from jux_submit.providers.teamcity import TEAMCITY
from jux_submit.providers.travis import TRAVIS

PROVIDERS: tuple[Provider, ...] = (
    GITEA,
    GITHUB,
    GITLAB,
    WOODPECKER,
    HARNESS,
    DRONE,
    AZURE,
    CIRCLECI,
    BITBUCKET,
    BUILDKITE,
    TRAVIS,
    APPVEYOR,
    CODEBUILD,
    SEMAPHORE,
    TEAMCITY,
    BAMBOO,
    CLOUD_BUILD,
    JENKINS,
)


def find_provider(env: Env) -> Provider | None:
    """The first provider whose variables are all present, or None."""
    for provider in PROVIDERS:
        if provider.matches(env):
            return provider
    return None


__all__ = ["PROVIDERS", "Env", "Provider", "find_provider"]
