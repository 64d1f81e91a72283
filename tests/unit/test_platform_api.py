"""The loopback GitHub and GitLab API servers answer as the platforms document, and notice misuse.

These servers stand in for the platforms in the pull-request comment / merge-request note tests,
so they are tested here on their own: pagination walks, create-then-update, the refusals
(401, 403, 404, 415, 422, 400) and the violations each kind of misuse leaves behind.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.platform_api import GithubApi, GitlabApi

MARKER = "<!-- jux-submit:test-changes -->"
MAX_PAGES = 10  # a walk that goes on longer has a broken "next"


class TimedSession(requests.Session):
    """A session whose requests give up after a few seconds instead of hanging a test."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return super().request(*args, **kwargs)


# --- GitHub ---------------------------------------------------------------------------------
@pytest.fixture
def github() -> Iterator[GithubApi]:
    with GithubApi() as api:
        yield api


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with TimedSession() as s:
        yield s


def gh_headers(api: GithubApi, **changes: str | None) -> dict[str, Any]:
    """The headers a correct client sends; a value of None drops that header."""
    headers: dict[str, Any] = {
        "Authorization": f"Bearer {api.token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "jux-submit-tests",
    }
    for name, value in changes.items():
        headers[name.replace("_", "-")] = value
    return headers


def comments_url(api: GithubApi, issue: int = 1) -> str:
    return f"{api.url}/repos/{api.owner}/{api.repo}/issues/{issue}/comments"


def comment_url(api: GithubApi, comment_id: int) -> str:
    return f"{api.url}/repos/{api.owner}/{api.repo}/issues/comments/{comment_id}"


def test_github_link_walk_over_three_pages_returns_every_comment(
    github: GithubApi, session: requests.Session
) -> None:
    seeded = [github.seed_comment(1, f"comment {n}", login=f"user{n % 3}") for n in range(7)]
    seeded.append(github.seed_comment(1, f"{MARKER}\nold summary", login="mallory"))
    github.seed_comment(2, "another pull request")

    url: str | None = f"{comments_url(github)}?per_page=3"
    seen: list[dict[str, Any]] = []
    answers: list[requests.Response] = []
    while url and len(answers) < MAX_PAGES:
        answer = session.get(url, headers=gh_headers(github))
        assert answer.status_code == 200
        answers.append(answer)
        seen += answer.json()
        url = answer.links.get("next", {}).get("url")

    assert len(answers) == 3
    assert [c["id"] for c in seen] == seeded
    assert seen == github.comments(1)
    first, middle, last = (a.links for a in answers)
    assert set(first) == {"next", "last"}
    assert set(middle) == {"prev", "next", "last", "first"}
    assert set(last) == {"prev", "first"}
    for links in (first, middle, last):
        for link in links.values():
            assert link["url"].startswith(github.url + "/")
            assert "per_page=3" in link["url"]
    assert "page=3" in first["last"]["url"]
    assert github.violations == []


def test_github_pages_default_to_per_page_default(
    github: GithubApi, session: requests.Session
) -> None:
    for n in range(31):
        github.seed_comment(1, f"c{n}")
    answer = session.get(comments_url(github), headers=gh_headers(github))
    assert len(answer.json()) == 30
    assert "page=2" in answer.links["next"]["url"]

    github.per_page_default = 5
    answer = session.get(comments_url(github), headers=gh_headers(github))
    assert len(answer.json()) == 5

    small = session.get(f"{comments_url(github)}?per_page=100", headers=gh_headers(github))
    assert len(small.json()) == 31
    assert "Link" not in small.headers
    assert github.violations == []


def test_github_create_then_update_leaves_one_comment(
    github: GithubApi, session: requests.Session
) -> None:
    github.seed_comment(1, "looks good", login="alice")
    created = session.post(
        comments_url(github), headers=gh_headers(github), json={"body": f"{MARKER}\nfirst"}
    )
    assert created.status_code == 201
    comment = created.json()
    assert created.headers["Location"] == comment["url"] == comment_url(github, comment["id"])
    assert isinstance(comment["id"], int)
    assert comment["user"] == {**comment["user"], "login": "github-actions[bot]", "type": "Bot"}
    assert comment["created_at"] == comment["updated_at"]

    updated = session.patch(
        comment_url(github, comment["id"]),
        headers=gh_headers(github),
        json={"body": f"{MARKER}\nsecond"},
    )
    assert updated.status_code == 200
    after = updated.json()
    assert after["id"] == comment["id"]
    assert after["body"] == f"{MARKER}\nsecond"
    assert after["created_at"] == comment["created_at"]
    assert after["updated_at"] > comment["updated_at"]

    mine = [c for c in github.comments(1) if c["user"]["login"] == github.login]
    assert [c["body"] for c in mine] == [f"{MARKER}\nsecond"]
    assert len(github.comments(1)) == 2
    assert github.violations == []


