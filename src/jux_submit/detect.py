"""Detect the CI system, the run and the git context from one environment mapping.

Reads only the mapping it is given (never ``os.environ``), the files the CI points to, and
``git`` as the last fallback.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from jux_submit.models import CIContext

GIT_TIMEOUT = 5.0
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def detect_workspace(environ: Mapping[str, str]) -> str | None:
    """The CI checkout directory, from the environment alone (cheap: no git, no files)."""
    if _get(environ, "GITHUB_ACTIONS"):
        return _get(environ, "GITHUB_WORKSPACE")
    if _get(environ, "GITLAB_CI"):
        return _get(environ, "CI_PROJECT_DIR")
    if _get(environ, "JENKINS_URL") and _get(environ, "BUILD_URL"):
        return _get(environ, "WORKSPACE")
    return None


def strip_credentials(url: str | None) -> str | None:
    """Remove ``user:token@`` from a URL; turn ``git@host:owner/repo`` into https."""
    if not url:
        return None
    scp = re.match(r"^[\w.-]+@([\w.-]+):(?!//)(.+)$", url)
    if scp:
        url = f"https://{scp.group(1)}/{scp.group(2)}"
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return None
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    scheme = "https" if parts.scheme in ("ssh", "git") else parts.scheme
    path = parts.path[:-4] if parts.path.endswith(".git") else parts.path
    return urlunsplit((scheme, netloc, path, "", ""))


def run_git(args: list[str], cwd: Path) -> str | None:
    """Run one git command; None when git is missing, fails, or times out."""
    try:
        done = subprocess.run(
            ["git", "-c", "safe.directory=*", *args],
            cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def detect_git(cwd: Path) -> CIContext:
    """Branch, commit and remote from the git repository at ``cwd`` (empty when none)."""
    commit = run_git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return CIContext()
    branch = run_git(["symbolic-ref", "--short", "-q", "HEAD"], cwd)
    remote = strip_credentials(run_git(["remote", "get-url", "origin"], cwd))
    repository = None
    if remote:
        path = urlsplit(remote).path.strip("/")
        repository = path or None
    return CIContext(
        branch=branch,
        commit=commit if _SHA_RE.match(commit) else None,
        repository=repository,
        repository_url=remote,
    )


def detect_context(environ: Mapping[str, str], cwd: Path) -> CIContext:
    """The CI context for this run: CI variables first, ``git`` fills what they leave empty."""
    context = CIContext(is_ci=bool(_get(environ, "CI")))
    context = context.fill_missing(detect_git(cwd))
    return context


def apply_overrides(
    context: CIContext, *, project: str | None, branch: str | None, commit: str | None
) -> CIContext:
    """Explicit settings win field by field over detection."""
    changes: dict[str, str | None] = {}
    if project:
        changes["project"] = project
    if branch:
        changes["branch"] = branch
    if commit:
        changes["commit"] = commit
    return context.with_values(**changes) if changes else context


def default_project(context: CIContext, cwd: Path) -> str:
    """Project name: explicit/CI repository name, then git remote name, then folder name."""
    if context.project:
        return context.project
    if context.repository:
        return context.repository.rstrip("/").rsplit("/", 1)[-1]
    return cwd.name or "unknown"
