"""The test server's query API (tests/jux_server/query.py) against openapi-query.yaml.

Runs are submitted over HTTP like a client does, then read back through the query endpoints;
the server's spec checker (tests/jux_server/spec.py) validates every request and answer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from jxz import ContainerBuilder

from tests.jux_server import (
    PACKAGE_PATH,
    RAW_PATH,
    TEST_RUNS_PATH,
    TEST_SUITES_PATH,
    Fault,
    JuxServer,
    LoggedRequest,
    StoredRun,
)
from tests.jux_server import server as server_module
from tests.jux_server.spec import SpecChecker

KEY = "query-key-0123456789"


@pytest.fixture
def server() -> Iterator[JuxServer]:
    with JuxServer() as srv:
        yield srv


def report(
    project: str = "shop",
    *,
    branch: str | None = "main",
    commit: str | None = "abc123",
    tags: str | None = None,
    cases: Sequence[str] = ("passed",),
    suite: str = "Suite",
    extra_props: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A one-suite report whose cases have the given statuses."""
    props = [("project", project)]
    if branch is not None:
        props.append(("git:branch", branch))
    if commit is not None:
        props.append(("git:commit", commit))
    if tags is not None:
        props.append(("jux:tags", tags))
    props.extend(extra_props)
    child = {
        "passed": "",
        "failed": '<failure message="expected 5 but got 4" type="AssertionError">trace</failure>',
        "error": '<error message="boom" type="RuntimeError">stack</error>',
        "skipped": "<skipped/>",
    }
    body = "".join(
        f'<testcase classname="pkg.{suite}" name="test_{i}" time="0.25">{child[status]}</testcase>'
        for i, status in enumerate(cases)
    )
    prop_xml = "".join(f'<property name="{n}" value="{v}"/>' for n, v in props)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><testsuite name="{suite}">'
        f"<properties>{prop_xml}</properties>{body}</testsuite>"
    ).encode()


def submit(server: JuxServer, body: bytes, api_key: str | None = None) -> str:
    headers = {"Content-Type": "application/xml"}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    answer = requests.post(server.url + RAW_PATH, data=body, headers=headers, timeout=10)
    assert answer.status_code == 201, answer.text
    run_id = answer.json()["test_run_id"]
    assert isinstance(run_id, str)
    return run_id


def get(
    server: JuxServer,
    path: str,
    params: dict[str, str | int] | None = None,
    *,
    auth: str | None = None,
) -> requests.Response:
    headers = {} if auth is None else {"Authorization": auth}
    url = server.url + path + ("?" + urlencode(params) if params else "")
    return requests.get(url, headers=headers, timeout=10)


