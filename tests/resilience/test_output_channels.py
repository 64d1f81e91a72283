"""Output channels under attack: test names, suite names, file names and server answers carry
workflow commands, Markdown, HTML, GitLab section markers, NaN and planted symlinks. Each test
runs the real CLI and reads its output the way the consumer does (the GitHub runner's command
parser, a CommonMark renderer, GitLab's dotenv rules, a strict JSON parser)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from tests.conftest import make_environ
from tests.jux_server import Fault, JuxServer
from tests.resilience.conftest import TOKEN, ci_environ, submit

#: What jux-submit itself may say to the runner; titles are those of report/github.py.
OUR_COMMANDS = {"add-mask", "group", "endgroup", "error", "warning"}
OUR_TITLES = {
    "Invalid JUnit report",
    "Report rejected by the Jux server",
    "Report not submitted",
    "Reports not submitted",
    "No reports found",
}
TITLE_REJECTED = "Report rejected by the Jux server"
#: Injected text: none of these may act, wherever it is printed.
FORGED = "&#10;::add-mask::zzz&#10;##[error]forged&#13;::stop-commands::tok&#10;::tok::"
HOSTILE_ERROR = {
    "error": "bad\n::stop-commands::tok\n::error::forged by the server",
    "details": {"message": "<img src=x onerror=alert(1)> [l](http://e.example) ##[add-mask]q"},
    "suggestions": ["![i](http://e.example/i.png)\n| forged | row |", "``<b>x</b>``"],
}


def suite_xml(test_name: str = "t", *, suite: str = "S", extra: str = "", time: str = "0.1") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name={quoteattr(suite)} tests="1" '
        f'time="{time}"><testcase classname="pkg.C" name={quoteattr(test_name)} time="{time}">'
        f"{extra}</testcase></testsuite>\n"
    )


def write(folder: Path, name: str, text: str) -> str:
    path = folder / "reports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return f"reports/{name}"


def forged_test_report() -> str:
    """A test whose name (and attachment marker) carry workflow commands; the name reaches the
    log and the annotations through the warning about the missing attachment."""
    text = suite_xml(
        "placeholder",
        suite="S<img src=x>[l](http://e.example)",
        extra="<system-out>[[ATTACHMENT|gone.png]]</system-out>",
    )
    return text.replace('name="placeholder"', f'name="t{FORGED}"')


@pytest.fixture
def hostile_server() -> Iterator[JuxServer]:
    """A server that answers what it likes (not the contract: no spec check)."""
    with JuxServer(api_key=TOKEN, check_spec=False) as srv:
        yield srv


def json_answer(status: int, body: dict[str, Any]) -> Fault:
    return Fault.error(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


@dataclass
class RawRun:
    """A run in a child process, its streams exactly as written (CR kept: runners split there)."""

    code: int
    stdout: str
    stderr: str
    report: dict[str, Any]


def run_raw(url: str, workdir: Path, *args: str, env: dict[str, str]) -> RawRun:
    result = workdir.parent / "result.json"
    argv = ["--api-url", url, "--working-directory", str(workdir), "--json", str(result), *args]
    done = subprocess.run(
        [sys.executable, "-m", "jux_submit", *argv],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    report = json.loads(result.read_text()) if result.is_file() else {}
    out, err = (s.decode("utf-8", "surrogateescape") for s in (done.stdout, done.stderr))
    return RawRun(done.returncode, out, err, report)


# --- the GitHub runner's view of stdout and stderr -------------------------------------------


@dataclass
class Command:
    name: str
    properties: dict[str, str]
    data: str
    line: str


def _unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_property(text: str) -> str:
    return _unescape_data(text.replace("%3A", ":").replace("%2C", ","))


def runner_commands(stream: str) -> tuple[list[Command], list[str]]:
    """Commands the runner would act on, as it parses each line of a step's stdout and stderr
    (actions/runner ActionCommand.TryParseV2 and TryParse): ``::name props::data`` after
    leading whitespace, and the old ``##[name]`` anywhere in a line. Lines end at CR or LF."""
    commands: list[Command] = []
    old_style: list[str] = []
    for line in re.split(r"\r\n|\r|\n", stream):
        if "##[" in line:
            old_style.append(line)
        start = line.lstrip()
        if not start.startswith("::"):
            continue
        end = start.find("::", 2)
        if end < 0:
            continue
        name, _, props = start[2:end].partition(" ")
        properties = {}
        for pair in filter(None, props.split(",")):
            key, _, value = pair.partition("=")
            properties[key] = _unescape_property(value)
        commands.append(Command(name, properties, _unescape_data(start[end + 2 :]), line))
    return commands, old_style


