"""A loopback stand-in for the three GitHub REST endpoints the pull-request comment uses.

Endpoints ("REST API endpoints for issue comments", https://docs.github.com/rest/issues/comments):

- ``GET /repos/{owner}/{repo}/issues/{issue_number}/comments`` ("List issue comments"): query
  ``since``, ``per_page`` (default 30, max 100) and ``page`` (default 1); a JSON array of issue
  comment objects, "ordered by ascending ID". ``since`` keeps the comments updated at or after it.
- ``POST /repos/{owner}/{repo}/issues/{issue_number}/comments`` ("Create an issue comment"):
  JSON ``{"body": ...}``; ``201 Created`` with the comment and a ``Location`` header (its URL).
- ``PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}`` ("Update an issue comment"):
  JSON ``{"body": ...}``; ``200 OK`` with the comment, ``updated_at`` moved; unknown id: 404.

A comment object carries ``id`` (an integer; these start above 2**31, as GitHub's do now),
``node_id``, ``url``, ``html_url``, ``body``, ``user`` (``login``, ``id``, ``type``...),
``created_at``, ``updated_at``, ``issue_url``, ``author_association`` and
``performed_via_github_app``, as in the endpoint's response schema on that page.

Pagination follows "Using pagination in the REST API"
(https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api): a ``link``
header only when there is more than one page, its parts in GitHub's order ``prev``, ``next``,
``last``, ``first`` (the first page has no ``prev``/``first``, the last no ``next``/``last``),
each an absolute URL to this server written by repository id (``/repositories/{id}/...``, as in
that page's example), keeping the client's other query parameters (``per_page``, ``since``).
This server answers those ``/repositories/{id}/issues/{n}/comments`` URLs too.

Checks on every request (each failed one is a violation in ``violations``; the first that GitHub
would refuse also picks the answer):

- ``Authorization: Bearer <token>`` ("Authenticating to the REST API",
  https://docs.github.com/rest/authentication/authenticating-to-the-rest-api): none is 401
  ``Requires authentication``, a wrong token 401 ``Bad credentials``; the legacy ``token <t>``
  scheme works on GitHub, so it is answered normally but recorded (this project sends Bearer).
- ``Accept: application/vnd.github+json`` ("Getting started with the REST API",
  https://docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api, and
  "Media types") and ``X-GitHub-Api-Version: 2022-11-28`` ("API Versions",
  https://docs.github.com/rest/about-the-rest-api/api-versions): a missing one is recorded but
  answered, since GitHub then uses 2022-11-28; a version it does not support is ``400``.
- a non-empty ``User-Agent``: "Requests with no User-Agent header will be rejected" (403),
  per "Getting started with the REST API" and "Troubleshooting the REST API"
  (https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api).
- for POST/PATCH: valid JSON (else 400 "Problems parsing JSON"); a JSON object (else 400 "Body
  should be a JSON object"); ``body`` given and a string (else 422 "Invalid request"), all three
  from "Troubleshooting the REST API"; no other key (GitHub ignores extra keys, so they are only
  recorded); at most 65,536 characters, else 422 "Validation Failed" with an ``errors`` list, the
  answer GitHub gives ("Body is too long (maximum is 65536 characters)", as reported against
  the API in e.g. telia-oss/github-pr-resource#259 and suzuki-shunsuke/github-comment#124); the
  ``errors[].code`` values are those the troubleshooting page lists. Two answers are this
  server's own, the documentation naming none: ``Content-Type`` other than
  ``application/json`` gets 415, and a blank ``body`` 422 ``missing_field``.
- no body on GET, only the documented query parameters, no unknown route (404 ``Not Found``),
  no trailing slash (404, as the troubleshooting page says).
- editing a comment written by someone else is answered (users with write access may) but
  recorded: the project's client must only ever touch its own comment.

Scripting: ``deny_writes`` (e.g. 403 ``Resource not accessible by integration``, what a fork
pull request's read-only ``GITHUB_TOKEN`` gets: "Maximum access for pull requests from public
forked repositories" is read, per "GITHUB_TOKEN reference" / "Automatic token authentication",
https://docs.github.com/actions/reference/github_token-reference, and the message is the one
"Troubleshooting the REST API" > "Resource not accessible" names), ``deny_all`` (every request
gets that status), ``seed_comment`` (comments by other users), ``per_page_default``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from tests.platform_api.common import (
    Checks,
    LoggedRequest,
    LogicalClock,
    LoopbackApi,
    Reply,
    link_header,
    media_params,
    media_type,
    pages,
    query_with,
)

API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
MAX_BODY = 65536
MAX_PER_PAGE = 100
DOCS = "https://docs.github.com/rest/issues/comments"
DOC_LIST = f"{DOCS}#list-issue-comments"
DOC_CREATE = f"{DOCS}#create-an-issue-comment"
DOC_UPDATE = f"{DOCS}#update-an-issue-comment"
DOC_ROOT = "https://docs.github.com/rest"
USER_AGENT_REFUSAL = (
    b"Request forbidden by administrative rules. Please make sure your request has a "
    b"User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api"
    b"#user-agent-required). Check https://developer.github.com for other possible causes.\n"
)
LIST_PARAMS = frozenset({"since", "per_page", "page"})
FIRST_COMMENT_ID = 2_147_483_701
GITHUB_ACTIONS_BOT_ID = 41898282
DEFAULT_TOKEN = "ghs_juxTestToken0123456789abcdefABCDEF"


@dataclass
class GithubUser:
    login: str
    id: int
    type: str = "User"

    def as_json(self, api_url: str) -> dict[str, Any]:
        kind = "Bot" if self.type == "Bot" else "User"
        node = base64.b64encode(f"04:{kind}{self.id}".encode()).decode()
        return {
            "login": self.login,
            "id": self.id,
            "node_id": node,
            "avatar_url": f"https://avatars.githubusercontent.com/u/{self.id}?v=4",
            "url": f"{api_url}/users/{self.login}",
            "html_url": f"https://github.com/{self.login}",
            "type": self.type,
            "site_admin": False,
        }


@dataclass
class _Comment:
    id: int
    issue: int
    body: str
    user: GithubUser
    created_at: datetime
    updated_at: datetime
    author_association: str


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, message: str, doc: str = DOC_ROOT, **extra: Any) -> Reply:
    return Reply(
        status, {"message": message, **extra, "documentation_url": doc, "status": str(status)}
    )


_DENIAL_MESSAGES = {
    401: "Bad credentials",
    403: "Resource not accessible by integration",
    404: "Not Found",
    410: "Gone",
    422: "Validation Failed",
    429: "API rate limit exceeded",
    500: "Server Error",
    503: "Service Unavailable",
}


class GithubApi(LoopbackApi):
    """GitHub's issue-comment endpoints for one repository, on 127.0.0.1.

    Attributes tests may set at any time: ``deny_writes``, ``deny_all`` (a status or None),
    ``per_page_default``. ``login``/``user_type``/``user_id`` is the token's user, the author of
    every comment created through the API.
    """

    server_version = "GitHub.com"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        owner: str = "jux-org",
        repo: str = "jux-repo",
        repo_id: int = 700100200,
        issues: Iterable[int] = (1,),
        login: str = "github-actions[bot]",
        user_type: str = "Bot",
        user_id: int = GITHUB_ACTIONS_BOT_ID,
        per_page_default: int = 30,
        deny_writes: int | None = None,
        deny_all: int | None = None,
        clock: LogicalClock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        self.owner = owner
        self.repo = repo
        self.repo_id = repo_id
        self.issues: set[int] = set(issues)
        self.identity = GithubUser(login, user_id, user_type)
        self.per_page_default = per_page_default
        self.deny_writes = deny_writes
        self.deny_all = deny_all
        self.clock = clock or LogicalClock()
        self._comments: dict[int, _Comment] = {}
        self._next_id = FIRST_COMMENT_ID
        self._next_user_id = 5_000_001

    # --- scripting ---------------------------------------------------------------------
    @property
    def login(self) -> str:
        return self.identity.login

    def add_issue(self, issue: int) -> None:
        with self.lock:
            self.issues.add(issue)

    def seed_comment(
        self,
        issue: int,
        body: str,
        login: str = "someone",
        type: str = "User",
        author_association: str = "CONTRIBUTOR",
    ) -> int:
        """Plant a comment by ``login`` on ``issue`` (created if unknown); returns its id."""
        with self.lock:
            self.issues.add(issue)
            if login == self.identity.login:
                user = self.identity
            else:
                user = GithubUser(login, self._next_user_id, type)
                self._next_user_id += 1
            return self._store(issue, body, user, author_association).id

    # --- inspection --------------------------------------------------------------------
    def comments(self, issue: int) -> list[dict[str, Any]]:
        """The comments of ``issue`` as the API shows them, oldest first."""
        with self.lock:
            return [self._as_json(c) for c in self._sorted(issue)]

    def comment(self, comment_id: int) -> dict[str, Any] | None:
        with self.lock:
            found = self._comments.get(comment_id)
            return self._as_json(found) if found else None

    # --- state -------------------------------------------------------------------------
    def _store(
        self, issue: int, body: str, user: GithubUser, association: str = "NONE"
    ) -> _Comment:
        moment = self.clock.tick()
        comment = _Comment(self._next_id, issue, body, user, moment, moment, association)
        self._comments[comment.id] = comment
        self._next_id += 1
        return comment

    def _sorted(self, issue: int) -> list[_Comment]:
        return sorted((c for c in self._comments.values() if c.issue == issue), key=lambda c: c.id)

    def _comment_url(self, comment_id: int) -> str:
        return f"{self.url}/repos/{self.owner}/{self.repo}/issues/comments/{comment_id}"

    def _as_json(self, c: _Comment) -> dict[str, Any]:
        node = base64.b64encode(f"012:IssueComment{c.id}".encode()).decode()
        return {
            "id": c.id,
            "node_id": node,
            "url": self._comment_url(c.id),
            "html_url": (
                f"https://github.com/{self.owner}/{self.repo}/pull/{c.issue}#issuecomment-{c.id}"
            ),
            "body": c.body,
            "user": c.user.as_json(self.url),
            "created_at": _stamp(c.created_at),
            "updated_at": _stamp(c.updated_at),
            "issue_url": f"{self.url}/repos/{self.owner}/{self.repo}/issues/{c.issue}",
            "author_association": c.author_association,
            "performed_via_github_app": None,
        }

    # --- dispatch ----------------------------------------------------------------------
    def handle(self, req: LoggedRequest) -> Reply:
        checks = Checks(req, self.lock)
        route = self._route(req, checks)
        if route is not None:
            self._check_headers(req, checks)
            if self.deny_all is not None:
                status = self.deny_all
                checks.answer(_error(status, _DENIAL_MESSAGES.get(status, "Error"), route[1]))
            self._check_auth(req, checks)
            self._check_query(req, checks, route[0])
            if req.method == "GET" and req.body:
                checks.violation("GET with a request body")
            with self.lock:
                reply = self._endpoint(req, checks, route)
        else:
            reply = None
        final = checks.reply or reply or _error(500, "Server Error")
        final.headers.update(self._common_headers(req))
        return final

    def _common_headers(self, req: LoggedRequest) -> dict[str, str]:
        with self.lock:
            used = len(self.requests)
        return {
            "X-GitHub-Api-Version-Selected": API_VERSION,
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(max(0, 5000 - used)),
            "X-RateLimit-Used": str(min(5000, used)),
            "X-RateLimit-Resource": "core",
        }

    def _route(self, req: LoggedRequest, checks: Checks) -> tuple[str, str, list[str]] | None:
        """(endpoint, documentation URL, path arguments), or None after answering 404.

        GitHub answers 404 for a path it does not serve, a method a path does not take, or a
        trailing slash ("Troubleshooting the REST API" > "404 Not Found").
        """
        parts = [unquote(p) for p in req.path.split("/")[1:]]
        route: tuple[str, str, list[str]] | None = None
        if "" in parts:
            route = None
        elif len(parts) == 6 and parts[0] == "repos" and parts[3] == "issues":
            if parts[4] == "comments" and req.method == "PATCH":
                route = ("update", DOC_UPDATE, [parts[1], parts[2], parts[5]])
            elif parts[5] == "comments" and req.method == "GET":
                route = ("list", DOC_LIST, [parts[1], parts[2], parts[4]])
            elif parts[5] == "comments" and req.method == "POST":
                route = ("create", DOC_CREATE, [parts[1], parts[2], parts[4]])
        elif (
            len(parts) == 5
            and parts[0] == "repositories"
            and parts[2] == "issues"
            and parts[4] == "comments"
            and req.method == "GET"
        ):
            route = ("list_by_id", DOC_LIST, [parts[1], parts[3]])
        if route is None:
            checks.violation(
                f"no such endpoint here: {req.method} {req.path}",
                _error(404, "Not Found", DOC_ROOT),
            )
        return route

    def _check_headers(self, req: LoggedRequest, checks: Checks) -> None:
        accept = [media_type(part) for part in (req.header("accept") or "").split(",")]
        if MEDIA_TYPE not in accept:
            checks.violation(f"Accept is {req.header('accept')!r}, not {MEDIA_TYPE!r}")
        version = req.header("x-github-api-version")
        if version is None:
            checks.violation(f"no X-GitHub-Api-Version header (GitHub then assumes {API_VERSION})")
        elif version.strip() != API_VERSION:
            checks.violation(
                f"X-GitHub-Api-Version is {version!r}, not {API_VERSION!r}",
                _error(
                    400,
                    f"API version {version} is not supported.",
                    "https://docs.github.com/rest/about-the-rest-api/api-versions",
                ),
            )
        if not (req.header("user-agent") or "").strip():
            checks.violation(
                "no User-Agent header (GitHub refuses the request)",
                Reply(403, USER_AGENT_REFUSAL, content_type="text/plain; charset=utf-8"),
            )

    def _check_auth(self, req: LoggedRequest, checks: Checks) -> None:
        value = req.header("authorization")
        if value is None or not value.strip():
            checks.violation(
                "no Authorization header", _error(401, "Requires authentication", DOC_ROOT)
            )
            return
        scheme, _, credential = value.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer":
            if credential != self.token:
                checks.violation("wrong token", _error(401, "Bad credentials", DOC_ROOT))
            return
        if scheme.lower() == "token":
            checks.violation("Authorization uses the legacy 'token' scheme instead of 'Bearer'")
            if credential != self.token:
                checks.violation("wrong token", _error(401, "Bad credentials", DOC_ROOT))
            return
        checks.violation(
            f"Authorization scheme {scheme!r} instead of 'Bearer'",
            _error(401, "Bad credentials", DOC_ROOT),
        )

    def _check_query(self, req: LoggedRequest, checks: Checks, endpoint: str) -> None:
        known = LIST_PARAMS if endpoint in ("list", "list_by_id") else frozenset()
        for name, values in req.query.items():
            if name not in known:
                checks.violation(f"unknown query parameter {name!r}")
            elif len(values) > 1:
                checks.violation(f"query parameter {name!r} given {len(values)} times")

    def _int_param(
        self, req: LoggedRequest, checks: Checks, name: str, default: int, maximum: int | None
    ) -> int:
        values = req.query.get(name)
        if not values:
            return default
        raw = values[-1]
        if not raw.isdigit() or int(raw) < 1:
            checks.violation(f"{name}={raw!r} is not a positive integer (GitHub uses {default})")
            return default
        if maximum is not None and int(raw) > maximum:
            checks.violation(f"{name}={raw} is over the maximum of {maximum} (GitHub uses it)")
            return maximum
        return int(raw)

    # --- endpoints (called with the lock held) -----------------------------------------
    def _endpoint(
        self, req: LoggedRequest, checks: Checks, route: tuple[str, str, list[str]]
    ) -> Reply | None:
        name, doc, args = route
        if name == "list_by_id":
            if args[0] != str(self.repo_id):
                checks.violation(f"no repository with id {args[0]}", _error(404, "Not Found", doc))
                return None
            issue_arg = args[1]
        else:
            owner, repo = args[0], args[1]
            if (owner.lower(), repo.lower()) != (self.owner.lower(), self.repo.lower()):
                checks.violation(f"no repository {owner}/{repo}", _error(404, "Not Found", doc))
                return None
            issue_arg = args[2]
        if name == "update":
            return self._update(req, checks, issue_arg, doc)
        issue = int(issue_arg) if issue_arg.isdigit() else None
        if issue is None or issue not in self.issues:
            checks.violation(f"no issue or pull request {issue_arg}", _error(404, "Not Found", doc))
            return None
        if name in ("list", "list_by_id"):
            return self._list(req, checks, issue)
        return self._create(req, checks, issue, doc)

    def _list(self, req: LoggedRequest, checks: Checks, issue: int) -> Reply | None:
        per_page = self._int_param(req, checks, "per_page", self.per_page_default, MAX_PER_PAGE)
        page = self._int_param(req, checks, "page", 1, None)
        found = self._sorted(issue)
        since_values = req.query.get("since")
        if since_values:
            try:
                since = datetime.fromisoformat(since_values[-1])
                if since.tzinfo is None:
                    since = since.replace(tzinfo=UTC)
            except ValueError:
                checks.violation(f"since={since_values[-1]!r} is not an ISO 8601 timestamp")
            else:
                found = [c for c in found if c.updated_at >= since]
        if checks.failed:
            return None
        last = pages(len(found), per_page)
        chunk = found[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        if last > 1 or page > 1:
            base = f"{self.url}/repositories/{self.repo_id}/issues/{issue}/comments"

            def to(number: int) -> str:
                return f"{base}?{query_with(req.query, (), page=number)}"

            links: list[tuple[str, str]] = []
            if page > 1:
                links.append((to(min(page - 1, last)), "prev"))
            if page < last:
                links += [(to(page + 1), "next"), (to(last), "last")]
            if page > 1:
                links.append((to(1), "first"))
            headers["Link"] = link_header(links)
        return Reply(200, [self._as_json(c) for c in chunk], headers)

    def _body(self, req: LoggedRequest, checks: Checks, doc: str) -> str | None:
        """The ``body`` of a POST/PATCH, after every check GitHub makes of it."""
        ctype = req.header("content-type")
        if media_type(ctype) != "application/json":
            checks.violation(
                f"Content-Type is {ctype!r}, not 'application/json'",
                _error(415, f"Unsupported 'Content-Type' header: {ctype or ''}", doc),
            )
        charset = media_params(ctype).get("charset")
        if charset is not None and charset.lower() not in ("utf-8", "utf8"):
            checks.violation(f"Content-Type charset is {charset!r}, not utf-8")
        try:
            data = req.json()
        except (UnicodeDecodeError, ValueError):
            checks.violation("body is not valid JSON", _error(400, "Problems parsing JSON", doc))
            return None
        if not isinstance(data, dict):
            checks.violation(
                "body is not a JSON object", _error(400, "Body should be a JSON object", doc)
            )
            return None
        extra = sorted(set(data) - {"body"})
        if extra:
            checks.violation(f"unexpected keys in the JSON body: {extra}")
        if "body" not in data:
            checks.violation(
                "no 'body' in the JSON body",
                _error(422, 'Invalid request.\n\n"body" wasn\'t supplied.', doc),
            )
            return None
        body = data["body"]
        if not isinstance(body, str):
            checks.violation(
                f"'body' is a {type(body).__name__}, not a string",
                _error(
                    422,
                    f"Invalid request.\n\nFor 'properties/body', {body!r} is not a string.",
                    doc,
                ),
            )
            return None
        if not body.strip():
            checks.violation(
                "'body' is blank",
                _error(
                    422,
                    "Validation Failed",
                    doc,
                    errors=[
                        {
                            "resource": "IssueComment",
                            "code": "missing_field",
                            "field": "body",
                        }
                    ],
                ),
            )
        elif len(body) > MAX_BODY:
            checks.violation(
                f"'body' has {len(body)} characters, over GitHub's {MAX_BODY}",
                _error(
                    422,
                    "Validation Failed",
                    doc,
                    errors=[
                        {
                            "resource": "IssueComment",
                            "code": "unprocessable",
                            "field": "data",
                            "message": f"Body is too long (maximum is {MAX_BODY} characters)",
                        }
                    ],
                ),
            )
        return body

    def _deny_write(self, checks: Checks, doc: str) -> None:
        if self.deny_writes is not None:
            status = self.deny_writes
            checks.answer(_error(status, _DENIAL_MESSAGES.get(status, "Error"), doc))

    def _create(self, req: LoggedRequest, checks: Checks, issue: int, doc: str) -> Reply | None:
        self._deny_write(checks, doc)
        body = self._body(req, checks, doc)
        if checks.failed or body is None:
            return None
        comment = self._store(issue, body, self.identity)
        url = self._comment_url(comment.id)
        return Reply(201, self._as_json(comment), {"Location": url})

    def _update(self, req: LoggedRequest, checks: Checks, raw_id: str, doc: str) -> Reply | None:
        comment = self._comments.get(int(raw_id)) if raw_id.isdigit() else None
        if comment is None:
            checks.violation(f"no issue comment {raw_id}", _error(404, "Not Found", doc))
        self._deny_write(checks, doc)
        body = self._body(req, checks, doc)
        if comment is not None and comment.user.login != self.identity.login:
            checks.violation(
                f"edits comment {comment.id}, written by {comment.user.login!r}, not by "
                f"{self.identity.login!r}"
            )
        if checks.failed or body is None or comment is None:
            return None
        comment.body = body
        comment.updated_at = self.clock.tick()
        return Reply(200, self._as_json(comment))
