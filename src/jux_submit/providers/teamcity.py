"""JetBrains TeamCity: a few environment variables, the rest in the build properties files.

``TEAMCITY_BUILD_PROPERTIES_FILE`` names the build's system properties; its
``teamcity.configuration.properties.file`` names the configuration parameters (server URL,
branch, pull request, VCS root URL).
Parameters: https://www.jetbrains.com/help/teamcity/predefined-build-parameters.html
Pull requests: https://www.jetbrains.com/help/teamcity/pull-requests.html
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from jux_submit.models import CIContext
from jux_submit.providers.base import (
    Env,
    Provider,
    join_url,
    plain_branch,
    quote_segment,
    repository_path,
    strip_credentials,
    tag_from_ref,
)

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_UNICODE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java ``.properties`` text (comments, ``=``/``:`` separators, continuations,
    backslash and ``\\uXXXX`` escapes)."""
    result: dict[str, str] = {}
    logical = ""
    for raw in text.splitlines():
        line = raw.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            logical += line[:-1]
            continue
        logical += line
        key, value = _split_entry(logical)
        result[key] = value
        logical = ""
    if logical:
        key, value = _split_entry(logical)
        result[key] = value
    return result


def _split_entry(line: str) -> tuple[str, str]:
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        if char in "=: \t":
            break
        index += 1
    key, rest = line[:index], line[index:].lstrip(" \t")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t")
    return _unescape(key), _unescape(rest)


def _unescape(text: str) -> str:
    text = _UNICODE_RE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def read_properties(path: str | None) -> dict[str, str]:
    """The properties file at ``path``; empty when missing or unreadable."""
    if not path:
        return {}
    try:
        return parse_properties(Path(path).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {}


def is_teamcity(env: Env) -> bool:
    return env.has("TEAMCITY_VERSION") and (
        env.has("TEAMCITY_BUILD_PROPERTIES_FILE") or env.has("BUILD_NUMBER")
    )


def _first(props: Mapping[str, str], *keys: str) -> str | None:
    for key in keys:
        value = (props.get(key) or "").strip()
        if value:
            return value
    return None


def _first_prefixed(props: Mapping[str, str], prefix: str, suffix: str = "") -> str | None:
    for key in sorted(props):
        if key.startswith(prefix) and key.endswith(suffix) and props[key].strip():
            return props[key].strip()
    return None


def read_teamcity(env: Env) -> CIContext:
    """The build described by TeamCity's variables and build properties files."""
    build = read_properties(env.get("TEAMCITY_BUILD_PROPERTIES_FILE"))
    config = read_properties(build.get("teamcity.configuration.properties.file"))
    props = {**config, **build}

    vcs_ref = _first_prefixed(props, "teamcity.build.vcs.branch.") or _first(
        props, "vcsroot.branch"
    )
    head = (env.get("BUILD_VCS_NUMBER") or _first(props, "build.vcs.number") or "").lower()
    commit = head if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", head) else None

    branch = tag = source = target = merge_commit = None
    pull_request = _first(props, "teamcity.pullRequest.number")
    if pull_request and pull_request.isdigit():
        source = plain_branch(_first(props, "teamcity.pullRequest.source.branch"))
        target = plain_branch(_first(props, "teamcity.pullRequest.target.branch"))
        branch = source
        if (vcs_ref or "").endswith("/merge"):
            # A root configured to build refs/pull/N/merge: the revision is the merge commit.
            commit, merge_commit = None, commit
    else:
        pull_request = None
        tag = tag_from_ref(vcs_ref)
        if not tag:
            branch = plain_branch(vcs_ref) or plain_branch(_first(props, "teamcity.build.branch"))

    server = strip_credentials(_first(props, "teamcity.serverUrl"))
    build_id = _first(props, "teamcity.build.id")
    build_type = _first(props, "teamcity.buildType.id")
    if build_type:
        build_url = join_url(server, "buildConfiguration", quote_segment(build_type), build_id)
    else:
        build_url = f"{server}/viewLog.html?buildId={build_id}" if server and build_id else None
    repository_url = strip_credentials(
        _first(props, "vcsroot.url") or _first_prefixed(props, "vcsroot.", ".url")
    )
    return CIContext(
        is_ci=True,
        provider="teamcity",
        branch=branch,
        tag=tag,
        commit=commit,
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=build_id,
        build_number=env.get("BUILD_NUMBER") or _first(props, "build.number"),
        build_url=build_url,
        job_name=env.get("TEAMCITY_BUILDCONF_NAME") or _first(props, "teamcity.buildConfName"),
        repository=repository_path(repository_url),
        repository_url=repository_url,
        workspace=env.expand_home(_first(props, "teamcity.build.checkoutDir")),
        actor=_first(props, "teamcity.build.triggeredBy.username"),
        merge_commit=merge_commit,
        server_url=server,
    )


TEAMCITY = Provider("teamcity", is_teamcity, read_teamcity, lambda env: None)