def assert_only_our_commands(output: str, paths: set[str], masks: Sequence[str]) -> list[Command]:
    """Only the commands jux-submit means to send: our names, our titles, the paths of the
    reports, and ``::add-mask::`` for exactly ``masks``."""
    commands, old_style = runner_commands(output)
    assert old_style == [], f"##[ reached the log: {old_style}"
    names = {c.name for c in commands}
    assert names <= OUR_COMMANDS, f"forged commands: {names - OUR_COMMANDS}"
    assert [c.data for c in commands if c.name == "add-mask"] == list(masks)
    for command in commands:
        if command.name in ("error", "warning"):
            assert set(command.properties) <= {"file", "line", "col", "title"}, command.line
            assert command.properties.get("title", "Invalid JUnit report") in OUR_TITLES
            assert command.properties.get("file", next(iter(paths))) in paths, command.line
        if command.name in ("group", "endgroup", "add-mask"):
            assert command.properties == {}
    return commands


def test_workflow_commands_come_only_from_our_templates(
    hostile_server: JuxServer, workdir: Path
) -> None:
    paths = {
        write(workdir, "a\n::error::x.xml", suite_xml()),
        write(workdir, "b ##[add-mask]y.xml", suite_xml()),
        write(workdir, "c.xml", forged_test_report()),
        write(workdir, "d\r::warning::z.xml", "<testsuite"),  # invalid: its path is annotated
    }
    hostile_server.faults.append(json_answer(400, HOSTILE_ERROR))  # the first report sent
    args = ("reports/*", "--mode", "package", "--parallel", "1")
    run = run_raw(hostile_server.url, workdir, *args, env=ci_environ(workdir))
    assert run.code == 0, run.stderr
    statuses = sorted(f["status"] for f in run.report["files"])
    assert statuses == ["invalid", "rejected", "submitted", "submitted"]
    commands = assert_only_our_commands(run.stdout, paths, masks=[TOKEN])
    assert_only_our_commands(run.stderr, paths, masks=[])
    annotated = {c.properties.get("file") for c in commands if c.name in ("error", "warning")}
    assert {"reports/d\r::warning::z.xml", "reports/c.xml"} <= annotated
    # the runner gets our own annotations, with the hostile text as their (escaped) message
    rejected = [c for c in commands if c.properties.get("title") == TITLE_REJECTED]
    assert len(rejected) == 1 and "::stop-commands::tok" in rejected[0].data
    # one log record is one line: every stderr line is a jux-submit log line
    for line in re.split(r"\r\n|\r|\n", run.stderr.rstrip("\n")):
        assert line.startswith("jux-submit: "), repr(line)
    assert "::stop-commands::tok" in run.stderr  # shown, as text inside a log line
    assert "attachment not found" in run.stderr


def test_json_on_stdout_is_strict_and_carries_no_command(
    jux_server: JuxServer, workdir: Path
) -> None:
    write(workdir, "##[add-mask]q.xml", suite_xml())
    write(workdir, "e\u2028\x85.xml", suite_xml())
    env = ci_environ(workdir)
    env.pop("JUX_API_KEY")
    run = submit(jux_server.url, workdir, "reports/*.xml", "--json", "-", env=env)
    commands, old_style = runner_commands(run.stdout)
    assert old_style == [] and {c.name for c in commands} <= OUR_COMMANDS
    start = run.stdout.index("{")
    end = run.stdout.rindex("}") + 1
    document = json.loads(run.stdout[start:end])
    assert sorted(f["path"] for f in document["files"]) == [
        "reports/##[add-mask]q.xml",
        "reports/e\u2028\x85.xml",
    ]
    assert "\u2028" not in run.stdout and "\x85" not in run.stdout


# --- the job summary, rendered ------------------------------------------------------------


