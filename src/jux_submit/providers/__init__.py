"""The CI providers jux-submit recognises, in the order they are tried.

Look-alikes come before what they imitate (Gitea sets ``GITHUB_ACTIONS``, Harness sets
``DRONE_*``, Woodpecker uses GitLab-like ``CI_*`` names); Jenkins, whose variable names other
CIs and agents also set, comes last and needs a run-specific combination.

A provider's module is imported only when one of the variables its check cannot do without is
set (``_PROVIDERS``): a run outside CI imports none of the eighteen, a GitHub run one.
tests/unit/test_detect.py checks, over every recorded environment, that this finds what trying
every provider in order finds.
"""

from __future__ import annotations

import importlib
from typing import Any

from jux_submit.providers.base import Env, Provider

#: (module, attribute, variables at least one of which the provider's check needs), in order
_PROVIDERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("github", "GITEA", ("GITEA_ACTIONS", "FORGEJO_ACTIONS")),
    ("github", "GITHUB", ("GITHUB_ACTIONS",)),
    ("gitlab", "GITLAB", ("GITLAB_CI",)),
    ("drone", "WOODPECKER", ("CI", "CI_SYSTEM_NAME")),
    ("drone", "HARNESS", ("HARNESS_BUILD_ID", "HARNESS_ACCOUNT_ID")),
    ("drone", "DRONE", ("DRONE",)),
    ("azure", "AZURE", ("TF_BUILD",)),
    ("circleci", "CIRCLECI", ("CIRCLECI",)),
    ("bitbucket", "BITBUCKET", ("BITBUCKET_BUILD_NUMBER",)),
    ("buildkite", "BUILDKITE", ("BUILDKITE",)),
    ("travis", "TRAVIS", ("TRAVIS",)),
    ("appveyor", "APPVEYOR", ("APPVEYOR",)),
    ("codebuild", "CODEBUILD", ("CODEBUILD_BUILD_ID",)),
    ("semaphore", "SEMAPHORE", ("SEMAPHORE",)),
    ("teamcity", "TEAMCITY", ("TEAMCITY_VERSION",)),
    ("bamboo", "BAMBOO", ("bamboo_buildKey",)),
    ("cloudbuild", "CLOUD_BUILD", ("BUILDER_OUTPUT", "BUILD_ID")),
    ("jenkins", "JENKINS", ("JENKINS_URL", "HUDSON_URL")),
)


def _load(module: str, name: str) -> Provider:
    provider: Provider = getattr(importlib.import_module(f"jux_submit.providers.{module}"), name)
    return provider


def all_providers() -> tuple[Provider, ...]:
    """Every provider, in the order they are tried (imports them all)."""
    return tuple(_load(module, name) for module, name, _ in _PROVIDERS)


def find_provider(env: Env) -> Provider | None:
    """The first provider whose variables are all present, or None."""
    for module, name, needs in _PROVIDERS:
        if any(env.get(variable) is not None for variable in needs):
            provider = _load(module, name)
            if provider.matches(env):
                return provider
    return None


def __getattr__(name: str) -> Any:  # ``PROVIDERS``, built on first use
    if name == "PROVIDERS":
        return all_providers()
    raise AttributeError(name)


__all__ = ["PROVIDERS", "Env", "Provider", "all_providers", "find_provider"]