def ok(server: JuxServer, path: str, params: dict[str, str | int] | None = None) -> Any:
    answer = get(server, path, params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    return answer.json()


def listed_ids(server: JuxServer, params: dict[str, str | int]) -> list[str]:
    return [r["id"] for r in ok(server, TEST_RUNS_PATH, params)["test_runs"]]


# --- listing -----------------------------------------------------------------------------------


def test_listing_by_project_and_branch_newest_first(server: JuxServer) -> None:
    first = submit(server, report(cases=["passed", "failed"], tags="smoke, nightly,"))
    submit(server, report(branch="feature/x"))
    submit(server, report("other"))
    second = submit(server, report(cases=["passed", "passed", "skipped"]))
    third = submit(server, report(branch="main", commit="def456", cases=["error"]))
    page = ok(server, TEST_RUNS_PATH, {"project": "shop", "branch": "main"})
    assert [r["id"] for r in page["test_runs"]] == [third, second, first]
    assert page["pagination"] == {
        "current_page": 1,
        "total_pages": 1,
        "total_count": 3,
        "per_page": 20,
    }
    newest, _, oldest = page["test_runs"]
    assert newest["commit_sha"] == "def456" and newest["errors"] == 1
    assert newest["success_rate"] == 0.0
    assert oldest == {
        "id": first,
        "project": "shop",
        "branch": "main",
        "commit_sha": "abc123",
        "total_tests": 2,
        "failures": 1,
        "errors": 0,
        "skipped": 0,
        "success_rate": 50.0,
        "inserted_at": oldest["inserted_at"],
        "tags": ["smoke", "nightly"],
    }
    assert listed_ids(server, {"project": "shop", "branch": "main", "sort_order": "asc"}) == [
        first,
        second,
        third,
    ]
    assert listed_ids(server, {"project": "nobody"}) == []
    assert server.violations == []


def test_a_run_without_branch_has_no_branch_field_and_never_matches_one(
    server: JuxServer,
) -> None:
    run_id = submit(server, report(branch=None, commit=None))
    (summary,) = ok(server, TEST_RUNS_PATH)["test_runs"]
    assert summary["id"] == run_id
    assert "branch" not in summary and "commit_sha" not in summary
    assert listed_ids(server, {"branch": "main"}) == []
    assert server.violations == []


def test_pagination_covers_every_run_once(server: JuxServer) -> None:
    ids = [submit(server, report(cases=["passed"] * (i + 1))) for i in range(5)]
    pages = [ok(server, TEST_RUNS_PATH, {"per_page": 2, "page": n}) for n in (1, 2, 3)]
    assert [len(p["test_runs"]) for p in pages] == [2, 2, 1]
    for number, page in enumerate(pages, start=1):
        assert page["pagination"] == {
            "current_page": number,
            "total_pages": 3,
            "total_count": 5,
            "per_page": 2,
        }
    seen = [r["id"] for p in pages for r in p["test_runs"]]
    assert len(seen) == len(set(seen)) == 5
    assert seen == ids[::-1]
    beyond = ok(server, TEST_RUNS_PATH, {"per_page": 2, "page": 4})
    assert beyond["test_runs"] == [] and beyond["pagination"]["total_count"] == 5
    assert server.violations == []


def test_inserted_at_is_utc_and_strictly_increasing(server: JuxServer) -> None:
    for _ in range(6):
        submit(server, report())
    stamps = [run.inserted_at for run in server.runs]
    assert all(s.endswith("Z") for s in stamps)
    instants = [datetime.fromisoformat(s) for s in stamps]
    assert all(a < b for a, b in pairwise(instants))
    assert all(i.utcoffset() == timedelta(0) for i in instants)


def test_inserted_at_increases_even_when_stored_in_the_same_instant(
    server: JuxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Frozen:
            return cls(2024, 1, 15, 10, 30, tzinfo=tz)

    monkeypatch.setattr(server_module, "datetime", Frozen)
    runs = [StoredRun(str(uuid.uuid4()), RAW_PATH, report(), {}, [], {}) for _ in range(3)]
    for run in runs:
        server.store(run)
    assert [r.inserted_at for r in runs] == [
        "2024-01-15T10:30:00.000000Z",
        "2024-01-15T10:30:00.000001Z",
        "2024-01-15T10:30:00.000002Z",
    ]
    assert [len(r.suites) for r in runs] == [1, 1, 1]  # parsed at store time
    assert [c.status for c in runs[0].cases] == ["passed"]
    assert listed_ids(server, {"sort_order": "asc"}) == [r.test_run_id for r in runs]


def test_status_filter_of_runs(server: JuxServer) -> None:
    green = submit(server, report(cases=["passed", "skipped"]))
    red = submit(server, report(cases=["passed", "failed"]))
    broken = submit(server, report(cases=["error"]))
    both = submit(server, report(cases=["failed", "error"]))
    assert listed_ids(server, {"status": "passed"}) == [green]
    assert listed_ids(server, {"status": "failed"}) == [both, red]
    assert listed_ids(server, {"status": "error"}) == [both, broken]
    assert listed_ids(server, {"status": "all"}) == [both, broken, red, green]
    assert server.violations == []


def test_tags_filter_needs_every_tag(server: JuxServer) -> None:
    both = submit(server, report(tags="smoke, nightly"))
    smoke = submit(server, report(tags="smoke"))
    submit(server, report())
    assert listed_ids(server, {"tags": "smoke,nightly"}) == [both]
    assert listed_ids(server, {"tags": "nightly, smoke"}) == [both]
    assert listed_ids(server, {"tags": "smoke"}) == [smoke, both]
    assert listed_ids(server, {"tags": "absent"}) == []
    assert server.violations == []


def test_date_range_against_inserted_at(server: JuxServer) -> None:
    ids = [submit(server, report()) for _ in range(3)]
    middle = server.runs[1].inserted_at
    assert listed_ids(server, {"date_from": middle}) == [ids[2], ids[1]]
    assert listed_ids(server, {"date_to": middle}) == [ids[1], ids[0]]
    assert listed_ids(server, {"date_from": middle, "date_to": middle}) == [ids[1]]
    assert listed_ids(server, {"date_from": "2999-01-01T00:00:00+02:00"}) == []
    assert listed_ids(server, {"date_to": "2000-01-01T00:00:00Z"}) == []
    assert server.violations == []


def test_sort_by_fields(server: JuxServer) -> None:
    small = submit(server, report(cases=["passed"]))
    large = submit(server, report(cases=["passed", "failed", "failed", "passed"]))
    middle = submit(server, report(cases=["passed", "failed", "passed"]))
    assert listed_ids(server, {"sort_by": "total_tests"}) == [large, middle, small]
    assert listed_ids(server, {"sort_by": "total_tests", "sort_order": "asc"}) == [
        small,
        middle,
        large,
    ]
    assert listed_ids(server, {"sort_by": "failures", "sort_order": "asc"}) == [
        small,
        middle,
        large,
    ]
    # 100.0, 50.0, 66.7
    assert listed_ids(server, {"sort_by": "success_rate"}) == [small, middle, large]
    assert server.violations == []


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"per_page": 101}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": 0}, "page"),
        ({"page": "1.5"}, "page"),
        ({"status": "broken"}, "status"),
        ({"sort_by": "name"}, "sort_by"),
        ({"sort_order": "up"}, "sort_order"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_to": "2024-13-01T00:00:00Z"}, "date_to"),
    ],
)
def test_invalid_parameter_values_answer_400(
    server: JuxServer, params: dict[str, str | int], parameter: str
) -> None:
    submit(server, report())
    answer = get(server, TEST_RUNS_PATH, params)
    assert answer.status_code == 400
    error = answer.json()
    assert error["error"] == "Invalid query parameters"
    assert error["details"]["parameter"] == parameter
    assert parameter in error["details"]["message"]
    assert error["suggestions"] and all(isinstance(s, str) for s in error["suggestions"])
    # the client sent a value outside the parameter's schema: the checker says so
    (violation,) = server.violations
    assert violation.startswith(f"GET {TEST_RUNS_PATH}: query parameter {parameter}: ")


