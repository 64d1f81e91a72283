"""One comment per pull request (GitHub) or merge request (GitLab), kept up to date.

The comment is found again by a hidden marker on its first line (an HTML comment naming the
project by a digest: one comment per project and pull request). Reruns update it; nothing is
added. GitHub: the issue-comments REST endpoints, ``Authorization: Bearer``, pages followed
through the ``Link`` header. GitLab: the merge-request notes endpoints, ``PRIVATE-TOKEN``,
pages followed through ``X-Next-Page``; system notes are skipped.

Trust: the platform's answers are checked before use; a ``Link`` that leaves the API's origin
is not followed (it would carry the token elsewhere); a marker anyone could have pasted is
only a hint: when the found comment cannot be edited, a new one is created. No token ever
goes over plain HTTP to another host unless ``--allow-insecure-http``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

from jux_submit.client import Budget
from jux_submit.errors import JuxError
from jux_submit.models import Record, record
from jux_submit.settings import is_loopback_host

if TYPE_CHECKING:
    from jux_submit.client import Answer
    from jux_submit.models import CIContext
    from jux_submit.settings import Settings

log = logging.getLogger("jux_submit")

GITHUB_API_VERSION = "2022-11-28"
GITHUB_ACCEPT = "application/vnd.github+json"
GITHUB_DEFAULT_API = "https://api.github.com"
#: each platform's limit on a comment's length, in characters
GITHUB_LIMIT = 65_536
GITLAB_LIMIT = 1_000_000
#: the most the comment's requests may take together, in seconds (``--timeout`` may cut it)
COMMENT_LIMIT = 15.0
PER_PAGE = 100
MAX_PAGES = 30
_SLUG_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_DIGITS_RE = re.compile(r"^[0-9]{1,12}$")
EVENT_LIMIT = 25 * 1024 * 1024


class Http(Protocol):
    """What the comment needs of an HTTP client (``transport.ApiClient``)."""

    def request(
        self,
        method: str,
        url: str,
        *,
        limit: float,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> Answer: ...


@record
class Target(Record):
    """Where the comment goes and how to reach it."""

    platform: str  # "github" or "gitlab"
    api_root: str
    collection: str  # the URL listing and creating the comments
    item_prefix: str  # + "/<id>": one comment
    auth: tuple[str, str]  # the header carrying the token
    headers: tuple[tuple[str, str], ...]
    where: str  # "pull request #12 of acme/shop", for messages
    limit: int
    token: str
    edit_method: str  # PATCH (GitHub) or PUT (GitLab)

    @property
    def permission(self) -> str:
        if self.platform == "github":
            return (
                "the token needs 'pull-requests: write' (workflow 'permissions:'); a pull "
                "request from a fork gets a read-only token"
            )
        return (
            "JUX_GITLAB_TOKEN needs the 'api' scope (a project or personal access token; "
            "CI_JOB_TOKEN cannot write notes)"
        )


@record
class Outcome(Record):
    """What happened, in one line (``note``); ``is_warning`` when the user must act."""

    note: str
    is_warning: bool = False


def marker_for(project: str) -> str:
    digest = hashlib.sha256(project.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"<!-- jux-submit:changes project={digest} -->"


def _event_number(path: str | None) -> str | None:
    """The pull request's number in the GitHub event payload, or None."""
    if not path:
        return None
    try:
        with open(path, "rb") as handle:  # noqa: PTH123  (the runner's own file)
            data = json.loads(handle.read(EVENT_LIMIT + 1)[:EVENT_LIMIT])
    except (OSError, ValueError, RecursionError):
        return None
    pull = data.get("pull_request") if isinstance(data, dict) else None
    number = pull.get("number") if isinstance(pull, dict) else None
    if isinstance(number, int) and not isinstance(number, bool) and 0 < number < 10**12:
        return str(number)
    return None


_TOKEN_RE = re.compile(r"^[\x21-\x7e]{1,4096}$")


def _bad_token(token: str, what: str) -> Outcome | None:
    """A token with whitespace, controls or non-ASCII characters (a line break copied with
    it) cannot go in a header: one warning, never the token."""
    if _TOKEN_RE.match(token):
        return None
    return Outcome(
        f"no comment: the {what} contains whitespace, control or non-ASCII characters (copied "
        "with a line break?); it is not shown",
        is_warning=True,
    )


