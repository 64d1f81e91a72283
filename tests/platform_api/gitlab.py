"""A loopback stand-in for the three GitLab REST endpoints the merge-request note uses.

Paths sit under ``/api/v4`` ("REST API" > "Make a REST API request",
https://docs.gitlab.com/api/rest/); ``api_url`` is what ``CI_API_V4_URL`` holds in a job.
Endpoints ("Notes API" > "Merge requests", https://docs.gitlab.com/api/notes/):

- ``GET /projects/:id/merge_requests/:merge_request_iid/notes`` ("List all merge request
  notes"): ``sort`` (``asc``/``desc``, default ``desc``: newest first), ``order_by``
  (``created_at``/``updated_at``, default ``created_at``), ``page`` and ``per_page`` (default
  20, max 100; "Notes pagination"), and ``activity_filter`` (``all_notes``, ``only_comments``,
  ``only_activity``), which GitLab's notes API also takes though that page does not list it.
  System notes ("notes about changes to the object", e.g. "added 1 commit") are in the listing
  with ``system: true``, so a client looking for its own note has to skip them.
- ``POST /projects/:id/merge_requests/:merge_request_iid/notes`` ("Create new merge request
  note"): ``body`` required, "Limited to 1,000,000 characters"; ``201 Created`` with the note.
- ``PUT /projects/:id/merge_requests/:merge_request_iid/notes/:note_id`` ("Modify existing
  merge request note"): ``body``; ``200 OK`` with the note, ``updated_at`` moved. An unknown
  note is ``404 {"message": "404 Not found"}``; a system note is ``403 {"message": "403
  Forbidden"}``, and so is someone else's note unless the token's ``role`` is ``maintainer`` or
  ``owner`` ("You can edit your own comment at any time. Anyone with at least the Maintainer
  role can also edit a comment made by someone else": "Comments and threads" > "Edit a
  comment", https://docs.gitlab.com/user/discussions/#edit-a-comment). Either way an edit of
  someone else's note is recorded: the project's client must only touch its own note.

``:id`` is "The ID or URL-encoded path of the project" ("REST API" > "Namespaced paths": ``/``
is ``%2F``; an unencoded path "doesn't match an API endpoint and responds with a 404"); both
forms name the same project. Parameters may come as a query string, a JSON payload or form
data ("REST API" > "Request payload"; the notes page's own examples put ``body`` in the query
string), and all three are accepted here as GitLab accepts them.

A note has ``id``, ``type`` (null for a plain comment), ``body``, ``attachment``, ``author``
(``id``, ``username``, ``name``, ``state``...), ``created_at``, ``updated_at``, ``system``,
``noteable_id``, ``noteable_type`` ``"MergeRequest"``, ``project_id``, ``noteable_iid``,
``resolvable``, ``confidential``, ``internal``, ``imported``, ``imported_from``, as in the
notes page's example answers.

Pagination ("REST API" > "Offset-based pagination"): ``x-page``, ``x-per-page``,
``x-next-page`` (empty on the last page), ``x-prev-page`` (empty on the first), ``x-total``,
``x-total-pages`` and a ``link`` header with ``prev``/``next`` (when there are) and ``first``/
``last``, in that order, each URL keeping the request's other parameters.

Checks on every request (each failed one is a violation; the first GitLab would refuse also
picks the answer):

- the token in the ``PRIVATE-TOKEN`` header; none or a wrong one is ``401 {"message": "401
  Unauthorized"}`` ("REST API authentication", https://docs.gitlab.com/api/rest/authentication/).
  GitLab also takes a token as ``Authorization: Bearer``, as ``JOB-TOKEN`` or in the
  ``private_token``/``job_token``/``access_token`` parameters; sending it any of those ways is
  recorded (this project's client uses ``PRIVATE-TOKEN`` only, and a job token cannot write
  notes), and only ``PRIVATE-TOKEN`` is honoured.
- parameter types and values, answered ``400`` as GitLab's parameter validation does
  (``{"error": "sort does not have a valid value"}``, ``{"error": "per_page is invalid"}``,
  ``{"error": "body is missing"}``...). A note over the documented 1,000,000 characters (or a
  blank one) is ``400`` with the note's validation message: the notes page names no status for
  it, and GitLab's notes API (``lib/api/helpers/notes_helpers.rb``) refuses an invalid note
  with ``bad_request!`` ("REST API troubleshooting" > "Status codes",
  https://docs.gitlab.com/api/rest/troubleshooting/, lists 400 and 422; it is 400 here).
  ``per_page`` over 100 is served as 100 (the documented maximum) but recorded.
- unknown project (``404 Project Not Found``), merge request (``404 MergeRequest Not Found``),
  route (``404 {"error": "404 Not Found"}``), a method a path does not take here (405), a body
  on GET, undocumented parameters, and a body whose ``Content-Type`` GitLab would not read.

Scripting: ``deny_writes`` (``403 {"message": "403 Forbidden"}``), ``deny_all``, ``seed_note``
(notes by other users, system notes), the token user (a project access token's bot user,
``project_123_bot_abc``), ``per_page_default``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.platform_api.common import (
    Checks,
    LoggedRequest,
    LogicalClock,
    LoopbackApi,
    Reply,
    link_header,
    media_type,
    pages,
    query_with,
)

MAX_BODY = 1_000_000
MAX_PER_PAGE = 100
DEFAULT_TOKEN = "glpat-juxTestToken0123456789ab"
LIST_PARAMS = frozenset({"sort", "order_by", "activity_filter", "page", "per_page"})
CREATE_PARAMS = frozenset(
    {"body", "internal", "confidential", "created_at", "merge_request_diff_head_sha"}
)
UPDATE_PARAMS = frozenset({"body", "confidential"})
TOKEN_PARAMS = ("private_token", "job_token", "access_token")
ACTIVITY_FILTERS = frozenset({"all_notes", "only_comments", "only_activity"})
SYSTEM_NOTES = (
    "added 1 commit\n\n<ul><li>0a1b2c3d - Add the first tests</li></ul>",
    "requested review from @alice",
)


@dataclass
class GitlabUser:
    id: int
    username: str
    name: str

    def as_json(self, web: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "state": "active",
            "locked": False,
            "avatar_url": f"{web}/uploads/-/system/user/avatar/{self.id}/avatar.png",
            "web_url": f"{web}/{self.username}",
        }


@dataclass
class _Note:
    id: int
    iid: int
    body: str
    author: GitlabUser
    created_at: datetime
    updated_at: datetime
    system: bool


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def _message(status: int, message: Any) -> Reply:
    return Reply(status, {"message": message})


def _param_error(message: str, status: int = 400) -> Reply:
    return Reply(status, {"error": message})


def _note_refused(reason: str) -> Reply:
    return _message(400, f'400 Bad request - Note {{:note=>["{reason}"]}}')


_DENIALS = {
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Project Not Found",
    429: "Retry later",
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
}


class GitlabApi(LoopbackApi):
    """GitLab's merge-request note endpoints for one project, on 127.0.0.1.

    Attributes tests may set at any time: ``deny_writes``, ``deny_all`` (a status or None),
    ``per_page_default``. ``identity`` is the token's user, the author of every note created
    through the API.
    """

    server_version = "nginx"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        project_id: int = 123,
        project_path: str = "jux-group/jux-project",
        merge_requests: Iterable[int] = (1,),
        username: str = "project_123_bot_abc",
        user_id: int = 9_000_123,
        name: str = "jux-submit",
        role: str = "developer",
        system_notes: bool = True,
        per_page_default: int = 20,
        deny_writes: int | None = None,
        deny_all: int | None = None,
        clock: LogicalClock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        self.project_id = project_id
        self.project_path = project_path
        self.identity = GitlabUser(user_id, username, name)
        #: the token user's role in the project; ``maintainer``/``owner`` may edit others' notes
        self.role = role
        self.per_page_default = per_page_default
        self.deny_writes = deny_writes
        self.deny_all = deny_all
        self.clock = clock or LogicalClock()
        self.web_url = "https://gitlab.example.com"
        self._merge_requests: set[int] = set()
        self._notes: dict[int, _Note] = {}
        self._users: dict[str, GitlabUser] = {username: self.identity}
        self._next_id = 50_001
        self._system_notes = system_notes
        for iid in merge_requests:
            self.add_merge_request(iid)

    # --- scripting ---------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        """What ``CI_API_V4_URL`` holds: ``http://127.0.0.1:PORT/api/v4``."""
        return f"{self.url}/api/v4"

    @property
    def username(self) -> str:
        return self.identity.username

    def add_merge_request(self, iid: int) -> None:
        """Open merge request ``iid`` (with GitLab's first system notes, unless disabled)."""
        with self.lock:
            if iid in self._merge_requests:
                return
            self._merge_requests.add(iid)
            if self._system_notes:
                for text in SYSTEM_NOTES:
                    self.seed_note(iid, text, username="alice", system=True)

    def seed_note(
        self, iid: int, body: str, username: str = "someone", *, system: bool = False
    ) -> int:
        """Plant a note by ``username`` on merge request ``iid``; returns its id."""
        with self.lock:
            if iid not in self._merge_requests:
                self._merge_requests.add(iid)
            return self._store(iid, body, self._user(username), system=system).id

    # --- inspection --------------------------------------------------------------------
    def notes(self, iid: int, *, system: bool | None = None) -> list[dict[str, Any]]:
        """The notes of merge request ``iid`` as the API shows them, oldest first."""
        with self.lock:
            found = sorted((n for n in self._notes.values() if n.iid == iid), key=lambda n: n.id)
            return [self._as_json(n) for n in found if system is None or n.system == system]

    def note(self, note_id: int) -> dict[str, Any] | None:
        with self.lock:
            found = self._notes.get(note_id)
            return self._as_json(found) if found else None

    # --- state -------------------------------------------------------------------------
    def _user(self, username: str) -> GitlabUser:
        user = self._users.get(username)
        if user is None:
            user = GitlabUser(100 + len(self._users), username, username.capitalize())
            self._users[username] = user
        return user

    def _store(self, iid: int, body: str, author: GitlabUser, *, system: bool = False) -> _Note:
        moment = self.clock.tick()
        note = _Note(self._next_id, iid, body, author, moment, moment, system)
        self._notes[note.id] = note
        self._next_id += 1
        return note

    def _as_json(self, n: _Note) -> dict[str, Any]:
        return {
            "id": n.id,
            "type": None,
            "body": n.body,
            "attachment": None,
            "author": n.author.as_json(self.web_url),
            "created_at": _stamp(n.created_at),
            "updated_at": _stamp(n.updated_at),
            "system": n.system,
            "noteable_id": 7_000 + n.iid,
            "noteable_type": "MergeRequest",
            "project_id": self.project_id,
            "noteable_iid": n.iid,
            "commit_id": None,
            "resolvable": False,
            "confidential": False,
            "internal": False,
            "imported": False,
            "imported_from": "none",
            "commands_changes": {},
        }

    # --- dispatch ----------------------------------------------------------------------
    def handle(self, req: LoggedRequest) -> Reply:
        checks = Checks(req, self.lock)
        route = self._route(req, checks)
        if route is None:
            return checks.reply or _param_error("404 Not Found", 404)
        self._check_token(req, checks)
        if req.method == "GET" and req.body:
            checks.violation("GET with a request body")
        with self.lock:
            reply = self._endpoint(req, checks, route)
        return checks.reply or reply or _message(500, "500 Internal Server Error")

    def _route(self, req: LoggedRequest, checks: Checks) -> tuple[str, list[str]] | None:
        """(endpoint, [project, iid, note id]) or None after answering 404/405."""
        parts = req.path.split("/")[1:]
        # api / v4 / projects / :id / merge_requests / :iid / notes [/ :note_id]
        if (
            "" not in parts
            and len(parts) in (7, 8)
            and parts[:3] == ["api", "v4", "projects"]
            and parts[4] == "merge_requests"
            and parts[6] == "notes"
        ):
            project, iid = unquote(parts[3]), unquote(parts[5])
            if len(parts) == 7:
                if req.method == "GET":
                    return "list", [project, iid]
                if req.method == "POST":
                    return "create", [project, iid]
            elif req.method == "PUT":
                return "update", [project, iid, unquote(parts[7])]
            self._not_allowed(req, checks)
            return None
        checks.violation(
            f"no such endpoint here: {req.method} {req.path}", _param_error("404 Not Found", 404)
        )
        return None

    def _not_allowed(self, req: LoggedRequest, checks: Checks) -> None:
        checks.violation(
            f"{req.method} is not served on {req.path} here", _param_error("405 Not Allowed", 405)
        )

    def _check_token(self, req: LoggedRequest, checks: Checks) -> None:
        if req.header("authorization") is not None:
            checks.violation("credentials in an Authorization header (use PRIVATE-TOKEN)")
        if req.header("job-token") is not None:
            checks.violation("a JOB-TOKEN header (use PRIVATE-TOKEN)")
        for name in TOKEN_PARAMS:
            if name in req.query:
                checks.violation(f"a token in the {name!r} query parameter (use PRIVATE-TOKEN)")
        if self.deny_all is not None:
            status = self.deny_all
            checks.answer(_message(status, _DENIALS.get(status, f"{status} Error")))
        token = req.header("private-token")
        if token is None or not token.strip():
            checks.violation("no PRIVATE-TOKEN header", _message(401, "401 Unauthorized"))
        elif token.strip() != self.token:
            checks.violation("wrong token in PRIVATE-TOKEN", _message(401, "401 Unauthorized"))

    def _project_matches(self, ref: str) -> bool:
        if ref.isdigit():
            return int(ref) == self.project_id
        return ref.lower() == self.project_path.lower()

    # --- parameters --------------------------------------------------------------------
    def _params(self, req: LoggedRequest, checks: Checks) -> dict[str, Any]:
        """Query string, then the JSON or form payload over it, as GitLab merges them."""
        params: dict[str, Any] = {name: values[-1] for name, values in req.query.items()}
        if not req.body:
            return params
        ctype = req.header("content-type")
        kind = media_type(ctype)
        try:
            if kind == "application/json":
                data = json.loads(req.body.decode("utf-8"))
                if not isinstance(data, dict):
                    checks.violation(
                        "the JSON payload is not an object",
                        _param_error("message body does not match declared format"),
                    )
                    return params
                params.update(data)
            elif kind == "application/x-www-form-urlencoded":
                form = parse_qs(
                    req.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True
                )
                params.update({name: values[-1] for name, values in form.items()})
            elif kind == "multipart/form-data":
                head = f"Content-Type: {ctype}\r\n\r\n".encode("latin-1")
                message = BytesParser(policy=HTTP).parsebytes(head + req.body)
                for part in message.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    if isinstance(name, str):
                        params[name] = part.get_content()
            else:
                checks.violation(f"a body with Content-Type {ctype!r}, which GitLab does not read")
        except (UnicodeDecodeError, ValueError):
            checks.violation(
                f"a {kind} body that does not parse",
                _param_error("message body does not match declared format"),
            )
        return params

    def _check_names(self, params: dict[str, Any], known: frozenset[str], checks: Checks) -> None:
        for name in sorted(set(params) - known - set(TOKEN_PARAMS)):
            checks.violation(f"undocumented parameter {name!r} (GitLab ignores it)")

    def _int(self, params: dict[str, Any], name: str, checks: Checks, default: int) -> int:
        raw = params.get(name)
        if raw is None or raw == "":
            return default
        text = str(raw)
        if isinstance(raw, bool) or not text.lstrip("-").isdigit():
            checks.violation(
                f"{name}={raw!r} is not an integer", _param_error(f"{name} is invalid")
            )
            return default
        value = int(text)
        if value < 1:
            checks.violation(f"{name}={value} is below 1 (GitLab uses {default})")
            return default
        return value

    def _text(self, params: dict[str, Any], checks: Checks) -> str | None:
        raw = params.get("body")
        if isinstance(raw, dict | list):
            checks.violation("'body' is not a string", _param_error("body is invalid"))
            return None
        if raw is None:
            return None
        return raw if isinstance(raw, str) else json.dumps(raw)

    # --- endpoints (called with the lock held) -----------------------------------------
    def _endpoint(
        self, req: LoggedRequest, checks: Checks, route: tuple[str, list[str]]
    ) -> Reply | None:
        name, args = route
        params = self._params(req, checks)
        known = {"list": LIST_PARAMS, "create": CREATE_PARAMS, "update": UPDATE_PARAMS}[name]
        self._check_names(params, known, checks)
        if not self._project_matches(args[0]):
            checks.violation(f"no project {args[0]!r}", _message(404, "404 Project Not Found"))
            return None
        if not args[1].isdigit():
            checks.violation(
                f"merge request iid {args[1]!r} is not an integer",
                _param_error("noteable_id is invalid"),
            )
            return None
        iid = int(args[1])
        if iid not in self._merge_requests:
            checks.violation(
                f"no merge request !{iid}", _message(404, "404 MergeRequest Not Found")
            )
            return None
        if name == "list":
            return self._list(req, checks, params, iid)
        if self.deny_writes is not None:
            status = self.deny_writes
            checks.answer(_message(status, _DENIALS.get(status, f"{status} Error")))
        if name == "create":
            return self._create(checks, params, iid)
        return self._update(checks, params, iid, args[2])

    def _list(
        self, req: LoggedRequest, checks: Checks, params: dict[str, Any], iid: int
    ) -> Reply | None:
        sort = str(params.get("sort", "desc"))
        order_by = str(params.get("order_by", "created_at"))
        activity = str(params.get("activity_filter", "all_notes"))
        if sort not in ("asc", "desc"):
            checks.violation(f"sort={sort!r}", _param_error("sort does not have a valid value"))
        if order_by not in ("created_at", "updated_at"):
            checks.violation(
                f"order_by={order_by!r}", _param_error("order_by does not have a valid value")
            )
        if activity not in ACTIVITY_FILTERS:
            checks.violation(
                f"activity_filter={activity!r}",
                _param_error("activity_filter does not have a valid value"),
            )
        per_page = self._int(params, "per_page", checks, self.per_page_default)
        if per_page > MAX_PER_PAGE:
            checks.violation(f"per_page={per_page} is over the maximum of {MAX_PER_PAGE}")
            per_page = MAX_PER_PAGE
        page = self._int(params, "page", checks, 1)
        if checks.failed:
            return None
        found = [n for n in self._notes.values() if n.iid == iid]
        if activity == "only_comments":
            found = [n for n in found if not n.system]
        elif activity == "only_activity":
            found = [n for n in found if n.system]

        def key(n: _Note) -> tuple[datetime, int]:
            return (n.updated_at if order_by == "updated_at" else n.created_at, n.id)

        found.sort(key=key, reverse=sort == "desc")
        total_pages = pages(len(found), per_page)
        chunk = found[(page - 1) * per_page : page * per_page]
        next_page = str(page + 1) if page < total_pages else ""
        prev_page = str(page - 1) if page > 1 else ""
        base = f"{self.url}{req.path}"

        def to(number: int) -> str:
            query = query_with(req.query, TOKEN_PARAMS, page=number, per_page=per_page)
            return f"{base}?{query}"

        links: list[tuple[str, str]] = []
        if prev_page:
            links.append((to(page - 1), "prev"))
        if next_page:
            links.append((to(page + 1), "next"))
        links += [(to(1), "first"), (to(total_pages), "last")]
        headers = {
            "Link": link_header(links),
            "X-Next-Page": next_page,
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Prev-Page": prev_page,
            "X-Total": str(len(found)),
            "X-Total-Pages": str(total_pages),
        }
        return Reply(200, [self._as_json(n) for n in chunk], headers)

    def _create(self, checks: Checks, params: dict[str, Any], iid: int) -> Reply | None:
        text = self._text(params, checks)
        if params.get("body") is None:
            checks.violation("no 'body' parameter", _param_error("body is missing"))
        if text is not None:
            self._check_length(text, checks)
        if checks.failed or text is None:
            return None
        return Reply(201, self._as_json(self._store(iid, text, self.identity)))

    def _update(
        self, checks: Checks, params: dict[str, Any], iid: int, raw_id: str
    ) -> Reply | None:
        if not raw_id.isdigit():
            checks.violation(
                f"note id {raw_id!r} is not an integer", _param_error("note_id is invalid")
            )
            return None
        note = self._notes.get(int(raw_id))
        if note is None or note.iid != iid:
            checks.violation(f"no note {raw_id} on !{iid}", _message(404, "404 Not found"))
            return None
        if note.system:
            checks.violation(f"edits system note {note.id}", _message(403, "403 Forbidden"))
        elif note.author.username != self.identity.username:
            may = self.role.lower() in ("maintainer", "owner")
            checks.violation(
                f"edits note {note.id} by {note.author.username!r}",
                None if may else _message(403, "403 Forbidden"),
            )
        text = self._text(params, checks)
        if text is None:
            if "body" not in params:
                checks.violation("PUT without 'body' changes nothing")
        elif not text:
            checks.violation("'body' is empty", _param_error("body is empty"))
        else:
            self._check_length(text, checks)
        if checks.failed:
            return None
        if text:
            note.body = text
            note.updated_at = self.clock.tick()
        return Reply(200, self._as_json(note))

    def _check_length(self, text: str, checks: Checks) -> None:
        if not text.strip():
            checks.violation("'body' is blank", _note_refused("can't be blank"))
        elif len(text) > MAX_BODY:
            checks.violation(
                f"'body' has {len(text)} characters, over GitLab's {MAX_BODY:,}",
                _note_refused(f"is too long (maximum is {MAX_BODY} characters)"),
            )
