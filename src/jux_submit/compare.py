"""Compare this run's reports with the base run on the Jux server (the query API).

The base: for a pull/merge-request build, the latest run of the project on the target branch;
otherwise the latest run on the same branch. Runs of this run and of this commit are never the
base (a rerun, or another job of the same pipeline, is not what changed). Runs of the base's
commit that follow each other in the listing are one base (a pipeline that sent several
reports). Only what is needed is downloaded: the listing, the base's suites, and the failed
and errored cases of the suites that have any.

This run's side is read from its own reports (the ones the server accepted, or had already
accepted), streamed once: a test is its suite's name + class name + name; failed means a
``<failure>`` or ``<error>``. New failures fail now and did not fail in the base; fixed tests
failed in the base and pass now (a base failure that is absent now is neither); new and
removed tests are counted per suite.

Everything the server answers is checked before use. Nothing here fails the run: a missing
query API, an error or a timeout gives a comparison with status ``unavailable`` and a one-line
note. The whole comparison has at most ``COMPARE_LIMIT`` seconds (less with a smaller
``--timeout``, never past the run's deadline).
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree

from jux_submit.client import Budget
from jux_submit.errors import JuxError
from jux_submit.models import (
    CIContext,
    Comparison,
    ComparisonStatus,
    Record,
    ReportFile,
    TestKey,
    ValidationProblem,
    record,
)
from jux_submit.validate import hardened_iterparse, local_name

if TYPE_CHECKING:
    from jux_submit.client import Answer, QueryClient
    from jux_submit.settings import Settings

log = logging.getLogger("jux_submit")

RUNS_PATH = "/api/v1/test_runs"
#: the most of an answer the transport reads (transport.ANSWER_LIMIT): a bigger one is cut
ANSWER_LIMIT = 1024 * 1024
#: the whole comparison's time at most, in seconds (``--timeout`` and the deadline may cut it)
COMPARE_LIMIT = 10.0
PER_PAGE = 50
MAX_PAGES = 4
#: base runs of one commit taken together, and suites' case queries, at most
MAX_BASE_RUNS = 20
MAX_CASE_QUERIES = 400
#: the longest name taken from the server's answers (longer: the answer is not trusted)
MAX_NAME = 4000
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class _UnavailableError(Exception):
    """The comparison cannot be made; ``args[0]`` says why, in a few words."""


@record
class BaseRun(Record):
    """The run this one is compared with: its id, branch and commit."""

    id: str
    branch: str
    commit: str | None


@dataclass
class _BaseResults:
    failed: set[TestKey]
    suite_tests: dict[str, int]


def base_branch_for(context: CIContext) -> tuple[str | None, str]:
    """The branch whose runs are the base, and what it is ("target" or "same branch")."""
    if context.pull_request and context.pr_target_branch:
        return context.pr_target_branch, "target"
    return context.branch, "same branch"


def compare_run(
    query: QueryClient,
    settings: Settings,
    context: CIContext,
    sources: Sequence[ReportFile],
    own_run_ids: Iterable[str],
    *,
    deadline: float | None,
) -> Comparison:
    """The comparison of ``sources`` (this run's accepted reports) with the base run; never
    raises."""
    branch, what = base_branch_for(context)
    if not sources:
        return Comparison(ComparisonStatus.SKIPPED, "no comparison: no report was accepted")
    if not branch or not context.project:
        return Comparison(
            ComparisonStatus.NO_BASE,
            "no comparison: no branch was detected (set JUX_BRANCH)",
        )
    budget = Budget(min(COMPARE_LIMIT, settings.timeout), deadline)
    started = time.monotonic()
    try:
        base = _find_base(query, context.project, branch, context.commit, set(own_run_ids), budget)
        if not base:
            return Comparison(
                ComparisonStatus.NO_BASE,
                f"no comparison: no earlier run of {context.project} on {branch} on the server",
                base_branch=branch,
            )
        results = _base_results(query, base, budget, settings.parallel)
        # this run's side has a time window of its own (re-reading a 200 MB report takes
        # seconds), never past the deadline
        current = _current_results(
            sources,
            settings,
            context.project,
            results.failed,
            Budget(min(COMPARE_LIMIT, settings.timeout), deadline),
        )
    except _UnavailableError as exc:
        log.debug("comparison unavailable after %.2f s: %s", time.monotonic() - started, exc)
        return Comparison(ComparisonStatus.UNAVAILABLE, f"no comparison: {exc}", base_branch=branch)
    first = base[0]
    new_failures = sorted(current.failed - results.failed)
    still = sorted(current.failed & results.failed)
    fixed = sorted(current.passed & results.failed)
    new_tests, removed = _suite_changes(current.suite_tests, results.suite_tests)
    log.debug(
        "compared with %d base run(s) in %.2f s (%s)", len(base), time.monotonic() - started, what
    )
    return Comparison(
        ComparisonStatus.COMPARED,
        f"compared with {branch} (test run {first.id})",
        base_branch=branch,
        base_run_id=first.id,
        base_run_ids=tuple(run.id for run in base),
        base_commit=first.commit,
        new_failures=tuple(new_failures),
        fixed=tuple(fixed),
        still_failing=tuple(still),
        new_tests=new_tests,
        removed_tests=removed,
    )


# --- the server's side ------------------------------------------------------------------------


def _get_json(query: QueryClient, path: str, params: Mapping[str, str], budget: Budget) -> Any:
    left = budget.left()
    if left <= 0.05:
        raise _UnavailableError("the query API took too long")
    try:
        answer = query.get(path, params, limit=left)
    except JuxError as exc:
        raise _UnavailableError(f"the query API did not answer ({exc.message})") from None
    return _json_of(answer, path)


def _json_of(answer: Answer, path: str) -> Any:
    status = answer.status
    if status == 404 and path == RUNS_PATH:
        raise _UnavailableError("the server has no query API (GET /api/v1/test_runs: HTTP 404)")
    if status in (401, 403):
        raise _UnavailableError(f"the API key may not read test runs (HTTP {status})")
    if status != 200:
        raise _UnavailableError(f"the query API answered HTTP {status} for {path}")
    if len(answer.body) >= ANSWER_LIMIT:
        raise _UnavailableError(
            f"the query API's answer to {path} is larger than {ANSWER_LIMIT // 1024} KiB"
        )
    ctype = answer.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise _UnavailableError(f"the query API answered {ctype or 'no content type'}, not JSON")
    try:
        return json.loads(answer.body)
    except (ValueError, RecursionError):
        raise _UnavailableError(f"the query API's answer to {path} is not valid JSON") from None


def _text(value: Any, *, limit: int = MAX_NAME) -> str | None:
    return value if isinstance(value, str) and len(value) <= limit else None


def _run_id(value: Any) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise _UnavailableError("the query API's answer has a run or suite without a valid id")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def _find_base(  # noqa: PLR0917
    query: QueryClient,
    project: str,
    branch: str,
    commit: str | None,
    own: set[str],
    budget: Budget,
) -> list[BaseRun]:
    """The base run and the runs of its commit listed right after it (newest first)."""
    base: list[BaseRun] = []
    for page in range(1, MAX_PAGES + 1):
        data = _get_json(
            query,
            RUNS_PATH,
            {
                "project": project,
                "branch": branch,
                "sort_by": "inserted_at",
                "sort_order": "desc",
                "page": str(page),
                "per_page": str(PER_PAGE),
            },
            budget,
        )
        runs = data.get("test_runs") if isinstance(data, dict) else None
        pagination = data.get("pagination") if isinstance(data, dict) else None
        if not isinstance(runs, list) or not isinstance(pagination, dict):
            raise _UnavailableError("the query API's list of test runs is not the contract's")
        for item in runs:
            if not isinstance(item, dict):
                raise _UnavailableError("the query API's list of test runs is not the contract's")
            run = BaseRun(_run_id(item.get("id")), branch, _text(item.get("commit_sha"), limit=200))
            if _text(item.get("project")) != project or item.get("branch") not in (branch, None):
                continue  # a server that ignores the filters: not this project's history
            if run.id in own or (commit and run.commit == commit):
                continue
            is_same_commit = bool(base) and run.commit is not None and run.commit == base[0].commit
            if not base or (is_same_commit and len(base) < MAX_BASE_RUNS):
                base.append(run)
            else:
                return base
        total_pages = _count(pagination.get("total_pages"))
        if page >= total_pages or not runs:
            break
    return base


def _base_results(
    query: QueryClient, base: list[BaseRun], budget: Budget, parallel: int
) -> _BaseResults:
    suites: list[tuple[str, str, int, int]] = []  # (suite id, name, failures, errors)
    suite_tests: dict[str, int] = {}
    with ThreadPoolExecutor(max(1, min(parallel, 8)), thread_name_prefix="jux-compare") as pool:
        answers = pool.map(
            lambda run: _get_json(query, f"{RUNS_PATH}/{run.id}/test_suites", {}, budget), base
        )
        seen: dict[str, int] = {}
        for data in answers:
            items = data.get("test_suites") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise _UnavailableError("the query API's list of test suites is not the contract's")
            this_run: Counter[str] = Counter()
            for item in items:
                if not isinstance(item, dict) or _text(item.get("name")) is None:
                    raise _UnavailableError(
                        "the query API's list of test suites is not the contract's"
                    )
                name = str(item["name"])
                this_run[name] += _count(item.get("tests"))
                failures, errors = _count(item.get("failures")), _count(item.get("errors"))
                if failures or errors:
                    suites.append((_run_id(item.get("id")), name, failures, errors))
            for name, tests in this_run.items():  # runs of one commit: the largest count
                seen[name] = max(seen.get(name, 0), tests)
        suite_tests = seen
        wanted = [
            (suite_id, name, status, count)
            for suite_id, name, failures, errors in suites
            for status, count in (("failed", failures), ("error", errors))
            if count
        ]
        if len(wanted) > MAX_CASE_QUERIES:
            raise _UnavailableError(f"the base run has too many failing suites ({len(suites)})")
        failed: set[TestKey] = set()
        for (_, name, status, count), data in zip(
            wanted,
            pool.map(
                lambda w: _get_json(
                    query, f"/api/v1/test_suites/{w[0]}/test_cases", {"status": w[2]}, budget
                ),
                wanted,
            ),
            strict=True,
        ):
            cases = data.get("test_cases") if isinstance(data, dict) else None
            if not isinstance(cases, list):
                raise _UnavailableError("the query API's list of test cases is not the contract's")
            listed = sum(1 for c in cases if isinstance(c, dict) and c.get("status") == status)
            if listed < count:  # a server that pages this list: a partial base is a wrong one
                raise _UnavailableError(
                    f"the query API listed {listed} {status} case(s) of a suite that has {count}"
                )
            for case in cases:
                if not isinstance(case, dict):
                    raise _UnavailableError(
                        "the query API's list of test cases is not the contract's"
                    )
                case_name, classname = _text(case.get("name")), _text(case.get("classname"))
                if case_name is None or classname is None:
                    raise _UnavailableError(
                        "the query API's list of test cases is not the contract's"
                    )
                if case.get("status") in ("failed", "error"):
                    failed.add(TestKey(name, classname, case_name))
    return _BaseResults(failed, suite_tests)


# --- this run's side --------------------------------------------------------------------------


@dataclass
class _CurrentResults:
    failed: set[TestKey]
    passed: set[TestKey]  # only the tests asked about (the base's failures)
    suite_tests: Counter[str]


def _current_results(
    sources: Sequence[ReportFile],
    settings: Settings,
    project: str,
    wanted: set[TestKey],
    budget: Budget,
) -> _CurrentResults:
    """This run's tests, from the bytes that were sent (a converted or repaired report's
    JUnit, else the file, streamed). A report stored under another project (its own
    ``project`` property, kept unless ``--project`` is set) is not compared with this one's
    base; a report that cannot be read to its end is left out whole."""
    from jux_submit.payload import open_no_follow
    from jux_submit.prepare import check_report

    current = _CurrentResults(set(), set(), Counter())
    for file in sources:
        if budget.left() <= 0:
            raise _UnavailableError("reading this run's reports took too long")
        _, checked = check_report(file, settings, keep_content=False)
        if isinstance(checked, ValidationProblem):
            log.debug("%s: left out of the comparison: %s", file.relpath, checked)
            continue
        own = dict(checked.first_suite_properties).get("project", "").strip()
        if not settings.project and own and own != project:
            log.debug("%s: left out of the comparison: stored under project %r", file.relpath, own)
            continue
        text = checked.text
        try:
            stream: Any = io.BytesIO(text) if text is not None else open_no_follow(file.path)
        except OSError as exc:
            log.debug("%s: left out of the comparison: %s", file.relpath, exc)
            continue
        one = _CurrentResults(set(), set(), Counter())
        try:
            with stream:
                for n, (key, is_failed, is_passed) in enumerate(
                    _cases(stream, huge_tree=settings.huge_xml)
                ):
                    if n % 20_000 == 19_999 and budget.left() <= 0:
                        raise _UnavailableError("reading this run's reports took too long")
                    one.suite_tests[key.suite] += 1
                    if is_failed:
                        one.failed.add(key)
                    elif is_passed and key in wanted:
                        one.passed.add(key)
        except (etree.XMLSyntaxError, OSError) as exc:
            log.debug("%s: left out of the comparison: %s", file.relpath, exc)
            continue
        current.failed |= one.failed
        current.passed |= one.passed
        current.suite_tests.update(one.suite_tests)
    current.passed -= current.failed  # a test that failed once in this run is not fixed
    return current


def _cases(stream: Any, *, huge_tree: bool) -> Iterator[tuple[TestKey, bool, bool]]:
    """(test, failed, passed) for every ``<testcase>``, streamed; the suite is the nearest
    enclosing ``<testsuite>``."""
    suites: list[str] = []
    events = hardened_iterparse(stream, events=("start", "end"), huge_tree=huge_tree)
    for event, elem in events:
        tag = local_name(elem.tag)
        if tag == "testsuite":
            if event == "start":
                suites.append(elem.get("name") or "")
            else:
                suites.pop()
                elem.clear(keep_tail=False)
        elif tag == "testcase" and event == "end":
            kinds = {local_name(child.tag) for child in elem}
            is_failed = "failure" in kinds or "error" in kinds
            is_passed = not is_failed and "skipped" not in kinds
            suite = suites[-1] if suites else ""
            key = TestKey(suite, elem.get("classname") or "", elem.get("name") or "")
            elem.clear(keep_tail=False)
            parent = elem.getparent()
            if parent is not None:  # drop the cases already read: memory stays flat
                while elem.getprevious() is not None:
                    del parent[0]
            yield key, is_failed, is_passed


def _suite_changes(now: Mapping[str, int], base: Mapping[str, int]) -> tuple[int, int]:
    new = sum(max(0, count - base.get(name, 0)) for name, count in now.items())
    removed = sum(max(0, count - now.get(name, 0)) for name, count in base.items())
    return new, removed