def find_target(settings: Settings, context: CIContext) -> Target | Outcome:
    """The pull or merge request of this build and the token for it, or why there is none."""
    env = settings.environ
    if context.provider == "github-actions":
        number = _event_number(env.get("GITHUB_EVENT_PATH"))
        if number is None:
            return Outcome("no pull-request comment: this build is not for a pull request")
        if not settings.github_token:
            return Outcome(
                "no pull-request comment: no GitHub token (set the 'github-token' input or "
                "GITHUB_TOKEN)",
                is_warning=True,
            )
        bad = _bad_token(settings.github_token, "GitHub token")
        if bad is not None:
            return bad
        repo = env.get("GITHUB_REPOSITORY", "").strip()
        if not _SLUG_RE.match(repo):
            return Outcome("no pull-request comment: GITHUB_REPOSITORY is not owner/name")
        root = (env.get("GITHUB_API_URL", "").strip() or GITHUB_DEFAULT_API).rstrip("/")
        base = f"{root}/repos/{repo}/issues"
        return Target(
            "github",
            root,
            f"{base}/{number}/comments",
            f"{base}/comments",
            ("Authorization", f"Bearer {settings.github_token}"),
            (("Accept", GITHUB_ACCEPT), ("X-GitHub-Api-Version", GITHUB_API_VERSION)),
            f"pull request #{number} of {repo}",
            GITHUB_LIMIT,
            settings.github_token,
            "PATCH",
        )
    if context.provider == "gitlab-ci":
        iid = env.get("CI_MERGE_REQUEST_IID", "").strip()
        if not _DIGITS_RE.match(iid):
            return Outcome("no merge-request note: this pipeline is not for a merge request")
        if not settings.gitlab_token:
            return Outcome(
                "no merge-request note: set JUX_GITLAB_TOKEN (a project or personal access "
                "token with the 'api' scope; CI_JOB_TOKEN cannot write notes)",
                is_warning=True,
            )
        bad = _bad_token(settings.gitlab_token, "GitLab token (JUX_GITLAB_TOKEN)")
        if bad is not None:
            return bad
        project = env.get("CI_PROJECT_ID", "").strip()
        root = env.get("CI_API_V4_URL", "").strip().rstrip("/")
        if not _DIGITS_RE.match(project) or not root.lower().startswith(("http://", "https://")):
            return Outcome("no merge-request note: CI_PROJECT_ID or CI_API_V4_URL is missing")
        base = f"{root}/projects/{quote(project, safe='')}/merge_requests/{iid}/notes"
        return Target(
            "gitlab",
            root,
            base,
            base,
            ("PRIVATE-TOKEN", settings.gitlab_token),
            (),
            f"merge request !{iid}",
            GITLAB_LIMIT,
            settings.gitlab_token,
            "PUT",
        )
    return Outcome("no pull-request comment: only GitHub Actions and GitLab CI are supported")


def insecure_problem(target: Target, settings: Settings) -> str | None:
    """Why the token must not be sent to ``target`` (plain HTTP off loopback), or None."""
    parts = urlsplit(target.api_root)
    if parts.scheme == "https" or is_loopback_host(parts.hostname):
        return None
    if parts.scheme == "http" and settings.allow_insecure_http:
        return None
    return (
        f"no comment on {target.where}: refusing to send the token over plain HTTP to "
        f"{parts.hostname} (use https, or opt in with --allow-insecure-http)"
    )


