"""What changed: each run compared with its base through the Jux query API of the contract
server, end to end through the real CLI, and shown in every channel."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.conftest import make_environ, run_cli, run_subprocess
from tests.jux_server import Fault, JuxServer

PROJECT = "shop"
BASE_SHA = "a" * 40
PR_SHA = "b" * 40
NEXT_SHA = "c" * 40


def write_report(path: Path, tests: dict[str, str], suite: str = "Cart") -> Path:
    """A JUnit report of ``suite`` with one case per name: status passed, failed, error or
    skipped."""
    cases = []
    for name, status in tests.items():
        inner = {
            "failed": '<failure message="boom">trace</failure>',
            "error": '<error message="oops">trace</error>',
            "skipped": "<skipped/>",
            "passed": "",
        }[status]
        cases.append(
            f'  <testcase classname="shop.{suite}" name="{name}" time="0.1">{inner}</testcase>'
        )
    failures = sum(s == "failed" for s in tests.values())
    errors = sum(s == "error" for s in tests.values())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name="{suite}" tests="{len(tests)}" failures="{failures}" errors="{errors}">\n'
        + "\n".join(cases)
        + "\n</testsuite>\n",
        encoding="utf-8",
    )
    return path


def github_env(
    tmp: Path, server: JuxServer, *, sha: str, pr: int | None = None, run_id: str = "100"
) -> dict[str, str]:
    """GitHub Actions variables for a push to main, or a pull request from ``feature``."""
    summary, output = tmp / f"summary-{run_id}.md", tmp / f"output-{run_id}.txt"
    summary.touch()
    output.touch()
    env = make_environ(
        GITHUB_ACTIONS="true",
        CI="true",
        GITHUB_REPOSITORY="acme/shop",
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_RUN_ID=run_id,
        GITHUB_RUN_NUMBER=run_id,
        GITHUB_RUN_ATTEMPT="1",
        GITHUB_JOB="test",
        GITHUB_SHA=sha,
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(output),
        JUX_API_URL=server.url,
        JUX_PROJECT=PROJECT,
    )
    if pr is None:
        env.update(GITHUB_EVENT_NAME="push", GITHUB_REF="refs/heads/main", GITHUB_REF_NAME="main")
    else:
        event = tmp / f"event-{run_id}.json"
        event.write_text(
            json.dumps(
                {
                    "number": pr,
                    "pull_request": {
                        "number": pr,
                        "head": {"ref": "feature", "sha": sha},
                        "base": {"ref": "main", "sha": BASE_SHA},
                    },
                }
            ),
            encoding="utf-8",
        )
        env.update(
            GITHUB_EVENT_NAME="pull_request",
            GITHUB_REF=f"refs/pull/{pr}/merge",
            GITHUB_HEAD_REF="feature",
            GITHUB_BASE_REF="main",
            GITHUB_EVENT_PATH=str(event),
        )
    return env


def submit(workdir: Path, env: dict[str, str], *extra: str) -> tuple[int, str, dict[str, object]]:
    result = run_cli(["--json", "out.json", "reports/*.xml", *extra], env, cwd=workdir)
    document = json.loads((workdir / "out.json").read_text(encoding="utf-8"))
    return result.code, result.output, document


def keys(items: Iterable[dict[str, str]]) -> list[str]:
    return [item["name"] for item in items]


@pytest.fixture
def base_run(jux_server: JuxServer, tmp_path: Path) -> Path:
    """main at BASE_SHA: test_a and test_b fail, test_c passes."""
    base = tmp_path / "base"
    write_report(
        base / "reports" / "cart.xml",
        {"test_a": "failed", "test_b": "error", "test_c": "passed", "test_d": "passed"},
    )
    code, _, document = submit(base, github_env(tmp_path, jux_server, sha=BASE_SHA, run_id="1"))
    assert code == 0 and document["totals"]["submitted"] == 1  # type: ignore[index]
    return base


def pr_reports(workdir: Path) -> None:
    """The pull request: test_a passes now, test_b still fails, test_c fails anew; test_d is
    gone and test_e is new."""
    write_report(
        workdir / "reports" / "cart.xml",
        {"test_a": "passed", "test_b": "failed", "test_c": "failed", "test_e": "passed"},
    )


def test_a_pull_request_is_compared_with_its_target_branch_in_every_channel(
    jux_server: JuxServer, base_run: Path, workdir: Path, tmp_path: Path
) -> None:
    pr_reports(workdir)
    env = github_env(tmp_path, jux_server, sha=PR_SHA, pr=7, run_id="2")
    code, output, document = submit(workdir, env)
    assert code == 0, output
    comparison = document["comparison"]
    assert isinstance(comparison, dict)
    assert comparison["status"] == "compared"
    assert comparison["base_branch"] == "main"
    base_id = jux_server.runs[0].test_run_id
    assert comparison["base_run_id"] == base_id
    assert comparison["new_failures"] == [
        {"suite": "Cart", "classname": "shop.Cart", "name": "test_c"}
    ]
    assert keys(comparison["fixed"]) == ["test_a"]
    assert keys(comparison["still_failing"]) == ["test_b"]
    assert (comparison["new_tests"], comparison["removed_tests"]) == (0, 0)  # one in, one out

    # console: the new failure, then the total
    assert "new failure: Cart › shop.Cart › test_c" in output
    assert f"changes since main (test run {base_id}): 1 new failure, 1 fixed, 1 still failing" in (
        output
    )
    # GitHub: the summary section and the outputs
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    section = summary[summary.index("### Changes since") :]
    assert section.index("test_c") < section.index("**Fixed**") < section.index("test_a")
    outputs = Path(env["GITHUB_OUTPUT"]).read_text(encoding="utf-8").splitlines()
    value = {outputs[i].split("<<")[0]: outputs[i + 1] for i in range(0, len(outputs), 3)}
    assert value["new-failures"] == "1" and value["fixed"] == "1"
    assert json.loads(value["comparison-json"])["still_failing"][0]["name"] == "test_b"
    # only the failed and errored cases of the base's failing suite were asked for
    case_queries = sorted(r.query for r in jux_server.gets("/api/v1/test_suites/"))
    assert case_queries == ["status=error", "status=failed"]


def test_a_branch_build_is_compared_with_the_latest_earlier_commit_never_itself(
    jux_server: JuxServer, base_run: Path, workdir: Path, tmp_path: Path
) -> None:
    pr_reports(workdir)
    env = github_env(tmp_path, jux_server, sha=NEXT_SHA, run_id="3")
    code, output, document = submit(workdir, env)
    assert code == 0, output
    comparison = document["comparison"]
    assert isinstance(comparison, dict)
    assert comparison["base_run_id"] == jux_server.runs[0].test_run_id
    assert keys(comparison["new_failures"]) == ["test_c"]
    # a rerun of the same commit compares with the earlier commit again, not with itself
    rerun = github_env(tmp_path, jux_server, sha=NEXT_SHA, run_id="4")
    _, _, again = submit(workdir, rerun, "--force")
    assert again["comparison"]["base_run_id"] == jux_server.runs[0].test_run_id  # type: ignore[index]
    assert keys(again["comparison"]["new_failures"]) == ["test_c"]  # type: ignore[index]


def test_the_first_run_of_a_branch_says_there_is_no_base(
    jux_server: JuxServer, workdir: Path, tmp_path: Path
) -> None:
    pr_reports(workdir)
    code, output, document = submit(workdir, github_env(tmp_path, jux_server, sha=PR_SHA))
    assert code == 0
    assert document["comparison"]["status"] == "no-base"  # type: ignore[index]
    assert "no comparison: no earlier run of shop on main on the server" in output
    outputs = Path(tmp_path / "output-100.txt").read_text(encoding="utf-8")
    assert "new-failures<<" in outputs and "\nfixed<<" in outputs


def test_compare_off_makes_no_query_request(
    jux_server: JuxServer, base_run: Path, workdir: Path, tmp_path: Path
) -> None:
    pr_reports(workdir)
    before = len(jux_server.gets("/api/v1/"))
    env = github_env(tmp_path, jux_server, sha=PR_SHA, pr=7, run_id="5")
    env["JUX_COMPARE"] = "off"
    code, output, document = submit(workdir, env)
    assert code == 0
    assert document["comparison"] is None
    assert len(jux_server.gets("/api/v1/")) == before
    assert "changes since" not in output


def test_a_server_without_the_query_api_is_one_line_never_a_failure(
    jux_server: JuxServer, base_run: Path, workdir: Path, tmp_path: Path
) -> None:
    jux_server.query_api = False
    pr_reports(workdir)
    env = github_env(tmp_path, jux_server, sha=PR_SHA, pr=7, run_id="6")
    code, output, document = submit(workdir, env, "--fail-on-error")
    assert code == 0, output
    assert document["comparison"]["status"] == "unavailable"  # type: ignore[index]
    lines = [line for line in output.splitlines() if "no comparison" in line]
    assert lines == ["no comparison: the server has no query API (GET /api/v1/test_runs: HTTP 404)"]


def test_a_slow_query_api_is_cut_within_the_timeout(
    jux_server: JuxServer, base_run: Path, workdir: Path, tmp_path: Path
) -> None:
    pr_reports(workdir)
    jux_server.faults.append(Fault("delay", seconds=20, method="GET", path="/api/v1/test_runs"))
    env = github_env(tmp_path, jux_server, sha=PR_SHA, pr=7, run_id="7")
    result = run_subprocess(
        ["--json", "out.json", "--timeout", "2", "reports/*.xml"], env, cwd=workdir, timeout=60
    )
    document = json.loads((workdir / "out.json").read_text(encoding="utf-8"))
    assert result.code == 0, result.output
    assert document["totals"]["submitted"] == 1
    assert document["comparison"]["status"] == "unavailable"
    # the submission and the cut comparison: well under the 20 s the server would take
    assert document["duration"] < 10


def test_several_reports_are_compared_as_one_union(
    jux_server: JuxServer, workdir: Path, tmp_path: Path
) -> None:
    base = tmp_path / "base2"
    write_report(base / "reports" / "cart.xml", {"test_a": "failed", "test_b": "passed"})
    write_report(base / "reports" / "pay.xml", {"test_x": "failed"}, suite="Pay")
    code, _, _ = submit(base, github_env(tmp_path, jux_server, sha=BASE_SHA, run_id="8"))
    assert code == 0 and len(jux_server.runs) == 2
    write_report(workdir / "reports" / "cart.xml", {"test_a": "passed", "test_b": "failed"})
    write_report(workdir / "reports" / "pay.xml", {"test_x": "passed"}, suite="Pay")
    env = github_env(tmp_path, jux_server, sha=PR_SHA, pr=9, run_id="9")
    code, output, document = submit(workdir, env)
    assert code == 0, output
    comparison = document["comparison"]
    assert isinstance(comparison, dict)
    assert sorted(comparison["base_run_ids"]) == sorted(r.test_run_id for r in jux_server.runs[:2])
    assert keys(comparison["fixed"]) == ["test_a", "test_x"]
    assert keys(comparison["new_failures"]) == ["test_b"]


def gitlab_env(workdir: Path, server: JuxServer, **extra: str) -> dict[str, str]:
    """GitLab CI variables of a merge-request pipeline from ``feature`` into ``main``."""
    env = make_environ(
        GITLAB_CI="true",
        CI="true",
        CI_SERVER_URL="https://gitlab.example.com",
        CI_PROJECT_PATH="acme/shop",
        CI_PROJECT_DIR=str(workdir),
        CI_PIPELINE_ID="55",
        CI_JOB_ID="66",
        CI_JOB_NAME="test",
        CI_COMMIT_SHA=PR_SHA,
        CI_COMMIT_REF_NAME="feature",
        CI_MERGE_REQUEST_IID="3",
        CI_MERGE_REQUEST_SOURCE_BRANCH_NAME="feature",
        CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main",
        JUX_API_URL=server.url,
        JUX_PROJECT=PROJECT,
    )
    env.update(extra)
    return env


def test_gitlab_merge_request_gets_the_counts_in_its_dotenv(
    jux_server: JuxServer, base_run: Path, workdir: Path, tmp_path: Path
) -> None:
    pr_reports(workdir)
    env = gitlab_env(workdir, jux_server)
    code, output, document = submit(workdir, env)
    assert code == 0, output
    assert keys(document["comparison"]["new_failures"]) == ["test_c"]  # type: ignore[index]
    dotenv = (workdir / "jux-submit.env").read_text(encoding="utf-8").splitlines()
    assert "JUX_NEW_FAILURES=1" in dotenv and "JUX_FIXED=1" in dotenv


def _ctrf(path: Path, tests: dict[str, str]) -> None:
    items = [
        {"name": name, "status": status, "duration": 5, "suite": "Cart"}
        for name, status in tests.items()
    ]
    document = {
        "results": {
            "tool": {"name": "jest"},
            "summary": {
                "tests": len(items),
                "passed": sum(s == "passed" for s in tests.values()),
                "failed": sum(s == "failed" for s in tests.values()),
                "pending": 0,
                "skipped": 0,
                "other": 0,
                "start": 1,
                "stop": 2,
            },
            "tests": items,
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")


def test_converted_and_repaired_reports_are_compared_as_they_were_sent(
    jux_server: JuxServer, workdir: Path, tmp_path: Path
) -> None:
    base = tmp_path / "base"
    _ctrf(base / "reports" / "ctrf-report.json", {"test_a": "failed", "test_b": "passed"})
    write_report(base / "reports" / "cart.xml", {"t_x": "failed"}, suite="Legacy")
    code, _, _ = submit_any(base, github_env(tmp_path, jux_server, sha=BASE_SHA, run_id="1"))
    assert code == 0 and len(jux_server.runs) == 2
    _ctrf(workdir / "reports" / "ctrf-report.json", {"test_a": "passed", "test_b": "failed"})
    # a producer's raw control character: repaired in memory before sending
    write_report(
        workdir / "reports" / "cart.xml", {"t_x": "passed", "t_y": "failed"}, suite="Legacy"
    )
    raw = (workdir / "reports" / "cart.xml").read_bytes()
    (workdir / "reports" / "cart.xml").write_bytes(raw.replace(b"trace", b"tr\x1bace"))
    env = github_env(tmp_path, jux_server, sha=PR_SHA, pr=7, run_id="2")
    code, output, document = submit_any(workdir, env)
    assert code == 0, output
    comparison = document["comparison"]
    assert isinstance(comparison, dict) and comparison["status"] == "compared", comparison
    assert keys(comparison["new_failures"]) == ["test_b", "t_y"]
    assert keys(comparison["fixed"]) == ["test_a", "t_x"]
    assert comparison["removed_tests"] == 0


def test_a_report_of_another_project_is_left_out_of_this_projects_comparison(
    jux_server: JuxServer, base_run: Path, workdir: Path, tmp_path: Path
) -> None:
    pr_reports(workdir)
    other = workdir / "reports" / "billing.xml"
    write_report(other, {"test_z": "failed"}, suite="Billing")
    other.write_text(
        other.read_text(encoding="utf-8").replace(
            '">\n', '">\n<properties><property name="project" value="billing"/></properties>\n', 1
        ),
        encoding="utf-8",
    )
    env = github_env(tmp_path, jux_server, sha=PR_SHA, pr=7, run_id="2")
    env.pop("JUX_PROJECT")
    env["GITHUB_REPOSITORY"] = "acme/shop"
    code, output, document = submit(workdir, env)
    assert code == 0, output
    assert sorted(r.project for r in jux_server.runs[1:]) == ["billing", "shop"]
    assert keys(document["comparison"]["new_failures"]) == ["test_c"]  # type: ignore[index]


def test_a_base_listing_fewer_failed_cases_than_its_suite_counts_is_not_trusted(
    jux_server: JuxServer, base_run: Path, workdir: Path, tmp_path: Path
) -> None:
    (suite,) = jux_server.runs[0].suites
    path = f"/api/v1/test_suites/{suite.id}/test_cases"
    jux_server.faults.append(
        Fault.error(
            200,
            {"Content-Type": "application/json"},
            json.dumps({"test_cases": []}).encode(),
            path,
            method="GET",
        )
    )
    pr_reports(workdir)
    env = github_env(tmp_path, jux_server, sha=PR_SHA, pr=7, run_id="2")
    _, _, document = submit(workdir, env)
    comparison = document["comparison"]
    assert isinstance(comparison, dict) and comparison["status"] == "unavailable"
    assert "listed 0 " in comparison["note"]


def submit_any(
    workdir: Path, env: dict[str, str], *extra: str
) -> tuple[int, str, dict[str, object]]:
    result = run_cli(["--json", "out.json", "reports/*", *extra], env, cwd=workdir)
    document = json.loads((workdir / "out.json").read_text(encoding="utf-8"))
    return result.code, result.output, document