def test_github_refuses_a_wrong_or_missing_token_with_401(
    github: GithubApi, session: requests.Session
) -> None:
    wrong = session.get(
        comments_url(github), headers=gh_headers(github, Authorization="Bearer nope")
    )
    assert wrong.status_code == 401
    assert wrong.json()["message"] == "Bad credentials"
    assert wrong.json()["documentation_url"].startswith("https://docs.github.com/")

    missing = session.post(
        comments_url(github), headers=gh_headers(github, Authorization=None), json={"body": "x"}
    )
    assert missing.status_code == 401
    assert missing.json()["message"] == "Requires authentication"
    assert github.comments(1) == []
    assert len(github.violations) == 2
    assert github.token not in "\n".join(github.violations)


def test_github_deny_writes_answers_403_like_a_fork_token(session: requests.Session) -> None:
    with GithubApi(deny_writes=403) as api:
        theirs = api.seed_comment(1, "hello", login=api.login, type="Bot")
        assert session.get(comments_url(api), headers=gh_headers(api)).status_code == 200
        created = session.post(comments_url(api), headers=gh_headers(api), json={"body": "x"})
        edited = session.patch(
            comment_url(api, theirs), headers=gh_headers(api), json={"body": "y"}
        )
        assert (created.status_code, edited.status_code) == (403, 403)
        assert created.json()["message"] == "Resource not accessible by integration"
        assert [c["body"] for c in api.comments(1)] == ["hello"]
        assert api.violations == []


def test_github_deny_all_answers_every_request(session: requests.Session) -> None:
    with GithubApi(deny_all=404) as api:
        listed = session.get(comments_url(api), headers=gh_headers(api))
        created = session.post(comments_url(api), headers=gh_headers(api), json={"body": "x"})
        assert (listed.status_code, created.status_code) == (404, 404)
        assert listed.json()["message"] == "Not Found"
        assert api.comments(1) == []


def test_github_refuses_a_body_over_65536_characters_with_422(
    github: GithubApi, session: requests.Session
) -> None:
    too_long = session.post(
        comments_url(github), headers=gh_headers(github), json={"body": "x" * 65537}
    )
    assert too_long.status_code == 422
    assert too_long.json()["message"] == "Validation Failed"
    assert too_long.json()["errors"][0]["message"] == (
        "Body is too long (maximum is 65536 characters)"
    )
    assert github.comments(1) == []
    assert len(github.violations) == 1

    longest = session.post(
        comments_url(github), headers=gh_headers(github), json={"body": "é" * 65536}
    )
    assert longest.status_code == 201
    assert len(github.violations) == 1


def test_github_records_a_missing_api_version_and_refuses_an_unknown_one(
    github: GithubApi, session: requests.Session
) -> None:
    answer = session.get(
        comments_url(github), headers=gh_headers(github, X_GitHub_Api_Version=None)
    )
    assert answer.status_code == 200  # GitHub assumes 2022-11-28
    assert len(github.violations) == 1
    assert "X-GitHub-Api-Version" in github.violations[0]

    unknown = session.get(
        comments_url(github), headers=gh_headers(github, X_GitHub_Api_Version="2099-01-01")
    )
    assert unknown.status_code == 400
    assert len(github.violations) == 2


def test_github_records_the_legacy_token_scheme_and_a_wrong_accept(
    github: GithubApi, session: requests.Session
) -> None:
    answer = session.get(
        comments_url(github),
        headers=gh_headers(github, Authorization=f"token {github.token}", Accept="*/*"),
    )
    assert answer.status_code == 200
    assert len(github.violations) == 2
    assert any("'token' scheme" in v for v in github.violations)
    assert any("Accept" in v for v in github.violations)