def test_unknown_query_parameter_is_ignored_but_recorded(server: JuxServer) -> None:
    run_id = submit(server, report())
    assert listed_ids(server, {"project": "shop", "limit": 5}) == [run_id]
    assert server.violations == [f"GET {TEST_RUNS_PATH}: unknown query parameter limit"]


def test_a_date_only_value_is_answered_but_is_no_rfc3339_date_time(server: JuxServer) -> None:
    run_id = submit(server, report())
    assert listed_ids(server, {"date_from": "2000-01-01"}) == [run_id]
    (violation,) = server.violations
    assert "query parameter date_from" in violation and "RFC 3339" in violation


# --- one run, its suites and cases ---------------------------------------------------------


NESTED = b"""<?xml version="1.0"?>
<testsuites>
  <testsuite name="outer" time="3.5">
    <properties>
      <property name="project" value="shop"/>
      <property name="git:branch" value="main"/>
      <property name="ci:job_id" value="job-7"/>
      <property name="ci:build_url" value="https://ci.example/builds/42"/>
      <property name="ci:build_number" value="42"/>
    </properties>
    <testcase classname="a.Outer" name="test_top" time="1.0"/>
    <testsuite name="inner">
      <testcase classname="a.Inner" name="test_one" time="0.5">
        <failure message="nope" type="AssertionError">trace one</failure>
      </testcase>
      <testcase classname="a.Inner" name="test_two" time="0.25"><skipped/></testcase>
    </testsuite>
  </testsuite>
  <testsuite>
    <testcase classname="b.Other" name="test_three" time="2"><error message="x"/></testcase>
  </testsuite>
</testsuites>
"""


