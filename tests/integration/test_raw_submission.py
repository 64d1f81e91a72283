"""The real CLI against the real contract server on 127.0.0.1: raw submissions end to end."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import (
    FIXTURES,
    SECRET,
    make_environ,
    run_cli,
    run_subprocess,
    write_junit,
)
from tests.jux_server import RAW_PATH, Fault, JuxServer, parse_junit


def fast(*extra: str) -> list[str]:
    """Flags that keep retries quick in tests (the policy is the same, the waits shorter)."""
    return ["--max-retry-wait", "2", *extra]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "safe.directory=*", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(workdir: Path) -> Path:
    """A git work tree with a remote and one commit, like a CI checkout."""
    git(workdir, "init", "-q", "-b", "feature/login")
    git(workdir, "config", "user.email", "dev@example.com")
    git(workdir, "config", "user.name", "Dev")
    git(workdir, "remote", "add", "origin", "https://user:pw@git.example.com/acme/shop.git")
    (workdir / "README").write_text("x")
    git(workdir, "add", "README")
    git(workdir, "commit", "-q", "-m", "init")
    return workdir


def test_fixture_corpus_submitted_exactly_once_and_malformed_never_sent(
    jux_server: JuxServer, repo: Path
) -> None:
    shutil.copytree(FIXTURES / "raw", repo / "raw")
    shutil.copytree(FIXTURES / "edge-cases" / "malformed", repo / "malformed")
    result = run_cli(
        [
            "--api-url",
            jux_server.url,
            "--working-directory",
            str(repo),
            "--json",
            str(repo / "out.json"),
            "raw/**/*.xml",
            "malformed/*",
        ]
    )
    assert result.code == 0, result.output
    valid = sorted(p.relative_to(repo).as_posix() for p in (repo / "raw").rglob("*.xml"))
    posts = jux_server.posts(RAW_PATH)
    assert len(posts) == len(valid) == len(jux_server.runs)
    sources = sorted(run.properties["jux:source_file"] for run in jux_server.runs)
    assert sources == valid  # one request per file, none twice
    commit = git(repo, "rev-parse", "HEAD")
    for run in jux_server.runs:
        assert run.properties["git:branch"] == "feature/login"
        assert run.properties["git:commit"] == commit
        assert run.properties["git:remote"] == "https://git.example.com/acme/shop"
        assert run.properties["project"]
    for request in posts:
        etree.fromstring(request.body)  # every body parses
        assert request.headers["content-type"] == "application/xml"
        assert request.headers["user-agent"].startswith("jux-submit/")
    report = json.loads((repo / "out.json").read_text())
    statuses = {f["path"]: f["status"] for f in report["files"]}
    assert {p for p, s in statuses.items() if s == "invalid"} == {
        f"malformed/{p.name}" for p in (FIXTURES / "edge-cases" / "malformed").iterdir()
    }
    assert report["totals"]["submitted"] == len(valid)
    assert len(report["totals"]["test_run_ids"]) == len(valid)


def test_project_falls_back_to_remote_name_then_folder(
    jux_server: JuxServer, repo: Path, workdir: Path
) -> None:
    write_junit(repo / "TEST-a.xml")
    assert run_cli(["--api-url", jux_server.url, "--working-directory", str(repo)]).code == 0
    assert jux_server.runs[-1].properties["project"] == "shop"
    plain = workdir.parent / "plain-folder"
    plain.mkdir()
    write_junit(plain / "TEST-a.xml")
    assert run_cli(["--api-url", jux_server.url, "--working-directory", str(plain)]).code == 0
    assert jux_server.runs[-1].properties["project"] == "plain-folder"


def test_explicit_settings_replace_existing_properties(
    jux_server: JuxServer, workdir: Path
) -> None:
    write_junit(
        workdir / "TEST-a.xml",
        properties=[("project", "old"), ("project", "older"), ("keep", "me")],
    )
    env = make_environ(
        JUX_PROJECT="new",
        JUX_BRANCH="release/1.0",
        JUX_COMMIT_SHA="b" * 40,
        JUX_TAGS="smoke,nightly",
        JUX_ENVIRONMENT="staging",
        BUILD_FLAVOUR="x",
    )
    result = run_cli(
        [
            "--api-url",
            jux_server.url,
            "--working-directory",
            str(workdir),
            "--env-var",
            "BUILD_FLAVOUR",
        ],
        env,
    )
    assert result.code == 0, result.output
    run = jux_server.runs[0]
    names = [n for n, _ in run.property_list]
    assert names.count("project") == 1 and run.properties["project"] == "new"
    assert run.properties["git:branch"] == "release/1.0"
    assert run.properties["git:commit"] == "b" * 40
    assert run.properties["jux:tags"] == "smoke,nightly"
    assert run.properties["jux:environment"] == "staging"
    assert run.properties["env:BUILD_FLAVOUR"] == "x"
    assert run.properties["keep"] == "me"


def test_signed_report_sent_byte_for_byte(jux_server: JuxServer, workdir: Path) -> None:
    signed = workdir / "TEST-signed.xml"
    signed.write_bytes(
        b'<?xml version="1.0"?>\n<testsuites><Signature xmlns="http://www.w3.org/2000/09/'
        b'xmldsig#"><SignedInfo/><SignatureValue>abc</SignatureValue></Signature>\n'
        b'<testsuite name="s">'
        b'<properties><property name="project" value="signed"/></properties>'
        b'<testcase name="a"/></testsuite></testsuites>\n'
    )
    result = run_cli(["--api-url", jux_server.url, "--working-directory", str(workdir)])
    assert result.code == 0
    assert jux_server.posts(RAW_PATH)[0].body == signed.read_bytes()
    assert "XML signature" in result.stderr


def test_settings_a_signed_report_cannot_take_are_said_and_fail_with_fail_on_error(
    jux_server: JuxServer, workdir: Path
) -> None:
    signed = workdir / "TEST-signed.xml"
    signed.write_bytes(
        b'<testsuites><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/>'
        b'<SignatureValue>abc</SignatureValue></Signature><testsuite name="s"><properties>'
        b'<property name="project" value="claimed"/></properties><testcase name="a"/>'
        b"</testsuite></testsuites>"
    )
    argv = ["--api-url", jux_server.url, "--working-directory", str(workdir), "--json", "-"]
    result = run_cli([*argv, "--project", "mine", "--branch", "main", "--fail-on-error"])
    assert result.code == 1
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["status"] == "submitted" and entry["unapplied"] == ["project", "git:branch"]
    assert "project, git:branch could not be applied" in result.stderr
    assert "project='claimed'" in result.stderr
    assert jux_server.runs[0].properties["project"] == "claimed"


def test_an_empty_signature_element_does_not_stop_the_metadata(
    jux_server: JuxServer, workdir: Path
) -> None:
    fake = workdir / "TEST-fake.xml"
    fake.write_bytes(
        b'<testsuites><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/>'
        b'<testsuite name="s"><properties><property name="project" value="claimed"/>'
        b'<property name="git:branch" value="evil"/></properties><testcase name="a"/>'
        b"</testsuite></testsuites>"
    )
    argv = ["--api-url", jux_server.url, "--working-directory", str(workdir)]
    result = run_cli([*argv, "--project", "mine", "--branch", "main"])
    assert result.code == 0, result.output
    stored = jux_server.runs[0].properties
    assert stored["project"] == "mine" and stored["git:branch"] == "main"
    assert "not a signature" in result.stderr


def test_retries_5xx_then_201_stores_one_run(jux_server: JuxServer, workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml")
    jux_server.faults.extend([Fault.error(503), Fault.error(500)])
    result = run_cli(
        ["--api-url", jux_server.url, "--working-directory", str(workdir), "--json", "-", *fast()]
    )
    assert result.code == 0, result.output
    assert len(jux_server.posts(RAW_PATH)) == 3
    assert len(jux_server.runs) == 1
    data = json.loads(result.stdout)
    assert data["files"][0]["attempts"] == 3
    keys = {r.headers["idempotency-key"] for r in jux_server.posts(RAW_PATH)}
    assert len(keys) == 1  # the same key on every attempt


def test_429_with_retry_after_waits_about_that_long(jux_server: JuxServer, workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml")
    jux_server.faults.append(Fault.error(429, {"Retry-After": "1"}))
    result = run_cli(["--api-url", jux_server.url, "--working-directory", str(workdir)])
    assert result.code == 0, result.output
    first, second = jux_server.posts(RAW_PATH)
    assert 0.9 <= second.received_at - first.received_at < 3.0
    assert len(jux_server.runs) == 1


@pytest.mark.parametrize(
    ("status", "kind", "text"),
    [
        (400, "rejected", "HTTP 400: the server rejected the report: Scripted"),
        (401, "auth", "HTTP 401: the API key is missing or not accepted"),
        (403, "auth", "HTTP 403: the API key is invalid"),
    ],
)
def test_no_retry_on_client_errors(
    jux_server: JuxServer, workdir: Path, status: int, kind: str, text: str
) -> None:
    write_junit(workdir / "TEST-a.xml")
    jux_server.faults.append(Fault.error(status))
    result = run_cli(
        [
            "--api-url",
            jux_server.url,
            "--working-directory",
            str(workdir),
            "--json",
            "-",
            "--fail-on-error",
        ]
    )
    assert result.code == 1
    assert len(jux_server.posts(RAW_PATH)) == 1
    entry = json.loads(result.stdout)["files"][0]
    assert entry["error"]["kind"] == kind and entry["http_status"] == status
    assert entry["error"]["message"].startswith(text)


def test_auth_errors_against_a_key_protected_server(workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml")
    with JuxServer(api_key=SECRET) as srv:
        missing = run_cli(["--api-url", srv.url, "--working-directory", str(workdir)])
        wrong = run_cli(
            ["--api-url", srv.url, "--working-directory", str(workdir)],
            make_environ(JUX_API_KEY="wrong-key-123"),
        )
        right = run_cli(
            ["--api-url", srv.url, "--working-directory", str(workdir)],
            make_environ(JUX_API_KEY=SECRET),
        )
        assert srv.posts(RAW_PATH)[-1].headers["authorization"] == f"Bearer {SECRET}"
    assert "HTTP 401" in missing.stdout and "JUX_API_KEY" in missing.stdout
    assert "HTTP 403" in wrong.stdout and "wrong-key-123" not in wrong.output
    assert right.code == 0 and "submitted" in right.stdout
    assert SECRET not in right.output


def test_server_error_details_and_suggestions_are_shown(
    jux_server: JuxServer, workdir: Path
) -> None:
    (workdir / "TEST-a.xml").write_text('<testsuite name="s"><testcase name="a"/></testsuite>')
    # the real server refuses a report without project; force that by an explicit empty one
    jux_server.faults.append(
        Fault.error(
            400,
            body=json.dumps(
                {
                    "error": "Missing required metadata",
                    "details": {
                        "message": "Project name is required",
                        "missing_property": "project",
                    },
                    "suggestions": ["Add a project property"],
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
    )
    result = run_cli(["--api-url", jux_server.url, "--working-directory", str(workdir)])
    assert "Missing required metadata" in result.stdout
    assert "missing_property: project" in result.stdout
    assert "hint: Add a project property" in result.stdout


def test_non_json_error_body(jux_server: JuxServer, workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml")
    jux_server.faults.append(
        Fault.error(
            400, body=b"<html>Bad Gateway Thing</html>", headers={"Content-Type": "text/html"}
        )
    )
    result = run_cli(["--api-url", jux_server.url, "--working-directory", str(workdir)])
    assert "non-JSON answer: '<html>Bad Gateway Thing</html>'" in result.stdout


def test_5xx_after_all_retries(jux_server: JuxServer, workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml")
    jux_server.faults.extend([Fault.error(502)] * 3)
    result = run_cli(
        [
            "--api-url",
            jux_server.url,
            "--working-directory",
            str(workdir),
            "--retries",
            "2",
            "--json",
            "-",
            *fast(),
        ]
    )
    entry = json.loads(result.stdout)["files"][0]
    assert entry["status"] == "failed" and entry["error"]["kind"] == "server"
    assert entry["attempts"] == 3
    assert len(jux_server.posts(RAW_PATH)) == 3 and not jux_server.runs
    assert result.code == 0  # no --fail-on-error


def test_redirect_is_not_followed_and_names_the_target(
    jux_server: JuxServer, workdir: Path
) -> None:
    write_junit(workdir / "TEST-a.xml")
    jux_server.faults.append(Fault.redirect("https://elsewhere.example/api/v1/junit/submit"))
    result = run_cli(
        ["--api-url", jux_server.url, "--working-directory", str(workdir)],
        make_environ(JUX_API_KEY=SECRET),
    )
    assert "redirecting to https://elsewhere.example/api/v1/junit/submit" in result.stdout
    assert len(jux_server.requests) == 2  # version check + the one POST
    assert SECRET not in result.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused(workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml")
    port = free_port()
    result = run_cli(
        [
            "--api-url",
            f"http://127.0.0.1:{port}",
            "--working-directory",
            str(workdir),
            "--retries",
            "1",
            "--json",
            "-",
            *fast(),
        ]
    )
    entry = json.loads(result.stdout)["files"][0]
    assert entry["error"]["kind"] == "connection"
    assert "connection refused" in entry["error"]["message"]
    assert any("server is running" in s for s in entry["error"]["suggestions"])


def test_dns_failure(workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml")
    result = run_cli(
        [
            "--api-url",
            "https://jux.does-not-exist.invalid",
            "--working-directory",
            str(workdir),
            "--retries",
            "0",
            "--json",
            "-",
        ]
    )
    entry = json.loads(result.stdout)["files"][0]
    assert entry["error"]["kind"] == "connection"
    assert "resolve" in entry["error"]["message"]


def test_timeout_names_the_current_value(jux_server: JuxServer, workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml")
    jux_server.faults.append(Fault.delay(1.5))
    result = run_cli(
        [
            "--api-url",
            jux_server.url,
            "--working-directory",
            str(workdir),
            "--timeout",
            "0.5",
            "--retries",
            "0",
            "--json",
            "-",
        ]
    )
    entry = json.loads(result.stdout)["files"][0]
    assert entry["error"]["kind"] == "timeout"
    # urllib3's read timeout ("within 0.5 s") or the watchdog's wall-clock limit ("within the
    # 0.5 s limit per attempt (--timeout)"), whichever fires first on a loaded machine
    assert re.search(r"within (the )?0\.5 s\b", entry["error"]["message"])


def test_version_check(workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml")
    with JuxServer(version="2.0.0") as srv:
        result = run_cli(["--api-url", srv.url + "/api/v1/", "--working-directory", str(workdir)])
        assert result.code == 0 and len(srv.runs) == 1
        assert "API version 2.0.0" in result.stderr
        assert [r.path for r in srv.requests].count("/api/version") == 1
    with JuxServer(version=None) as srv:
        result = run_cli(["--api-url", srv.url, "--working-directory", str(workdir)])
        assert result.code == 0 and len(srv.runs) == 1
        assert "version" not in result.stderr.lower()


def test_dry_run_touches_no_network_and_shows_metadata(
    jux_server: JuxServer, workdir: Path
) -> None:
    write_junit(workdir / "TEST-a.xml")
    result = run_cli(
        [
            "--api-url",
            jux_server.url,
            "--working-directory",
            str(workdir),
            "--dry-run",
            "--project",
            "demo",
        ]
    )
    assert result.code == 0
    assert jux_server.requests == []
    assert "would send" in result.stdout and "/api/v1/junit/submit" in result.stdout
    assert "+ project = demo" in result.stdout
    as_json = run_cli(["--working-directory", str(workdir), "--dry-run", "--json", "-"])
    data = json.loads(as_json.stdout)
    assert data["files"][0]["status"] == "dry-run"
    assert data["files"][0]["properties_added"]["project"] == workdir.name
    assert data["files"][0]["endpoint"] == "/api/v1/junit/submit"


@pytest.mark.parametrize(("mode", "code"), [("warn", 0), ("ignore", 0), ("error", 3)])
def test_if_no_files_found(workdir: Path, mode: str, code: int) -> None:
    result = run_cli(
        ["--dry-run", "--working-directory", str(workdir), "--if-no-files-found", mode]
    )
    assert result.code == code
    assert ("no JUnit reports matched" in result.stderr) is (mode != "ignore")


def test_exit_code_precedence(workdir: Path) -> None:
    # a configuration error wins over everything (2), no reports with error next (3)
    assert (
        run_cli(
            ["--working-directory", str(workdir), "--if-no-files-found", "error", "--fail-on-error"]
        ).code
        == 2
    )
    assert (
        run_cli(
            [
                "--dry-run",
                "--working-directory",
                str(workdir),
                "--if-no-files-found",
                "error",
                "--fail-on-error",
            ]
        ).code
        == 3
    )
    (workdir / "TEST-bad.xml").write_text("<testsuite>")
    assert run_cli(["--dry-run", "--working-directory", str(workdir)]).code == 0
    assert run_cli(["--dry-run", "--working-directory", str(workdir), "--strict"]).code == 1


def test_parallel_never_exceeded(workdir: Path) -> None:
    for i in range(12):
        write_junit(workdir / f"TEST-{i}.xml")
    with JuxServer() as srv:
        active = 0
        peak = 0
        original = srv.handlers[RAW_PATH]

        def slow_handler(server: JuxServer, req: object):  # type: ignore[no-untyped-def]
            nonlocal active, peak
            with server.lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.1)
            try:
                return original(server, req)  # type: ignore[arg-type]
            finally:
                with server.lock:
                    active -= 1

        srv.handlers[RAW_PATH] = slow_handler
        result = run_cli(
            ["--api-url", srv.url, "--working-directory", str(workdir), "--parallel", "3"]
        )
        assert result.code == 0 and len(srv.runs) == 12
    assert peak == 3


def test_token_never_in_outputs(jux_server: JuxServer, workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml")
    (workdir / "TEST-bad.xml").write_text("<nope")
    jux_server.faults.append(Fault.error(403))
    env = make_environ(JUX_API_KEY=SECRET)
    result = run_cli(
        [
            "--api-url",
            jux_server.url,
            "--working-directory",
            str(workdir),
            "--json",
            str(workdir / "r.json"),
            "-v",
        ],
        env,
    )
    assert SECRET not in result.output
    assert SECRET not in (workdir / "r.json").read_text()
    for request in jux_server.requests:
        assert SECRET.encode() not in request.body
        assert all(SECRET not in v for k, v in request.headers.items() if k != "authorization")


def test_xxe_content_never_sent(jux_server: JuxServer, workdir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:TOP-SECRET-LINE")
    (workdir / "TEST-xxe.xml").write_text(
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file://{secret}">]>'
        '<testsuite name="&e;"><testcase name="&e;"/></testsuite>'
    )
    result = run_cli(["--api-url", jux_server.url, "--working-directory", str(workdir)])
    assert "DOCTYPE" in result.stdout
    assert jux_server.posts() == []
    assert "TOP-SECRET" not in result.output


def test_subprocess_end_to_end_with_help_and_version(jux_server: JuxServer, workdir: Path) -> None:
    write_junit(workdir / "build" / "test-results" / "TEST-x.xml", cases=3, failures=1)
    result = run_subprocess(["--api-url", jux_server.url], cwd=workdir)
    assert result.code == 0, result.output
    assert "1 submitted" in result.stdout and "3 tests, 1 failed" in result.stdout
    _props, counts = parse_junit(jux_server.runs[0].body)
    assert counts["test_count"] == 3
    version = run_subprocess(["--version"])
    assert version.code == 0 and version.stdout.startswith("jux-submit ")
    helptext = run_subprocess(["--help"])
    assert helptext.code == 0 and "--api-url" in helptext.stdout and "exit codes" in helptext.stdout


def test_netrc_never_replaces_or_adds_credentials(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password-123\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    write_junit(workdir / "TEST-a.xml")
    with JuxServer(api_key=SECRET) as srv:
        keyed = run_cli(
            ["--api-url", srv.url, "--working-directory", str(workdir)],
            make_environ(JUX_API_KEY=SECRET),
        )
        assert keyed.code == 0 and len(srv.runs) == 1
        assert {r.headers.get("authorization") for r in srv.requests} == {f"Bearer {SECRET}"}
    with JuxServer() as srv:
        run_cli(["--api-url", srv.url, "--working-directory", str(workdir)])
        assert all("authorization" not in r.headers for r in srv.requests)


def test_a_run_without_branch_or_commit_warns_once(jux_server: JuxServer, tmp_path: Path) -> None:
    """Outside CI and git (a container without git, say), the run says what is missing and
    how to set it, once, however many reports there are."""
    for i in range(3):
        write_junit(tmp_path / f"TEST-{i}.xml", suite=f"S{i}")
    result = run_cli(["--api-url", jux_server.url, "--working-directory", str(tmp_path)])
    assert result.code == 0, result.output
    assert result.stderr.count("no branch and no commit was detected") == 1
    assert "JUX_BRANCH (--branch)" in result.stderr and "JUX_COMMIT_SHA (--commit)" in result.stderr
    labelled = run_cli(
        ["--api-url", jux_server.url, "--working-directory", str(tmp_path), "--force"],
        make_environ(JUX_BRANCH="main", JUX_COMMIT_SHA="a" * 40),
    )
    assert "was detected" not in labelled.stderr


def test_a_streamed_report_without_properties_gets_them_after_the_suite_tag(
    jux_server: JuxServer, workdir: Path
) -> None:
    """A large report (streamed from disk) whose first suite has no <properties>: the block
    goes right after the suite's start tag, and every byte after it is the file's."""
    case = b'  <testcase classname="pkg.Big" name="t%06d"><system-out>%s</system-out></testcase>\n'
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="Big" tests="9000">\n'
    body = b"".join(case % (i, b"y" * 900) for i in range(9000)) + b"</testsuite>\n"
    (workdir / "big.xml").write_bytes(head + body)
    result = run_cli(
        ["--api-url", jux_server.url, "--project", "big", "big.xml"], make_environ(), cwd=workdir
    )
    assert result.code == 0, result.output
    (stored,) = jux_server.runs
    assert stored.counts["test_count"] == 9000 and stored.properties["project"] == "big"
    sent = stored.body
    assert sent.startswith(head[:-1] + b"\n  <properties>")
    assert sent.endswith(body) and len(sent) > len(head + body)
