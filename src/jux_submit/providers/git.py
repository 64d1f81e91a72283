"""Branch, commit and remote from the git checkout itself: the last fallback of detection.

Every call runs with ``-c safe.directory=*`` (in a container the workspace is often owned by
another user) and a timeout; a missing ``git``, a folder that is no repository, or a failing
command all give "unknown", never an error.
"""

from __future__ import annotations

import os
from pathlib import Path

from jux_submit.models import CIContext
from jux_submit.providers.base import is_sha, plain_branch, repository_path, strip_credentials

GIT_TIMEOUT = 5.0
#: variables that point git at a repository from anywhere (then only git can tell)
_GIT_DIR_VARIABLES = ("GIT_DIR", "GIT_COMMON_DIR")


def may_be_repository(cwd: Path) -> bool:
    """False only when git could not find a repository from ``cwd``: no ``.git`` (folder or
    file: worktrees, submodules) and no bare repository's ``HEAD`` in ``cwd`` or above it, and
    no ``GIT_DIR`` in the environment git inherits. Spares a run outside any checkout the
    cost of starting git (a few milliseconds); in any doubt (a folder that cannot be looked
    at) the answer is True, and git decides."""
    if any(os.environ.get(name) for name in _GIT_DIR_VARIABLES):
        return True
    start = Path(cwd).absolute()
    for folder in (start, *start.parents):
        for marker in (".git", "HEAD"):
            try:
                (folder / marker).lstat()
            except (FileNotFoundError, NotADirectoryError):
                continue
            except (OSError, ValueError):  # cannot look there: git decides
                pass
            return True
    return False


def run_git(args: list[str], cwd: Path) -> str | None:
    """Run one git command in ``cwd``; its stripped stdout, or None when git is missing, fails,
    or times out."""
    import subprocess  # only runs that may have a checkout start git

    try:
        done = subprocess.run(
            ["git", "-c", "safe.directory=*", "--no-optional-locks", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def detect_git(cwd: Path) -> CIContext:
    """Branch, commit, repository and remote URL of the checkout at ``cwd``.

    Returns an empty ``CIContext`` when ``cwd`` is not in a git repository or git is unusable.
    The branch is None on a detached HEAD; the remote is ``origin``'s URL without credentials.
    """
    if not may_be_repository(cwd):
        return CIContext()
    head = run_git(["rev-parse", "HEAD", "--symbolic-full-name", "HEAD"], cwd)
    if head is None:
        return CIContext()
    lines = head.splitlines()
    commit = lines[0].strip().lower() if lines else ""
    ref = lines[1].strip() if len(lines) > 1 else ""
    branch = plain_branch(ref) if ref.startswith("refs/heads/") else None
    remote = strip_credentials(run_git(["config", "--get", "remote.origin.url"], cwd))
    return CIContext(
        branch=branch,
        commit=commit if is_sha(commit) else None,
        repository=repository_path(remote),
        repository_url=remote,
    )


def second_parent(commit: str, cwd: Path) -> str | None:
    """The second parent of merge commit ``commit`` (the pull request head of a ``refs/pull/N/
    merge`` style merge), or None when it is unknown here (shallow clone, no such commit)."""
    if not may_be_repository(cwd):
        return None
    value = run_git(["rev-parse", "--verify", "-q", f"{commit}^2^{{commit}}"], cwd)
    return value.lower() if value and is_sha(value.lower()) else None


def head_commit_info(cwd: Path) -> tuple[str, list[str], str] | None:
    """``(sha, parents, committer e-mail)`` of HEAD, or None without a usable repository."""
    if not may_be_repository(cwd):
        return None
    out = run_git(["log", "-1", "--format=%H%n%P%n%ce", "HEAD"], cwd)
    if out is None:
        return None
    lines = [*out.splitlines(), "", "", ""]
    return lines[0].lower(), lines[1].lower().split(), lines[2].strip()