def test_nested_testsuites_are_suites_of_their_own(server: JuxServer) -> None:
    run_id = submit(server, NESTED)
    detail = ok(server, f"{TEST_RUNS_PATH}/{run_id}")
    counts = [
        (s["name"], s["tests"], s["failures"], s["errors"], s["skipped"])
        for s in detail["test_suites"]
    ]
    assert counts == [("outer", 1, 0, 0, 0), ("inner", 2, 1, 0, 1), ("", 1, 0, 1, 0)]
    assert [s["time"] for s in detail["test_suites"]] == [3.5, 0.75, 2.0]
    assert detail["total_tests"] == 4 and detail["failures"] == 1 and detail["errors"] == 1
    assert detail["skipped"] == 1 and detail["success_rate"] == 25.0
    assert detail["total_time"] == 3.75
    assert detail["ci_metadata"] == {
        "job_id": "job-7",
        "pipeline_url": "https://ci.example/builds/42",
        "build_number": 42,
    }
    suites = ok(server, f"{TEST_RUNS_PATH}/{run_id}/test_suites")["test_suites"]
    assert suites == detail["test_suites"]
    stored = server.run_by_id(run_id)
    assert stored is not None
    assert [s.id for s in stored.suites] == [s["id"] for s in suites]
    assert [[c.name for c in s.cases] for s in stored.suites] == [
        ["test_top"],
        ["test_one", "test_two"],
        ["test_three"],
    ]
    assert server.violations == []


def test_ci_metadata_keeps_only_valid_values(server: JuxServer) -> None:
    run_id = submit(
        server,
        report(extra_props=[("ci:build_url", "not a url"), ("ci:build_number", "12b")]),
    )
    assert "ci_metadata" not in ok(server, f"{TEST_RUNS_PATH}/{run_id}")
    assert server.violations == []


def test_status_filter_of_test_cases(server: JuxServer) -> None:
    run_id = submit(server, report(cases=["passed", "failed", "error", "skipped", "failed"]))
    (suite,) = ok(server, f"{TEST_RUNS_PATH}/{run_id}/test_suites")["test_suites"]
    cases_path = f"{TEST_SUITES_PATH}/{suite['id']}/test_cases"

    def names(status: str | None) -> list[str]:
        params: dict[str, str | int] = {} if status is None else {"status": status}
        return [c["name"] for c in ok(server, cases_path, params)["test_cases"]]

    assert names("failed") == ["test_1", "test_4"]
    assert names("error") == ["test_2"]
    assert names("skipped") == ["test_3"]
    assert names("passed") == ["test_0"]
    assert names("all") == names(None) == [f"test_{i}" for i in range(5)]
    cases = ok(server, cases_path)["test_cases"]
    assert cases[0] == {
        "id": cases[0]["id"],
        "name": "test_0",
        "classname": "pkg.Suite",
        "status": "passed",
        "time": 0.25,
    }
    assert cases[1]["failure_message"] == "expected 5 but got 4"
    assert cases[1]["failure_type"] == "AssertionError"
    assert cases[2]["status"] == "error" and cases[2]["failure_message"] == "boom"
    assert "failure_message" not in cases[3]
    assert server.violations == []
    bad = get(server, cases_path, {"status": "broken"})
    assert bad.status_code == 400 and bad.json()["details"]["parameter"] == "status"