def test_github_refuses_a_request_without_user_agent(github: GithubApi) -> None:
    # http.client sends no User-Agent of its own (requests and urllib always do)
    connection = http.client.HTTPConnection("127.0.0.1", github.port, timeout=5)
    try:
        headers = gh_headers(github)
        del headers["User-Agent"]
        connection.request(
            "GET", f"/repos/{github.owner}/{github.repo}/issues/1/comments", headers=headers
        )
        answer = connection.getresponse()
        text = answer.read().decode()
    finally:
        connection.close()
    assert answer.status == 403
    assert "User-Agent" in text
    assert "user-agent" not in github.requests[0].headers
    assert len(github.violations) == 1
    assert "User-Agent" in github.violations[0]


@pytest.mark.parametrize(
    ("content_type", "data", "status"),
    [
        ("text/plain", json.dumps({"body": "x"}), 415),
        ("application/json", "{not json", 400),
        ("application/json", json.dumps(["body"]), 400),
        ("application/json", json.dumps({"text": "x"}), 422),
        ("application/json", json.dumps({"body": 5}), 422),
        ("application/json", json.dumps({"body": "  "}), 422),
    ],
)
def test_github_checks_write_bodies(
    github: GithubApi, session: requests.Session, content_type: str, data: str, status: int
) -> None:
    answer = session.post(
        comments_url(github), headers=gh_headers(github, Content_Type=content_type), data=data
    )
    assert answer.status_code == status
    assert github.comments(1) == []
    assert len(github.violations) >= 1


def test_github_records_extra_keys_a_get_body_and_unknown_parameters(
    github: GithubApi, session: requests.Session
) -> None:
    extra = session.post(
        comments_url(github), headers=gh_headers(github), json={"body": "x", "title": "t"}
    )
    assert extra.status_code == 201  # GitHub ignores the extra key
    listed = session.get(
        f"{comments_url(github)}?sort=created&per_page=500",
        headers=gh_headers(github),
        data=b"{}",
    )
    assert listed.status_code == 200
    found = "\n".join(github.violations)
    for expected in ("'title'", "GET with a request body", "'sort'", "per_page=500"):
        assert expected in found
    assert len(github.violations) == 4


def test_github_answers_404_for_unknown_comments_issues_repositories_and_routes(
    github: GithubApi, session: requests.Session
) -> None:
    urls = [
        ("PATCH", comment_url(github, 999)),
        ("GET", comments_url(github, issue=77)),
        ("GET", f"{github.url}/repos/other/repo/issues/1/comments"),
        ("GET", f"{comments_url(github)}/"),
        ("DELETE", comments_url(github)),
        ("GET", f"{github.url}/repos/{github.owner}/{github.repo}/pulls/1/comments"),
    ]
    for method, url in urls:
        answer = session.request(method, url, headers=gh_headers(github), json={"body": "x"})
        assert answer.status_code == 404, (method, url)
        assert answer.json()["message"] == "Not Found"
    assert len([r for r in github.requests if r.violations]) == len(urls)


def test_github_records_editing_someone_elses_comment(
    github: GithubApi, session: requests.Session
) -> None:
    theirs = github.seed_comment(1, f"{MARKER}\nquoted by a human", login="alice")
    answer = session.patch(
        comment_url(github, theirs), headers=gh_headers(github), json={"body": "y"}
    )
    assert answer.status_code == 200
    assert any("alice" in v for v in github.violations)


def test_github_keeps_the_connection_alive_with_exact_lengths(github: GithubApi) -> None:
    github.seed_comment(1, "ü" * 10)
    connection = http.client.HTTPConnection("127.0.0.1", github.port, timeout=5)
    try:
        path = f"/repos/{github.owner}/{github.repo}/issues/1/comments"
        for _ in range(3):
            connection.request("GET", path, headers=gh_headers(github))
            answer = connection.getresponse()
            raw = answer.read()
            assert answer.status == 200
            assert int(answer.headers["Content-Length"]) == len(raw)
            assert json.loads(raw)[0]["body"] == "ü" * 10
    finally:
        connection.close()
    assert [r.status for r in github.requests] == [200, 200, 200]


# --- GitLab ---------------------------------------------------------------------------------
@pytest.fixture
def gitlab() -> Iterator[GitlabApi]:
    with GitlabApi() as api:
        yield api


