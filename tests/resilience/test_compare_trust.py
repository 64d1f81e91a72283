"""The comparison trusts nothing the query API answers, and its names leave every channel
escaped; a hostile or broken answer is one line, never a failure or a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SECRET, run_cli
from tests.integration.test_compare import (
    BASE_SHA,
    PR_SHA,
    github_env,
    submit,
    write_report,
)
from tests.jux_server import Fault, JuxServer

RUNS = "/api/v1/test_runs"
HOSTILE = "x\n::error::owned [click](https://evil.example) @team <img src=x> ##[warning]y"


def _base(server: JuxServer, tmp_path: Path, tests: dict[str, str]) -> None:
    base = tmp_path / "base"
    write_report(base / "reports" / "cart.xml", tests)
    env = github_env(tmp_path, server, sha=BASE_SHA, run_id="1")
    if server.api_key:
        env["JUX_API_KEY"] = server.api_key
    assert run_cli(["reports/*.xml"], env, cwd=base).code == 0


@pytest.mark.parametrize(
    ("fault", "note"),
    [
        (
            Fault.error(
                200, {"Content-Type": "text/html"}, b"<html>SSO</html>", RUNS, method="GET"
            ),
            "no comparison: the query API answered text/html, not JSON",
        ),
        (
            Fault.error(
                200, {"Content-Type": "application/json"}, b"[" * 100_000, RUNS, method="GET"
            ),
            "no comparison: the query API's answer to /api/v1/test_runs is not valid JSON",
        ),
        (
            Fault.error(
                200,
                {"Content-Type": "application/json"},
                json.dumps({"test_runs": [{"id": "../../etc"}], "pagination": {}}).encode(),
                RUNS,
                method="GET",
            ),
            "no comparison: the query API's answer has a run or suite without a valid id",
        ),
        (
            Fault.redirect("http://127.0.0.1:9/elsewhere", path=RUNS, method="GET"),
            "no comparison: the query API answered HTTP 307 for /api/v1/test_runs",
        ),
        (
            Fault.drop(RUNS, method="GET"),
            "no comparison: the query API did not answer",
        ),
    ],
    ids=["html-200", "deep-json", "bad-id", "redirect", "dropped"],
)
def test_a_broken_query_answer_is_one_line(
    workdir: Path, tmp_path: Path, fault: Fault, note: str
) -> None:
    with JuxServer(check_spec=False) as jux_server:
        _broken_answer(jux_server, workdir, tmp_path, fault, note)


def _broken_answer(
    jux_server: JuxServer, workdir: Path, tmp_path: Path, fault: Fault, note: str
) -> None:
    _base(jux_server, tmp_path, {"test_a": "failed"})
    write_report(workdir / "reports" / "cart.xml", {"test_a": "passed"})
    jux_server.faults.append(fault)
    env = github_env(tmp_path, jux_server, sha=PR_SHA, pr=7, run_id="2")
    code, output, document = submit(workdir, env, "--fail-on-error")
    assert code == 0, output
    comparison = document["comparison"]
    assert isinstance(comparison, dict) and comparison["status"] == "unavailable"
    assert comparison["note"].startswith(note), comparison["note"]
    assert sum("no comparison" in line for line in output.splitlines()) == 1
    assert "Traceback" not in output


def test_the_query_api_gets_the_api_key_and_a_refusal_is_one_line(
    workdir: Path, tmp_path: Path
) -> None:
    with JuxServer(api_key=SECRET) as server:
        _base(server, tmp_path, {"test_a": "failed"})
        write_report(workdir / "reports" / "cart.xml", {"test_a": "passed"})
        env = github_env(tmp_path, server, sha=PR_SHA, pr=7, run_id="2")
        env["JUX_API_KEY"] = SECRET
        _, _, document = submit(workdir, env)
        assert document["comparison"]["status"] == "compared"  # type: ignore[index]
        assert all(r.headers.get("authorization") == f"Bearer {SECRET}" for r in server.gets(RUNS))
        server.faults.append(Fault.error(403, path=RUNS, method="GET"))
        _, output, document = submit(workdir, env | {"GITHUB_RUN_ID": "3"}, "--force")
        assert document["comparison"]["note"] == (  # type: ignore[index]
            "no comparison: the API key may not read test runs (HTTP 403)"
        )
        assert SECRET not in output
        assert server.violations == []


def test_hostile_test_names_leave_every_channel_escaped(
    jux_server: JuxServer, workdir: Path, tmp_path: Path
) -> None:
    from xml.sax.saxutils import quoteattr

    name = quoteattr(HOSTILE)[1:-1]
    _base(jux_server, tmp_path, {name: "failed"})
    write_report(workdir / "reports" / "cart.xml", {name: "passed", "fresh": "failed"})
    env = github_env(tmp_path, jux_server, sha=PR_SHA, pr=7, run_id="2")
    code, output, document = submit(workdir, env)
    assert code == 0
    assert [k["name"] for k in document["comparison"]["fixed"]] == [HOSTILE]  # type: ignore[index]
    # no line of the log is a workflow command the name brought in
    assert not any(line.startswith(("::error", "##[")) for line in output.splitlines())
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(summary)
    assert 'href="https://evil.example"' not in html
    assert "<img" not in html
    outputs = Path(env["GITHUB_OUTPUT"]).read_text(encoding="utf-8").splitlines()
    value = {outputs[i].split("<<")[0]: outputs[i + 1] for i in range(0, len(outputs), 3)}
    assert json.loads(value["comparison-json"])["fixed"][0]["name"] == HOSTILE