class CommentError(Exception):
    """A request about the comment failed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def upsert(
    http: Http, target: Target, body: str, marker: str, *, seconds: float, create: bool = True
) -> Outcome:
    """Update the comment carrying ``marker``, or create one (unless not ``create``); never
    raises."""
    budget = Budget(seconds)
    try:
        found = _find(http, target, marker, budget)
        if found is None and not create:
            return Outcome(f"no changes to comment on {target.where}")
        if found is not None:
            comment_id, old_body = found
            if old_body == body:
                return Outcome(f"the comment on {target.where} is up to date")
            answer = _call(
                http, target.edit_method, f"{target.item_prefix}/{comment_id}", budget, body=body
            )
            if 200 <= answer.status < 300:
                return Outcome(f"updated the comment on {target.where}")
            if answer.status not in (403, 404):
                raise CommentError(f"HTTP {answer.status}", answer.status)
            log.info("the marked comment on %s cannot be edited: adding one", target.where)
        answer = _call(http, "POST", target.collection, budget, body=body)
        if 200 <= answer.status < 300:
            return Outcome(f"added a comment on {target.where}")
        raise CommentError(f"HTTP {answer.status}", answer.status)
    except CommentError as exc:
        if exc.status in (401, 403, 404):
            return Outcome(
                f"could not comment on {target.where} ({exc}): {target.permission}",
                is_warning=True,
            )
        return Outcome(f"could not comment on {target.where}: {exc}", is_warning=True)


def _call(
    http: Http,
    method: str,
    url: str,
    budget: Budget,
    *,
    body: str | None = None,
    params: Mapping[str, str] | None = None,
) -> Answer:
    left = budget.left()
    if left <= 0.05:
        raise CommentError("the platform's API took too long")
    try:
        return http.request(
            method,
            url,
            limit=left,
            params=params,
            json_body={"body": body} if body is not None else None,
        )
    except JuxError as exc:
        raise CommentError(f"no answer ({exc.message})") from None


def _find(http: Http, target: Target, marker: str, budget: Budget) -> tuple[str, str] | None:
    """The id and body of the comment carrying ``marker``: the newest by a bot, else the
    newest."""
    matches: list[tuple[bool, str, str]] = []  # (by a bot, id, body)
    url = target.collection
    first = {"per_page": str(PER_PAGE), "page": "1"}
    if target.platform == "gitlab":  # GitLab lists newest first unless asked
        first.update(sort="asc", order_by="created_at")
    params: dict[str, str] | None = first
    for page in range(1, MAX_PAGES + 1):
        answer = _call(http, "GET", url, budget, params=params)
        if answer.status != 200:
            raise CommentError(f"HTTP {answer.status} listing the comments", answer.status)
        try:
            items = json.loads(answer.body)
        except (ValueError, RecursionError):
            raise CommentError("the list of comments is not JSON") from None
        if not isinstance(items, list):
            raise CommentError("the list of comments is not a JSON array")
        for item in items:
            match = _match(item, target, marker)
            if match is not None:
                matches.append(match)
        following = _next_page(answer, target, url, page)
        if following is None:
            break
        url, params = following
    # only comments this tool can have written: a bot's (the Actions token, a project or
    # group access token), or on GitHub one by a member of the repository (a personal token);
    # a marker pasted by anyone else is left alone, and a new comment is added
    mine = [m for m in matches if m[0]]
    if not mine:
        return None
    # the newest (the highest id: GitLab lists newest first, GitHub oldest first)
    _, comment_id, body = max(mine, key=lambda m: int(m[1]))
    return comment_id, body


def _match(item: Any, target: Target, marker: str) -> tuple[bool, str, str] | None:
    if not isinstance(item, dict):
        return None
    body, comment_id = item.get("body"), item.get("id")
    if not isinstance(body, str) or not body.startswith(marker):
        return None
    if isinstance(comment_id, bool) or not isinstance(comment_id, int) or comment_id <= 0:
        return None
    if target.platform == "gitlab":
        if item.get("system") is True:
            return None
        author = item.get("author")
        username = author.get("username") if isinstance(author, dict) else None
        is_ours = isinstance(username, str) and bool(_GITLAB_BOT_RE.match(username))
    else:
        user = item.get("user")
        is_ours = (isinstance(user, dict) and user.get("type") == "Bot") or item.get(
            "author_association"
        ) in _MEMBERS
    return is_ours, str(comment_id), body


#: GitHub's associations of people who can hold a token that writes to the repository
_MEMBERS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
#: GitLab's project and group access tokens act as these bot users
_GITLAB_BOT_RE = re.compile(r"^(project|group)_[0-9]+_bot")
_LINK_NEXT_RE = re.compile(r'<([^<>]+)>\s*;\s*rel="?next"?')


def _next_page(
    answer: Answer, target: Target, url: str, page: int
) -> tuple[str, dict[str, str] | None] | None:
    """The next page's URL and parameters, or None on the last page."""
    if target.platform == "gitlab":
        nxt = answer.headers.get("x-next-page", "").strip()
        if not _DIGITS_RE.match(nxt) or int(nxt) <= page:
            return None
        return url, {
            "per_page": str(PER_PAGE),
            "page": nxt,
            "sort": "asc",
            "order_by": "created_at",
        }
    link = answer.headers.get("link", "")
    found = _LINK_NEXT_RE.search(link)
    if found is None:
        return None
    nxt_url = found.group(1)
    if not _same_origin(nxt_url, target.api_root):
        log.warning("the comments' next page points outside %s: not followed", target.api_root)
        return None
    return nxt_url, None


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:
        return ("", None, None)
    return scheme, parts.hostname, port


def _same_origin(url: str, root: str) -> bool:
    a, b = urlsplit(url), urlsplit(root)
    return _origin(url) == _origin(root) and (
        a.path.startswith(b.path.rstrip("/") + "/") or not b.path.strip("/")
    )