def gl_headers(api: GitlabApi, **extra: str) -> dict[str, str]:
    return {"PRIVATE-TOKEN": api.token, **{k.replace("_", "-"): v for k, v in extra.items()}}


def notes_url(api: GitlabApi, iid: int = 1, project: str | None = None) -> str:
    return f"{api.api_url}/projects/{project or api.project_id}/merge_requests/{iid}/notes"


def test_gitlab_api_url_is_what_ci_api_v4_url_would_be(gitlab: GitlabApi) -> None:
    assert gitlab.api_url == f"http://127.0.0.1:{gitlab.port}/api/v4"


def test_gitlab_next_page_walk_returns_every_note_with_system_notes(
    gitlab: GitlabApi, session: requests.Session
) -> None:
    for n in range(4):
        gitlab.seed_note(1, f"note {n}", username=f"dev{n}")
    gitlab.seed_note(1, f"{MARKER}\nby someone else", username="mallory")
    gitlab.seed_note(2, "another merge request")

    page: str = "1"
    seen: list[dict[str, Any]] = []
    headers_seen: list[requests.structures.CaseInsensitiveDict[str]] = []
    while page and len(headers_seen) < MAX_PAGES:
        query: dict[str, str | int] = {"sort": "asc", "per_page": 3, "page": page}
        answer = session.get(notes_url(gitlab), headers=gl_headers(gitlab), params=query)
        assert answer.status_code == 200
        headers_seen.append(answer.headers)
        seen += answer.json()
        page = answer.headers["X-Next-Page"]

    assert len(headers_seen) == 3
    assert seen == gitlab.notes(1)
    assert sum(n["system"] for n in seen) == 2
    assert {h["X-Total"] for h in headers_seen} == {"7"}
    assert {h["X-Total-Pages"] for h in headers_seen} == {"3"}
    assert [h["X-Page"] for h in headers_seen] == ["1", "2", "3"]
    assert [h["X-Prev-Page"] for h in headers_seen] == ["", "1", "2"]
    last = requests.utils.parse_header_links(headers_seen[-1]["Link"])
    assert [link["rel"] for link in last] == ["prev", "first", "last"]
    assert all("sort=asc" in link["url"] and "per_page=3" in link["url"] for link in last)
    assert all(n["noteable_type"] == "MergeRequest" and n["noteable_iid"] == 1 for n in seen)
    assert gitlab.violations == []


def test_gitlab_lists_newest_first_by_default_and_pages_by_20(
    gitlab: GitlabApi, session: requests.Session
) -> None:
    for n in range(25):
        gitlab.seed_note(1, f"n{n}")
    answer = session.get(notes_url(gitlab), headers=gl_headers(gitlab))
    ids = [n["id"] for n in answer.json()]
    assert len(ids) == 20
    assert ids == sorted(ids, reverse=True)
    assert answer.headers["X-Per-Page"] == "20"
    assert answer.headers["X-Next-Page"] == "2"
    assert gitlab.violations == []


def test_gitlab_numeric_id_and_encoded_path_name_the_same_project(
    gitlab: GitlabApi, session: requests.Session
) -> None:
    by_id = session.get(notes_url(gitlab), headers=gl_headers(gitlab))
    by_path = session.get(
        notes_url(gitlab, project="jux-group%2Fjux-project"), headers=gl_headers(gitlab)
    )
    assert by_id.status_code == by_path.status_code == 200
    assert by_id.json() == by_path.json()
    assert gitlab.violations == []

    unencoded = session.get(
        notes_url(gitlab, project="jux-group/jux-project"), headers=gl_headers(gitlab)
    )
    assert unencoded.status_code == 404
    assert unencoded.json() == {"error": "404 Not Found"}
    assert len(gitlab.violations) == 1


def test_gitlab_create_then_update_leaves_one_note(
    gitlab: GitlabApi, session: requests.Session
) -> None:
    created = session.post(
        notes_url(gitlab), headers=gl_headers(gitlab), json={"body": f"{MARKER}\nfirst"}
    )
    assert created.status_code == 201
    note = created.json()
    assert note["author"]["username"] == "project_123_bot_abc"
    assert note["system"] is False

    updated = session.put(
        f"{notes_url(gitlab)}/{note['id']}",
        headers=gl_headers(gitlab),
        json={"body": f"{MARKER}\nsecond"},
    )
    assert updated.status_code == 200
    after = updated.json()
    assert after["id"] == note["id"]
    assert after["body"] == f"{MARKER}\nsecond"
    assert after["updated_at"] > note["updated_at"]
    assert after["created_at"] == note["created_at"]

    mine = [n for n in gitlab.notes(1) if n["author"]["username"] == gitlab.username]
    assert [n["body"] for n in mine] == [f"{MARKER}\nsecond"]
    assert gitlab.violations == []


