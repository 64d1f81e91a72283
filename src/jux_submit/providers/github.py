"""GitHub Actions and its look-alike Gitea Actions (which also sets ``GITHUB_ACTIONS``).

Variables: https://docs.github.com/en/actions/reference/workflows-and-actions/variables
Event payloads (read from ``GITHUB_EVENT_PATH``):
https://docs.github.com/en/webhooks/webhook-events-and-payloads
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jux_submit.models import CIContext
from jux_submit.providers.base import (
    Env,
    Provider,
    head_and_merge,
    is_sha,
    join_url,
    plain_branch,
    pull_number_from_ref,
    tag_from_ref,
    workspace_from,
)

# Events whose GITHUB_REF is refs/pull/N/merge and GITHUB_SHA the synthetic merge commit.
_MERGE_REF_EVENTS = frozenset(
    {"pull_request", "pull_request_review", "pull_request_review_comment"}
)
# Merge queue branches: gh-readonly-queue/<base branch>/pr-<number>-<base SHA>.
_QUEUE_REF_RE = re.compile(
    r"^(?:refs/heads/)?gh-readonly-queue/(.+)/pr-(\d+)-[0-9a-f]{40}(?:[0-9a-f]{24})?$"
)


def load_event(path: str | None) -> dict[str, Any]:
    """The event payload at ``path``; an empty dict when it is missing, unreadable or not JSON."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _text(data: Any, *keys: str) -> str | None:
    """``data[k1][k2]…`` as a stripped string, or None."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    if isinstance(data, bool) or data is None:
        return None
    text = str(data).strip()
    return text or None


def _sha(value: str | None) -> str | None:
    value = (value or "").lower()
    return value if is_sha(value) else None


def is_gitea(env: Env) -> bool:
    """Gitea (and its fork Forgejo) run GitHub-style workflows and set GITHUB_ACTIONS too."""
    return env.is_true("GITEA_ACTIONS") or env.is_true("FORGEJO_ACTIONS")


def is_github(env: Env) -> bool:
    return env.get("GITHUB_ACTIONS") == "true" and env.has("GITHUB_RUN_ID")


def read_github(env: Env, provider_id: str = "github-actions") -> CIContext:
    """The run described by GitHub's variables and, for review events, its event payload."""
    server = env.url("GITHUB_SERVER_URL")
    repository = env.get("GITHUB_REPOSITORY")
    run_id = env.number("GITHUB_RUN_ID")
    run_number = env.number("GITHUB_RUN_NUMBER")
    attempt = env.number("GITHUB_RUN_ATTEMPT")
    event_name = env.get("GITHUB_EVENT_NAME")
    ref = env.get("GITHUB_REF")
    sha = env.sha("GITHUB_SHA")
    event = load_event(env.get("GITHUB_EVENT_PATH"))
    pull = event.get("pull_request") if isinstance(event.get("pull_request"), dict) else None

    branch = tag = pull_request = source = target = merge_commit = None
    commit = sha
    if pull is not None or (ref or "").startswith("refs/pull/") or env.get("GITHUB_HEAD_REF"):
        pull_request = _text(pull, "number") or _text(event, "number") or pull_number_from_ref(ref)
        source = plain_branch(env.get("GITHUB_HEAD_REF") or _text(pull, "head", "ref"))
        target = plain_branch(env.get("GITHUB_BASE_REF") or _text(pull, "base", "ref"))
        branch = source
        head_sha = _sha(_text(pull, "head", "sha"))
        if (ref or "").startswith("refs/pull/"):
            tests_merge = (ref or "").endswith("/merge")  # Gitea builds refs/pull/N/head
        else:
            tests_merge = event_name in _MERGE_REF_EVENTS
        if tests_merge:
            # GITHUB_SHA is the merge of head into base; the head SHA is in the payload only.
            commit, merge_commit = head_and_merge(sha, head_sha)
        else:
            # pull_request_target: GITHUB_SHA is the base branch tip, not the pull request;
            # without the payload, git tells what was checked out. Gitea builds refs/pull/N/head.
            commit = head_sha or (sha if (ref or "").endswith("/head") else None)
    elif event_name == "merge_group":
        # A queue run tests a temporary branch that may never be merged (a pull request ahead
        # of it can fail and drop it from the queue): it is reported as that branch, never as
        # the base branch, so that it never joins the base branch's history. The pull request
        # and the base branch are named by the queue branch; the payload has them too.
        group = event.get("merge_group")
        head_ref = _text(group, "head_ref") or ref
        queue = _QUEUE_REF_RE.match(head_ref or "") or _QUEUE_REF_RE.match(ref or "")
        branch = plain_branch(head_ref) or plain_branch(env.get("GITHUB_REF_NAME"))
        target = plain_branch(_text(group, "base_ref")) or (queue.group(1) if queue else None)
        pull_request = queue.group(2) if queue else None
        commit = _sha(_text(group, "head_sha")) or sha
    elif env.get("GITHUB_REF_TYPE") == "tag" or tag_from_ref(ref):
        tag = tag_from_ref(ref) or env.get("GITHUB_REF_NAME")
    else:
        branch = plain_branch(ref) if (ref or "").startswith("refs/heads/") else None
        branch = branch or (plain_branch(env.get("GITHUB_REF_NAME")) if not ref else None)

    repository_url = join_url(server, repository)
    if provider_id == "gitea-actions":
        # Gitea's web UI addresses runs by their per-repository number, not the database id.
        build_url = join_url(repository_url, "actions/runs", run_number)
    else:
        build_url = join_url(repository_url, "actions/runs", run_id)
        if build_url and attempt and attempt != "1":
            build_url = join_url(build_url, "attempts", attempt)
    return CIContext(
        is_ci=True,
        provider=provider_id,
        branch=branch,
        tag=tag,
        commit=commit,
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=run_id,
        build_number=run_number,
        build_url=build_url,
        job_name=env.get("GITHUB_JOB"),
        repository=repository,
        repository_url=repository_url,
        workspace=env.path("GITHUB_WORKSPACE"),
        actor=env.get("GITHUB_TRIGGERING_ACTOR", "GITHUB_ACTOR"),
        run_attempt=attempt,
        event=event_name,
        merge_commit=merge_commit,
        server_url=server,
    )


def read_gitea(env: Env) -> CIContext:
    return read_github(env, "gitea-actions")


GITEA = Provider("gitea-actions", is_gitea, read_gitea, workspace_from("GITHUB_WORKSPACE"))
GITHUB = Provider("github-actions", is_github, read_github, workspace_from("GITHUB_WORKSPACE"))
