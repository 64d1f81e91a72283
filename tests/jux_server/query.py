"""The Jux Query API (``shared/spec/openapi-query.yaml``) for the test server.

``GET /api/v1/test_runs`` (filters, sorting, pagination), ``/test_runs/{id}``,
``/test_runs/{id}/test_suites`` and ``/test_suites/{id}/test_cases``, answered from the runs the
server stored (``StoredRun.suites`` were parsed once, when the run was stored). ``server.py``
calls ``handle_query`` for every GET while ``server.query_api`` is on.

- Auth is the submission endpoints' (``check_auth``): with ``server.api_key`` set, 401 without
  a key and 403 with a wrong one.
- An invalid query parameter value (not an integer, out of range, not in the enum, not a date)
  answers 400 with the spec's ``Error`` shape naming the parameter; unknown parameters are
  ignored (``spec.py`` records them as violations).
- A path id that is not a UUID answers **404**, as an unknown id does (no such run or suite
  can exist); ``spec.py`` records the request as a violation, since the spec types ids as uuid.
- ``date_from``/``date_to`` accept what ``datetime.fromisoformat`` reads (a date without a time
  is midnight, a time without an offset is UTC) and are compared with ``inserted_at``, both
  bounds included; ``spec.py`` insists on RFC 3339 date-times.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tests.jux_server.server import (
    CASE_STATUSES,
    TEST_RUNS_PATH,
    TEST_SUITES_PATH,
    StoredCase,
    StoredRun,
    StoredSuite,
    _error,
    check_auth,
)

if TYPE_CHECKING:
    from tests.jux_server.server import JuxServer, LoggedRequest

Answer = tuple[int, dict[str, str], Any]

UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
INTEGER = re.compile(r"-?[0-9]+")
RUN_STATUSES = ("passed", "failed", "error", "all")
SORT_FIELDS = ("inserted_at", "total_tests", "failures", "success_rate")
SORT_ORDERS = ("asc", "desc")
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


class BadParameterError(Exception):
    """A query parameter whose value the operation does not accept (answered 400)."""

    def __init__(self, name: str, value: str, expected: str) -> None:
        super().__init__(f"invalid value {value!r} for query parameter {name}: {expected}")
        self.name, self.value, self.expected = name, value, expected

    def answer(self) -> Answer:
        return (
            400,
            {},
            _error(
                "Invalid query parameters",
                str(self),
                f"Use a value for {self.name} that is {self.expected}",
                parameter=self.name,
                value=self.value,
            ),
        )


def query_params(query: str) -> dict[str, str]:
    """The decoded query parameters; a parameter given more than once keeps its last value."""
    return dict(parse_qsl(query, keep_blank_values=True))


def _enum(params: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = params.get(name, default)
    if value not in allowed:
        raise BadParameterError(name, value, "one of " + ", ".join(allowed))
    return value


def _integer(
    params: Mapping[str, str], name: str, default: int, minimum: int, maximum: int | None = None
) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not INTEGER.fullmatch(raw):
        raise BadParameterError(name, raw, "an integer")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise BadParameterError(name, raw, f"an integer {bounds}")
    return value


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date or date-time as an aware datetime (UTC when it has no offset).

    Raises ``ValueError`` for anything else.
    """
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _date(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return parse_instant(raw)
    except ValueError:
        raise BadParameterError(name, raw, "an ISO 8601 date-time (2024-01-01T00:00:00Z)") from None


def _inserted(run: StoredRun) -> datetime:
    try:
        return parse_instant(run.inserted_at)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _not_found(what: str, ident: str) -> Answer:
    return (
        404,
        {},
        _error("Not found", f"{what} {ident} not found", f"Check the {what} id", id=ident),
    )


# --- the answers' shapes ---------------------------------------------------------------------


def run_summary(run: StoredRun) -> dict[str, Any]:
    """``TestRunSummary``: optional fields the run lacks (branch, commit) are left out."""
    summary: dict[str, Any] = {"id": run.test_run_id, "project": run.project}
    if run.branch is not None:
        summary["branch"] = run.branch
    if run.commit_sha is not None:
        summary["commit_sha"] = run.commit_sha
    summary.update(
        total_tests=run.case_count(),
        failures=run.case_count("failed"),
        errors=run.case_count("error"),
        skipped=run.case_count("skipped"),
        success_rate=run.success_rate,
        inserted_at=run.inserted_at,
        tags=run.tags,
    )
    return summary


def _is_uri(text: str) -> bool:
    parts = urlsplit(text)
    return bool(parts.scheme and parts.netloc) and not any(c.isspace() for c in text)


def ci_metadata(run: StoredRun) -> dict[str, Any]:
    """``ci:job_id``, ``ci:build_url`` (when it is an absolute URI) and ``ci:build_number``
    (when it is an integer), as far as the run has them."""
    props = run.properties
    meta: dict[str, Any] = {}
    if "ci:job_id" in props:
        meta["job_id"] = props["ci:job_id"]
    if _is_uri(props.get("ci:build_url", "")):
        meta["pipeline_url"] = props["ci:build_url"]
    number = props.get("ci:build_number", "")
    if INTEGER.fullmatch(number):
        meta["build_number"] = int(number)
    return meta


def suite_summary(suite: StoredSuite) -> dict[str, Any]:
    """``TestSuiteSummary``."""
    return {
        "id": suite.id,
        "name": suite.name,
        "tests": len(suite.cases),
        "failures": suite.count("failed"),
        "errors": suite.count("error"),
        "skipped": suite.count("skipped"),
        "time": suite.time,
    }


def run_detail(run: StoredRun) -> dict[str, Any]:
    """``TestRunDetail``: the summary, ``total_time``, ``ci_metadata`` when there is any, and
    the suites."""
    detail = run_summary(run)
    detail["total_time"] = run.total_time
    meta = ci_metadata(run)
    if meta:
        detail["ci_metadata"] = meta
    detail["test_suites"] = [suite_summary(s) for s in run.suites]
    return detail


def case_answer(case: StoredCase) -> dict[str, Any]:
    """``TestCase``: the failure fields only when the case has them."""
    answer: dict[str, Any] = {
        "id": case.id,
        "name": case.name,
        "classname": case.classname,
        "status": case.status,
        "time": case.time if math.isfinite(case.time) else 0.0,
    }
    for name in ("failure_message", "failure_type", "failure_stacktrace"):
        value = getattr(case, name)
        if value is not None:
            answer[name] = value
    return answer


# --- the operations --------------------------------------------------------------------------


def _matches(
    run: StoredRun,
    *,
    project: str | None,
    branch: str | None,
    status: str,
    date_from: datetime | None,
    date_to: datetime | None,
    tags: list[str],
) -> bool:
    if project is not None and run.project != project:
        return False
    if branch is not None and run.branch != branch:
        return False
    failures, errors = run.case_count("failed"), run.case_count("error")
    if status == "passed" and (failures or errors):
        return False
    if (status == "failed" and not failures) or (status == "error" and not errors):
        return False
    inserted = _inserted(run)
    if (date_from is not None and inserted < date_from) or (
        date_to is not None and inserted > date_to
    ):
        return False
    return set(tags) <= set(run.tags)


def list_runs(server: JuxServer, params: Mapping[str, str]) -> Answer:
    """``listTestRuns``; ties in the sort field are ordered by ``inserted_at`` (then id), in
    the same direction, so that pages never overlap."""
    status = _enum(params, "status", RUN_STATUSES, "all")
    sort_by = _enum(params, "sort_by", SORT_FIELDS, "inserted_at")
    sort_order = _enum(params, "sort_order", SORT_ORDERS, "desc")
    page = _integer(params, "page", 1, minimum=1)
    per_page = _integer(params, "per_page", DEFAULT_PER_PAGE, minimum=1, maximum=MAX_PER_PAGE)
    date_from, date_to = _date(params, "date_from"), _date(params, "date_to")
    tags = [tag.strip() for tag in params.get("tags", "").split(",") if tag.strip()]
    with server.lock:
        runs = list(server.runs)
    selected = [
        run
        for run in runs
        if _matches(
            run,
            project=params.get("project"),
            branch=params.get("branch"),
            status=status,
            date_from=date_from,
            date_to=date_to,
            tags=tags,
        )
    ]
    field: Callable[[StoredRun], Any] = {
        "inserted_at": _inserted,
        "total_tests": lambda r: r.case_count(),
        "failures": lambda r: r.case_count("failed"),
        "success_rate": lambda r: r.success_rate,
    }[sort_by]
    selected.sort(
        key=lambda r: (field(r), _inserted(r), r.test_run_id), reverse=sort_order == "desc"
    )
    total = len(selected)
    start = (page - 1) * per_page
    return (
        200,
        {},
        {
            "test_runs": [run_summary(r) for r in selected[start : start + per_page]],
            "pagination": {
                "current_page": page,
                "total_pages": -(-total // per_page),
                "total_count": total,
                "per_page": per_page,
            },
        },
    )


def get_run(server: JuxServer, run_id: str) -> Answer:
    run = server.run_by_id(run_id) if UUID.fullmatch(run_id) else None
    if run is None:
        return _not_found("test run", run_id)
    return 200, {}, run_detail(run)


def list_suites(server: JuxServer, run_id: str) -> Answer:
    run = server.run_by_id(run_id) if UUID.fullmatch(run_id) else None
    if run is None:
        return _not_found("test run", run_id)
    return 200, {}, {"test_suites": [suite_summary(s) for s in run.suites]}


def list_cases(server: JuxServer, suite_id: str, params: Mapping[str, str]) -> Answer:
    found = server.suite_by_id(suite_id) if UUID.fullmatch(suite_id) else None
    if found is None:
        return _not_found("test suite", suite_id)
    status = _enum(params, "status", (*CASE_STATUSES, "all"), "all")
    _, suite = found
    cases = [c for c in suite.cases if status in ("all", c.status)]
    return 200, {}, {"test_cases": [case_answer(c) for c in cases]}


_RUN = re.compile(re.escape(TEST_RUNS_PATH) + r"/(?P<id>[^/]+)")
_RUN_SUITES = re.compile(re.escape(TEST_RUNS_PATH) + r"/(?P<id>[^/]+)/test_suites")
_SUITE_CASES = re.compile(re.escape(TEST_SUITES_PATH) + r"/(?P<id>[^/]+)/test_cases")


def route(path: str) -> Callable[[JuxServer, Mapping[str, str]], Answer] | None:
    """The operation serving ``path`` (without query string), or None when it is no query
    path."""
    if path == TEST_RUNS_PATH:
        return list_runs
    if match := _RUN.fullmatch(path):
        ident = match["id"]
        return lambda server, _params: get_run(server, ident)
    if match := _RUN_SUITES.fullmatch(path):
        ident = match["id"]
        return lambda server, _params: list_suites(server, ident)
    if match := _SUITE_CASES.fullmatch(path):
        ident = match["id"]
        return lambda server, params: list_cases(server, ident, params)
    return None


def handle_query(server: JuxServer, req: LoggedRequest) -> Answer | None:
    """The answer to a GET of the query API, or None when ``req.path`` is not one of its
    paths (the caller answers 404)."""
    operation = route(req.path)
    if operation is None:
        return None
    refused = check_auth(server, req)
    if refused is not None:
        return refused
    try:
        return operation(server, query_params(req.query))
    except BadParameterError as exc:
        return exc.answer()