def test_gitlab_takes_form_data_and_query_parameters_too(
    gitlab: GitlabApi, session: requests.Session
) -> None:
    form = session.post(notes_url(gitlab), headers=gl_headers(gitlab), data={"body": "a b&c"})
    multipart = session.post(
        notes_url(gitlab), headers=gl_headers(gitlab), files={"body": (None, "multi")}
    )
    query = session.post(notes_url(gitlab), headers=gl_headers(gitlab), params={"body": "q"})
    assert [a.status_code for a in (form, multipart, query)] == [201, 201, 201]
    assert [n["body"] for n in gitlab.notes(1, system=False)] == ["a b&c", "multi", "q"]
    assert gitlab.violations == []


def test_gitlab_refuses_a_wrong_or_missing_token_with_401(
    gitlab: GitlabApi, session: requests.Session
) -> None:
    wrong = session.get(notes_url(gitlab), headers={"PRIVATE-TOKEN": "glpat-wrong"})
    missing = session.post(notes_url(gitlab), json={"body": "x"})
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert wrong.json() == missing.json() == {"message": "401 Unauthorized"}
    assert gitlab.notes(1, system=False) == []
    assert len(gitlab.violations) == 2
    assert gitlab.token not in "\n".join(gitlab.violations)


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        ({"Authorization": "Bearer {token}"}, {}, 401),
        ({"PRIVATE-TOKEN": "{token}", "Authorization": "Bearer {token}"}, {}, 200),
        ({"PRIVATE-TOKEN": "{token}", "JOB-TOKEN": "job"}, {}, 200),
        ({"PRIVATE-TOKEN": "{token}"}, {"private_token": "{token}"}, 200),
    ],
)
def test_gitlab_records_a_token_sent_another_way(
    gitlab: GitlabApi,
    session: requests.Session,
    headers: dict[str, str],
    params: dict[str, str],
    status: int,
) -> None:
    answer = session.get(
        notes_url(gitlab),
        headers={k: v.format(token=gitlab.token) for k, v in headers.items()},
        params={k: v.format(token=gitlab.token) for k, v in params.items()},
    )
    assert answer.status_code == status
    assert any("use PRIVATE-TOKEN" in v for v in gitlab.violations)
    if status == 200:
        assert "private_token" not in answer.headers["Link"]


def test_gitlab_deny_writes_answers_403(session: requests.Session) -> None:
    with GitlabApi(deny_writes=403) as api:
        mine = api.seed_note(1, "old", username=api.username)
        listed = session.get(notes_url(api), headers=gl_headers(api))
        created = session.post(notes_url(api), headers=gl_headers(api), json={"body": "x"})
        edited = session.put(
            f"{notes_url(api)}/{mine}", headers=gl_headers(api), json={"body": "y"}
        )
        assert (listed.status_code, created.status_code, edited.status_code) == (200, 403, 403)
        assert created.json() == {"message": "403 Forbidden"}
        assert [n["body"] for n in api.notes(1, system=False)] == ["old"]
        assert api.violations == []


def test_gitlab_deny_all_answers_every_request(session: requests.Session) -> None:
    with GitlabApi(deny_all=503) as api:
        listed = session.get(notes_url(api), headers=gl_headers(api))
        created = session.post(notes_url(api), headers=gl_headers(api), json={"body": "x"})
        assert (listed.status_code, created.status_code) == (503, 503)
        assert api.notes(1, system=False) == []


def test_gitlab_refuses_a_note_over_a_million_characters(
    gitlab: GitlabApi, session: requests.Session
) -> None:
    too_long = session.post(
        notes_url(gitlab), headers=gl_headers(gitlab), json={"body": "x" * 1_000_001}
    )
    assert too_long.status_code == 400
    assert "is too long (maximum is 1000000 characters)" in too_long.json()["message"]
    assert gitlab.notes(1, system=False) == []
    assert len(gitlab.violations) == 1

    longest = session.post(
        notes_url(gitlab), headers=gl_headers(gitlab), json={"body": "x" * 1_000_000}
    )
    assert longest.status_code == 201
    assert len(gitlab.violations) == 1