def test_package_submissions_are_queryable_too(server: JuxServer) -> None:
    builder = ContainerBuilder()
    builder.set_report(report("pkg", cases=["passed", "failed"], suite="Packaged"))
    builder.add_attachment("a.txt", b"abc")
    answer = requests.post(
        server.url + PACKAGE_PATH,
        data=builder.build(created_by="test", report_type="junit"),
        headers={"Content-Type": "application/vnd.jux.report+zip"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    run_id = answer.json()["test_run_id"]
    detail = ok(server, f"{TEST_RUNS_PATH}/{run_id}")
    assert detail["project"] == "pkg" and detail["failures"] == 1
    assert [s["name"] for s in detail["test_suites"]] == ["Packaged"]
    assert listed_ids(server, {"project": "pkg"}) == [run_id]
    assert server.violations == []


# --- errors, auth, switches, faults ---------------------------------------------------------


def test_unknown_ids_answer_404(server: JuxServer) -> None:
    submit(server, report())
    unknown = str(uuid.uuid4())
    for path in (
        f"{TEST_RUNS_PATH}/{unknown}",
        f"{TEST_RUNS_PATH}/{unknown}/test_suites",
        f"{TEST_SUITES_PATH}/{unknown}/test_cases",
    ):
        answer = get(server, path)
        assert answer.status_code == 404, path
        assert answer.json()["error"] == "Not found"
        assert unknown in answer.json()["details"]["message"]
    assert server.violations == []


def test_an_id_that_is_not_a_uuid_answers_404_and_is_a_violation(server: JuxServer) -> None:
    assert get(server, f"{TEST_RUNS_PATH}/latest").status_code == 404
    (violation,) = server.violations
    assert "path parameter id" in violation and "uuid" in violation


def test_query_endpoints_need_the_key_when_the_server_has_one() -> None:
    with JuxServer(api_key=KEY) as server:
        run_id = submit(server, report(), api_key=KEY)
        for path in (TEST_RUNS_PATH, f"{TEST_RUNS_PATH}/{run_id}"):
            missing = get(server, path)
            assert missing.status_code == 401
            assert missing.json()["error"] == "Authentication required"
            wrong = get(server, path, auth="Bearer not-the-key")
            assert wrong.status_code == 403
            assert wrong.json()["error"] == "Invalid API key"
            assert get(server, path, auth=f"Bearer {KEY}").status_code == 200
        assert get(server, "/api/version").json() == {"version": "1.0.1"}
        assert get(server, TEST_RUNS_PATH, auth="Basic abc").status_code == 403
        assert server.violations == [f"GET {TEST_RUNS_PATH}: Authorization is not a Bearer token"]


def test_a_server_without_the_query_api_answers_404(server: JuxServer) -> None:
    run_id = submit(server, report())
    suite_id = server.runs[0].suites[0].id
    server.query_api = False
    for path in (
        TEST_RUNS_PATH,
        f"{TEST_RUNS_PATH}/{run_id}",
        f"{TEST_RUNS_PATH}/{run_id}/test_suites",
        f"{TEST_SUITES_PATH}/{suite_id}/test_cases",
    ):
        assert get(server, path).status_code == 404, path
    submit(server, report())  # submissions still work
    server.query_api = True
    assert get(server, f"{TEST_RUNS_PATH}/{run_id}").status_code == 200
    assert server.violations == []


def test_get_faults(server: JuxServer) -> None:
    run_id = submit(server, report())
    server.faults.append(Fault.error(503, method="GET", path=TEST_RUNS_PATH))
    server.faults.append(Fault.error(500))  # a POST fault: GETs leave it alone
    other = get(server, f"{TEST_RUNS_PATH}/{run_id}")
    assert other.status_code == 200  # another path: the GET fault waits
    assert get(server, TEST_RUNS_PATH).status_code == 503
    assert get(server, TEST_RUNS_PATH).status_code == 200
    assert [f.method for f in server.faults] == ["POST"]
    server.faults.clear()

    server.faults.append(Fault.drop(method="GET"))
    with pytest.raises(requests.ConnectionError):
        get(server, TEST_RUNS_PATH)
    server.faults.append(Fault.delay(0.4, method="GET"))
    started = time.monotonic()
    assert listed_ids(server, {}) == [run_id]
    assert time.monotonic() - started >= 0.4
    assert not server.faults
    assert server.violations == []


def test_gets_are_logged_with_their_query_string(server: JuxServer) -> None:
    submit(server, report())
    ok(server, TEST_RUNS_PATH, {"project": "shop", "branch": "feature/x y"})
    ok(server, "/api/version")
    query_gets = server.gets(TEST_RUNS_PATH)
    assert [(r.path, r.query, r.status) for r in query_gets] == [
        (TEST_RUNS_PATH, "project=shop&branch=feature%2Fx+y", 200)
    ]
    assert [r.path for r in server.gets()] == [TEST_RUNS_PATH, "/api/version"]
    assert [r.query for r in server.posts()] == [""]


# --- the spec checker on its own ------------------------------------------------------------


def logged(path: str, query: str = "") -> LoggedRequest:
    return LoggedRequest("GET", path, {}, b"", 0.0, query=query)


def test_checker_validates_query_answers_with_the_query_document() -> None:
    checker = SpecChecker()
    req = logged(TEST_RUNS_PATH)
    good = {
        "test_runs": [],
        "pagination": {"current_page": 1, "total_pages": 0, "total_count": 0, "per_page": 20},
    }
    assert checker.check_response(req, 200, "application/json", json.dumps(good).encode()) == []
    (problem,) = checker.check_response(req, 200, "application/json", b'{"test_runs": []}')
    assert "pagination" in problem
    bad_id = {**good, "test_runs": [{"id": "x"}]}
    assert checker.check_response(req, 200, "application/json", json.dumps(bad_id).encode())
    case = logged(f"{TEST_SUITES_PATH}/{uuid.uuid4()}/test_cases")
    flaky = {"id": str(uuid.uuid4()), "name": "t", "classname": "c", "status": "flaky", "time": 0}
    wrong_status = {"test_cases": [flaky]}
    (problem,) = checker.check_response(
        case, 200, "application/json", json.dumps(wrong_status).encode()
    )
    assert "flaky" in problem
    stamp = {
        **good,
        "test_runs": [
            {
                "id": str(uuid.uuid4()),
                "project": "p",
                "total_tests": 0,
                "failures": 0,
                "errors": 0,
                "skipped": 0,
                "success_rate": 0.0,
                "inserted_at": "yesterday",
            }
        ],
    }
    (problem,) = checker.check_response(req, 200, "application/json", json.dumps(stamp).encode())
    assert "date-time" in problem


def test_checker_checks_query_parameters_and_paths() -> None:
    checker = SpecChecker()
    assert checker.check_request(logged(TEST_RUNS_PATH, "page=2&per_page=100&tags=a,b")) == []
    assert checker.check_request(logged(TEST_RUNS_PATH, "per_page=100&per_page=2")) == [
        "query parameter per_page given more than once"
    ]
    assert checker.check_request(logged(f"{TEST_RUNS_PATH}/{uuid.uuid4()}", "status=failed")) == [
        "unknown query parameter status"
    ]
    assert checker.check_request(logged("/api/v1/test_cases")) == [
        "GET /api/v1/test_cases is not in the OpenAPI documents"
    ]
    assert checker.check_request(logged("/api/version")) == []
