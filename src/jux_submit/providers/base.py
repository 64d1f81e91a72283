"""What a CI provider is, and the cleaning every provider applies to the values it reads.

Values from the environment are never trusted as they come: empty strings, ``"false"``,
``"HEAD"``, ``refs/heads/`` prefixes and credentials in URLs are all handled here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import quote, urlsplit, urlunsplit

from jux_submit.models import CIContext, Record, record

# (the patterns are strings: ``re`` compiles one when it is first used, and most runs, outside
# CI, never use them)
_SHA = r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$"
_NUMBER = r"^#?(\d+)$"
_FALSE_WORDS = frozenset({"", "false", "0", "no", "off", "null", "none", "undefined"})
# Values that name something other than a branch: pull/merge request refs, detached HEAD,
# TeamCity's logical name of the default branch.
_NOT_A_BRANCH = (
    r"(?i)^(?:HEAD|detached|\(detached\)|<default>|"
    r"refs/(?:pull|merge-requests|tags|remotes/pull)/.*|"
    r"pull/\d+(?:/(?:head|merge))?|\d+/(?:head|merge)|merge-requests/\d+(?:/.*)?)$"
)
_BRANCH_PREFIXES = ("refs/heads/", "refs/remotes/origin/", "remotes/origin/", "origin/")
_SCP = r"^(?:[^@/\s]+@)?([\w.-]+):(?!//)(?!\d+/)(.+)$"


def is_sha(value: str | None) -> bool:
    """True for a full commit SHA (40 hex digits, or 64 for SHA-256 repositories)."""
    return bool(value) and re.match(_SHA, value or "") is not None


def head_and_merge(tested: str | None, head: str | None) -> tuple[str | None, str | None]:
    """(commit, merge_commit) for a pull-request build that tests ``tested``.

    Where the CI tests a synthetic merge, the commit users care about is the PR head; the
    merge SHA goes to ``merge_commit`` (None when both are the same commit).
    """
    return head, (tested if tested != head else None)


def plain_branch(value: str | None) -> str | None:
    """The plain branch name in ``value``, or None when it names no branch.

    ``refs/heads/x``, ``origin/x`` and ``refs/remotes/origin/x`` become ``x``; pull/merge
    request refs, tag refs, ``HEAD`` and ``detached`` become None.
    """
    if not value:
        return None
    value = value.strip()
    if re.match(_NOT_A_BRANCH, value):
        return None
    for prefix in _BRANCH_PREFIXES:
        if value.startswith(prefix):
            value = value[len(prefix) :]
            break
    if not value or re.match(_NOT_A_BRANCH, value):
        return None
    return value


def tag_from_ref(ref: str | None) -> str | None:
    """``refs/tags/v1.2`` → ``v1.2``; None for anything else."""
    if ref and ref.startswith("refs/tags/") and len(ref) > len("refs/tags/"):
        return ref[len("refs/tags/") :]
    return None


def pull_number_from_ref(ref: str | None) -> str | None:
    """The request number in ``refs/pull/42/merge``, ``pull/42``, ``refs/merge-requests/7/head``."""
    if not ref:
        return None
    match = re.match(r"^(?:refs/)?(?:pull|merge-requests)/(\d+)(?:/|$)", ref)
    return match.group(1) if match else None


def strip_credentials(url: str | None) -> str | None:
    """A web URL without userinfo, query or fragment; ``git@host:owner/repo`` becomes https.

    ``ssh://`` and ``git://`` become https as well (the web view lives there), a trailing
    ``.git`` and trailing slashes are dropped. Returns None when ``url`` is not a URL.
    """
    if not url:
        return None
    url = url.strip()
    scp = re.match(_SCP, url)
    if scp and "://" not in url:
        url = f"https://{scp.group(1)}/{scp.group(2)}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https", "ssh", "git", "git+ssh", "git+https") or not (
        parts.hostname
    ):
        return None
    scheme = "http" if parts.scheme == "http" else "https"
    # An ssh port is no use on the web side.
    keep_port = port is not None and parts.scheme in ("http", "https", "git+https")
    netloc = parts.hostname + (f":{port}" if keep_port else "")
    path = parts.path.rstrip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return urlunsplit((scheme, netloc, path, "", ""))


def repository_path(url: str | None) -> str | None:
    """``owner/name`` (or a nested GitLab path) from a repository URL."""
    clean = strip_credentials(url)
    if not clean:
        return None
    path = urlsplit(clean).path.strip("/")
    return path or None


def join_url(base: str | None, *parts: str | None) -> str | None:
    """``base`` + ``/part/part``; None when ``base`` or any part is missing."""
    if not base or any(not part for part in parts):
        return None
    return "/".join([base.rstrip("/"), *(str(part).strip("/") for part in parts)])


def quote_segment(value: str) -> str:
    """Percent-encode one URL path segment (spaces, slashes, unicode)."""
    return quote(value, safe="")


class Env:
    """Read-only, cleaning access to one environment mapping."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, *names: str) -> str | None:
        """The first of ``names`` that is set to a non-blank value, stripped."""
        for name in names:
            value = self._environ.get(name)
            if value is not None and value.strip():
                return value.strip()
        return None

    def has(self, *names: str) -> bool:
        """True when every one of ``names`` is set to a non-blank value."""
        return all(self.get(name) is not None for name in names)

    def is_true(self, name: str) -> bool:
        """True when ``name`` holds a truthy word (``true``, ``True``, ``1``, a CI name…)."""
        value = self.get(name)
        return value is not None and value.lower() not in _FALSE_WORDS

    def number(self, *names: str) -> str | None:
        """The first of ``names`` holding a whole number (``"false"`` and ``""`` are not)."""
        for name in names:
            match = re.match(_NUMBER, self.get(name) or "")
            if match:
                return match.group(1)
        return None

    def sha(self, *names: str) -> str | None:
        """The first of ``names`` holding a full commit SHA (``HEAD`` is not)."""
        for name in names:
            value = (self.get(name) or "").lower()
            if is_sha(value):
                return value
        return None

    def branch(self, *names: str) -> str | None:
        """The first of ``names`` holding a plain branch name (see ``plain_branch``)."""
        for name in names:
            value = plain_branch(self.get(name))
            if value:
                return value
        return None

    def url(self, *names: str) -> str | None:
        """The first of ``names`` holding a URL, without credentials and trailing slash."""
        for name in names:
            value = strip_credentials(self.get(name))
            if value:
                return value
        return None

    def path(self, *names: str) -> str | None:
        """The first of ``names`` holding an absolute path; ``~`` expands to this ``HOME``."""
        for name in names:
            value = self.expand_home(self.get(name))
            if value and (
                PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute()
            ):
                return value
        return None

    def expand_home(self, value: str | None) -> str | None:
        """``~`` and ``~/x`` expanded with the ``HOME`` of this environment."""
        if not value:
            return None
        if value == "~" or value.startswith(("~/", "~\\")):
            # The HOME of the given environment, not of this process; without one, the
            # path stays relative and is not used.
            home = self.get("HOME", "USERPROFILE")
            return home.rstrip("/\\") + value[1:] if home else value
        return value


def workspace_from(*names: str) -> Callable[[Env], str | None]:
    """A workspace reader taking the first absolute path among ``names``."""

    def read(env: Env) -> str | None:
        return env.path(*names)

    return read


@record
class Provider(Record):
    """One CI system: how it is recognised, how its run is read.

    ``matches`` and ``workspace`` look at the environment only (cheap); ``read`` may also open
    the files the CI points to. ``refine`` (optional) corrects the context with ``git`` once the
    generic fallback has run, for CIs whose variables cannot tell a synthetic merge apart.
    """

    id: str
    matches: Callable[[Env], bool]
    read: Callable[[Env], CIContext]
    workspace: Callable[[Env], str | None]
    refine: Callable[[CIContext, Path], CIContext] | None = None