def test_gitlab_answers_404_for_unknown_project_merge_request_and_note(
    gitlab: GitlabApi, session: requests.Session
) -> None:
    project = session.get(notes_url(gitlab, project="999"), headers=gl_headers(gitlab))
    merge_request = session.get(notes_url(gitlab, iid=42), headers=gl_headers(gitlab))
    note = session.put(f"{notes_url(gitlab)}/999", headers=gl_headers(gitlab), json={"body": "x"})
    assert project.json() == {"message": "404 Project Not Found"}
    assert merge_request.status_code == 404
    assert note.json() == {"message": "404 Not found"}
    assert [r.status for r in gitlab.requests] == [404, 404, 404]
    assert len(gitlab.violations) == 3


def test_gitlab_refuses_editing_someone_elses_or_a_system_note(
    gitlab: GitlabApi, session: requests.Session
) -> None:
    theirs = gitlab.seed_note(1, f"{MARKER}\nhuman", username="alice")
    system = gitlab.notes(1, system=True)[0]["id"]
    for note_id in (theirs, system):
        answer = session.put(
            f"{notes_url(gitlab)}/{note_id}", headers=gl_headers(gitlab), json={"body": "y"}
        )
        assert answer.status_code == 403
        assert answer.json() == {"message": "403 Forbidden"}
    assert gitlab.note(theirs) is not None
    assert gitlab.note(theirs)["body"] == f"{MARKER}\nhuman"  # type: ignore[index]
    assert len(gitlab.violations) == 2


def test_gitlab_lets_a_maintainer_edit_someone_elses_note_but_records_it(
    session: requests.Session,
) -> None:
    with GitlabApi(role="maintainer") as api:
        theirs = api.seed_note(1, "human", username="alice")
        answer = session.put(
            f"{notes_url(api)}/{theirs}", headers=gl_headers(api), json={"body": "overwritten"}
        )
        assert answer.status_code == 200
        assert answer.json()["body"] == "overwritten"
        assert len(api.violations) == 1
        assert "'alice'" in api.violations[0]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"sort": "up"}, "sort does not have a valid value"),
        ({"order_by": "id"}, "order_by does not have a valid value"),
        ({"per_page": "many"}, "per_page is invalid"),
    ],
)
def test_gitlab_refuses_invalid_list_parameters(
    gitlab: GitlabApi, session: requests.Session, params: dict[str, str], error: str
) -> None:
    answer = session.get(notes_url(gitlab), headers=gl_headers(gitlab), params=params)
    assert answer.status_code == 400
    assert answer.json() == {"error": error}
    assert len(gitlab.violations) == 1


def test_gitlab_records_oversized_pages_unknown_parameters_and_missing_bodies(
    gitlab: GitlabApi, session: requests.Session
) -> None:
    query: dict[str, str | int] = {"per_page": 500, "state": "x"}
    listed = session.get(notes_url(gitlab), headers=gl_headers(gitlab), params=query)
    assert listed.status_code == 200
    assert listed.headers["X-Per-Page"] == "100"
    empty = session.post(notes_url(gitlab), headers=gl_headers(gitlab), json={})
    assert empty.status_code == 400
    assert empty.json() == {"error": "body is missing"}
    found = "\n".join(gitlab.violations)
    for expected in ("per_page=500", "'state'", "no 'body'"):
        assert expected in found


def test_both_servers_stay_consistent_under_concurrent_writes() -> None:
    with GithubApi() as gh, GitlabApi(system_notes=False) as gl:

        def post(n: int) -> tuple[int, int]:
            with TimedSession() as s:
                a = s.post(comments_url(gh), headers=gh_headers(gh), json={"body": f"c{n}"})
                b = s.post(notes_url(gl), headers=gl_headers(gl), json={"body": f"n{n}"})
                return a.status_code, b.status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(post, range(24)))

        assert statuses == [(201, 201)] * 24
        assert len({c["id"] for c in gh.comments(1)}) == 24
        assert sorted(n["body"] for n in gl.notes(1)) == sorted(f"n{n}" for n in range(24))
        assert len(gh.requests) == len(gl.requests) == 24
        assert gh.violations == gl.violations == []