def _walk(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


def test_job_summary_renders_no_html_image_or_link_from_report_text(
    hostile_server: JuxServer, workdir: Path
) -> None:
    names = [
        "x``<img src=x onerror=alert(1)>``.xml",  # backticks closing the code span early
        "y`[l](http:e.example)![i](http:e.example)`.xml",
        "z<a href=x>|<b>.xml",
    ]
    for name in names:
        write(workdir, name, suite_xml())
    write(workdir, "root.xml", '<a href="http://e.example"><img src="x"/></a>')  # not JUnit
    write(workdir, "s.xml", suite_xml(suite="S ![b](http://e.example/badge.svg) [l](http://e)"))
    forged_id = "id\n| forged | row | 1 | 2 | 3 | 4 | 5 |\n![i](http://e.example/i.png) <b>x</b>"
    hostile_server.faults.extend(
        [
            json_answer(400, HOSTILE_ERROR),
            json_answer(201, {"test_run_id": forged_id, "message": "ok"}),
            json_answer(201, {"test_run_id": "[l](javascript:alert(1))", "message": "ok"}),
        ]
    )
    run = submit(hostile_server.url, workdir, "reports/*.xml", "--parallel", "1")
    assert run.code == 0, run.output
    summary = run.step_summary
    assert summary.startswith("## Jux: 5 reports")
    ids = {f["test_run_id"] for f in run.report["files"] if f["test_run_id"]}
    assert forged_id in ids and "[l](javascript:alert(1))" in ids

    tokens = MarkdownIt("commonmark").enable("table").parse(summary)
    every = list(_walk(tokens))
    assert [t.content for t in every if t.type in ("html_inline", "html_block")] == []
    assert [t for t in every if t.type == "image"] == []
    links = [t.attrGet("href") for t in every if t.type == "link_open"]
    ours = {f"{hostile_server.url}/test_runs/{quote(i, safe='')}" for i in ids}
    assert set(links) <= ours and len(links) == len(ids)
    # one table row per report plus the totals, each with the 7 columns
    rows = [t for t in every if t.type == "tr_open"]
    assert len(rows) == 1 + 5 + 1
    cells = sum(1 for t in every if t.type == "td_open")
    assert cells == 7 * 6
    # no bare URL for GitHub's autolinker outside our own link destinations
    outside = re.sub(r"\]\([^)\s]*\)", "]()", summary)
    assert not re.search(r"(?<!\\)://|(?i:(?<![a-z0-9])www\.)", outside), outside
    # what was shown is still the text: the code spans hold the file names as written
    spans = {t.content for t in every if t.type == "code_inline"}
    for name in names:
        assert f"reports/{name}" in spans


# --- GitLab's job log and dotenv ----------------------------------------------------------


def gitlab_environ(workdir: Path, **extra: str) -> dict[str, str]:
    return make_environ(
        GITLAB_CI="true",
        CI="true",
        CI_PROJECT_DIR=str(workdir),
        CI_PROJECT_PATH="acme/shop",
        CI_COMMIT_SHA="0123456789abcdef0123456789abcdef01234567",
        CI_COMMIT_REF_NAME="main",
        CI_JOB_ID="7",
        CI_PIPELINE_ID="42",
        JUX_API_KEY=TOKEN,
        **extra,
    )


DOTENV_KEYS = {
    "JUX_SUBMITTED",
    "JUX_FAILED",
    "JUX_INVALID",
    "JUX_NEW_FAILURES",
    "JUX_FIXED",
    "JUX_TEST_RUN_IDS",
}


def parse_dotenv(text: str) -> dict[str, str]:
    """GitLab's rules: ``KEY=value`` lines; a value may not hold quotes, ``$`` (expanded in
    later jobs), ``#`` (a comment) or whitespace."""
    values = {}
    for line in text.split("\n")[:-1]:
        match = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=([^\s'\"$#\\]*)", line)
        assert match, f"not a safe dotenv line: {line!r}"
        values[match.group(1)] = match.group(2)
    assert text.endswith("\n")
    return values


def test_gitlab_log_has_only_our_sections_and_the_dotenv_parses(
    hostile_server: JuxServer, workdir: Path
) -> None:
    write(workdir, "\x1b[0Ksection_start:1:evil[collapsed=true]\r\x1b[0Kfake.xml", suite_xml())
    write(workdir, "\x1b[0Ksection_end:1:jux_1_x\r\x1b[0K\x1b[31mred.xml", "<testsuite")
    write(workdir, "c.xml", suite_xml())
    forged_id = "$CI_JOB_TOKEN\nEVIL=1 'x' \"y\" #z"
    hostile_server.faults.extend(
        [
            json_answer(
                400,
                {
                    "error": "no\x1b[0Ksection_end:2:jux_1_x\r\x1b[0K",
                    "details": {"message": "\x1b[2J\x1b[31mred"},
                },
            ),
            json_answer(201, {"test_run_id": forged_id, "message": "ok"}),
        ]
    )
    run = run_raw(
        hostile_server.url, workdir, "reports/*.xml", "--parallel", "1", env=gitlab_environ(workdir)
    )
    assert run.code == 0, run.stderr
    log = run.stdout + run.stderr
    # exactly our own section around the run's log: its two markers, two ESC each, one CR each
    assert log.count("section_start:") == 1 and log.count("section_end:") == 1
    assert log.count("\x1b") == 4 and log.count("\r") == 2
    markers = [line for line in log.split("\n") if "\x1b" in line]
    assert len(markers) == 2
    for line in markers:
        assert re.fullmatch(r"\x1b\[0Ksection_(start|end):\d+:jux_1_[\w.-]+\S*\r\x1b\[0K.*", line)
    values = parse_dotenv((workdir / "jux-submit.env").read_text())
    assert set(values) == DOTENV_KEYS
    assert (values["JUX_SUBMITTED"], values["JUX_FAILED"], values["JUX_INVALID"]) == ("1", "1", "1")
    assert values["JUX_TEST_RUN_IDS"] == "CI_JOB_TOKENEVIL1xyz"  # only the safe characters


# --- strict JSON ---------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


@pytest.mark.parametrize("time", ["NaN", "1e400", "-1e400", "inf"])
def test_nan_and_infinite_times_give_a_strict_json_result(
    jux_server: JuxServer, workdir: Path, time: str
) -> None:
    write(workdir, "t.xml", suite_xml(time=time))
    env = ci_environ(workdir)
    env.pop("JUX_API_KEY")
    run = submit(jux_server.url, workdir, "reports/*.xml", env=env)
    assert run.code == 0, run.output
    text = (workdir.parent / "result.json").read_text()
    document = json.loads(text, parse_constant=_no_constants)
    (entry,) = document["files"]
    assert entry["status"] == "submitted" and entry["time"] is None


# --- output files never written through a planted link -----------------------------------


def test_a_link_planted_at_the_dotenv_path_is_not_followed(
    jux_server: JuxServer, workdir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("KEEP\n")
    (workdir / "jux-submit.env").symlink_to(outside)
    dangling = tmp_path / "never-created.env"
    write(workdir, "t.xml", suite_xml())
    env = gitlab_environ(workdir)
    env.pop("JUX_API_KEY")
    run = submit(jux_server.url, workdir, "reports/*.xml", env=env)
    assert run.code == 0, run.output
    assert outside.read_text() == "KEEP\n"
    assert (workdir / "jux-submit.env").is_symlink()
    assert "could not write the dotenv report" in run.stderr
    assert "symbolic link" in run.stderr
    # a dangling link (to a file an attacker wants created) is refused the same way
    (workdir / "jux-submit.env").unlink()
    (workdir / "jux-submit.env").symlink_to(dangling)
    run = submit(jux_server.url, workdir, "reports/*.xml", env=env)
    assert run.code == 0 and not dangling.exists()
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(".jux-submit.env")) == []


@pytest.mark.parametrize("variable", ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"])
def test_a_link_at_the_runners_files_is_not_followed(
    jux_server: JuxServer, workdir: Path, tmp_path: Path, variable: str
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("KEEP\n")
    env = ci_environ(workdir)
    env.pop("JUX_API_KEY")
    link = Path(env[variable])
    link.symlink_to(outside)
    write(workdir, "t.xml", suite_xml())
    run = submit(jux_server.url, workdir, "reports/*.xml", env=env)
    assert run.code == 0, run.output
    assert outside.read_text() == "KEEP\n"
    assert f"could not write {variable}" in run.stderr and "symbolic link" in run.stderr


def test_a_link_planted_at_the_json_result_is_not_followed(
    jux_server: JuxServer, workdir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("KEEP\n")
    result = workdir / "jux-results.json"
    result.symlink_to(outside)
    write(workdir, "t.xml", suite_xml())
    argv = ["--api-url", jux_server.url, "--working-directory", str(workdir)]
    done = subprocess.run(
        [sys.executable, "-m", "jux_submit", *argv, "--json", str(result), "reports/*.xml"],
        env=make_environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert outside.read_text() == "KEEP\n" and result.is_symlink()
    assert "cannot write the JSON result" in done.stderr
    # a regular file there is replaced by the new result
    result.unlink()
    result.write_text("old")
    done = subprocess.run(
        [sys.executable, "-m", "jux_submit", *argv, "--json", str(result), "reports/*.xml"],
        env=make_environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(result.read_text())["schema_version"] == 1
    assert [p.name for p in workdir.iterdir() if p.name.endswith(".tmp")] == []
    assert os.stat(result).st_nlink == 1
