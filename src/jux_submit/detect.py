"""Detect the CI system, the run and the git context from one environment mapping.

Reads only the mapping it is given (never ``os.environ``), the files the CI points to
(GitHub's event payload, TeamCity's build properties), and ``git`` as the last fallback.
The providers themselves live in ``jux_submit.providers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from jux_submit.models import CIContext
from jux_submit.providers import Env, find_provider
from jux_submit.providers.base import strip_credentials
from jux_submit.providers.git import GIT_TIMEOUT, detect_git, run_git, second_parent

__all__ = [
    "GIT_TIMEOUT",
    "apply_overrides",
    "default_project",
    "detect_context",
    "detect_git",
    "detect_workspace",
    "run_git",
    "strip_credentials",
]


def detect_workspace(environ: Mapping[str, str]) -> str | None:
    """The CI checkout directory (absolute, ``~`` expanded), from the environment alone.

    Cheap: opens no file and runs no git. None outside CI or when the CI does not export it.
    """
    env = Env(environ)
    provider = find_provider(env)
    return provider.workspace(env) if provider else None


def detect_context(environ: Mapping[str, str], cwd: Path) -> CIContext:
    """The CI context for this run.

    The first matching provider reads every field it can from its own variables (fields are
    never mixed from two providers); ``git`` in ``cwd`` then fills only what is still empty.
    ``is_ci`` is true when a provider matched or ``CI`` holds a truthy value (``true``,
    ``True``, ``1``, a CI name); the provider is ``unknown`` in the latter case, None outside
    CI. Never raises for a missing file, a missing git or a folder that is not a repository.
    """
    env = Env(environ)
    provider = find_provider(env)
    if provider is not None:
        context = provider.read(env)
    elif env.is_true("CI"):
        context = CIContext(is_ci=True, provider="unknown")
    else:
        context = CIContext()
    context = _fill_from_git(context, cwd)
    if provider is not None and provider.refine is not None:
        context = provider.refine(context, cwd)
    return context


def _fill_from_git(context: CIContext, cwd: Path) -> CIContext:
    """Fill the empty git fields of ``context`` from the checkout at ``cwd``.

    The branch is taken only when the run is neither a tag nor a pull request build (there
    the local branch is a CI-made name). A commit that is the known synthetic merge is never
    taken as the tested head; its second parent is, when the clone has it.
    """
    wants_branch = context.branch is None and context.tag is None and not context.pull_request
    if context.commit and not wants_branch and context.repository_url:
        return context
    git = detect_git(cwd)
    changes: dict[str, str | None] = {}
    if wants_branch and git.branch:
        changes["branch"] = git.branch
    if context.commit is None:
        if context.merge_commit:
            changes["commit"] = second_parent(context.merge_commit, cwd)
        elif git.commit:
            changes["commit"] = git.commit
    if context.repository_url is None and git.repository_url:
        changes["repository_url"] = git.repository_url
        if context.repository is None:
            changes["repository"] = git.repository
    return context.with_values(**changes) if changes else context


def apply_overrides(
    context: CIContext, *, project: str | None, branch: str | None, commit: str | None
) -> CIContext:
    """A copy where each explicit setting (non-blank) replaces the detected field."""
    changes: dict[str, str | None] = {}
    if project and project.strip():
        changes["project"] = project.strip()
    if branch and branch.strip():
        changes["branch"] = branch.strip()
    if commit and commit.strip():
        changes["commit"] = commit.strip()
    return context.with_values(**changes) if changes else context


def default_project(context: CIContext, cwd: Path) -> str:
    """The project name: the explicit one, else the repository name (from the CI, else from
    git's remote), else the name of the folder ``cwd``."""
    if context.project:
        return context.project
    if context.repository:
        name = context.repository.rstrip("/").rsplit("/", 1)[-1]
        if name:
            return name
    return cwd.resolve().name or "unknown"
